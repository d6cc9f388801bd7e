"""FND-1..FND-5: premium samples, funding rates, the funding index, lazy settlement and the pool.

Numbers use the example parameters: BTC-PERP's first tier is 5% initial and 3%
maintenance, so its margin spread is 20,000 ppm; BTC at 60,000 USD is the feed
price 600,000,000 (6 decimals, scale 10**6); funding is due every 3,600 s.
"""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clearspec.actions import AdvanceTime, ApplyFunding, PremiumSample, Side, Withdraw
from clearspec.errors import ErrorCode
from clearspec.funding import (
    FUNDING_CLAMP_PERIOD,
    funding_clamp_ppm,
    funding_rate_ppm,
    margin_spread_ppm,
    premium_clamp_ppm,
)
from clearspec.invariants import open_interest_matches, pool_covers_claims
from clearspec.params import (
    MAX_AMOUNT,
    MarginTier,
    ProtocolParams,
    with_market,
)
from clearspec.positions import funding_owed
from clearspec.state import Ledger
from clearspec.transition import apply
from clearspec_tools.examples import BTC, USD, example_genesis, example_params, usd_price
from tests.helpers import fill, funded, move_price, rejects, run, trade

INTERVAL = 3_600
# 0.12346 BTC: at 60,000 USD its notional is 7,407.6 USD, so a rate of 1 ppm owes
# 12,346,000 * (1 * 600,000,000) / (10**6 * 10**6) = 7,407.6 quote base units.
SIZE = 12_346_000
START = 10_000 * USD


def _params_with_btc_perp(**changes: int | tuple[MarginTier, ...]) -> ProtocolParams:
    """The example parameters with BTC-PERP changed, validated again by make_params."""
    return with_market(example_params(), "BTC-PERP", **changes)


def _samples(ledger: Ledger, *premiums: int, market: str = "BTC-PERP") -> Ledger:
    return run([PremiumSample(market, p) for p in premiums], ledger)


def _open_and_fund(rate_ppm: int, size: int = SIZE) -> Ledger:
    """alice long ``size`` against bob at 60,000; one interval with one sample of ``rate_ppm``."""
    ledger = run([trade(fill(size=size))], funded())
    ledger = _samples(ledger, rate_ppm)
    return run([AdvanceTime(INTERVAL), ApplyFunding("BTC-PERP")], ledger)


def _touch(ledger: Ledger, name: str) -> Ledger:
    """Settle an account's funding by a withdrawal of one base unit (COL-4 settles first)."""
    return apply(ledger, Withdraw(name, "USDC", 1))


# --- FND-1: premium samples ---------------------------------------------------------------


def test_fnd1_clamps_are_factor_times_first_tier_spread() -> None:
    market = example_params().market_by_id["BTC-PERP"]
    assert margin_spread_ppm(market) == 20_000  # 50,000 - 30,000
    assert premium_clamp_ppm(market) == 1_200_000  # 60,000,000 ppm = 60x the spread
    # 6,000,000 ppm = 6x the spread per 8 hours: 120,000; per one-hour interval an eighth.
    assert funding_clamp_ppm(market) == 15_000
    # Only the first tier counts: the larger tiers' spreads (40,000 and 80,000) do not.
    wider = _params_with_btc_perp(
        tiers=(MarginTier(BTC, 100_000, 40_000), MarginTier(None, 200_000, 120_000)),
        premium_clamp_factor_ppm=1_500_000,
        funding_clamp_factor_ppm=250_000,
    ).market_by_id["BTC-PERP"]
    assert margin_spread_ppm(wider) == 60_000
    assert premium_clamp_ppm(wider) == 90_000  # 1.5 * 60,000
    assert funding_clamp_ppm(wider) == 1_875  # 0.25 * 60,000 per 8 hours, an eighth per hour


