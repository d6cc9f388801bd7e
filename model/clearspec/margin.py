"""The margin engine (spec: margin.md, rules MRG-*).

An account's risk is three numbers, as in dYdX v4: net collateral (NC), the
initial margin requirement (IMR) and the maintenance margin requirement (MMR).
Collateral haircuts enter as requirements rather than as a discount on NC, so
there is one NC for both checks (MRG-1). Every rounding favours the protocol:
values round down, requirements round up.
"""

from __future__ import annotations

from dataclasses import dataclass

import icontract

from clearspec import kernel as k
from clearspec.params import PPM, AssetParams, MarketParams
from clearspec.state import Account, Ledger, Position


@dataclass(frozen=True, slots=True)
class Risk:
    """Net collateral and the two requirements of one account (MRG-1)."""

    nc: int
    imr: int
    mmr: int

    def __add__(self, other: Risk) -> Risk:
        return Risk(self.nc + other.nc, self.imr + other.imr, self.mmr + other.mmr)


ZERO_RISK = Risk(0, 0, 0)


def _scale(ledger: Ledger, feed: str) -> int:
    return ledger.params.feed_by_id[feed].scale


@icontract.require(
    lambda scale: k.holds(scale > 0), "PAR-2: a feed's scale is positive", enabled=k.SLOW_CONTRACTS
)
@icontract.ensure(
    lambda size, price, result: k.holds(k.implies(k.and_(size >= 0, price >= 0), result >= 0)),
    enabled=k.SLOW_CONTRACTS,
)
def notional(size: int, price: int, scale: int) -> int:
    """``size * price / scale`` rounded down (a long is worth less, a short owes more)."""
    return k.mul_div_floor(size, price, scale)


@icontract.require(
    lambda balance: k.holds(balance >= 0), "non-quote balances are not negative", enabled=k.SLOW_CONTRACTS
)
@icontract.ensure(lambda result: k.holds(result.nc >= 0), enabled=k.SLOW_CONTRACTS)
@icontract.ensure(lambda result: k.holds(result.imr >= result.mmr), enabled=k.SLOW_CONTRACTS)
@icontract.ensure(lambda result: k.holds(result.nc >= result.imr), enabled=k.SLOW_CONTRACTS)
def asset_risk(ledger: Ledger, asset: AssetParams, balance: int) -> Risk:
    """MRG-1: a non-quote collateral balance adds its value (rounded down) to NC
    and its haircut, ``value - floor(exact value * weight)``, to each requirement."""
    assert asset.feed is not None  # the quote asset is handled by account_risk
    price = ledger.price(asset.feed)
    scale = _scale(ledger, asset.feed)
    value = notional(balance, price, scale)
    # The requirement is what the weight does not count: value minus the weighted
    # value rounded down. So NC - IMR = floor(value * weight), which never falls
    # as the balance grows (flooring value and ceiling the haircut separately
    # would let one more unit raise IMR without raising NC).
    imr = value - k.mul_div_floor(balance * price, asset.initial_weight_ppm, scale * PPM)
    mmr = value - k.mul_div_floor(balance * price, asset.maintenance_weight_ppm, scale * PPM)
    return Risk(value, imr, mmr)


def _tier_weights(market: MarketParams, abs_size: int) -> tuple[int, int]:
    """MRG-2: ``sum_j part_j * im_j`` and ``sum_j part_j * mm_j`` (size times ppm),
    the requirements before the price and the one rounding are applied."""
    lower = 0
    initial_weighted = 0
    maintenance_weighted = 0
    for tier in market.tiers:
        upper = abs_size if tier.up_to_size is None else k.min_(abs_size, tier.up_to_size)
        part = k.max_(upper - lower, 0)
        initial_weighted = initial_weighted + part * tier.initial_ppm
        maintenance_weighted = maintenance_weighted + part * tier.maintenance_ppm
        if tier.up_to_size is not None:
            lower = tier.up_to_size
    return initial_weighted, maintenance_weighted


