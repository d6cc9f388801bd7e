"""Protocol parameters (spec: parameters.md, rules PAR-*) and their validation.

Parameters are fixed for a ledger's life; every number is an integer. Fractions
are parts per million (``PPM``); prices are integers with a per-feed number of
decimals.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

import icontract

from clearspec import kernel as k
from clearspec.errors import ClearingError, ErrorCode
from clearspec.identifiers import IDENTIFIER_TEXT, is_identifier
from clearspec.reporter_keys import public_key_flaw

PPM = 1_000_000
# PAR-1: the largest amount, size or price an action may carry. Products of two
# such values need 200 bits: implementers must use big or 256-bit integers.
MAX_AMOUNT = 10**30
# ORA-2: a deployment id is signed into every report, newline-free by construction.
DEPLOYMENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")


class DeficitPolicy(StrEnum):
    """ADL-1: who bears a bankrupt account's deficit once the insurance fund is empty."""

    DELEVERAGE = "deleverage"  # opposite-side accounts, ranked, at the bankruptcy price
    SOCIALISE = "socialise"  # every open position of the market, pro rata to size


class MarketKind(StrEnum):
    """A perpetual never expires; a dated future stops trading at ``expiry``."""

    PERPETUAL = "perpetual"
    DATED = "dated"


@dataclass(frozen=True)
class FeedParams:
    """An oracle feed. A price ``P`` means ``P / 10**price_decimals`` quote base
    units per base unit of the asset or market."""

    feed_id: str
    price_decimals: int

    @property
    def scale(self) -> int:
        """``10 ** price_decimals``: divide ``size * price`` by it to get quote units."""
        return int(10**self.price_decimals)


@dataclass(frozen=True)
class AssetParams:
    """A collateral asset. The quote asset has no feed and full weight (COL-2)."""

    asset_id: str
    feed: str | None
    initial_weight_ppm: int = PPM
    maintenance_weight_ppm: int = PPM
    # CLQ-4, CLQ-6: a collateral liquidation gives the liquidator this bonus over
    # the oracle value of the debt it repays (Aave v3's liquidationBonus - 100 %),
    # and this share of the bonus goes to the insurance fund (its liquidationProtocolFee).
    liquidation_bonus_ppm: int = 0
    liquidation_protocol_fee_ppm: int = 0


@dataclass(frozen=True)
class MarginTier:
    """One bracket of position size (MRG-2): the part of ``|size|`` at or below
    ``up_to_size`` and above the previous tier's bound pays these fractions.
    ``up_to_size`` of the last tier is ``None`` (unbounded)."""

    up_to_size: int | None
    initial_ppm: int
    maintenance_ppm: int


@dataclass(frozen=True)
class MarketParams:
    """A perpetual or dated-future market, quoted in the quote asset."""

    market_id: str
    kind: MarketKind
    feed: str
    tiers: tuple[MarginTier, ...]
    step_size: int
    tick_size: int
    max_position: int
    price_band_ppm: int
    max_fee_ppm: int
    expiry: int | None = None
    # TRD-8 / INS-5: a non-zero position is at least this large (0: one step).
    min_position_size: int = 0
    deficit_policy: DeficitPolicy = DeficitPolicy.DELEVERAGE
    # FND-*: premium samples are averaged over one interval; clamps are
    # multiples (in ppm) of the first tier's initial minus maintenance fraction.
    funding_interval: int = 3_600
    funding_interest_ppm: int = 0
    premium_clamp_factor_ppm: int = 60_000_000
    funding_clamp_factor_ppm: int = 6_000_000
    # MRG-7: open interest (base units) from which the initial requirement rises
    # linearly from the tiers' to the whole notional at the upper cap. Both
    # absent (None): no scaling.
    open_interest_lower_cap: int | None = None
    open_interest_upper_cap: int | None = None


@dataclass(frozen=True)
class OracleParams:
    """The reporter set and the acceptance rules of ORA-*."""

    reporters: tuple[tuple[str, bytes], ...]
    quorum: int
    max_age: int
    max_future_skew: int
    report_band_ppm: int
    # PAR-5: a market whose maintenance fractions are all at least this bound
    # cannot leave an account that met maintenance with negative equity in one update.
    max_deviation_ppm: int
    # ORA-4: a report's round is at most this far above the feed's last round.
    max_round_step: int
    # ORA-10: within one interval of this many seconds (aligned on multiples of
    # it), every accepted price lies within max_interval_move_ppm of the price in
    # force when the interval began.
    breaker_interval: int
    max_interval_move_ppm: int