def test_fnd1_premium_samples_are_clamped() -> None:
    ledger = example_genesis()
    clamped = _samples(ledger, 5_000_000)
    assert (clamped.market("BTC-PERP").premium_sum, clamped.market("BTC-PERP").premium_count) == (
        1_200_000,
        1,
    )
    both = _samples(clamped, -5_000_000)
    assert (both.market("BTC-PERP").premium_sum, both.market("BTC-PERP").premium_count) == (0, 2)
    # The bound itself passes unchanged; one more is cut.
    at_bound = _samples(ledger, 1_200_000, -1_200_000, 1_200_001)
    assert at_bound.market("BTC-PERP").premium_sum == 1_200_000
    # Samples touch no other market and move no balance.
    assert at_bound.market("ETH-PERP") == ledger.market("ETH-PERP")
    assert at_bound.accounts is ledger.accounts


def test_fnd1_premium_sample_rejections() -> None:
    ledger = example_genesis()
    rejects(ledger, PremiumSample("DOGE-PERP", 1), ErrorCode.UNKNOWN_MARKET)
    rejects(ledger, PremiumSample("BTC-DEC", 1), ErrorCode.FUNDING_NOT_PERPETUAL)
    rejects(ledger, PremiumSample("BTC-PERP", MAX_AMOUNT + 1), ErrorCode.AMOUNT_TOO_LARGE)
    rejects(ledger, PremiumSample("BTC-PERP", -MAX_AMOUNT - 1), ErrorCode.AMOUNT_TOO_LARGE)
    # MAX_AMOUNT itself is a valid (clamped) sample.
    assert _samples(ledger, -MAX_AMOUNT).market("BTC-PERP").premium_sum == -1_200_000


# --- FND-2: the rate and the index --------------------------------------------------------


def test_fnd2_rate_is_the_average_rounded_down() -> None:
    ledger = example_genesis()
    assert funding_rate_ppm(ledger, "BTC-PERP") == 0  # no sample, no interest
    assert funding_rate_ppm(_samples(ledger, 1, 2), "BTC-PERP") == 1  # 3 / 2 = 1.5 -> 1
    assert funding_rate_ppm(_samples(ledger, -1, -2), "BTC-PERP") == -2  # -1.5 -> -2
    assert funding_rate_ppm(_samples(ledger, 7, 7, 8), "BTC-PERP") == 7  # 22 / 3 = 7.33 -> 7
    assert funding_rate_ppm(_samples(ledger, -7, -7, -8), "BTC-PERP") == -8  # -7.33 -> -8


def test_fnd2_rate_is_clamped() -> None:
    ledger = example_genesis()
    # Samples are clamped to 1,200,000 first; their average is then clamped to
    # 15,000 per one-hour interval (120,000 per 8 hours).
    assert funding_rate_ppm(_samples(ledger, 5_000_000, 200_000), "BTC-PERP") == 15_000
    assert funding_rate_ppm(_samples(ledger, -5_000_000, -200_000), "BTC-PERP") == -15_000
    assert funding_rate_ppm(_samples(ledger, 15_000), "BTC-PERP") == 15_000
    assert funding_rate_ppm(_samples(ledger, 15_001), "BTC-PERP") == 15_000
    assert funding_rate_ppm(_samples(ledger, 30_001, 1), "BTC-PERP") == 15_000  # average 15,001


@pytest.mark.parametrize("interval", [3_600, 900, 28_800, 7 * 3_600 + 1])
def test_fnd2_the_clamp_bounds_funding_per_8_hours_whatever_the_interval(interval: int) -> None:
    """FND-2 as dYdX v4: the factor bounds the rate per 8 hours. One interval's
    bound is that share of it, rounded down, so over 8 hours of intervals the
    rates add up to at most 120,000 ppm (6 x the 20,000 spread), and to exactly
    that when the interval divides 8 hours; an interval that does not divide it
    loses less than one ppm per interval."""
    market = _params_with_btc_perp(funding_interval=interval).market_by_id["BTC-PERP"]
    bound = funding_clamp_ppm(market)
    per_8_hours = Fraction(bound * FUNDING_CLAMP_PERIOD, interval)
    assert per_8_hours <= 120_000 < Fraction((bound + 1) * FUNDING_CLAMP_PERIOD, interval)
    if FUNDING_CLAMP_PERIOD % interval == 0:
        assert per_8_hours == 120_000
    # The bound is what the rate is cut to.
    ledger = example_genesis(_params_with_btc_perp(funding_interval=interval))
    assert funding_rate_ppm(_samples(ledger, 1_000_000), "BTC-PERP") == bound