@icontract.ensure(lambda result: k.holds(result[0] >= result[1]), enabled=k.SLOW_CONTRACTS)
@icontract.ensure(lambda result: k.holds(result[1] >= 0), enabled=k.SLOW_CONTRACTS)
def tiered_requirement(market: MarketParams, abs_size: int, price: int, scale: int) -> tuple[int, int]:
    """MRG-2: (initial, maintenance) requirement of a position of ``abs_size``.

    Each tier's fraction applies to the part of the size inside its bracket, like
    a progressive tax, so the requirement is continuous and rises with size.
    """
    initial_weighted, maintenance_weighted = _tier_weights(market, abs_size)
    return (
        k.mul_div_ceil(initial_weighted, price, scale * PPM),
        k.mul_div_ceil(maintenance_weighted, price, scale * PPM),
    )


def _has_open_interest_caps(market: MarketParams) -> bool:
    """MRG-7: whether the market scales its initial requirement with open interest."""
    return market.open_interest_lower_cap is not None and market.open_interest_upper_cap is not None


@icontract.require(
    lambda market: market.open_interest_lower_cap is not None and market.open_interest_upper_cap is not None,
    "MRG-7 needs both caps",
)
def scaled_initial_requirement(
    market: MarketParams, abs_size: int, price: int, scale: int, open_interest: int
) -> int:
    """MRG-7's formula, for a market with caps ``L <= U``: the tiers' weighted
    size ``W`` moves towards the whole size ``|size| * PPM`` by the share
    ``e / D`` of the way the open interest has gone from ``L`` to ``U``,
    ``D = max(U - L, 1)``, ``e = D`` once ``OI >= U`` and ``clamp(OI - L, 0, D)``
    before; rounded up once, ``ceil((W * D + e * (|size| * PPM - W)) * P / (S * PPM * D))``.
    With ``L == U`` the share is 0 below the cap and 1 from it on. No Python
    branch on the caps, so a lemma may take them symbolic."""
    lower, upper = market.open_interest_lower_cap, market.open_interest_upper_cap
    assert lower is not None and upper is not None  # the precondition, for the type checker
    weighted = _tier_weights(market, abs_size)[0]
    span = k.max_(upper - lower, 1)
    excess = k.ite(open_interest >= upper, span, k.clamp(open_interest - lower, 0, span))
    scaled = weighted * span + excess * (abs_size * PPM - weighted)
    return k.mul_div_ceil(scaled, price, scale * PPM * span)


@icontract.ensure(
    lambda market, abs_size, price, scale, result: k.holds(
        result >= tiered_requirement(market, abs_size, price, scale)[0]
    ),
    "MRG-7: the scaled requirement is never below MRG-2's",
    enabled=k.SLOW_CONTRACTS,
)
def initial_requirement(
    market: MarketParams, abs_size: int, price: int, scale: int, open_interest: int
) -> int:
    """MRG-7: the initial requirement of a position of ``abs_size`` in a market
    whose open interest is ``open_interest``: MRG-2's without caps, else
    :func:`scaled_initial_requirement`.

    That is never below MRG-2's (lemma MRG-7/open-interest-bounds); the max with
    it changes no number and makes IMR >= MMR a linear fact for the prover.
    """
    tiered = tiered_requirement(market, abs_size, price, scale)[0]
    if not _has_open_interest_caps(market):
        return tiered
    return k.max_(scaled_initial_requirement(market, abs_size, price, scale, open_interest), tiered)


@icontract.ensure(lambda result: k.holds(result > 0), enabled=k.SLOW_CONTRACTS)
@icontract.ensure(
    lambda ledger, market, result: ledger.markets[market.market_id].settlement_price is None
    or k.holds(result == ledger.markets[market.market_id].settlement_price),
    "EXP-1: once a dated market's final price is fixed, its positions are valued at it",
    enabled=k.SLOW_CONTRACTS,
)
def mark_price(ledger: Ledger, market: MarketParams) -> int:
    """MRG-1, EXP-1: the price positions are valued at: the oracle price, or once
    a dated market's final price is fixed, that price."""
    fixed = ledger.markets[market.market_id].settlement_price
    return ledger.price(market.feed) if fixed is None else fixed


