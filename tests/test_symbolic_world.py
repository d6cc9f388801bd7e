"""The symbolic world's fields the guards depend on are really symbolic, and the
cases that an always-refused action needs catch a bug that accepts it.

Each solver query here is linear or small (seconds in all): the heavy proofs
are tests/test_prove.py's."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
import z3
from immutables import Map

from clearspec import collateral, insurance, transition
from clearspec import kernel as k
from clearspec.actions import CoverBadDebt, Transfer
from clearspec.errors import ErrorCode
from clearspec.state import Ledger, with_balance
from clearspec_proofs import engine
from clearspec_proofs.engine import Result, check_case, trace_case
from clearspec_proofs.hypotheses import is_nonlinear
from clearspec_proofs.invariants import all_invariants
from clearspec_proofs.symbolic import World, build_world
from clearspec_proofs.transitions import CASES, EXPIRY, LIQUIDATION, SETTLED, TransitionCase
from clearspec_tools.examples import example_params

PARAMS = example_params()
DEC = PARAMS.market_by_id["BTC-DEC"]
assert DEC.expiry is not None
EXPIRY_AT = DEC.expiry


def _case(name: str) -> TransitionCase:
    return next(c for c in CASES if c.name == name)


def _sat(world: World, *extra: Any, invariants: bool = False) -> Any:
    solver = z3.Solver()
    solver.set("rlimit", 4_000_000)
    solver.add(*world.assumptions, *extra)
    if invariants:
        solver.add(*[inv.holds(world.ledger) for inv in all_invariants(PARAMS) if inv.name != "well-formed"])
    return solver.check()


# --- the world's new symbolic fields ------------------------------------------------


def test_the_withdrawal_gate_is_symbolic_and_decides_acceptance() -> None:
    """INS-6: some state is gated, and no accepted withdrawal is."""
    world, _, trace = trace_case(_case("withdraw-quote"), PARAMS)
    ledger = world.ledger
    assert z3.is_expr(ledger.gate_until)
    assert _sat(world, ledger.gate_until > ledger.now, invariants=True) == z3.sat
    linear = [g for g, _, _ in trace.guards if not is_nonlinear(g)]
    assert _sat(world, *linear, ledger.gate_until > ledger.now) == z3.unsat
    # The bound the world assumes: at most one gate period ahead (CLK-1, INS-6).
    beyond = ledger.now + PARAMS.liquidation.withdrawal_gate_seconds + 1
    assert _sat(world, ledger.gate_until >= beyond) == z3.unsat
    assert any(code is ErrorCode.WITHDRAWALS_GATED for _, code, _ in trace.guards)


def test_the_liquidation_usage_of_the_block_is_symbolic() -> None:
    """LIQ-5: a0 may have been liquidated earlier in the block, by any amount
    within the limits, and its position may have changed since."""
    world = build_world(PARAMS, LIQUIDATION)
    usage = world.ledger.liquidation_usage["a0"]
    initial, done = usage.positions["BTC-PERP"]
    size = world.ledger.accounts["a0"].positions["BTC-PERP"].size
    assert usage.at == world.ledger.now  # the block's own usage (LIQ-5 forgets older ones)
    assert _sat(world, usage.notional > 0, done > 0, initial - done > k.abs_(size)) == z3.sat
    # No liquidation in this market yet: the initial size is the current one.
    assert _sat(world, done == 0, initial != k.abs_(size)) == z3.unsat
    assert _sat(world, usage.notional > PARAMS.liquidation.max_notional_per_block) == z3.unsat
    assert _sat(world, done > initial) == z3.unsat
    # Only the shape that asks for it carries usage.
    assert len(build_world(PARAMS).ledger.liquidation_usage) == 0


def test_the_times_the_state_remembers_are_symbolic() -> None:
    world = build_world(PARAMS)
    ledger = world.ledger
    last_funding = ledger.markets["BTC-PERP"].last_funding_at
    due = last_funding + PARAMS.market_by_id["BTC-PERP"].funding_interval
    assert _sat(world, due > ledger.now) == z3.sat  # FND-2: funding may not be due yet
    assert _sat(world, last_funding > ledger.now) == z3.unsat
    updated = ledger.prices["BTC-USD"].updated_at
    assert _sat(world, updated < ledger.now - 1000) == z3.sat
    assert _sat(world, updated > ledger.now) == z3.unsat


def test_expiry_worlds_have_a_symbolic_clock_and_a_fixed_final_price() -> None:
    before = build_world(PARAMS, EXPIRY)
    assert _sat(before, before.ledger.now < EXPIRY_AT) == z3.sat  # EXP-1: not reached yet
    assert before.ledger.markets["BTC-DEC"].settlement_price is None
    settled = build_world(PARAMS, SETTLED)
    final = settled.ledger.markets["BTC-DEC"].settlement_price
    oracle = settled.ledger.prices["BTC-USD"].price
    assert final is not None and z3.is_expr(final)
    assert _sat(settled, final != oracle, invariants=True) == z3.sat  # the oracle moved on
    assert _sat(settled, settled.ledger.now < EXPIRY_AT) == z3.unsat  # fixed only after expiry


def test_new_rejections_are_reachable_and_replayed() -> None:
    """The checks the old world decided concretely now each get an ERR-1
    obligation with a witness, replayed through the concrete model."""
    results = check_case(_case("settle-expiry"), PARAMS, goal_filter="settle-expiry/rejection")
    checks = {r.invariant.split(" ", 2)[2]: r.status for r in results}
    assert checks["EXPIRY_NOT_REACHED"] == checks["EXPIRY_PRICE_NOT_FINAL"] == "proved"
    funding = check_case(_case("apply-funding"), PARAMS, goal_filter="apply-funding/rejection")
    assert [(r.invariant, r.status) for r in funding] == [("check 1 FUNDING_TOO_EARLY", "proved")]


# --- actions the spec always refuses --------------------------------------------------


def test_an_always_refused_action_is_proved_rejected() -> None:
    (result,) = check_case(_case("transfer-self"), PARAMS)
    assert (result.kind, result.status, result.invariant) == ("rejection", "proved", "always SELF_TRANSFER")
    assert result.detail.startswith("rejected with SELF_TRANSFER")


def test_covering_an_account_whose_entries_are_all_zero_is_proved_as_covering_a_flat_one() -> None:
    # INS-4: a zero-size entry is no position; the symbolic account a0 holds entries of
    # free size, so the case is refused with HAS_POSITIONS in some states, accepted in others.
    results = check_case(_case("cover-bad-debt-positions"), PARAMS)
    assert [(r.id, r.status) for r in results if r.status != "proved"] == []
    ids = {r.id for r in results}
    assert "cover-bad-debt-positions/precondition/2 HAS_POSITIONS" in ids
    assert "cover-bad-debt-positions/acceptance/can be accepted" in ids
    assert any(i.startswith("cover-bad-debt-positions/effect/INS-4") for i in ids)


def _statuses(results: list[Result]) -> dict[str, tuple[str, bool]]:
    return {
        r.id: (r.status, bool(r.counterexample and r.counterexample.get("confirmed")))
        for r in results
        if r.status != "proved"
    }


def _overwriting_transfer(ledger: Ledger, action: Transfer) -> Ledger:
    """C06's bug: no self-transfer check, and the destination's credit is
    computed from the balance before the debit, so it overwrites it."""
    k.require(action.source in ledger.accounts, ErrorCode.UNKNOWN_ACCOUNT, action.source)
    k.require(action.amount > 0, ErrorCode.NON_POSITIVE_AMOUNT, str(action.amount))
    source = ledger.accounts[action.source]
    balance = source.balance(action.asset)
    k.require(balance >= action.amount, ErrorCode.INSUFFICIENT_BALANCE, action.source)
    destination = ledger.accounts[action.destination]
    accounts = ledger.accounts.set(action.source, with_balance(source, action.asset, balance - action.amount))
    credited = with_balance(destination, action.asset, destination.balance(action.asset) + action.amount)
    return replace(ledger, accounts=accounts.set(action.destination, credited))


def test_a_self_transfer_bug_yields_a_confirmed_counterexample(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(transition, "transfer", _overwriting_transfer)
    # touched_accounts lists a self-transfer's account twice, which its own
    # contract refuses; the model rejects such a transfer before, the bug does not.
    each_once = lambda a: list(dict.fromkeys([a.source, a.destination]))  # noqa: E731
    monkeypatch.setattr(transition, "touched_accounts", each_once)
    monkeypatch.setattr(engine, "touched_accounts", transition.touched_accounts)
    failed = _statuses(check_case(_case("transfer-self"), PARAMS))
    assert failed["transfer-self/inductive/conservation[USDC]"] == ("counterexample", True)
    assert failed["transfer-self/rejection/always SELF_TRANSFER"] == ("counterexample", True)
    assert collateral.transfer is not _overwriting_transfer  # only the dispatch was patched


def test_covering_an_account_with_positions_yields_a_confirmed_counterexample(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    original = insurance.cover_bad_debt

    def without_position_check(ledger: Ledger, action: CoverBadDebt) -> Ledger:
        # I05's bug: the account's positions are hidden from the check.
        account = ledger.accounts[action.account]
        hidden = replace(account, positions=Map())
        flat = replace(ledger, accounts=ledger.accounts.set(action.account, hidden))
        covered = original(flat, action)
        restored = replace(covered.accounts[action.account], positions=account.positions)
        return replace(covered, accounts=covered.accounts.set(action.account, restored))

    monkeypatch.setattr(transition, "cover_bad_debt", without_position_check)
    results = check_case(_case("cover-bad-debt-positions"), PARAMS, goal_filter="/precondition/")
    ident = "cover-bad-debt-positions/precondition/2 HAS_POSITIONS"
    assert _statuses(results)[ident] == ("counterexample", True)