def test_fnd2_two_interval_lengths_allow_the_same_funding_per_8_hours() -> None:
    """The same rate clamped every hour and every quarter of an hour: 8 hours of
    the one and 8 hours of the other pay the same largest rate."""
    hourly, quarterly = (
        _params_with_btc_perp(funding_interval=interval).market_by_id["BTC-PERP"] for interval in (3_600, 900)
    )
    assert (funding_clamp_ppm(hourly), funding_clamp_ppm(quarterly)) == (15_000, 3_750)
    assert 8 * funding_clamp_ppm(hourly) == 32 * funding_clamp_ppm(quarterly) == 120_000


def test_fnd2_interest_is_added_before_the_clamp() -> None:
    ledger = example_genesis(_params_with_btc_perp(funding_interest_ppm=37))
    assert funding_rate_ppm(ledger, "BTC-PERP") == 37  # no samples: the interest rate alone
    assert funding_rate_ppm(_samples(ledger, 10, 11), "BTC-PERP") == 47  # floor(10.5) + 37
    assert funding_rate_ppm(_samples(ledger, 14_990), "BTC-PERP") == 15_000  # 15,027 clamped
    assert funding_rate_ppm(_samples(ledger, -15_000), "BTC-PERP") == -14_963
    assert funding_rate_ppm(ledger, "ETH-PERP") == 0  # the other market has no interest


def test_fnd2_apply_funding_only_after_an_interval() -> None:
    ledger = _samples(example_genesis(), 3)
    rejects(run([AdvanceTime(INTERVAL - 1)], ledger), ApplyFunding("BTC-PERP"), ErrorCode.FUNDING_TOO_EARLY)
    applied = run([AdvanceTime(INTERVAL), ApplyFunding("BTC-PERP")], ledger)
    state = applied.market("BTC-PERP")
    assert (state.premium_sum, state.premium_count, state.last_funding_at) == (0, 0, INTERVAL)
    # The next interval counts from the last application.
    rejects(
        run([AdvanceTime(2 * INTERVAL - 1)], applied), ApplyFunding("BTC-PERP"), ErrorCode.FUNDING_TOO_EARLY
    )
    # Late is fine: the interval restarts from when it was applied.
    late = run([AdvanceTime(3 * INTERVAL + 17), ApplyFunding("BTC-PERP")], applied)
    assert late.market("BTC-PERP").last_funding_at == 3 * INTERVAL + 17
    # Each market has its own clock: ETH-PERP was never applied and is due since 3,600.
    assert run([ApplyFunding("ETH-PERP")], applied).market("ETH-PERP").last_funding_at == INTERVAL


def test_fnd2_apply_funding_rejections() -> None:
    ledger = run([AdvanceTime(10 * INTERVAL)], example_genesis())
    rejects(ledger, ApplyFunding("BTC-DEC"), ErrorCode.FUNDING_NOT_PERPETUAL)
    rejects(ledger, ApplyFunding("DOGE-PERP"), ErrorCode.UNKNOWN_MARKET)