@dataclass(frozen=True)
class LiquidationParams:
    """LIQ-*, INS-*: dYdX v4's liquidation configuration, same names and units."""

    bankruptcy_adjustment_ppm: int = 1_000_000
    spread_to_maintenance_ppm: int = 100_000
    max_liquidation_fee_ppm: int = 15_000
    # LIQ-5: per position and block, at most this portion of the position at the
    # block's first liquidation, unless its notional is at most the minimum.
    max_position_portion_ppm: int = 1_000_000
    min_position_notional: int = 0
    # LIQ-5: per account and block, in quote base units.
    max_notional_per_block: int = 10**30
    max_insurance_lost_per_block: int = 10**30
    # INS-6: withdrawals and transfers wait this long after negative NC is seen.
    withdrawal_gate_seconds: int = 300
    # CLQ-3: a collateral liquidation repays at most this share of the account's
    # debt (Aave v3's close factor), all of it when the health factor is at or
    # below the threshold or the debt or the collateral is below the dust threshold
    # (quote base units).
    close_factor_ppm: int = 500_000
    close_factor_hf_threshold_ppm: int = 950_000
    collateral_dust_threshold: int = 0


@dataclass(frozen=True)
class ProtocolParams:
    """Everything fixed for the life of a ledger. Build with :func:`make_params`."""

    quote_asset: str
    assets: tuple[AssetParams, ...]
    feeds: tuple[FeedParams, ...]
    markets: tuple[MarketParams, ...]
    oracle: OracleParams
    # ORA-2: names this deployment in every signed report, so that a report
    # signed for another deployment of the same reporters is refused.
    deployment_id: str
    max_batch_fills: int = 64
    liquidation: LiquidationParams = LiquidationParams()
    asset_by_id: dict[str, AssetParams] = field(init=False, repr=False, compare=False)
    feed_by_id: dict[str, FeedParams] = field(init=False, repr=False, compare=False)
    market_by_id: dict[str, MarketParams] = field(init=False, repr=False, compare=False)
    reporter_keys: dict[str, bytes] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Lookup tables: derived, so excluded from equality and the encoding.
        object.__setattr__(self, "asset_by_id", {a.asset_id: a for a in self.assets})
        object.__setattr__(self, "feed_by_id", {f.feed_id: f for f in self.feeds})
        object.__setattr__(self, "market_by_id", {m.market_id: m for m in self.markets})
        object.__setattr__(self, "reporter_keys", dict(self.oracle.reporters))


def _fail(detail: str) -> ClearingError:
    return ClearingError(ErrorCode.INVALID_PARAMS, detail)


def _check_ppm(name: str, value: int) -> None:
    if not 0 <= value <= PPM:
        raise _fail(f"{name} must be within 0..{PPM}, got {value}")


def _check_ids(kind: str, ids: list[str]) -> None:
    """Every id an identifier of the one grammar (clearspec.identifiers), so every
    action can name it and the codec can carry it."""
    for ident in ids:
        if not is_identifier(ident):
            raise _fail(f"{kind} id {ident!r} is not an identifier ({IDENTIFIER_TEXT})")


def _validate_assets(params: ProtocolParams) -> None:
    ids = [a.asset_id for a in params.assets]
    _check_ids("asset", ids)
    if len(set(ids)) != len(ids):
        raise _fail("asset ids must be distinct")
    if params.quote_asset not in params.asset_by_id:
        raise _fail(f"quote asset {params.quote_asset!r} is not listed")
    for asset in params.assets:
        if asset.asset_id == params.quote_asset:
            if (
                asset.feed is not None
                or asset.initial_weight_ppm != PPM
                or asset.maintenance_weight_ppm != PPM
            ):
                raise _fail("the quote asset has no feed and full weight")
            if asset.liquidation_bonus_ppm != 0 or asset.liquidation_protocol_fee_ppm != 0:
                raise _fail("the quote asset is never seized: no liquidation bonus or protocol fee (CLQ-4)")
            continue
        if asset.feed not in params.feed_by_id:
            raise _fail(f"asset {asset.asset_id!r} names unknown feed {asset.feed!r}")
        _check_ppm(f"{asset.asset_id}.initial_weight_ppm", asset.initial_weight_ppm)
        _check_ppm(f"{asset.asset_id}.maintenance_weight_ppm", asset.maintenance_weight_ppm)
        if asset.initial_weight_ppm > asset.maintenance_weight_ppm:
            raise _fail(f"{asset.asset_id}: initial weight exceeds maintenance weight")
        _check_ppm(f"{asset.asset_id}.liquidation_bonus_ppm", asset.liquidation_bonus_ppm)
        _check_ppm(f"{asset.asset_id}.liquidation_protocol_fee_ppm", asset.liquidation_protocol_fee_ppm)


