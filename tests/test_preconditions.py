"""The spec's order of checks (ERR-1) as a table, and the ``precondition``
obligations built from it (proofs/clearspec_proofs/preconditions.py)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from clearspec import collateral, transition
from clearspec import kernel as k
from clearspec.actions import Action, AdvanceTime, Deposit, Withdraw
from clearspec.errors import ErrorCode
from clearspec.params import MAX_AMOUNT
from clearspec.state import Ledger
from clearspec.transition import apply, step
from clearspec_proofs.counterexample import Counterexample
from clearspec_proofs.engine import Result, _oracle_context, check_case
from clearspec_proofs.preconditions import TABLE, codes_of, expected_code
from clearspec_proofs.symbolic import build_world
from clearspec_proofs.transitions import CASES, TransitionCase
from clearspec_tools.examples import USD, example_genesis, example_params

SPEC = Path(__file__).resolve().parents[1] / "spec" / "errors.md"


def spec_order() -> dict[str, list[str]]:
    """errors.md "Order of checks per action": each action's codes in text order."""
    text = SPEC.read_text()
    section = text.split("## Order of checks per action", 1)[1]
    order: dict[str, list[str]] = {}
    for block in re.split(r"^### ", section, flags=re.MULTILINE)[1:]:
        name, body = block.split("\n", 1)
        codes = [m.group(1) for m in re.finditer(r"^\s*\d+\.\s.*?`([A-Z_]+)`", body, flags=re.MULTILINE)]
        order[name.strip()] = codes
    return order


def _case(name: str) -> TransitionCase:
    return next(c for c in CASES if c.name == name)


def _table_codes(case: TransitionCase) -> tuple[type[Action], list[str]]:
    params = example_params()
    world = build_world(params, case.shape)
    action = case.build(world)
    with _oracle_context(case), k.tracing():
        codes = codes_of(type(action), world.ledger, action)
    return type(action), [c.value for c in codes]


def _is_subsequence(short: list[str], long: list[str]) -> bool:
    items = iter(long)
    return all(any(code == item for item in items) for code in short)


def test_the_spec_section_parses() -> None:
    order = spec_order()
    assert order["Withdraw"][4] == "WITHDRAWALS_GATED"
    assert len(order["Liquidate"]) >= 22
    assert "make_params" in order and order["make_params"] == []


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_the_table_lists_the_spec_checks_of_every_case(case: TransitionCase) -> None:
    """Every action type the catalogue proves has a table entry whose checks
    are the spec's, in the spec's order, and names no code the spec does not."""
    action_type, codes = _table_codes(case)
    assert action_type in TABLE
    listed = spec_order()[action_type.__name__]
    assert listed, f"errors.md lists no check for {action_type.__name__}"
    assert set(codes) == set(listed)
    assert _is_subsequence(listed, codes), (listed, codes)


def test_the_table_covers_every_action_type_of_the_spec() -> None:
    names = {t.__name__ for t in TABLE}
    assert names == set(spec_order()) - {"make_params"}


def _ledger() -> Ledger:
    return apply(example_genesis(), Deposit("alice", "USDC", 100 * USD))


@pytest.mark.parametrize(
    "action",
    [
        Withdraw("alice", "DOGE", -5),
        Withdraw("alice", "USDC", 0),
        Withdraw("alice", "USDC", MAX_AMOUNT + 1),
        Withdraw("alice", "USDC", 101 * USD),
        Withdraw("bob", "USDC", 1),
        Withdraw("alice", "USDC", 100 * USD),
        Deposit("carol", "USDC", 1),
        AdvanceTime(0),
    ],
    ids=str,
)
def test_the_table_evaluates_on_concrete_values(action: Action) -> None:
    ledger = _ledger()
    outcome = step(ledger, action)
    assert expected_code(ledger, action, outcome.ledger) is outcome.error


def _preconditions(case: str) -> list[Result]:
    return check_case(_case(case), example_params(), goal_filter=f"{case}/precondition")


@pytest.mark.parametrize("case", ["deposit-quote", "withdraw-quote", "advance-time"])
def test_the_obligations_of_cheap_transitions_are_proved(case: str) -> None:
    results = _preconditions(case)
    assert any(r.id == f"{case}/precondition/accepts" for r in results)
    assert len(results) >= 2
    assert all(r.kind == "precondition" and r.status == "proved" for r in results), [
        (r.id, r.detail) for r in results if r.status != "proved"
    ]
    assert all("non-vacuous" in r.detail for r in results)


def _confirmed(results: list[Result], ident: str) -> Counterexample:
    found = {r.id: r for r in results}
    result = found[ident]
    assert result.status == "counterexample", (result.id, result.detail)
    assert result.counterexample is not None and result.counterexample["confirmed"] is True
    return result.counterexample


def test_a_loosened_guard_is_a_confirmed_counterexample(monkeypatch: pytest.MonkeyPatch) -> None:
    def loose(ledger: Ledger, asset: str, amount: int) -> None:
        k.require(asset in ledger.params.asset_by_id, ErrorCode.UNKNOWN_ASSET, asset)
        k.require(amount >= 0, ErrorCode.NON_POSITIVE_AMOUNT, str(amount))  # was > 0
        k.require(amount <= MAX_AMOUNT, ErrorCode.AMOUNT_TOO_LARGE, str(amount))

    monkeypatch.setattr(collateral, "_check_amount", loose)
    example = _confirmed(_preconditions("deposit-quote"), "deposit-quote/precondition/2 NON_POSITIVE_AMOUNT")
    assert example["expected"] == "NON_POSITIVE_AMOUNT" and example["got"] == "acceptance"


def test_a_stricter_guard_is_a_confirmed_counterexample(monkeypatch: pytest.MonkeyPatch) -> None:
    def strict(ledger: Ledger, asset: str, amount: int) -> None:
        k.require(asset in ledger.params.asset_by_id, ErrorCode.UNKNOWN_ASSET, asset)
        k.require(amount > 1, ErrorCode.NON_POSITIVE_AMOUNT, str(amount))  # refuses 1
        k.require(amount <= MAX_AMOUNT, ErrorCode.AMOUNT_TOO_LARGE, str(amount))

    monkeypatch.setattr(collateral, "_check_amount", strict)
    example = _confirmed(_preconditions("deposit-quote"), "deposit-quote/precondition/accepts")
    assert example["expected"] == "acceptance" and example["got"] == "NON_POSITIVE_AMOUNT"


def test_a_dropped_guard_is_a_confirmed_counterexample(monkeypatch: pytest.MonkeyPatch) -> None:
    from dataclasses import replace

    monkeypatch.setattr(transition, "advance_time", lambda ledger, action: replace(ledger, now=action.now))
    example = _confirmed(_preconditions("advance-time"), "advance-time/precondition/1 CLOCK_NOT_MONOTONIC")
    # The model accepts (or, where a contract of apply sees the clock go back, fails it).
    assert example["expected"] == "CLOCK_NOT_MONOTONIC" and example["got"] != "CLOCK_NOT_MONOTONIC"