def test_fnd2_index_rises_by_rate_times_oracle_price() -> None:
    ledger = move_price(example_genesis(), "BTC-USD", 61_000)  # now = 1
    ledger = _samples(ledger, 3)
    ledger = _samples(ledger, -5, market="ETH-PERP")
    ledger = run([AdvanceTime(INTERVAL), ApplyFunding("BTC-PERP"), ApplyFunding("ETH-PERP")], ledger)
    # 3 ppm * 610,000,000 (61,000 USD); -5 ppm * 30,000,000 (3,000 USD).
    assert ledger.market("BTC-PERP").funding_index == 1_830_000_000
    assert ledger.market("ETH-PERP").funding_index == -150_000_000
    # A second interval adds to the index; an empty one adds the interest rate (0).
    again = run([AdvanceTime(2 * INTERVAL), ApplyFunding("BTC-PERP")], _samples(ledger, 2))
    assert again.market("BTC-PERP").funding_index == 1_830_000_000 + 2 * 610_000_000
    empty = run([AdvanceTime(3 * INTERVAL), ApplyFunding("BTC-PERP")], again)
    assert empty.market("BTC-PERP").funding_index == again.market("BTC-PERP").funding_index


# --- FND-3: settlement when an account is touched -----------------------------------------


def test_fnd3_funding_is_lazy_until_the_account_is_touched() -> None:
    ledger = _open_and_fund(1)
    assert ledger.market("BTC-PERP").funding_index == 600_000_000  # 1 ppm * 600,000,000
    # ApplyFunding moved no balance and no pool.
    assert ledger.account("alice").balance("USDC") == START
    assert ledger.market("BTC-PERP").pool == 0
    alice = ledger.account("alice").positions["BTC-PERP"]
    bob = ledger.account("bob").positions["BTC-PERP"]
    # 12,346,000 * 600,000,000 / 10**12 = 7,407.6: the long pays 7,408 (rounded up),
    # the short is owed -7,407.6 rounded up = -7,407.
    assert funding_owed(alice, ledger.market("BTC-PERP"), 10**6) == 7_408
    assert funding_owed(bob, ledger.market("BTC-PERP"), 10**6) == -7_407


def test_fnd3_long_pays_rounded_up_into_the_pool() -> None:
    ledger = _touch(_open_and_fund(1), "alice")
    assert ledger.account("alice").balance("USDC") == START - 1 - 7_408
    assert ledger.market("BTC-PERP").pool == 7_408
    # The snapshot advanced: touching again settles nothing more.
    assert ledger.account("alice").positions["BTC-PERP"].funding_index == 600_000_000
    again = _touch(ledger, "alice")
    assert again.account("alice").balance("USDC") == START - 2 - 7_408
    assert again.market("BTC-PERP").pool == 7_408
    # bob was not touched: his snapshot is still 0 and his balance unchanged.
    assert ledger.account("bob").positions["BTC-PERP"].funding_index == 0
    assert ledger.account("bob").balance("USDC") == START


def test_fnd3_short_receives_the_ceiling_of_a_negative_amount() -> None:
    ledger = _touch(_open_and_fund(1), "bob")
    assert ledger.account("bob").balance("USDC") == START - 1 + 7_407
    # The pool pays first and is owed by the unsettled long: it may be negative.
    assert ledger.market("BTC-PERP").pool == -7_407
    assert pool_covers_claims(ledger, "BTC-PERP")


def test_fnd3_negative_rate_shorts_pay_longs() -> None:
    ledger = _touch(_touch(_open_and_fund(-1), "alice"), "bob")
    # alice is owed ceil(-7,407.6) = -7,407; bob pays ceil(7,407.6) = 7,408.
    assert ledger.account("alice").balance("USDC") == START - 1 + 7_407
    assert ledger.account("bob").balance("USDC") == START - 1 - 7_408
    assert ledger.market("BTC-PERP").pool == 1


