"""COL-1..COL-5 and MRG-5: deposits, withdrawals and transfers."""

from __future__ import annotations

from clearspec.actions import Deposit, Transfer, Withdraw
from clearspec.errors import ErrorCode
from clearspec.margin import account_risk
from clearspec.params import MAX_AMOUNT
from clearspec.transition import apply
from clearspec_tools.examples import BTC, USD, example_genesis
from tests.helpers import fill, funded, rejects, run, trade


def test_col3_deposit_creates_account_and_counts_the_deposit() -> None:
    ledger = apply(example_genesis(), Deposit("alice", "USDC", 5 * USD))
    ledger = apply(ledger, Deposit("alice", "USDC", 7))
    assert ledger.account("alice").balance("USDC") == 5 * USD + 7
    assert ledger.net_deposits["USDC"] == 5 * USD + 7
    assert ledger.net_deposits["BTC"] == 0


def test_col1_deposit_rejects_unknown_asset_and_bad_amounts() -> None:
    ledger = example_genesis()
    rejects(ledger, Deposit("alice", "DOGE", 1), ErrorCode.UNKNOWN_ASSET)
    rejects(ledger, Deposit("alice", "USDC", 0), ErrorCode.NON_POSITIVE_AMOUNT)
    rejects(ledger, Deposit("alice", "USDC", -5), ErrorCode.NON_POSITIVE_AMOUNT)
    rejects(ledger, Deposit("alice", "USDC", MAX_AMOUNT + 1), ErrorCode.AMOUNT_TOO_LARGE)
    assert apply(ledger, Deposit("alice", "USDC", MAX_AMOUNT)).net_deposits["USDC"] == MAX_AMOUNT


def test_col1_checks_run_in_order_unknown_asset_before_amount() -> None:
    rejects(example_genesis(), Deposit("alice", "DOGE", -1), ErrorCode.UNKNOWN_ASSET)


def test_col4_withdraw_debits_and_uncounts() -> None:
    ledger = apply(funded(usdc=100), Withdraw("alice", "USDC", 40 * USD))
    assert ledger.account("alice").balance("USDC") == 60 * USD
    assert ledger.net_deposits["USDC"] == 160 * USD


def test_col4_withdraw_everything_is_allowed_without_positions() -> None:
    ledger = apply(funded(usdc=100), Withdraw("alice", "USDC", 100 * USD))
    assert ledger.account("alice").balance("USDC") == 0


def test_col4_withdraw_rejections() -> None:
    ledger = funded(usdc=100)
    rejects(ledger, Withdraw("nobody", "USDC", 1), ErrorCode.UNKNOWN_ACCOUNT)
    rejects(ledger, Withdraw("alice", "DOGE", 1), ErrorCode.UNKNOWN_ASSET)
    rejects(ledger, Withdraw("alice", "USDC", 0), ErrorCode.NON_POSITIVE_AMOUNT)
    rejects(ledger, Withdraw("alice", "USDC", 100 * USD + 1), ErrorCode.INSUFFICIENT_BALANCE)
    rejects(ledger, Withdraw("alice", "BTC", 1), ErrorCode.INSUFFICIENT_BALANCE)


def test_mrg5_withdraw_that_breaks_initial_margin_is_rejected() -> None:
    # alice buys 0.1 BTC at 60,000: IMR = 6,000 * 5% = 300 USD, position value 0.
    ledger = run([trade(fill())], funded(usdc=1_000))
    risk = account_risk(ledger, ledger.account("alice"))
    assert (risk.nc, risk.imr) == (1_000 * USD, 300 * USD)
    rejects(ledger, Withdraw("alice", "USDC", 700 * USD + 1), ErrorCode.MARGIN_INSUFFICIENT)
    after = apply(ledger, Withdraw("alice", "USDC", 700 * USD))
    risk = account_risk(after, after.account("alice"))
    assert risk.nc == risk.imr


def test_col2_haircut_collateral_backs_a_position_and_cannot_leave() -> None:
    # bob holds only BTC; it backs his short at 80% (initial weight).
    ledger = run([Deposit("bob", "BTC", BTC)], funded(usdc=10_000, names=("alice",)))
    ledger = apply(ledger, trade(fill(size=BTC)))
    risk = account_risk(ledger, ledger.account("bob"))
    # NC 60,000 (the short is worth zero at entry); IMR = 20% haircut 12,000 + 5% of 60,000.
    assert (risk.nc, risk.imr) == (60_000 * USD, 12_000 * USD + 3_000 * USD)
    rejects(ledger, Withdraw("bob", "BTC", BTC), ErrorCode.MARGIN_INSUFFICIENT)


def test_col5_transfer_moves_value_inside() -> None:
    ledger = apply(funded(usdc=100), Transfer("alice", "bob", "USDC", 30 * USD))
    assert ledger.account("alice").balance("USDC") == 70 * USD
    assert ledger.account("bob").balance("USDC") == 130 * USD
    assert ledger.net_deposits["USDC"] == 200 * USD


def test_col5_transfer_rejections_in_order() -> None:
    ledger = funded(usdc=100)
    rejects(ledger, Transfer("nobody", "bob", "USDC", 1), ErrorCode.UNKNOWN_ACCOUNT)
    rejects(ledger, Transfer("alice", "nobody", "USDC", 1), ErrorCode.UNKNOWN_ACCOUNT)
    rejects(ledger, Transfer("alice", "alice", "USDC", 1), ErrorCode.SELF_TRANSFER)
    rejects(ledger, Transfer("alice", "bob", "DOGE", 1), ErrorCode.UNKNOWN_ASSET)
    rejects(ledger, Transfer("alice", "bob", "USDC", -1), ErrorCode.NON_POSITIVE_AMOUNT)
    rejects(ledger, Transfer("alice", "bob", "USDC", MAX_AMOUNT + 1), ErrorCode.AMOUNT_TOO_LARGE)
    rejects(ledger, Transfer("alice", "bob", "USDC", 100 * USD + 1), ErrorCode.INSUFFICIENT_BALANCE)


def test_mrg5_transfer_that_breaks_initial_margin_is_rejected() -> None:
    ledger = run([trade(fill())], funded(usdc=1_000))
    rejects(ledger, Transfer("alice", "bob", "USDC", 701 * USD), ErrorCode.MARGIN_INSUFFICIENT)
    assert (
        apply(ledger, Transfer("alice", "bob", "USDC", 700 * USD)).account("bob").balance("USDC")
        == 1_700 * USD
    )
