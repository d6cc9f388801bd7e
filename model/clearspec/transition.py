"""The state transition function (spec: state.md, rules STA-*): one entry point.

``apply(ledger, action)`` returns the new ledger or raises ``ClearingError``.
Ledgers are immutable, so a rejected action leaves the caller's ledger exactly
as it was (STA-2): there is nothing to roll back.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import icontract

from clearspec import kernel as k
from clearspec.actions import (
    Action,
    AdvanceTime,
    ApplyFunding,
    CoverBadDebt,
    Deleverage,
    Deposit,
    FundInsurance,
    Liquidate,
    LiquidateCollateral,
    OracleUpdate,
    PremiumSample,
    ReportNegativeCollateral,
    SettleExpiry,
    SettleTrades,
    Transfer,
    Withdraw,
)
from clearspec.collateral import deposit, transfer, withdraw
from clearspec.collateral_liquidation import liquidate_collateral
from clearspec.deleveraging import deleverage
from clearspec.errors import ClearingError, ErrorCode
from clearspec.expiry import settle_expiry
from clearspec.funding import apply_funding, record_premium
from clearspec.insurance import cover_bad_debt, fund_insurance, report_negative_collateral
from clearspec.invariants import (
    all_global_invariants,
    frame,
    local_invariants,
    slow_checks,
)
from clearspec.liquidation import liquidate
from clearspec.oracle import apply_oracle_update
from clearspec.state import Ledger
from clearspec.trading import settle_trades, touched_by_trades


@icontract.ensure(
    lambda result: len(result) == len(set(result)), "each account once", enabled=k.SLOW_CONTRACTS
)
def touched_accounts(action: Action) -> list[str]:
    """STA-3: the accounts an action may change; every other account is framed."""
    match action:
        case Deposit() | Withdraw():
            return [action.account]
        case Transfer():
            # A self-transfer (refused, COL-5) still names its account once.
            return list(dict.fromkeys((action.source, action.destination)))
        case SettleTrades():
            return touched_by_trades(action)
        case Liquidate():
            return list(dict.fromkeys([action.liquidated, action.counterparty]))
        case LiquidateCollateral():
            return list(dict.fromkeys([action.account, action.liquidator]))
        case Deleverage():
            return list(dict.fromkeys([action.account, *action.counterparties]))
        case CoverBadDebt() | ReportNegativeCollateral() | FundInsurance():
            return [action.account]
        case SettleExpiry():
            return list(dict.fromkeys(action.accounts))
        case AdvanceTime() | OracleUpdate() | PremiumSample() | ApplyFunding():  # pragma: no branch
            return []  # (every Action matches a case: there is no fall-through)


@icontract.ensure(lambda ledger, action, result: k.holds(result.now == action.now), enabled=k.SLOW_CONTRACTS)
def advance_time(ledger: Ledger, action: AdvanceTime) -> Ledger:
    """CLK-1: the clock never goes back."""
    k.require(action.now >= ledger.now, ErrorCode.CLOCK_NOT_MONOTONIC, f"{action.now} < {ledger.now}")
    return replace(ledger, now=action.now)


@icontract.ensure(
    lambda ledger, action, result: k.holds(
        k.and_(
            result.now >= ledger.now,
            result.now == action.now if isinstance(action, AdvanceTime) else result.now == ledger.now,
        )
    ),
    "CLK-1: the clock never goes back, and only AdvanceTime moves it",
    enabled=k.SLOW_CONTRACTS,
)
@icontract.ensure(
    # One condition, not four: icontract's cost is per condition, and this one
    # runs on every action (the local checks are O(touched accounts)).
    lambda ledger, action, result: (
        result.params is ledger.params
        and local_invariants(ledger, result, touched_accounts(action))
        and (
            not slow_checks()
            or (all_global_invariants(result) and frame(ledger, result, touched_accounts(action)))
        )
    ),
    "parameters fixed; INV-1..INV-3 over the touched accounts; in slow mode INV-1..INV-5 over all",
)
def apply(ledger: Ledger, action: Action) -> Ledger:
    """STA-1: apply one action; raises ``ClearingError`` with a stable code."""
    match action:
        case Deposit():
            return deposit(ledger, action)
        case Withdraw():
            return withdraw(ledger, action)
        case Transfer():
            return transfer(ledger, action)
        case AdvanceTime():
            return advance_time(ledger, action)
        case OracleUpdate():
            return apply_oracle_update(ledger, action)
        case SettleTrades():
            return settle_trades(ledger, action)
        case PremiumSample():
            return record_premium(ledger, action)
        case ApplyFunding():
            return apply_funding(ledger, action)
        case Liquidate():
            return liquidate(ledger, action)
        case LiquidateCollateral():
            return liquidate_collateral(ledger, action)
        case Deleverage():
            return deleverage(ledger, action)
        case CoverBadDebt():
            return cover_bad_debt(ledger, action)
        case ReportNegativeCollateral():
            return report_negative_collateral(ledger, action)
        case FundInsurance():
            return fund_insurance(ledger, action)
        case SettleExpiry():  # pragma: no branch (every Action matches a case)
            return settle_expiry(ledger, action)


@dataclass(frozen=True, slots=True)
class Outcome:
    """The result of :func:`step`: the ledger after the action and, if it was
    rejected, the code (the ledger is then the one passed in)."""

    ledger: Ledger
    error: ErrorCode | None


@icontract.ensure(
    lambda ledger, result: result.error is None or result.ledger is ledger,
    "STA-2: a rejected action leaves the ledger as it was",
)
def step(ledger: Ledger, action: Action) -> Outcome:
    """:func:`apply` that returns a rejection instead of raising it."""
    try:
        return Outcome(apply(ledger, action), None)
    except ClearingError as error:
        return Outcome(ledger, error.code)
