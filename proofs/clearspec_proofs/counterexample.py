"""Counterexamples (PRF-2): one record, and the replay that confirms it.

Every kind of obligation (inductive, delta-sum, frame, contract, rejection,
precondition, lemma and theorem, and any kind added later) reports a failure
as one :class:`Counterexample`, built by :func:`record`. A counterexample is
only reported as confirmed when the same Python function, run on plain
integers with every contract on, shows the broken rule: either a contract
fails, or the invariant evaluates to false on the result (or, for the
rejection kinds, the model answers with another code or changes the ledger).
"""

from __future__ import annotations

import importlib
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypedDict

import icontract

from clearspec import transition
from clearspec.actions import Action
from clearspec.errors import ClearingError
from clearspec.invariants import set_slow_checks, slow_checks
from clearspec.render import describe, ledger_json
from clearspec.state import Ledger
from clearspec.transition import Outcome
from clearspec_proofs.fields_read import FieldReader, FieldValue, Read
from clearspec_proofs.invariants import Invariant
from clearspec_proofs.transitions import TransitionCase

# The wire format of a conformance case (VEC-1) lives above the prover, with the
# vectors: the command line names the function that encodes a counterexample's
# state and action ("module:function") in this variable, which every worker
# process it starts inherits. Unset, a counterexample has no vector.
VECTOR_CODEC_ENV = "CLEARSPEC_VECTOR_CODEC"
VectorCodec = Callable[[Ledger, Action], "dict[str, Any] | None"]


class Counterexample(TypedDict):
    """The one record of a counterexample, whatever its kind (spec/proofs.md,
    "Counterexamples"). Absent parts are empty strings, empty lists or None."""

    obligation: str  # the obligation id
    rule: str
    kind: str
    transition: str
    invariant: str
    confirmed: bool  # replayed on the concrete model, which shows the violation
    how: str  # what the replay showed
    action: str  # the action, described ("" for a lemma)
    message: str  # the failed contract's message, if one failed
    expected: str  # rejection kinds: the code the spec expects ("acceptance" if none)
    got: str  # rejection kinds: what the model answered
    fields: list[FieldValue]  # what the broken condition reads, before and after
    before: dict[str, Any] | None  # the ledger replayed (clearspec.render.ledger_json)
    after: dict[str, Any] | None  # the ledger after, when the replay completed
    diff: list[str]  # "path: before -> after" for every value that changed
    vector: dict[str, Any] | None  # the inputs of a conformance case (VEC-1), when it has one
    minimised: str  # what minimising did (clearspec_proofs.minimise), "" if not minimised


@dataclass(frozen=True)
class Obligation:
    """Which obligation a counterexample refutes."""

    ident: str
    rule: str
    kind: str
    transition: str
    invariant: str


def _json(ledger: Ledger | None) -> dict[str, Any] | None:
    """The ledger as JSON, or None when a state the solver chose cannot even be
    shown (a contract of the risk helpers fails on it): never a crash."""
    if ledger is None:
        return None
    try:
        return ledger_json(ledger)
    except (icontract.ViolationError, ClearingError, ArithmeticError, ValueError):
        return None


def record(
    obligation: Obligation,
    *,
    confirmed: bool,
    how: str,
    action: Action | str = "",
    ledger: Ledger | None = None,
    after: Ledger | None = None,
    message: str = "",
    expected: str = "",
    got: str = "",
    fields: list[FieldValue] | None = None,
) -> Counterexample:
    """The counterexample record: the state replayed (``ledger``), the action
    and, when the replay completed, the ledger ``after``."""
    before_json, after_json = _json(ledger), _json(after)
    concrete_action = action if isinstance(action, Action) else None
    return Counterexample(
        obligation=obligation.ident,
        rule=obligation.rule,
        kind=obligation.kind,
        transition=obligation.transition,
        invariant=obligation.invariant,
        confirmed=confirmed,
        how=how,
        action=describe(concrete_action) if concrete_action is not None else str(action),
        message=message,
        expected=expected,
        got=got,
        fields=list(fields or []),
        before=before_json,
        after=after_json,
        diff=diff(before_json, after_json) if before_json is not None and after_json is not None else [],
        vector=(
            vector_input(ledger, concrete_action)
            if ledger is not None and concrete_action is not None
            else None
        ),
        minimised="",
    )


