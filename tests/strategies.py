"""Hypothesis strategies and action builders for the stateful test (tests/test_stateful.py).

Everything is drawn around the scales of the built-in example
(:mod:`clearspec_tools.examples`): BTC and ETH have 8 decimals, USDC 6, feed prices
have 6 decimals (BTC at 60,000 USD is ``usd_price(60_000)``), markets trade in
steps of 1,000 base units and ticks of one dollar.

Builders of deliberately broken actions break exactly one rule and keep every
other part of the action valid, so the one error code the protocol must answer
with (kept beside them in :data:`FORGERIES`, :data:`TRADE_DEFECTS`,
:data:`EDGE_ROUNDS`) is unambiguous whatever the order of the other checks.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, replace

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import strategies as st

from clearspec.actions import Fill, OracleUpdate, PriceReport, Side
from clearspec.errors import ErrorCode
from clearspec.oracle import sign_report
from clearspec.params import MAX_AMOUNT, PPM, MarketParams, ProtocolParams
from clearspec_tools.examples import USD, example_genesis, example_params, reporter_keys

PARAMS: ProtocolParams = example_params()
QUOTE = PARAMS.quote_asset
ASSETS: tuple[str, ...] = tuple(a.asset_id for a in PARAMS.assets)
FEEDS: tuple[str, ...] = tuple(f.feed_id for f in PARAMS.feeds)
MARKETS: tuple[str, ...] = tuple(m.market_id for m in PARAMS.markets)
DATED: MarketParams = next(m for m in PARAMS.markets if m.expiry is not None)
ORACLE = PARAMS.oracle
KEYS: list[tuple[str, Ed25519PrivateKey]] = reporter_keys(len(ORACLE.reporters))

# Accounts: the first three are funded when a run starts, the others only when
# a drawn deposit creates them; a ghost is never created (nothing is ever
# accepted for it), so naming one is always an unknown account.
FUNDED: tuple[str, ...] = ("alice", "bob", "carol")
POOL: tuple[str, ...] = (*FUNDED, "dave", "erin")
GHOSTS: tuple[str, ...] = ("ghost", "mallory")
UNKNOWN_ASSET = "DOGE"
UNKNOWN_FEED = "DOGE-USD"
UNKNOWN_MARKET = "DOGE-PERP"

# A reporter key the protocol has never registered.
STRANGER_KEY = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"clearspec test stranger").digest())
STRANGER = "reporter-stranger"

# Honest reports lie within this much of the round's base price, so every
# report is within the report band (2%) of the lower median.
SPREAD_PPM = 9_000
# Honest rounds move the price by at most this much: with the spread, the
# accepted median stays inside the circuit breaker (25%).
MAX_MOVE_PPM = 200_000
# A circuit-breaker round moves the base at least this much (27% - 0.9% > 25%).
BREAKER_MOVE_PPM = 270_000


GENESIS_PRICES: dict[str, int] = {f: example_genesis(PARAMS).price(f) for f in FEEDS}


def feed_of_asset(asset: str) -> str:
    """The feed that values a non-quote collateral asset."""
    feed = PARAMS.asset_by_id[asset].feed
    assert feed is not None
    return feed


def scale_of(feed: str) -> int:
    """``10 ** price_decimals`` of a feed."""
    return PARAMS.feed_by_id[feed].scale


def ceil_div(a: int, b: int) -> int:
    """``a / b`` rounded up, for ``b > 0``."""
    return -((-a) // b)


# --- amounts ------------------------------------------------------------------------


def dollars() -> st.SearchStrategy[int]:
    """A dollar value on a log scale: 1..9 times a power of ten up to a million."""
    return st.builds(
        lambda d, p: d * p,
        st.integers(1, 9),
        st.sampled_from([1, 10, 100, 1_000, 10_000, 100_000, 1_000_000]),
    )


def worth(asset: str, usd: int, price: int) -> int:
    """Base units of ``asset`` worth about ``usd`` dollars at feed ``price`` (at least 1)."""
    if asset == QUOTE:
        return usd * USD
    return max(1, usd * USD * scale_of(feed_of_asset(asset)) // price)


@st.composite
def deposit_amounts(draw: st.DrawFn, asset: str, price: int) -> int:
    """A deposit of ``asset``: mostly a round dollar value, sometimes odd base units."""
    if draw(st.integers(0, 4)) == 0:
        return draw(st.integers(1, 10**7))
    return worth(asset, draw(dollars()), price)


FRACTIONS_PPM = (1_000, 100_000, 250_000, 500_000, 900_000, 1_000_000, 1_000_001, 2_000_000)


@st.composite
def amounts_against(draw: st.DrawFn, balance: int) -> int:
    """An amount to withdraw or transfer given the balance: a fraction of it
    (sometimes all, sometimes more), or an arbitrary small amount."""
    if balance <= 0 or draw(st.integers(0, 5)) == 0:
        return draw(st.integers(1, 10**9))
    fraction = draw(st.sampled_from(FRACTIONS_PPM))
    return max(1, balance * fraction // PPM)


COLLATERAL_DEFECTS: tuple[str, ...] = (
    "deposit_unknown_asset",
    "deposit_bad_amount",
    "withdraw_unknown_account",
    "withdraw_unknown_asset",
    "withdraw_bad_amount",
    "transfer_unknown_source",
    "transfer_unknown_destination",
    "transfer_self",
    "transfer_unknown_asset",
    "transfer_bad_amount",
)


@st.composite
def bad_amounts(draw: st.DrawFn) -> tuple[int, ErrorCode]:
    """An amount COL-1 refuses, with the code."""
    kind = draw(st.sampled_from(["zero", "negative", "too_large"]))
    if kind == "zero":
        return 0, ErrorCode.NON_POSITIVE_AMOUNT
    if kind == "negative":
        return -draw(st.integers(1, 10**20)), ErrorCode.NON_POSITIVE_AMOUNT
    return MAX_AMOUNT + draw(st.integers(1, 10**20)), ErrorCode.AMOUNT_TOO_LARGE


# --- oracle updates -----------------------------------------------------------------


def _decimals(feed: str) -> int:
    known = PARAMS.feed_by_id.get(feed)
    return 6 if known is None else known.price_decimals


def sign(
    signer: int,
    feed: str,
    price: int,
    timestamp: int,
    round_: int,
    deployment: str = PARAMS.deployment_id,
    decimals: int | None = None,
) -> PriceReport:
    """A report of example reporter number ``signer``, validly signed (for this
    deployment and the feed's decimals unless told otherwise)."""
    name, key = KEYS[signer]
    decimals = _decimals(feed) if decimals is None else decimals
    return sign_report(key, name, deployment, feed, decimals, price, timestamp, round_)


@st.composite
def price_moves(draw: st.DrawFn) -> int:
    """A move of the base price in ppm, sizable more often than not."""
    if draw(st.booleans()):
        return draw(
            st.sampled_from([-200_000, -150_000, -100_000, -50_000, 50_000, 100_000, 150_000, 200_000])
        )
    return draw(st.integers(-MAX_MOVE_PPM, MAX_MOVE_PPM))


def moved(feed: str, previous: int, move_ppm: int) -> int:
    """``previous`` moved by ``move_ppm``, turned back toward genesis when it has
    drifted far (so prices stay in a sensible range over long runs)."""
    genesis = GENESIS_PRICES[feed]
    if (previous > 3 * genesis and move_ppm > 0) or (previous * 3 < genesis and move_ppm < 0):
        move_ppm = -move_ppm
    return previous + previous * move_ppm // PPM


@st.composite
def honest_reports(
    draw: st.DrawFn, feed: str, base: int, now: int, round_: int, count: int
) -> list[PriceReport]:
    """``count`` valid reports of distinct reporters around ``base``, fresh at ``now``."""
    signers = draw(st.permutations(range(len(KEYS))))[:count]
    reports = []
    for signer in signers:
        price = base + base * draw(st.integers(-SPREAD_PPM, SPREAD_PPM)) // PPM
        age = draw(st.integers(-ORACLE.max_future_skew, ORACLE.max_age))
        reports.append(sign(signer, feed, price, now - age, round_))
    return reports


@st.composite
def honest_updates(
    draw: st.DrawFn, feed: str, previous: int, last_round: int, now: int, reference: int
) -> OracleUpdate:
    """A round every check accepts: a quorum or more of fresh, validly signed,
    distinct reports in a new round, within the band and both circuit breakers
    (the base is kept within the interval's bound of ``reference``, ORA-10,
    less a margin for the spread)."""
    base = moved(feed, previous, draw(price_moves()))
    reach = reference * (ORACLE.max_interval_move_ppm - 2 * SPREAD_PPM) // PPM
    base = min(max(base, reference - reach), reference + reach)
    count = draw(st.integers(ORACLE.quorum, len(KEYS)))
    round_ = last_round + draw(st.sampled_from([1, 1, 1, 2, 7]))
    return OracleUpdate(feed, tuple(draw(honest_reports(feed, base, now, round_, count))))


FORGERIES: dict[str, ErrorCode] = {
    "no_reports": ErrorCode.ORACLE_NO_REPORTS,
    "unknown_feed": ErrorCode.UNKNOWN_FEED,
    "feed_mismatch": ErrorCode.ORACLE_FEED_MISMATCH,
    "unknown_reporter": ErrorCode.ORACLE_UNKNOWN_REPORTER,
    "empty_signature": ErrorCode.ORACLE_UNSIGNED_REPORT,
    "wrong_key": ErrorCode.ORACLE_BAD_SIGNATURE,
    "flipped_bit": ErrorCode.ORACLE_BAD_SIGNATURE,
    "truncated_signature": ErrorCode.ORACLE_BAD_SIGNATURE,
    "tampered_price": ErrorCode.ORACLE_BAD_SIGNATURE,
    "tampered_timestamp": ErrorCode.ORACLE_BAD_SIGNATURE,
    "duplicate_reporter": ErrorCode.ORACLE_DUPLICATE_REPORTER,
    "zero_price": ErrorCode.ORACLE_NON_POSITIVE_PRICE,
    "negative_price": ErrorCode.ORACLE_NON_POSITIVE_PRICE,
    "huge_price": ErrorCode.AMOUNT_TOO_LARGE,
    "replayed_round": ErrorCode.ORACLE_REPLAYED_ROUND,
    "replayed_update": ErrorCode.ORACLE_REPLAYED_ROUND,
    "round_mismatch": ErrorCode.ORACLE_ROUND_MISMATCH,
    "future": ErrorCode.ORACLE_FUTURE_REPORT,
    "stale": ErrorCode.ORACLE_STALE_REPORT,
    "below_quorum": ErrorCode.ORACLE_QUORUM_NOT_MET,
    "out_of_band": ErrorCode.ORACLE_OUT_OF_BAND,
    "circuit_breaker_up": ErrorCode.ORACLE_CIRCUIT_BREAKER,
    "circuit_breaker_down": ErrorCode.ORACLE_CIRCUIT_BREAKER,
    "wrong_deployment": ErrorCode.ORACLE_WRONG_DEPLOYMENT,
    "wrong_decimals": ErrorCode.ORACLE_WRONG_DECIMALS,
    "round_too_far": ErrorCode.ORACLE_ROUND_TOO_FAR,
}


# The forgeries that break one report of an otherwise valid round.
REPORT_FORGERIES: tuple[str, ...] = (
    "feed_mismatch",
    "unknown_reporter",
    "empty_signature",
    "wrong_key",
    "flipped_bit",
    "truncated_signature",
    "tampered_price",
    "tampered_timestamp",
    "duplicate_reporter",
    "zero_price",
    "negative_price",
    "huge_price",
    "round_mismatch",
    "future",
    "stale",
    "wrong_deployment",
    "wrong_decimals",
)


@dataclass(frozen=True)
class OracleContext:
    """What a forger needs to know of the ledger."""

    feed: str
    previous: int
    last_round: int
    now: int
    last_accepted: OracleUpdate | None
    # ORA-10: the price in force when the breaker interval holding ``now`` began.
    reference: int


def _flip_bit(signature: bytes, bit: int) -> bytes:
    data = bytearray(signature)
    data[bit // 8 % len(data)] ^= 1 << (bit % 8)
    return bytes(data)


@st.composite
def forged_updates(draw: st.DrawFn, kind: str, ctx: OracleContext) -> OracleUpdate:
    """An update broken in exactly the way ``kind`` names (see :data:`FORGERIES`)."""
    feed, now = ctx.feed, ctx.now
    round_ = ctx.last_round + draw(st.integers(1, 3))
    base = moved(feed, ctx.previous, draw(st.integers(-MAX_MOVE_PPM, MAX_MOVE_PPM)))
    count = draw(st.integers(ORACLE.quorum, len(KEYS)))

    def honest(count: int = count, base: int = base, round_: int = round_) -> list[PriceReport]:
        return draw(honest_reports(feed, base, now, round_, count))

    if kind == "no_reports":
        return OracleUpdate(feed, ())
    if kind == "unknown_feed":
        return OracleUpdate(UNKNOWN_FEED, tuple(draw(honest_reports(UNKNOWN_FEED, base, now, round_, count))))
    if kind == "round_too_far":
        far = ctx.last_round + ORACLE.max_round_step + draw(st.integers(1, 2**64))
        return OracleUpdate(feed, tuple(honest(round_=far)))
    if kind == "replayed_round":
        old = draw(st.integers(min(0, ctx.last_round) - 3, ctx.last_round))
        return OracleUpdate(feed, tuple(honest(round_=old)))
    if kind == "replayed_update" and ctx.last_accepted is not None:
        return ctx.last_accepted
    if kind == "replayed_update":  # nothing accepted yet: replay genesis' round 0
        return OracleUpdate(feed, tuple(honest(round_=ctx.last_round)))
    if kind == "below_quorum":
        return OracleUpdate(feed, tuple(honest(count=draw(st.integers(1, ORACLE.quorum - 1)))))
    if kind in ("circuit_breaker_up", "circuit_breaker_down"):
        jump = draw(st.integers(BREAKER_MOVE_PPM, 600_000))
        jump = jump if kind == "circuit_breaker_up" else -min(jump, 700_000)
        return OracleUpdate(feed, tuple(honest(base=ctx.previous + ctx.previous * jump // PPM)))
    if kind == "out_of_band":
        count = max(count, 3)
        reports = honest(count=count)
        i = draw(st.integers(0, count - 1))
        offset = draw(st.integers(30_000, 200_000)) * draw(st.sampled_from([-1, 1]))
        outlier = base + base * offset // PPM
        r = reports[i]
        reports[i] = sign(_signer(r.reporter), feed, outlier, r.timestamp, r.round)
        return OracleUpdate(feed, tuple(reports))

    reports = honest()
    first = 1 if kind in ("duplicate_reporter", "round_mismatch") else 0
    if first >= count:
        reports = honest(count=count + 1)
    i = draw(st.integers(first, len(reports) - 1))
    r = reports[i]
    signer = _signer(r.reporter)
    if kind == "feed_mismatch":
        other = next(f for f in (*FEEDS, UNKNOWN_FEED) if f != feed)
        reports[i] = sign(signer, other, r.price, r.timestamp, r.round)
    elif kind == "unknown_reporter":
        reports[i] = sign_report(
            STRANGER_KEY, STRANGER, PARAMS.deployment_id, feed, _decimals(feed), r.price, r.timestamp, r.round
        )
    elif kind == "empty_signature":
        reports[i] = replace(r, signature=b"")
    elif kind == "wrong_key":
        impostor = (signer + draw(st.integers(1, len(KEYS) - 1))) % len(KEYS)
        reports[i] = replace(sign(impostor, feed, r.price, r.timestamp, r.round), reporter=r.reporter)
    elif kind == "flipped_bit":
        reports[i] = replace(r, signature=_flip_bit(r.signature, draw(st.integers(0, 511))))
    elif kind == "truncated_signature":
        reports[i] = replace(r, signature=r.signature[: draw(st.integers(1, 63))])
    elif kind == "tampered_price":
        reports[i] = replace(r, price=r.price + draw(st.sampled_from([-1, 1, 10_000])))
    elif kind == "tampered_timestamp":
        reports[i] = replace(r, timestamp=r.timestamp - draw(st.integers(1, 3)))
    elif kind == "duplicate_reporter":
        j = draw(st.integers(0, i - 1))
        twin = reports[j]
        same = draw(st.booleans())
        reports[i] = twin if same else sign(_signer(twin.reporter), feed, r.price, r.timestamp, r.round)
    elif kind in ("zero_price", "negative_price"):
        price = 0 if kind == "zero_price" else -draw(st.integers(1, 10**12))
        reports[i] = sign(signer, feed, price, r.timestamp, r.round)
    elif kind == "huge_price":
        reports[i] = sign(signer, feed, MAX_AMOUNT + draw(st.integers(1, 10**20)), r.timestamp, r.round)
    elif kind == "round_mismatch":
        reports[i] = sign(signer, feed, r.price, r.timestamp, r.round + draw(st.integers(1, 5)))
    elif kind == "wrong_deployment":
        other = draw(st.sampled_from(["clearspec-testnet", f"{PARAMS.deployment_id}-2", "x"]))
        reports[i] = sign(signer, feed, r.price, r.timestamp, r.round, deployment=other)
    elif kind == "wrong_decimals":
        decimals = _decimals(feed) + draw(st.sampled_from([-6, -1, 1, 2, 12]))
        reports[i] = sign(signer, feed, r.price, r.timestamp, r.round, decimals=decimals)
    elif kind == "future":
        late = now + ORACLE.max_future_skew + draw(st.integers(1, 10_000))
        reports[i] = sign(signer, feed, r.price, late, r.round)
    elif kind == "stale":
        early = now - ORACLE.max_age - draw(st.integers(1, 10_000))
        reports[i] = sign(signer, feed, r.price, early, r.round)
    else:
        raise AssertionError(f"unknown forgery {kind!r}")
    return OracleUpdate(feed, tuple(reports))


EDGE_ROUNDS: dict[str, ErrorCode | None] = {
    "breaker_edge": None,
    "breaker_past": ErrorCode.ORACLE_CIRCUIT_BREAKER,
    "band_edge": None,
    "band_past": ErrorCode.ORACLE_OUT_OF_BAND,
}


@st.composite
def edge_updates(draw: st.DrawFn, kind: str, ctx: OracleContext) -> OracleUpdate:
    """A round on the boundary of ORA-9 (``breaker_*``: every report at the largest
    allowed move, or one unit beyond) or of ORA-8 (``band_*``: one report at the
    band's edge around the median, or one unit beyond). Otherwise valid."""
    direction = draw(st.sampled_from([-1, 1]))
    past = 1 if kind.endswith("_past") else 0
    round_ = ctx.last_round + 1
    count = draw(st.integers(ORACLE.quorum, len(KEYS)))
    signers = draw(st.permutations(range(len(KEYS))))[:count]
    if kind.startswith("breaker"):
        price = ctx.previous + direction * (ctx.previous * ORACLE.max_deviation_ppm // PPM + past)
        prices = [price] * count
    else:
        median = moved(ctx.feed, ctx.previous, draw(st.integers(-MAX_MOVE_PPM, MAX_MOVE_PPM)))
        edge = median + direction * (median * ORACLE.report_band_ppm // PPM + past)
        prices = [median] * count
        prices[draw(st.integers(0, count - 1))] = edge
    reports = [sign(s, ctx.feed, p, ctx.now, round_) for s, p in zip(signers, prices, strict=True)]
    return OracleUpdate(ctx.feed, tuple(reports))


def _signer(reporter: str) -> int:
    return next(i for i, (name, _) in enumerate(KEYS) if name == reporter)


# --- fills --------------------------------------------------------------------------


def band_limits(market: MarketParams, oracle_price: int) -> tuple[int, int]:
    """The lowest and highest tick index whose price is inside the band."""
    delta = oracle_price * market.price_band_ppm // PPM
    return ceil_div(oracle_price - delta, market.tick_size), (oracle_price + delta) // market.tick_size


@st.composite
def band_prices(draw: st.DrawFn, market: MarketParams, oracle_price: int) -> int:
    """A tick-aligned price inside the band, usually close to the oracle price."""
    lo, hi = band_limits(market, oracle_price)
    center = min(max(oracle_price // market.tick_size, lo), hi)
    if draw(st.integers(0, 3)) == 0:
        ticks = draw(st.integers(lo, hi))
    else:
        near = max(1, (hi - lo) // 40)  # about a quarter of a percent
        ticks = min(max(center + draw(st.integers(-near, near)), lo), hi)
    return ticks * market.tick_size


@st.composite
def out_of_band_prices(draw: st.DrawFn, market: MarketParams, oracle_price: int) -> int:
    """A tick-aligned positive price just or far outside the band."""
    lo, hi = band_limits(market, oracle_price)
    extra = draw(st.sampled_from([0, 0, 1, 100, 10_000]))
    below = (lo - 1 - extra) * market.tick_size
    if below > 0 and draw(st.booleans()):
        return below
    return (hi + 1 + extra) * market.tick_size


@st.composite
def valid_fees(draw: st.DrawFn, market: MarketParams) -> tuple[int, int]:
    """(maker, taker) fee rates TRD-2 accepts: each within the cap, sum not negative."""
    cap = market.max_fee_ppm
    maker = draw(st.one_of(st.sampled_from([-200, -100, 0, 100, 200, 500]), st.integers(-cap, cap)))
    taker = draw(st.one_of(st.sampled_from([500, cap]), st.integers(max(-cap, -maker), cap)))
    if maker + taker < 0:
        taker = -maker
    return maker, taker


@st.composite
def invalid_fees(draw: st.DrawFn, market: MarketParams) -> tuple[int, int]:
    """(maker, taker) fee rates TRD-2 refuses."""
    cap = market.max_fee_ppm
    kind = draw(st.sampled_from(["maker_high", "taker_high", "maker_rebate", "taker_rebate", "net_negative"]))
    over = cap + draw(st.integers(1, 10**6))
    if kind == "maker_high":
        return over, draw(st.integers(0, cap))
    if kind == "taker_high":
        return draw(st.integers(0, cap)), over
    if kind == "maker_rebate":
        return -over, over + draw(st.integers(0, 10))  # sum >= 0, but over the cap
    if kind == "taker_rebate":
        return over + draw(st.integers(0, 10)), -over
    rebate = draw(st.integers(1, cap))
    return -rebate, draw(st.integers(-cap, rebate - 1))


@st.composite
def sizes(draw: st.DrawFn, market: MarketParams, oracle_price: int) -> int:
    """A size on the step, worth a log-uniform dollar amount (1 dollar .. 9M)."""
    usd = draw(dollars())
    scale = scale_of(market.feed)
    size = usd * USD * scale // oracle_price // market.step_size * market.step_size
    return min(max(size, market.step_size), market.max_position)


def sized_for(market: MarketParams, oracle_price: int, usd_quote: int) -> int:
    """The size on the step worth ``usd_quote`` quote base units (within 1 step..max)."""
    size = usd_quote * scale_of(market.feed) // oracle_price // market.step_size * market.step_size
    return min(max(size, market.step_size), market.max_position)


LEVERAGE_TENTHS = (1, 5, 10, 20, 40, 60, 80, 100, 150, 300)


@st.composite
def valid_fills(
    draw: st.DrawFn,
    markets: Sequence[MarketParams],
    prices: dict[str, int],
    headroom: dict[str, int],
) -> Fill:
    """A fill every per-fill check accepts, between two distinct accounts of
    ``headroom`` (free collateral, NC - IMR, in quote base units). The size is
    mostly a multiple of the smaller headroom (0.1x .. 30x, so some trades
    break margin), sometimes an absolute dollar amount."""
    market = draw(st.sampled_from(list(markets)))
    oracle_price = prices[market.feed]
    maker, taker = draw(st.permutations(sorted(headroom)))[:2]
    maker_fee, taker_fee = draw(valid_fees(market))
    if draw(st.integers(0, 3)) == 0:
        size = draw(sizes(market, oracle_price))
    else:
        free = max(min(headroom[maker], headroom[taker]), 0)
        size = sized_for(market, oracle_price, free * draw(st.sampled_from(LEVERAGE_TENTHS)) // 10)
    return Fill(
        market=market.market_id,
        maker=maker,
        taker=taker,
        taker_side=draw(st.sampled_from(Side)),
        size=size,
        price=draw(band_prices(market, oracle_price)),
        maker_fee_ppm=maker_fee,
        taker_fee_ppm=taker_fee,
    )


TRADE_DEFECTS: dict[str, ErrorCode] = {
    "empty_batch": ErrorCode.TRADE_EMPTY_BATCH,
    "batch_too_large": ErrorCode.TRADE_BATCH_TOO_LARGE,
    "unknown_market": ErrorCode.UNKNOWN_MARKET,
    "unknown_maker": ErrorCode.UNKNOWN_ACCOUNT,
    "unknown_taker": ErrorCode.UNKNOWN_ACCOUNT,
    "self_match": ErrorCode.TRADE_SELF_MATCH,
    "expired_market": ErrorCode.MARKET_EXPIRED,
    "zero_size": ErrorCode.TRADE_NON_POSITIVE_SIZE,
    "negative_size": ErrorCode.TRADE_NON_POSITIVE_SIZE,
    "oversized_fill": ErrorCode.POSITION_LIMIT_EXCEEDED,
    "size_not_step": ErrorCode.TRADE_SIZE_NOT_STEP,
    "non_positive_price": ErrorCode.TRADE_NON_POSITIVE_PRICE,
    "price_too_large": ErrorCode.AMOUNT_TOO_LARGE,
    "off_tick": ErrorCode.TRADE_PRICE_NOT_TICK,
    "out_of_band": ErrorCode.TRADE_PRICE_OUT_OF_BAND,
    "bad_fee": ErrorCode.TRADE_FEE_INVALID,
    "position_limit": ErrorCode.POSITION_LIMIT_EXCEEDED,
}


# The defects of one fill, the others of TRADE_DEFECTS concern the batch.
BATCH_DEFECTS: tuple[str, ...] = ("empty_batch", "batch_too_large", "expired_market", "position_limit")
FILL_DEFECTS: tuple[str, ...] = tuple(k for k in TRADE_DEFECTS if k not in BATCH_DEFECTS)


@st.composite
def defective_fills(draw: st.DrawFn, kind: str, fill: Fill, market: MarketParams, oracle_price: int) -> Fill:
    """``fill`` (valid) broken in the one per-fill way ``kind`` names."""
    step = market.step_size
    if kind == "unknown_market":
        return replace(fill, market=UNKNOWN_MARKET)
    if kind == "unknown_maker":
        return replace(fill, maker=draw(st.sampled_from(GHOSTS)))
    if kind == "unknown_taker":
        return replace(fill, taker=draw(st.sampled_from(GHOSTS)))
    if kind == "self_match":
        return replace(fill, taker=fill.maker)
    if kind == "zero_size":
        return replace(fill, size=0)
    if kind == "negative_size":
        return replace(fill, size=-draw(st.sampled_from([1, step, fill.size])))
    if kind == "oversized_fill":
        return replace(fill, size=market.max_position + step * draw(st.integers(1, 10**6)))
    if kind == "size_not_step":
        size = min(fill.size, market.max_position - step) + draw(st.integers(1, step - 1))
        return replace(fill, size=size)
    if kind == "non_positive_price":
        return replace(fill, price=-draw(st.integers(0, oracle_price)))
    if kind == "price_too_large":
        return replace(fill, price=MAX_AMOUNT + draw(st.integers(1, 10**25)))
    if kind == "off_tick":
        return replace(fill, price=fill.price + draw(st.integers(1, market.tick_size - 1)))
    if kind == "out_of_band":
        return replace(fill, price=draw(out_of_band_prices(market, oracle_price)))
    if kind == "bad_fee":
        maker_fee, taker_fee = draw(invalid_fees(market))
        return replace(fill, maker_fee_ppm=maker_fee, taker_fee_ppm=taker_fee)
    raise AssertionError(f"not a per-fill defect: {kind!r}")
