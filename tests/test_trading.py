"""TRD-1..TRD-7 and MRG-4: settling batches of fills."""

from __future__ import annotations

from clearspec.actions import AdvanceTime, Deposit, Side
from clearspec.errors import ErrorCode
from clearspec.margin import account_risk, is_liquidatable
from clearspec.state import Ledger, Position
from clearspec.trading import fill_fee
from clearspec.transition import apply
from clearspec_tools.examples import BTC, USD, example_params, usd_price
from tests.helpers import fill, funded, move_price, rejects, run, trade

TENTH = BTC // 10


def test_trd4_open_reduce_and_close_realises_the_quote() -> None:
    ledger = run([trade(fill(size=TENTH, dollars=60_000))], funded())
    assert ledger.account("alice").positions["BTC-PERP"] == Position(TENTH, -6_000 * USD)
    assert ledger.account("bob").positions["BTC-PERP"] == Position(-TENTH, 6_000 * USD)
    ledger = apply(ledger, trade(fill(side=Side.SELL, size=4 * TENTH // 10, dollars=61_000)))
    assert ledger.account("alice").positions["BTC-PERP"] == Position(6 * TENTH // 10, -3_560 * USD)
    ledger = apply(ledger, trade(fill(side=Side.SELL, size=6 * TENTH // 10, dollars=62_000)))
    # Closed: the +160 USD trading gain is realised into alice's balance, bob pays it.
    assert "BTC-PERP" not in ledger.account("alice").positions
    assert "BTC-PERP" not in ledger.account("bob").positions
    assert ledger.account("alice").balance("USDC") == 10_160 * USD
    assert ledger.account("bob").balance("USDC") == 9_840 * USD


def test_trd4_flip_through_zero_keeps_one_quote() -> None:
    ledger = run([trade(fill(size=TENTH)), trade(fill(side=Side.SELL, size=3 * TENTH))], funded())
    assert ledger.account("alice").positions["BTC-PERP"] == Position(-2 * TENTH, 12_000 * USD)


def test_trd5_fees_round_in_favour_of_the_pool() -> None:
    # 1,000 base units at 60,000 USD: notional 600,000 quote units (0.60 USD).
    assert fill_fee(600_000, 333) == 200  # 199.8 rounds up
    assert fill_fee(600_000, -333) == -199  # a rebate of 199.8 rounds toward zero
    assert fill_fee(600_000, 0) == 0
    ledger = run([trade(fill(size=1_000, maker_fee_ppm=-333, taker_fee_ppm=333))], funded())
    assert ledger.account("alice").balance("USDC") == 10_000 * USD - 200
    assert ledger.account("bob").balance("USDC") == 10_000 * USD + 199
    assert ledger.fee_pool["USDC"] == 1


def test_trd5_fee_rates_validated() -> None:
    ledger = funded()
    rejects(ledger, trade(fill(maker_fee_ppm=-501, taker_fee_ppm=500)), ErrorCode.TRADE_FEE_INVALID)
    rejects(ledger, trade(fill(taker_fee_ppm=5_001)), ErrorCode.TRADE_FEE_INVALID)
    rejects(ledger, trade(fill(maker_fee_ppm=-5_001, taker_fee_ppm=5_000)), ErrorCode.TRADE_FEE_INVALID)
    accepted = apply(ledger, trade(fill(maker_fee_ppm=-5_000, taker_fee_ppm=5_000)))
    assert accepted.fee_pool["USDC"] == 0


def test_trd3_price_band_is_inclusive() -> None:
    ledger = funded()
    apply(ledger, trade(fill(dollars=63_000)))  # exactly +5%
    apply(ledger, trade(fill(dollars=57_000)))  # exactly -5%
    rejects(ledger, trade(fill(dollars=63_001)), ErrorCode.TRADE_PRICE_OUT_OF_BAND)
    rejects(ledger, trade(fill(dollars=56_999)), ErrorCode.TRADE_PRICE_OUT_OF_BAND)


def test_trd2_per_fill_checks_and_their_codes() -> None:
    ledger = funded()
    rejects(ledger, trade(fill(market="DOGE-PERP")), ErrorCode.UNKNOWN_MARKET)
    rejects(ledger, trade(fill(maker="nobody")), ErrorCode.UNKNOWN_ACCOUNT)
    rejects(ledger, trade(fill(taker="nobody")), ErrorCode.UNKNOWN_ACCOUNT)
    rejects(ledger, trade(fill(maker="alice")), ErrorCode.TRADE_SELF_MATCH)
    rejects(ledger, trade(fill(size=0)), ErrorCode.TRADE_NON_POSITIVE_SIZE)
    rejects(ledger, trade(fill(size=-TENTH)), ErrorCode.TRADE_NON_POSITIVE_SIZE)
    rejects(ledger, trade(fill(size=1_001 * BTC)), ErrorCode.POSITION_LIMIT_EXCEEDED)
    rejects(ledger, trade(fill(size=1_500)), ErrorCode.TRADE_SIZE_NOT_STEP)
    rejects(ledger, trade(fill(price=0)), ErrorCode.TRADE_NON_POSITIVE_PRICE)
    rejects(ledger, trade(fill(price=usd_price(60_000) + 1)), ErrorCode.TRADE_PRICE_NOT_TICK)


def test_trd1_batch_bounds_and_atomicity() -> None:
    ledger = funded()
    rejects(ledger, trade(), ErrorCode.TRADE_EMPTY_BATCH)
    too_many = [fill(size=1_000)] * (example_params().max_batch_fills + 1)
    rejects(ledger, trade(*too_many), ErrorCode.TRADE_BATCH_TOO_LARGE)
    # The first fill is valid; the second names an unknown market: nothing applies.
    rejects(ledger, trade(fill(), fill(market="DOGE-PERP")), ErrorCode.UNKNOWN_MARKET)
    both = apply(ledger, trade(fill(), fill(market="ETH-PERP", dollars=3_000)))
    assert set(both.account("alice").positions) == {"BTC-PERP", "ETH-PERP"}


def test_trd6_position_limit_over_the_whole_batch() -> None:
    ledger = funded(usdc=100_000_000)
    half = 600 * BTC
    rejects(ledger, trade(fill(size=half), fill(size=half)), ErrorCode.POSITION_LIMIT_EXCEEDED)
    assert (
        apply(ledger, trade(fill(size=half), fill(size=400 * BTC)))
        .account("alice")
        .positions["BTC-PERP"]
        .size
        == 1_000 * BTC
    )


def test_trd7_margin_checked_after_the_batch() -> None:
    ledger = funded(usdc=299)
    # 0.1 BTC at 60,000 needs 300 USD of initial margin.
    rejects(ledger, trade(fill()), ErrorCode.MARGIN_INSUFFICIENT)
    assert apply(funded(usdc=300), trade(fill())).account("alice").positions["BTC-PERP"].size == TENTH


def test_trd2_dated_market_stops_at_expiry() -> None:
    expiry = example_params().market_by_id["BTC-DEC"].expiry
    assert expiry is not None
    before = run([AdvanceTime(expiry - 1)], funded())
    apply(before, trade(fill(market="BTC-DEC")))
    at_expiry = apply(before, AdvanceTime(expiry))
    rejects(at_expiry, trade(fill(market="BTC-DEC")), ErrorCode.MARKET_EXPIRED)


def _undercollateralised() -> Ledger:
    """alice: 400 USD, long 0.1 BTC from 60,000; then BTC falls to 57,000."""
    ledger = run([Deposit("alice", "USDC", 400 * USD), Deposit("bob", "USDC", 100_000 * USD)])
    return move_price(run([trade(fill())], ledger), "BTC-USD", 57_000)


def test_mrg4_undercollateralised_account_may_reduce_risk_but_not_add() -> None:
    ledger = _undercollateralised()
    alice = account_risk(ledger, ledger.account("alice"))
    assert (alice.nc, alice.imr, alice.mmr) == (100 * USD, 285 * USD, 171 * USD)
    assert is_liquidatable(alice)
    half = TENTH // 2
    # Adding risk is refused.
    rejects(ledger, trade(fill(size=1_000, dollars=57_000)), ErrorCode.MARGIN_INSUFFICIENT)
    # Selling half at 56,000 loses 50 USD: NC/MMR = 50/85.5 equals 100/171 exactly: allowed.
    reduced = apply(ledger, trade(fill(side=Side.SELL, size=half, dollars=56_000)))
    after = account_risk(reduced, reduced.account("alice"))
    assert (after.nc, after.mmr) == (50 * USD, 85_500_000)
    # One dollar worse and the ratio falls: refused.
    rejects(ledger, trade(fill(side=Side.SELL, size=half, dollars=55_999)), ErrorCode.MARGIN_INSUFFICIENT)