def test_fnd3_trades_settle_both_sides_first() -> None:
    ledger = _open_and_fund(1)
    ledger = apply(ledger, trade(fill(size=1_000)))
    # Both settled before the trade; the new 1,000 units start at the current index.
    assert ledger.market("BTC-PERP").pool == 1
    assert ledger.account("alice").positions["BTC-PERP"].funding_index == 600_000_000
    assert ledger.account("bob").positions["BTC-PERP"].funding_index == 600_000_000
    assert ledger.account("alice").balance("USDC") == START - 7_408
    assert ledger.account("bob").balance("USDC") == START + 7_407


def test_fnd3_new_position_starts_at_the_current_index() -> None:
    ledger = run([trade(fill(taker="carol", size=SIZE))], funded(names=("alice", "bob", "carol")))
    ledger = run([PremiumSample("BTC-PERP", 1), AdvanceTime(INTERVAL), ApplyFunding("BTC-PERP")], ledger)
    # alice opens after the funding: her position starts at the index and owes nothing.
    ledger = apply(ledger, trade(fill(size=SIZE)))
    assert ledger.account("alice").positions["BTC-PERP"].funding_index == 600_000_000
    assert _touch(ledger, "alice").account("alice").balance("USDC") == START - 1
    # carol opened before it and pays the 7,408.
    assert _touch(ledger, "carol").account("carol").balance("USDC") == START - 1 - 7_408
    # bob's short was settled by the second trade, before it grew.
    assert ledger.account("bob").balance("USDC") == START + 7_407


# --- FND-4: zero-sum and the sweep --------------------------------------------------------


def test_fnd4_pool_keeps_only_rounding_remainders_then_sweeps_to_the_fund() -> None:
    ledger = _touch(_touch(_open_and_fund(1), "alice"), "bob")
    # Exact amounts +7,407.6 and -7,407.6 cancel; rounding each up leaves
    # 0.4 + 0.6 = 1 in the pool.
    assert ledger.market("BTC-PERP").pool == 1
    assert ledger.insurance_fund["USDC"] == 0
    closed = apply(ledger, trade(fill(side=Side.SELL, size=SIZE)))
    assert closed.market("BTC-PERP").open_interest == 0
    assert closed.market("BTC-PERP").pool == 0
    assert closed.insurance_fund["USDC"] == 1
    # Nothing was created or lost: 20,000 USD in, 2 base units withdrawn.
    total = closed.account("alice").balance("USDC") + closed.account("bob").balance("USDC")
    assert total + closed.insurance_fund["USDC"] == 2 * START - 2


def test_fnd4_no_sweep_while_a_position_is_open() -> None:
    ledger = _touch(_touch(_open_and_fund(1), "alice"), "bob")
    partly = apply(ledger, trade(fill(side=Side.SELL, size=SIZE - 1_000)))
    assert partly.market("BTC-PERP").open_interest == 1_000
    assert partly.market("BTC-PERP").pool == 1
    assert partly.insurance_fund["USDC"] == 0


def test_fnd4_closing_unsettled_positions_settles_then_sweeps() -> None:
    # Nobody touched before the close: the closing trade settles both sides.
    closed = apply(_open_and_fund(1), trade(fill(side=Side.SELL, size=SIZE)))
    assert closed.account("alice").balance("USDC") == START - 7_408
    assert closed.account("bob").balance("USDC") == START + 7_407
    assert (closed.market("BTC-PERP").pool, closed.insurance_fund["USDC"]) == (0, 1)


def test_fnd4_exact_funding_leaves_nothing() -> None:
    # 12,345,000 * 600,000,000 / 10**12 = 7,407 exactly: nothing to round.
    ledger = _touch(_touch(_open_and_fund(1, size=12_345_000), "bob"), "alice")
    assert ledger.market("BTC-PERP").pool == 0


