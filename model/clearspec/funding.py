"""Perpetual funding (spec: funding.md, rules FND-*).

Premium samples are averaged over an interval into a funding rate, clamped by
multiples of the market's first-tier margin spread (as dYdX v4 clamps premium
votes and rates; the rate's clamp is a bound per 8 hours, of which one interval
gets its share). The rate times the oracle price is added to the market's
funding index; each position pays or receives ``size * (index - snapshot)``
when it is next touched (FND-3, in ``positions.settle_account``).
"""

from __future__ import annotations

from dataclasses import replace

import icontract

from clearspec import kernel as k
from clearspec.actions import ApplyFunding, PremiumSample
from clearspec.errors import ErrorCode
from clearspec.params import MAX_AMOUNT, PPM, MarketKind, MarketParams
from clearspec.state import Ledger


@icontract.ensure(lambda result: result >= 0, enabled=k.SLOW_CONTRACTS)
def margin_spread_ppm(market: MarketParams) -> int:
    """The first tier's initial minus maintenance fraction, in ppm."""
    tier = market.tiers[0]
    return tier.initial_ppm - tier.maintenance_ppm


@icontract.ensure(lambda result: result >= 0, enabled=k.SLOW_CONTRACTS)
def premium_clamp_ppm(market: MarketParams) -> int:
    """FND-1: the largest premium sample magnitude, ``factor * spread``."""
    return k.mul_div_floor(market.premium_clamp_factor_ppm, margin_spread_ppm(market), PPM)


# FND-2: the funding clamp factor bounds the rate per this many seconds (8 hours), as in dYdX v4.
FUNDING_CLAMP_PERIOD = 28_800


@icontract.ensure(lambda result: result >= 0, enabled=k.SLOW_CONTRACTS)
@icontract.ensure(
    lambda market, result: (
        result * PPM * FUNDING_CLAMP_PERIOD
        <= market.funding_clamp_factor_ppm * margin_spread_ppm(market) * market.funding_interval
    ),
    "FND-2: over 8 hours of intervals, at most factor * spread",
    enabled=k.SLOW_CONTRACTS,
)
def funding_clamp_ppm(market: MarketParams) -> int:
    """FND-2: the largest funding rate magnitude per interval: the interval's
    share of ``factor * spread`` per 8 hours, rounded down, so the bound per unit
    of time does not depend on the interval length."""
    per_period = market.funding_clamp_factor_ppm * margin_spread_ppm(market)
    return k.mul_div_floor(per_period, market.funding_interval, PPM * FUNDING_CLAMP_PERIOD)


def _sample_within_clamp(added: int, premium_ppm: int, bound: int) -> bool:
    """FND-1, restated: what a sample adds lies within ``[-bound, bound]``; it is
    the premium itself when that lies within, else the bound on its side."""
    return k.and_(
        -bound <= added,
        added <= bound,
        k.implies(k.and_(-bound <= premium_ppm, premium_ppm <= bound), added == premium_ppm),
        k.implies(premium_ppm > bound, added == bound),
        k.implies(premium_ppm < -bound, added == -bound),
    )


def _perpetual(ledger: Ledger, market_id: str) -> MarketParams:
    k.require(market_id in ledger.params.market_by_id, ErrorCode.UNKNOWN_MARKET, market_id)
    market = ledger.params.market_by_id[market_id]
    k.require(market.kind is MarketKind.PERPETUAL, ErrorCode.FUNDING_NOT_PERPETUAL, market_id)
    return market


@icontract.ensure(
    lambda ledger, action, result: k.holds(
        result.markets[action.market].premium_count == ledger.markets[action.market].premium_count + 1
    ),
    "FND-1: premium_count rises by one",
    enabled=k.SLOW_CONTRACTS,
)
@icontract.ensure(
    lambda ledger, action, result: k.holds(
        _sample_within_clamp(
            result.markets[action.market].premium_sum - ledger.markets[action.market].premium_sum,
            action.premium_ppm,
            premium_clamp_ppm(ledger.params.market_by_id[action.market]),
        )
    ),
    "FND-1: premium_sum grows by the sample clamped to [-premium_clamp, premium_clamp]",
    enabled=k.SLOW_CONTRACTS,
)
@icontract.ensure(lambda ledger, result: result.accounts is ledger.accounts, "samples move no balance")
def record_premium(ledger: Ledger, action: PremiumSample) -> Ledger:
    """FND-1: add one premium sample, clamped to the premium clamp."""
    market = _perpetual(ledger, action.market)
    k.require(k.abs_(action.premium_ppm) <= MAX_AMOUNT, ErrorCode.AMOUNT_TOO_LARGE, str(action.premium_ppm))
    bound = premium_clamp_ppm(market)
    state = ledger.markets[action.market]
    sample = k.clamp(action.premium_ppm, -bound, bound)
    updated = replace(state, premium_sum=state.premium_sum + sample, premium_count=state.premium_count + 1)
    return replace(ledger, markets=ledger.markets.set(action.market, updated))


@icontract.ensure(lambda result: k.holds(k.abs_(result) <= MAX_AMOUNT), enabled=k.SLOW_CONTRACTS)
def funding_rate_ppm(ledger: Ledger, market_id: str) -> int:
    """FND-2: the interval's rate: the average sample (rounded down) plus the
    interest rate, clamped to the funding clamp. No samples: the interest rate."""
    market = ledger.params.market_by_id[market_id]
    state = ledger.markets[market_id]
    average = k.div_floor(state.premium_sum, k.max_(state.premium_count, 1))
    bound = funding_clamp_ppm(market)
    return k.clamp(average + market.funding_interest_ppm, -bound, bound)


@icontract.ensure(
    lambda ledger, action, result: result.markets[action.market].premium_count == 0,
    "samples start afresh",
    enabled=k.SLOW_CONTRACTS,
)
@icontract.ensure(lambda ledger, result: result.accounts is ledger.accounts, "funding is settled lazily")
def apply_funding(ledger: Ledger, action: ApplyFunding) -> Ledger:
    """FND-2: once an interval has passed, add ``rate * oracle price`` to the
    funding index (units: ppm times price units per base unit)."""
    market = _perpetual(ledger, action.market)
    state = ledger.markets[action.market]
    due = state.last_funding_at + market.funding_interval
    k.require(ledger.now >= due, ErrorCode.FUNDING_TOO_EARLY, f"next funding at {due}")
    rate = funding_rate_ppm(ledger, action.market)
    updated = replace(
        state,
        funding_index=state.funding_index + rate * ledger.price(market.feed),
        premium_sum=0,
        premium_count=0,
        last_funding_at=ledger.now,
    )
    return replace(ledger, markets=ledger.markets.set(action.market, updated))