@icontract.ensure(lambda result: k.holds(result.imr >= result.mmr), enabled=k.SLOW_CONTRACTS)
@icontract.ensure(lambda result: k.holds(result.mmr >= 0), enabled=k.SLOW_CONTRACTS)
def position_risk(ledger: Ledger, market: MarketParams, position: Position) -> Risk:
    """MRG-1/MRG-2/MRG-7: a position adds its unrealised value ``size * price + quote``
    to NC, its tiered requirement scaled by the market's open interest (MRG-7)
    to IMR and its tiered requirement to MMR."""
    price = mark_price(ledger, market)
    scale = _scale(ledger, market.feed)
    size = k.abs_(position.size)
    initial, maintenance = tiered_requirement(market, size, price, scale)
    if _has_open_interest_caps(market):  # without caps the trace stays MRG-2's alone
        open_interest = ledger.markets[market.market_id].open_interest
        initial = initial_requirement(market, size, price, scale, open_interest)
    return Risk(notional(position.size, price, scale) + position.quote, initial, maintenance)


@icontract.ensure(lambda result: k.holds(result.imr >= result.mmr), enabled=k.SLOW_CONTRACTS)
@icontract.ensure(lambda result: k.holds(result.mmr >= 0), enabled=k.SLOW_CONTRACTS)
def account_risk(ledger: Ledger, account: Account) -> Risk:
    """MRG-1: the account's NC, IMR and MMR at the ledger's oracle prices.

    Costs O(assets + positions of this account), never O(accounts).
    """
    params = ledger.params
    risk = ZERO_RISK
    for asset_id, balance in account.balances.items():
        if asset_id == params.quote_asset:
            risk = risk + Risk(balance, 0, 0)
        else:
            risk = risk + asset_risk(ledger, params.asset_by_id[asset_id], balance)
    for market_id, position in account.positions.items():
        risk = risk + position_risk(ledger, params.market_by_id[market_id], position)
    return risk


@icontract.ensure(
    lambda risk, result: k.holds(k.implies(k.and_(result, risk.imr >= risk.mmr), risk.nc >= risk.mmr)),
    enabled=k.SLOW_CONTRACTS,
)
def meets_initial(risk: Risk) -> bool:
    """MRG-3: at or above initial margin."""
    return risk.nc >= risk.imr


@icontract.ensure(
    lambda risk, result: k.holds(
        k.implies(k.and_(result, risk.imr >= risk.mmr), k.not_(meets_initial(risk)))
    ),
    enabled=k.SLOW_CONTRACTS,
)
def is_liquidatable(risk: Risk) -> bool:
    """MRG-6: a positive maintenance requirement that net collateral does not cover."""
    return k.and_(risk.mmr > 0, risk.nc < risk.mmr)


@icontract.ensure(
    lambda after, result: k.holds(k.implies(meets_initial(after), result)),
    "ending at initial margin is always allowed",
    enabled=k.SLOW_CONTRACTS,
)
@icontract.ensure(
    lambda before, after, result: k.holds(
        k.implies(k.and_(result, k.not_(meets_initial(after))), after.mmr <= before.mmr)
    ),
    "below initial margin, the MMR never rises",
    enabled=k.SLOW_CONTRACTS,
)
def update_allowed(before: Risk, after: Risk) -> bool:
    """MRG-4: dYdX v4's rule for an update of an account's positions.

    Accepted if the account ends at or above initial margin. Otherwise it is
    accepted only if the update is not riskier: the MMR does not rise and the
    collateral ratio NC/MMR does not fall (compared by cross-multiplying, so no
    division). Where either MMR is zero the ratio is undefined, and the update is
    accepted only if both are zero and NC strictly rises.
    """
    some_zero = k.or_(before.mmr == 0, after.mmr == 0)
    zero_case = k.and_(before.mmr == 0, after.mmr == 0, after.nc > before.nc)
    ratio_ok = after.nc * before.mmr >= before.nc * after.mmr
    not_riskier = k.and_(after.mmr <= before.mmr, k.ite_bool(some_zero, zero_case, ratio_ok))
    return k.or_(meets_initial(after), not_riskier)