def same_violation(first: Counterexample, other: Counterexample) -> bool:
    """Whether ``other`` shows what ``first`` showed (a minimised counterexample
    must break the rule the same way, and be at least as confirmed)."""
    if not first["confirmed"]:
        return other["confirmed"] or other["how"] == first["how"]
    return _verdict(first) == _verdict(other)


def _verdict(example: Counterexample) -> tuple[bool, str, str, str, str]:
    return example["confirmed"], example["how"], example["message"], example["expected"], example["got"]


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
    """The counterexample as the inputs of a conformance case (VEC-1), by the
    codec the command line names (``VECTOR_CODEC_ENV``), or None without one or
    when the state is one the wire cannot carry."""
    codec = vector_codec()
    return None if codec is None else codec(ledger, action)


def vector_codec() -> VectorCodec | None:
    """The function ``VECTOR_CODEC_ENV`` names ("module:function"), or None."""
    named = os.environ.get(VECTOR_CODEC_ENV, "")
    if not named:
        return None
    module, _, name = named.partition(":")
    codec: VectorCodec = getattr(importlib.import_module(module), name)
    return codec


@dataclass(frozen=True)
class Ran:
    """What the concrete model did with one action (:func:`run_model`): ``step``'s
    outcome, or ``apply``'s result or rejection; or the first line of the
    message of a contract it broke (``violation``, then nothing else is set)."""

    outcome: Outcome | None = None
    after: Ledger | None = None
    rejected: ClearingError | None = None
    violation: str = ""


_WHERE = re.compile(r"^File (?P<path>.+), line (?P<line>\d+) in (?P<rest>.*)$")


def violation_line(violation: icontract.ViolationError) -> str:
    """The first line of a broken contract's message, its file named as
    ``package/module.py``: the same on every machine, so a counterexample
    saved here reads the same elsewhere."""
    first = str(violation).splitlines()[0]
    where = _WHERE.match(first)
    if where is None:
        return first
    folder, name = os.path.split(where["path"])
    return f"File {os.path.basename(folder)}/{name}, line {where['line']} in {where['rest']}"


def run_model(ledger: Ledger, action: Action, run: str) -> Ran:
    """Run ``step`` or ``apply`` (``run``) on concrete values. A broken contract
    is a failed obligation to report, not a crash of the prover: it is caught.
    ``apply`` runs with the slow global checks on, and its rejection is caught
    too (``step`` returns its rejection)."""
    if run == "step":
        try:
            # Looked up at the call: a test plants its bug in the module.
            return Ran(outcome=transition.step(ledger, action))
        except icontract.ViolationError as violation:
            return Ran(violation=violation_line(violation))
    previous = slow_checks()
    set_slow_checks(True)
    try:
        return Ran(after=transition.apply(ledger, action))
    except icontract.ViolationError as violation:
        return Ran(violation=violation_line(violation))
    except ClearingError as error:
        return Ran(rejected=error)
    finally:
        set_slow_checks(previous)


def confirm(
    case: TransitionCase,
    invariant: str,
    rule: str,
    kind: str,
    ledger: Ledger,
    action: Action,
    checker: Invariant | None,
    reads: tuple[FieldReader, Read] | None = None,
    ran: Ran | None = None,
) -> Counterexample:
    """Replay ``action`` on ``ledger`` concretely (or take ``ran``, the replay
    already made) and say whether ``rule`` breaks; ``reads``: where the fields
    the broken condition reads sit, to show them before and after."""
    where = Obligation(f"{case.name}/{kind}/{invariant}", rule, kind, case.name, invariant)

    def shown(after: Ledger | None) -> list[FieldValue]:
        return [] if reads is None else reads[0].values(reads[1], ledger, action, after)

    ran = ran if ran is not None else run_model(ledger, action, "apply")
    if ran.violation:
        how = "a contract failed"
        return record(
            where,
            confirmed=True,
            how=how,
            action=action,
            ledger=ledger,
            message=ran.violation,
            fields=shown(None),
        )
    if ran.rejected is not None:
        how = f"the concrete model rejected the action: {ran.rejected.code.value}"
        return record(where, confirmed=False, how=how, action=action, ledger=ledger, fields=shown(None))
    after = ran.after
    assert after is not None
    broken = checker is not None and not checker.holds(after)
    how = f"{invariant} is false after the action" if broken else "the replay shows no violation"
    return record(
        where, confirmed=broken, how=how, action=action, ledger=ledger, after=after, fields=shown(after)
    )
