"""Insurance-fund actions (spec: insurance.md, rules INS-*).

The fund's other movements happen inside liquidation (LIQ-4), deleveraging and
expiry; these are the actions that address it directly.
"""

from __future__ import annotations

from dataclasses import replace

import icontract

from clearspec import kernel as k
from clearspec.actions import CoverBadDebt, FundInsurance, ReportNegativeCollateral
from clearspec.errors import ErrorCode
from clearspec.liquidation import gate_if_negative
from clearspec.margin import account_risk, meets_initial
from clearspec.params import MAX_AMOUNT
from clearspec.positions import credit_quote, holds_no_position, settle_account
from clearspec.state import Ledger


def _fund(ledger: Ledger) -> int:
    return ledger.insurance_fund[ledger.params.quote_asset]


def _with_fund(ledger: Ledger, amount: int) -> Ledger:
    quote_asset = ledger.params.quote_asset
    return replace(ledger, insurance_fund=ledger.insurance_fund.set(quote_asset, amount))


@icontract.ensure(
    lambda ledger, action, result: k.holds(
        result.insurance_fund[ledger.params.quote_asset]
        == ledger.insurance_fund[ledger.params.quote_asset] + action.amount
    ),
    enabled=k.SLOW_CONTRACTS,
)
def fund_insurance(ledger: Ledger, action: FundInsurance) -> Ledger:
    """INS-1: an account pays quote into the fund, as a withdrawal would take it
    out: the balance must cover it and the account stays at initial margin."""
    k.require(action.account in ledger.accounts, ErrorCode.UNKNOWN_ACCOUNT, action.account)
    k.require(action.amount > 0, ErrorCode.NON_POSITIVE_AMOUNT, str(action.amount))
    k.require(action.amount <= MAX_AMOUNT, ErrorCode.AMOUNT_TOO_LARGE, str(action.amount))
    settled = settle_account(ledger, action.account)
    balance = settled.accounts[action.account].balance(ledger.params.quote_asset)
    k.require(balance >= action.amount, ErrorCode.INSUFFICIENT_BALANCE, f"{action.account} holds {balance}")
    after = credit_quote(settled, action.account, -action.amount)
    k.require(
        meets_initial(account_risk(after, after.accounts[action.account])),
        ErrorCode.MARGIN_INSUFFICIENT,
        f"{action.account} would fall below initial margin",
    )
    return _with_fund(after, _fund(after) + action.amount)


@icontract.ensure(
    lambda ledger, result: k.holds(
        result.gate_until >= ledger.now + ledger.params.liquidation.withdrawal_gate_seconds
    ),
    "INS-6: covering bad debt sees negative NC, so it gates withdrawals",
    enabled=k.SLOW_CONTRACTS,
)
@icontract.ensure(
    lambda ledger, result: k.holds(result.insurance_fund[ledger.params.quote_asset] >= 0),
    "INS-3: the fund is never negative",
    enabled=k.SLOW_CONTRACTS,
)
def cover_bad_debt(ledger: Ledger, action: CoverBadDebt) -> Ledger:
    """INS-4 (and INS-2): an account with no positions and negative NC is topped up by the
    fund, as far as the fund goes (bad debt the fund cannot cover stays visible
    as that account's negative NC)."""
    k.require(action.account in ledger.accounts, ErrorCode.UNKNOWN_ACCOUNT, action.account)
    account = ledger.accounts[action.account]
    k.require(holds_no_position(account), ErrorCode.HAS_POSITIONS, action.account)
    nc = account_risk(ledger, account).nc
    k.require(nc < 0, ErrorCode.NO_BAD_DEBT, f"{action.account} NC {nc}")
    fund = _fund(ledger)
    k.require(fund > 0, ErrorCode.INSURANCE_FUND_INSUFFICIENT, "the fund is empty")
    paid = k.min_(fund, -nc)
    after = _with_fund(credit_quote(ledger, action.account, paid), fund - paid)
    return gate_if_negative(after, nc)


@icontract.ensure(
    lambda ledger, result: k.holds(
        result.gate_until >= ledger.now + ledger.params.liquidation.withdrawal_gate_seconds
    ),
    "INS-6: a report gates withdrawals until at least now + withdrawal_gate_seconds",
    enabled=k.SLOW_CONTRACTS,
)
@icontract.ensure(
    lambda ledger, result: k.holds(result.gate_until >= ledger.gate_until),
    "INS-6: the gate never falls",
    enabled=k.SLOW_CONTRACTS,
)
def report_negative_collateral(ledger: Ledger, action: ReportNegativeCollateral) -> Ledger:
    """INS-6: anyone may show an account with negative NC (after settling its
    funding); that gates withdrawals and transfers for the gate period."""
    k.require(action.account in ledger.accounts, ErrorCode.UNKNOWN_ACCOUNT, action.account)
    settled = settle_account(ledger, action.account)
    nc = account_risk(settled, settled.accounts[action.account]).nc
    k.require(nc < 0, ErrorCode.NOT_BANKRUPT, f"{action.account} NC {nc}")
    return gate_if_negative(settled, nc)