def _validate_tiers(market: MarketParams) -> None:
    if not market.tiers:
        raise _fail(f"{market.market_id}: at least one margin tier")
    previous_bound = 0
    previous = MarginTier(0, 0, 0)
    for i, tier in enumerate(market.tiers):
        last = i == len(market.tiers) - 1
        if (tier.up_to_size is None) != last:
            raise _fail(f"{market.market_id}: only the last tier is unbounded")
        if tier.up_to_size is not None:
            if tier.up_to_size <= previous_bound:
                raise _fail(f"{market.market_id}: tier bounds must increase")
            previous_bound = tier.up_to_size
        _check_ppm(f"{market.market_id}.initial_ppm", tier.initial_ppm)
        _check_ppm(f"{market.market_id}.maintenance_ppm", tier.maintenance_ppm)
        if not 0 < tier.maintenance_ppm <= tier.initial_ppm:
            raise _fail(f"{market.market_id}: need 0 < maintenance <= initial fraction")
        if tier.initial_ppm < previous.initial_ppm or tier.maintenance_ppm < previous.maintenance_ppm:
            raise _fail(f"{market.market_id}: fractions must not fall as size grows")
        previous = tier


def _validate_markets(params: ProtocolParams) -> None:
    ids = [m.market_id for m in params.markets]
    _check_ids("market", ids)
    if len(set(ids)) != len(ids):
        raise _fail("market ids must be distinct")
    for market in params.markets:
        feed = params.feed_by_id.get(market.feed)
        if feed is None:
            raise _fail(f"{market.market_id} names unknown feed {market.feed!r}")
        _validate_tiers(market)
        if market.step_size <= 0 or market.tick_size <= 0 or market.max_position <= 0:
            raise _fail(f"{market.market_id}: step, tick and max position must be positive")
        if market.max_position > MAX_AMOUNT:
            raise _fail(f"{market.market_id}: max_position exceeds MAX_AMOUNT (PAR-1)")
        # PAR-3: one step at one tick is a whole number of quote base units, so
        # every fill's notional is exact.
        if not k.divides(feed.scale, market.step_size * market.tick_size):
            raise _fail(f"{market.market_id}: step * tick must be a multiple of 10**decimals")
        _check_ppm(f"{market.market_id}.price_band_ppm", market.price_band_ppm)
        _check_ppm(f"{market.market_id}.max_fee_ppm", market.max_fee_ppm)
        if (market.kind is MarketKind.DATED) != (market.expiry is not None):
            raise _fail(f"{market.market_id}: a dated future, and only it, has an expiry")
        if market.min_position_size < 0 or market.min_position_size > market.max_position:
            raise _fail(f"{market.market_id}: min_position_size must be within 0..max_position")
        if market.funding_interval <= 0:
            raise _fail(f"{market.market_id}: funding_interval must be positive")
        if not -PPM <= market.funding_interest_ppm <= PPM:
            raise _fail(f"{market.market_id}: funding_interest_ppm must be within -PPM..PPM")
        if market.premium_clamp_factor_ppm < 0 or market.funding_clamp_factor_ppm < 0:
            raise _fail(f"{market.market_id}: clamp factors must not be negative")
        _validate_open_interest_caps(market)


def _validate_open_interest_caps(market: MarketParams) -> None:
    """PAR-2, MRG-7: both caps or neither; ``0 <= lower <= upper <= MAX_AMOUNT``."""
    lower, upper = market.open_interest_lower_cap, market.open_interest_upper_cap
    if lower is None and upper is None:
        return
    if lower is None or upper is None:
        raise _fail(f"{market.market_id}: open_interest_lower_cap and open_interest_upper_cap go together")
    if not 0 <= lower <= upper <= MAX_AMOUNT:
        raise _fail(
            f"{market.market_id}: need 0 <= open_interest_lower_cap <= open_interest_upper_cap <= MAX_AMOUNT"
        )


def _validate_oracle(params: ProtocolParams) -> None:
    oracle = params.oracle
    if not DEPLOYMENT_ID.fullmatch(params.deployment_id):
        raise _fail("deployment_id must be 1..64 of A-Z a-z 0-9 . _ : - (starting with a letter or digit)")
    ids = [r for r, _ in oracle.reporters]
    _check_ids("reporter", ids)
    keys = [key for _, key in oracle.reporters]
    if len(set(ids)) != len(ids) or len(set(keys)) != len(keys):
        raise _fail("reporter ids and keys must be distinct")
    for reporter, key in oracle.reporters:
        flaw = public_key_flaw(key)
        if flaw is not None:
            raise _fail(f"reporter {reporter!r}: weak or invalid ed25519 public key: {flaw}")
    if not 1 <= oracle.quorum <= len(ids):
        raise _fail(f"quorum must be within 1..{len(ids)}")
    if oracle.max_age <= 0 or oracle.max_future_skew < 0:
        raise _fail("max_age must be positive and max_future_skew non-negative")
    _check_ppm("report_band_ppm", oracle.report_band_ppm)
    _check_ppm("max_deviation_ppm", oracle.max_deviation_ppm)
    if oracle.max_round_step <= 0:
        raise _fail("max_round_step must be positive")
    if oracle.breaker_interval <= 0:
        raise _fail("breaker_interval must be positive")
    _check_ppm("max_interval_move_ppm", oracle.max_interval_move_ppm)