def test_inv6_open_interest_is_the_sum_of_the_longs() -> None:
    ledger = funded(names=("alice", "bob", "carol"))
    ledger = apply(ledger, trade(fill(size=SIZE), fill(taker="carol", size=1_000)))
    assert ledger.market("BTC-PERP").open_interest == SIZE + 1_000
    # bob is short SIZE + 1,000; alice sells him 2 * SIZE: she flips to -SIZE and he to a
    # long of SIZE - 1,000. The longs are now carol's 1,000 and bob's SIZE - 1,000.
    flipped = apply(ledger, trade(fill(side=Side.SELL, size=2 * SIZE)))
    assert flipped.account("alice").positions["BTC-PERP"].size == -SIZE
    assert flipped.account("bob").positions["BTC-PERP"].size == SIZE - 1_000
    assert flipped.market("BTC-PERP").open_interest == SIZE
    assert open_interest_matches(flipped, "BTC-PERP")
    # carol sells her 1,000 to alice: only bob's long is left.
    closed = apply(flipped, trade(fill(taker="carol", side=Side.SELL, size=1_000, maker="alice")))
    assert closed.market("BTC-PERP").open_interest == SIZE - 1_000
    assert open_interest_matches(closed, "BTC-PERP")
    # The state can fail the check: a recorded open interest one unit off.
    off = replace(
        closed, markets=closed.markets.set("BTC-PERP", replace(closed.market("BTC-PERP"), open_interest=SIZE))
    )
    assert not open_interest_matches(off, "BTC-PERP")


# --- FND-5: the pool covers what it owes --------------------------------------------------


def test_fnd5_pool_covers_claims_at_every_stage() -> None:
    funded_ledger = _open_and_fund(1)
    assert pool_covers_claims(funded_ledger, "BTC-PERP")  # pool 0, owed 7,407.6 - 7,407.6
    bob_first = _touch(funded_ledger, "bob")  # pool -7,407, alice owes 7,407.6
    assert pool_covers_claims(bob_first, "BTC-PERP")
    alice_first = _touch(funded_ledger, "alice")  # pool 7,408, bob is owed 7,407.6
    assert pool_covers_claims(alice_first, "BTC-PERP")
    both = _touch(bob_first, "alice")
    assert pool_covers_claims(both, "BTC-PERP")
    assert both.market("BTC-PERP").pool == alice_first.market("BTC-PERP").pool - 7_407 == 1


def test_fnd5_pool_covers_claims_detects_an_overpaying_pool() -> None:
    # The invariant can fail: a pool one unit short of what the long owes (exactly 7,407.6).
    ledger = _touch(_open_and_fund(1), "bob")
    short = replace(
        ledger, markets=ledger.markets.set("BTC-PERP", replace(ledger.market("BTC-PERP"), pool=-7_408))
    )
    assert not pool_covers_claims(short, "BTC-PERP")


@settings(max_examples=30, deadline=None)
@given(
    steps=st.integers(min_value=1, max_value=2_000),
    rate=st.integers(min_value=-15_000, max_value=15_000),
    bob_first=st.booleans(),
    dollars=st.integers(min_value=57_000, max_value=63_000),
)
def test_fnd5_after_everyone_settles_the_pool_holds_the_remainder(
    steps: int, rate: int, bob_first: bool, dollars: int
) -> None:
    size = steps * 1_000
    ledger = run([trade(fill(size=size))], funded(usdc=100_000))
    ledger = move_price(ledger, "BTC-USD", dollars)
    ledger = run([PremiumSample("BTC-PERP", rate), AdvanceTime(INTERVAL), ApplyFunding("BTC-PERP")], ledger)
    first, second = ("bob", "alice") if bob_first else ("alice", "bob")
    ledger = _touch(ledger, first)
    assert pool_covers_claims(ledger, "BTC-PERP")
    ledger = _touch(ledger, second)
    exact_numerator = size * rate * usd_price(dollars)  # owed by the long, times 10**12
    remainder = 0 if exact_numerator % 10**12 == 0 else 1  # ceil(x) + ceil(-x)
    assert ledger.market("BTC-PERP").pool == remainder
    assert pool_covers_claims(ledger, "BTC-PERP")
