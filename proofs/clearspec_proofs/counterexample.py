"""Counterexamples (PRF-2): replay the solver's state through the concrete model.

A counterexample is only reported as confirmed when the same Python function,
run on plain integers with every contract on, shows the broken rule: either a
contract fails, or the invariant evaluates to false on the result.
"""

from __future__ import annotations

from typing import Any

import icontract

from clearspec.actions import Action
from clearspec.errors import ClearingError
from clearspec.invariants import set_slow_checks, slow_checks
from clearspec.render import describe, ledger_json
from clearspec.state import Ledger
from clearspec.transition import apply
from clearspec_proofs.invariants import Invariant
from clearspec_proofs.transitions import TransitionCase


def diff(before: dict[str, Any], after: dict[str, Any], path: str = "") -> list[str]:
    """Lines ``path: before -> after`` for every leaf that differs."""
    lines: list[str] = []
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key), after.get(key)
        where = f"{path}.{key}" if path else key
        if isinstance(old, dict) and isinstance(new, dict):
            lines += diff(old, new, where)
        elif old != new:
            lines.append(f"{where}: {old} -> {new}")
    return lines


def vector_input(ledger: Ledger, action: Action) -> dict[str, Any] | None:
    """The counterexample as the inputs of a conformance case (VEC-1), or None
    when the solver's state is one the wire cannot carry (say, a position of
    size zero, which no reachable state has)."""
    from dataclasses import replace

    from immutables import Map

    from clearspec_tools.vectors.codec import decode_state, encode_action, encode_params, encode_state

    # The symbolic world has a slot for every position; an empty slot (size and
    # quote zero) is a position that does not exist.
    accounts = {
        name: replace(
            account,
            positions=Map({m: p for m, p in account.positions.items() if p.size != 0 or p.quote != 0}),
        )
        for name, account in ledger.accounts.items()
    }
    ledger = replace(ledger, accounts=Map(accounts))
    try:
        state = encode_state(ledger)
        decode_state(state, ledger.params)
        return {
            "params": encode_params(ledger.params),
            "pre_state": state,
            "actions": [encode_action(action)],
        }
    except (ClearingError, TypeError, ValueError):
        return None


def confirm(
    case: TransitionCase,
    invariant: str,
    rule: str,
    kind: str,
    ledger: Ledger,
    action: Action,
    checker: Invariant | None,
) -> dict[str, Any]:
    """Replay ``action`` on ``ledger`` concretely and say whether ``rule`` breaks."""
    previous = slow_checks()
    set_slow_checks(True)
    report: dict[str, Any] = {
        "rule": rule,
        "transition": case.name,
        "invariant": invariant,
        "kind": kind,
        "action": describe(action),
        "before": ledger_json(ledger),
        "vector": vector_input(ledger, action),
    }
    try:
        after = apply(ledger, action)
    except icontract.ViolationError as violation:
        report.update(confirmed=True, how="a contract failed", message=str(violation).splitlines()[0])
        return report
    except ClearingError as error:
        report.update(confirmed=False, how=f"the concrete model rejected the action: {error.code.value}")
        return report
    finally:
        set_slow_checks(previous)
    report["after"] = ledger_json(after)
    report["diff"] = diff(report["before"], report["after"])
    if checker is not None and not checker.holds(after):
        report.update(confirmed=True, how=f"{invariant} is false after the action")
    else:
        report.update(confirmed=False, how="the replay shows no violation")
    return report