def _validate_feeds(params: ProtocolParams) -> None:
    _check_ids("feed", [f.feed_id for f in params.feeds])
    if len({f.feed_id for f in params.feeds}) != len(params.feeds):
        raise _fail("feed ids must be distinct")
    for feed in params.feeds:
        if not 0 <= feed.price_decimals <= 30:
            raise _fail(f"{feed.feed_id}: price_decimals must be within 0..30")


def _validate_liquidation(params: ProtocolParams) -> None:
    liq = params.liquidation
    if liq.bankruptcy_adjustment_ppm < PPM:
        raise _fail("bankruptcy_adjustment_ppm must be at least PPM (dYdX: BA >= 1)")
    _check_ppm("spread_to_maintenance_ppm", liq.spread_to_maintenance_ppm)
    _check_ppm("max_liquidation_fee_ppm", liq.max_liquidation_fee_ppm)
    if not 0 < liq.max_position_portion_ppm <= PPM:
        raise _fail("max_position_portion_ppm must be within 1..PPM")
    if min(liq.min_position_notional, liq.max_notional_per_block, liq.max_insurance_lost_per_block) < 0:
        raise _fail("liquidation notional limits must not be negative")
    if liq.withdrawal_gate_seconds < 0:
        raise _fail("withdrawal_gate_seconds must not be negative")
    if not 0 < liq.close_factor_ppm <= PPM:
        raise _fail("close_factor_ppm must be within 1..PPM (CLQ-3)")
    if not 0 <= liq.close_factor_hf_threshold_ppm <= PPM:
        raise _fail("close_factor_hf_threshold_ppm must be within 0..PPM (CLQ-3)")
    if not 0 <= liq.collateral_dust_threshold <= MAX_AMOUNT:
        raise _fail("collateral_dust_threshold must be within 0..MAX_AMOUNT (CLQ-3)")


@icontract.ensure(lambda result: result.quote_asset in result.asset_by_id)
def make_params(
    *,
    quote_asset: str,
    assets: tuple[AssetParams, ...],
    feeds: tuple[FeedParams, ...],
    markets: tuple[MarketParams, ...],
    oracle: OracleParams,
    deployment_id: str,
    max_batch_fills: int = 64,
    liquidation: LiquidationParams | None = None,
) -> ProtocolParams:
    """Build and validate a parameter set (PAR-2); raises ``INVALID_PARAMS``."""
    params = ProtocolParams(
        quote_asset,
        assets,
        feeds,
        markets,
        oracle,
        deployment_id,
        max_batch_fills,
        liquidation or LiquidationParams(),
    )
    _validate_feeds(params)
    _validate_assets(params)
    _validate_markets(params)
    _validate_oracle(params)
    _validate_liquidation(params)
    if max_batch_fills <= 0:
        raise _fail("max_batch_fills must be positive")
    return params


# ProtocolParams' own fields, in order: what ``revise`` may change and a file holds.
PARAMS_FIELDS = (
    "quote_asset",
    "assets",
    "feeds",
    "markets",
    "oracle",
    "deployment_id",
    "max_batch_fills",
    "liquidation",
)


@icontract.require(lambda _KWARGS: set(_KWARGS) <= set(PARAMS_FIELDS), "only ProtocolParams' own fields")
@icontract.ensure(lambda result: result.quote_asset in result.asset_by_id)
def revise(params: ProtocolParams, **changes: Any) -> ProtocolParams:
    """PAR-2: ``params`` with some fields replaced, validated again by :func:`make_params`
    (what a designer does to try a change; raises ``INVALID_PARAMS``)."""
    fields: dict[str, Any] = {name: getattr(params, name) for name in PARAMS_FIELDS}
    fields.update(changes)
    return make_params(**fields)


@icontract.require(lambda params, market_id: market_id in params.market_by_id)
@icontract.ensure(lambda market_id, result: market_id in result.market_by_id)
def with_market(params: ProtocolParams, market_id: str, **changes: Any) -> ProtocolParams:
    """PAR-2: ``params`` with one market's fields replaced, validated again."""
    markets = tuple(replace(m, **changes) if m.market_id == market_id else m for m in params.markets)
    return revise(params, markets=markets)
