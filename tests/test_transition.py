"""STA-1..STA-4, CLK-1 and the transition postconditions (INV-1..INV-5)."""

from __future__ import annotations

from dataclasses import replace

import icontract
import pytest

from clearspec import collateral, transition
from clearspec.actions import AdvanceTime, Deposit, Withdraw
from clearspec.errors import ErrorCode
from clearspec.invariants import all_global_invariants, set_slow_checks
from clearspec.state import Ledger, with_balance
from clearspec.transition import apply, step, touched_accounts
from clearspec_tools.examples import USD, example_genesis
from tests.helpers import fill, funded, rejects, trade


def test_clk1_clock_never_goes_back() -> None:
    ledger = apply(example_genesis(), AdvanceTime(10))
    assert apply(ledger, AdvanceTime(10)).now == 10
    rejects(ledger, AdvanceTime(9), ErrorCode.CLOCK_NOT_MONOTONIC)


def test_sta2_step_returns_the_same_ledger_on_rejection() -> None:
    ledger = funded()
    outcome = step(ledger, Withdraw("alice", "USDC", 10**18))
    assert outcome.error is ErrorCode.INSUFFICIENT_BALANCE and outcome.ledger is ledger
    accepted = step(ledger, Withdraw("alice", "USDC", 1))
    assert accepted.error is None and accepted.ledger is not ledger


def test_sta3_touched_accounts() -> None:
    assert touched_accounts(trade(fill(), fill(taker="carol", maker="alice"))) == ["bob", "alice", "carol"]
    assert touched_accounts(AdvanceTime(3)) == []


def _credit(ledger: Ledger, name: str, amount: int) -> Ledger:
    account = with_balance(ledger.account(name), "USDC", ledger.account(name).balance("USDC") + amount)
    return replace(ledger, accounts=ledger.accounts.set(name, account))


def test_inv1_local_check_catches_value_created_by_a_transition(monkeypatch: pytest.MonkeyPatch) -> None:
    ledger = funded()
    honest = collateral.deposit

    def leaky(ledger: Ledger, action: Deposit) -> Ledger:
        return _credit(honest(ledger, action), action.account, 1)  # one unit from nowhere

    monkeypatch.setattr(transition, "deposit", leaky)
    set_slow_checks(False)  # the local check alone must catch it
    with pytest.raises(icontract.ViolationError, match="INV-1"):
        apply(ledger, Deposit("alice", "USDC", USD))


def test_inv5_slow_frame_check_catches_a_change_to_an_untouched_account(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ledger = funded(names=("alice", "bob", "carol"))
    honest = collateral.deposit

    def meddling(ledger: Ledger, action: Deposit) -> Ledger:
        # Moves value between two accounts the action does not name: conserved, but wrong.
        return _credit(_credit(honest(ledger, action), "alice", -1), "bob", 1)

    monkeypatch.setattr(transition, "deposit", meddling)
    set_slow_checks(False)
    after = apply(ledger, Deposit("carol", "USDC", USD))  # local checks cannot see it
    assert all_global_invariants(after)
    set_slow_checks(True)
    with pytest.raises(icontract.ViolationError, match="slow mode"):
        apply(ledger, Deposit("carol", "USDC", USD))
