"""Collateral transitions (spec: collateral.md, rules COL-*): deposit, withdraw, transfer."""

from __future__ import annotations

from dataclasses import replace

import icontract

from clearspec import kernel as k
from clearspec.actions import Deposit, Transfer, Withdraw
from clearspec.errors import ErrorCode
from clearspec.margin import account_risk, meets_initial
from clearspec.params import MAX_AMOUNT
from clearspec.positions import settle_account
from clearspec.state import Ledger, add_to, with_balance


def _check_amount(ledger: Ledger, asset: str, amount: int) -> None:
    """COL-1: the asset is listed and the amount is within 1..MAX_AMOUNT."""
    k.require(asset in ledger.params.asset_by_id, ErrorCode.UNKNOWN_ASSET, asset)
    k.require(amount > 0, ErrorCode.NON_POSITIVE_AMOUNT, str(amount))
    k.require(amount <= MAX_AMOUNT, ErrorCode.AMOUNT_TOO_LARGE, str(amount))


def _check_gate(ledger: Ledger) -> None:
    """INS-6: no value leaves an account while withdrawals are gated."""
    k.require(
        ledger.now >= ledger.gate_until, ErrorCode.WITHDRAWALS_GATED, f"gated until {ledger.gate_until}"
    )


@icontract.ensure(
    lambda ledger, action, result: k.holds(
        result.account(action.account).balance(action.asset)
        == ledger.account(action.account).balance(action.asset) + action.amount
    ),
    "COL-3: the balance rises by the amount",
    enabled=k.SLOW_CONTRACTS,
)
@icontract.ensure(
    lambda ledger, action, result: k.holds(
        result.net_deposits[action.asset] == ledger.net_deposits[action.asset] + action.amount
    ),
    "COL-3: net deposits rise by the amount",
    enabled=k.SLOW_CONTRACTS,
)
def deposit(ledger: Ledger, action: Deposit) -> Ledger:
    """COL-3: credit an account (creating it) and count the deposit."""
    _check_amount(ledger, action.asset, action.amount)
    account = ledger.account(action.account)
    updated = with_balance(account, action.asset, account.balance(action.asset) + action.amount)
    return replace(
        ledger,
        accounts=ledger.accounts.set(action.account, updated),
        net_deposits=add_to(ledger.net_deposits, action.asset, action.amount),
    )


@icontract.ensure(
    lambda action, result: k.holds(meets_initial(account_risk(result, result.account(action.account)))),
    "COL-4/MRG-5: a withdrawal leaves the account at or above initial margin",
    enabled=k.SLOW_CONTRACTS,
)
@icontract.ensure(
    lambda ledger, action, result: k.holds(
        result.net_deposits[action.asset] == ledger.net_deposits[action.asset] - action.amount
    ),
    "COL-4: net deposits fall by the amount",
    enabled=k.SLOW_CONTRACTS,
)
def withdraw(ledger: Ledger, action: Withdraw) -> Ledger:
    """COL-4: debit an account; the balance must cover it (no borrowing by
    withdrawal) and the account must stay at or above initial margin."""
    k.require(action.account in ledger.accounts, ErrorCode.UNKNOWN_ACCOUNT, action.account)
    _check_amount(ledger, action.asset, action.amount)
    _check_gate(ledger)
    ledger = settle_account(ledger, action.account)
    account = ledger.accounts[action.account]
    balance = account.balance(action.asset)
    k.require(
        balance >= action.amount,
        ErrorCode.INSUFFICIENT_BALANCE,
        f"{action.account} holds {balance} {action.asset}",
    )
    updated = with_balance(account, action.asset, balance - action.amount)
    k.require(
        meets_initial(account_risk(ledger, updated)),
        ErrorCode.MARGIN_INSUFFICIENT,
        f"{action.account} would fall below initial margin",
    )
    return replace(
        ledger,
        accounts=ledger.accounts.set(action.account, updated),
        net_deposits=add_to(ledger.net_deposits, action.asset, -action.amount),
    )


@icontract.ensure(
    lambda action, result: k.holds(meets_initial(account_risk(result, result.account(action.source)))),
    "COL-5/MRG-5: the source stays at or above initial margin",
    enabled=k.SLOW_CONTRACTS,
)
@icontract.ensure(
    lambda ledger, result: result.net_deposits is ledger.net_deposits,
    "COL-5: a transfer moves value inside the protocol",
    enabled=k.SLOW_CONTRACTS,
)
def transfer(ledger: Ledger, action: Transfer) -> Ledger:
    """COL-5: move collateral between two existing accounts."""
    k.require(action.source in ledger.accounts, ErrorCode.UNKNOWN_ACCOUNT, action.source)
    k.require(action.destination in ledger.accounts, ErrorCode.UNKNOWN_ACCOUNT, action.destination)
    k.require(action.source != action.destination, ErrorCode.SELF_TRANSFER, action.source)
    _check_amount(ledger, action.asset, action.amount)
    _check_gate(ledger)
    ledger = settle_account(ledger, action.source)
    source = ledger.accounts[action.source]
    balance = source.balance(action.asset)
    k.require(
        balance >= action.amount,
        ErrorCode.INSUFFICIENT_BALANCE,
        f"{action.source} holds {balance} {action.asset}",
    )
    new_source = with_balance(source, action.asset, balance - action.amount)
    k.require(
        meets_initial(account_risk(ledger, new_source)),
        ErrorCode.MARGIN_INSUFFICIENT,
        f"{action.source} would fall below initial margin",
    )
    destination = ledger.accounts[action.destination]
    new_destination = with_balance(
        destination, action.asset, destination.balance(action.asset) + action.amount
    )
    accounts = ledger.accounts.set(action.source, new_source).set(action.destination, new_destination)
    return replace(ledger, accounts=accounts)
