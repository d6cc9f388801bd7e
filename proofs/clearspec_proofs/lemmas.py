"""Kernel lemmas and theorems: facts about the model's functions on free integers.

Each lemma runs model functions (the kernel, fees, the median's fixed-order
selection, margin requirements) on fresh Z3 integers and states a fact about the
result. They close the gaps the transition obligations leave by design:

* ARI-*: what every rounding helper guarantees, which the kernel's contracts
  check only on concrete values;
* LIQ-6/ratio: the arithmetic step that turns LIQ-6's linear transition
  obligation into "the NC/MMR ratio does not fall";
* ORA-7: the model's own ``lower_median``, run on every order of n symbolic
  reports, returns the element at index (n - 1) div 2 of the sorted reports;
* ORA-8: with at most f faulty reports among 2f+1 sorted ones, the median the
  model's ``lower_median`` picks lies within the honest reports' range;
* ORA-10: a staircase of updates accepted within one breaker interval, run
  through the model's ``apply_oracle_update``, stays within the interval's
  bound of the price in force when the interval began;
* MRG-1, MRG-2, LIQ-2, LIQ-4: the spec's formulas for a collateral balance's
  haircut, the tiered requirements, the NC a closed position releases and the
  insurance fund delta, restated from the spec text without division, equal
  what the model's helpers compute;
* MRG-7: for every market's tiers and any open-interest caps, the initial
  requirement never falls as the open interest grows, lies between MRG-2's
  tiered requirement and the position's whole notional (rounded up), and is
  the one below the lower cap and the other from the upper cap on;
* PAR-5: the parameter theorem: if every maintenance fraction covers the largest
  move the circuit breaker admits, an account at or above maintenance before an
  oracle update is not left with negative equity after it.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, cast

import z3

from clearspec import kernel as k
from clearspec.actions import OracleUpdate, PriceReport
from clearspec.liquidation import insurance_fund_delta, nc_released
from clearspec.margin import (
    asset_risk,
    initial_requirement,
    notional,
    scaled_initial_requirement,
    tiered_requirement,
)
from clearspec.oracle import apply_oracle_update, lower_median, within_ppm
from clearspec.params import MAX_AMOUNT, PPM, MarginTier, MarketParams, ProtocolParams
from clearspec.state import OraclePrice, genesis
from clearspec.trading import fill_fee


@dataclass(frozen=True)
class Lemma:
    """A fact: under ``hypotheses``, ``goal`` holds for all integers."""

    name: str
    rule: str
    build: Callable[[ProtocolParams], tuple[list[Any], Any]]


def _ints(*names: str) -> list[int]:
    return [cast(int, z3.Int(n)) for n in names]


def _floor(_: ProtocolParams) -> tuple[list[Any], Any]:
    a, d = _ints("a", "d")
    q = k.div_floor(a, d)
    return [d > 0], z3.And(d * q <= a, a < d * (q + 1))


def _ceil(_: ProtocolParams) -> tuple[list[Any], Any]:
    a, d = _ints("a", "d")
    q = k.div_ceil(a, d)
    return [d > 0], z3.And(d * (q - 1) < a, a <= d * q)


def _clamp(_: ProtocolParams) -> tuple[list[Any], Any]:
    a, low, high = _ints("a", "low", "high")
    c = k.clamp(a, low, high)
    return [low <= high], z3.And(low <= c, c <= high, z3.Implies(z3.And(low <= a, a <= high), c == a))


def _fee_rounds_up(_: ProtocolParams) -> tuple[list[Any], Any]:
    n, rate = _ints("notional", "rate")
    fee = fill_fee(n, rate)
    return [n >= 0], z3.And(fee * PPM >= n * rate, fee * PPM - n * rate < PPM)


def _fee_pool_never_pays(_: ProtocolParams) -> tuple[list[Any], Any]:
    n, maker, taker = _ints("notional", "maker", "taker")
    return [n >= 0, maker + taker >= 0], fill_fee(n, maker) + fill_fee(n, taker) >= 0


def _ratio(_: ProtocolParams) -> tuple[list[Any], Any]:
    nc, mmr, d, after = _ints("nc", "mmr", "d", "nc_after")
    hypotheses = [mmr > 0, d >= 0, d <= mmr, after >= nc - k.div_floor(nc * d, mmr)]
    return hypotheses, after * mmr >= nc * (mmr - d)


@functools.total_ordering
class _Ranked:
    """A symbolic report price that knows its place among the sorted reports.

    Python's ``sorted`` cannot compare Z3 terms (a comparison is a term, not a
    bool), so the lemmas hand the model's ``lower_median`` these instead: they
    compare by rank, which agrees with the prices under the lemma's hypothesis
    ``p0 <= p1 <= ...``. The model's own sort and index then pick one report,
    whose price term the lemma reasons about.
    """

    def __init__(self, rank: int, price: Any) -> None:
        self.rank = rank
        self.price = price

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, _Ranked):
            return NotImplemented
        return self.rank < other.rank

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Ranked) and self.rank == other.rank

    def __hash__(self) -> int:
        return hash(self.rank)


def _model_median(prices: Sequence[Any], order: Sequence[int]) -> Any:
    """The price term the model's ``lower_median`` picks from the sorted
    ``prices`` presented in ``order`` (a permutation of their ranks)."""
    picked = lower_median(cast(Sequence[int], [_Ranked(i, prices[i]) for i in order]))
    return cast(_Ranked, picked).price


def _lower_median_index(count: int) -> Callable[[ProtocolParams], tuple[list[Any], Any]]:
    """ORA-7: for every order the ``count`` reports may arrive in, the model's
    ``lower_median`` returns the element at index ``(n - 1) div 2`` of the
    sorted reports (equal prices may stand in for each other)."""

    def build(_: ProtocolParams) -> tuple[list[Any], Any]:
        prices = _ints(*[f"p{i}" for i in range(count)])
        sorted_ = [prices[i] <= prices[i + 1] for i in range(count - 1)]
        expected = prices[(count - 1) >> 1]  # ORA-7's index, (n - 1) div 2
        picks = [_model_median(prices, order) for order in itertools.permutations(range(count))]
        return [*sorted_, prices[0] >= 1], z3.And([pick == expected for pick in picks])

    return build


def _median(count: int) -> Callable[[ProtocolParams], tuple[list[Any], Any]]:
    def build(_: ProtocolParams) -> tuple[list[Any], Any]:
        faulty = (count - 1) // 2
        prices = _ints(*[f"p{i}" for i in range(count)])
        honest = [z3.Bool(f"honest{i}") for i in range(count)]
        # The model's lower median of the reports, presented in reverse order.
        median = _model_median(prices, range(count - 1, -1, -1))
        sorted_ = [prices[i] <= prices[i + 1] for i in range(count - 1)]
        enough = z3.Sum([z3.If(h, 1, 0) for h in honest]) >= count - faulty
        below = z3.Or([z3.And(honest[i], prices[i] <= median) for i in range(count)])
        above = z3.Or([z3.And(honest[i], prices[i] >= median) for i in range(count)])
        return [*sorted_, enough], z3.And(below, above)

    return build


def _interval_bound(count: int) -> Callable[[ProtocolParams], tuple[list[Any], Any]]:
    """ORA-10: ``count`` updates of the set's first feed accepted at clock values
    ``now_0 <= ... <= now_{count-1}`` of one breaker interval ``[j * I, (j + 1) * I)``,
    each run through the model's own ``apply_oracle_update`` (fixed-order
    oracle: the quorum reports one price, their signatures taken as valid),
    all lie within ``max_interval_move_ppm`` of one reference, the price in
    force when the interval began, and leave it as the feed's reference. That
    price is restated from the spec, not taken from the model: the stored
    reference if the last update before the first one fell in this interval,
    else that update's price. The state before is well formed (STA-1): its
    interval is the one of its last update."""

    def build(params: ProtocolParams) -> tuple[list[Any], Any]:
        from clearspec_proofs.transitions import fixed_order_oracle

        oracle_params = params.oracle
        interval = oracle_params.breaker_interval
        feed = params.feeds[0]
        price, reference, updated_at, round_, index = _ints(
            "price_before", "reference_before", "updated_at_before", "round_before", "interval_index"
        )
        begun = index * interval
        before = OraclePrice(
            price, round_, updated_at, reference, k.div_floor(updated_at, interval) * interval
        )
        base = genesis(params, {f.feed_id: 1 for f in params.feeds})
        ledger = replace(base, prices=base.prices.set(feed.feed_id, before))
        clocks = _ints(*[f"now{i}" for i in range(count)])
        medians = _ints(*[f"median{i}" for i in range(count)])
        rounds = _ints(*[f"round{i}" for i in range(count)])
        hypotheses = [price >= 1, price <= MAX_AMOUNT, reference >= 1, reference <= MAX_AMOUNT]
        hypotheses += [updated_at <= clocks[0], begun <= clocks[0], clocks[-1] < begun + interval]
        hypotheses += [clocks[i] <= clocks[i + 1] for i in range(count - 1)]
        reporters = [name for name, _ in oracle_params.reporters[: oracle_params.quorum]]
        with fixed_order_oracle():
            for now, median, round_i in zip(clocks, medians, rounds, strict=True):
                ledger = replace(ledger, now=now)
                reports = tuple(
                    PriceReport(
                        feed.feed_id,
                        median,
                        now,
                        round_i,
                        name,
                        b"\x01" * 64,
                        params.deployment_id,
                        feed.price_decimals,
                    )
                    for name in reporters
                )
                ledger = apply_oracle_update(ledger, OracleUpdate(feed.feed_id, reports))
        in_force = z3.If(updated_at >= begun, reference, price)
        bound = oracle_params.max_interval_move_ppm
        within = [z3.If(m >= in_force, m - in_force, in_force - m) * PPM <= in_force * bound for m in medians]
        return hypotheses, z3.And(*within, ledger.prices[feed.feed_id].reference == in_force)

    return build


def _tiers_as_specified(market_id: str) -> Callable[[ProtocolParams], tuple[list[Any], Any]]:
    """MRG-2, restated from the spec: ``part_j = max(min(|size|, u_j) - u_{j-1}, 0)``,
    ``IMR = ceil(sum(part_j * im_j) * P / (S * PPM))`` and the same for MMR with
    ``mm_j``; a ceiling ``c`` of ``x / d`` is stated as ``d * (c - 1) < x <= d * c``."""

    def build(params: ProtocolParams) -> tuple[list[Any], Any]:
        market = params.market_by_id[market_id]
        scale = params.feed_by_id[market.feed].scale
        size, price = _ints("abs_size", "price")
        imr, mmr = tiered_requirement(market, size, price, scale)
        lower: Any = z3.IntVal(0)
        initial: Any = z3.IntVal(0)
        maintenance: Any = z3.IntVal(0)
        for tier in market.tiers:
            upper = size if tier.up_to_size is None else z3.If(size < tier.up_to_size, size, tier.up_to_size)
            part = z3.If(upper - lower > 0, upper - lower, 0)
            initial = initial + part * tier.initial_ppm
            maintenance = maintenance + part * tier.maintenance_ppm
            if tier.up_to_size is not None:
                lower = z3.IntVal(tier.up_to_size)
        d = scale * PPM

        def ceiling(result: Any, weighted: Any) -> Any:
            return z3.And(d * (result - 1) < weighted * price, weighted * price <= d * result)

        return [size >= 0, price >= 1], z3.And(ceiling(imr, initial), ceiling(mmr, maintenance))

    return build


def _with_symbolic_caps(params: ProtocolParams, market_id: str) -> tuple[MarketParams, int, int, list[Any]]:
    """The market with free open-interest caps ``0 <= L <= U <= MAX_AMOUNT``
    (its tiers kept): an MRG-7 lemma then holds for every pair a designer may set."""
    lower, upper = _ints("open_interest_lower_cap", "open_interest_upper_cap")
    market = replace(
        params.market_by_id[market_id], open_interest_lower_cap=lower, open_interest_upper_cap=upper
    )
    return market, lower, upper, [lower >= 0, lower <= upper, upper <= MAX_AMOUNT]


def _open_interest_monotone(market_id: str) -> Callable[[ProtocolParams], tuple[list[Any], Any]]:
    """MRG-7: for one position and price, and any caps, more open interest never
    lowers the initial requirement the model computes."""

    def build(params: ProtocolParams) -> tuple[list[Any], Any]:
        market, _, _, caps = _with_symbolic_caps(params, market_id)
        scale = params.feed_by_id[market.feed].scale
        size, price, less, more = _ints("abs_size", "price", "open_interest", "open_interest_more")
        goal = z3.And(
            scaled_initial_requirement(market, size, price, scale, less)
            <= scaled_initial_requirement(market, size, price, scale, more),
            initial_requirement(market, size, price, scale, less)
            <= initial_requirement(market, size, price, scale, more),
        )
        return [*caps, size >= 0, price >= 1, less <= more], goal

    return build


def _open_interest_bounds(market_id: str) -> Callable[[ProtocolParams], tuple[list[Any], Any]]:
    """MRG-7, restated from the spec at its ends, for any caps ``L <= U``: the
    requirement is at least MRG-2's tiered one and at most ``ceil(|size| * P / S)``
    (the whole notional); it is the tiered one while ``OI <= L`` (``OI < L``
    when ``L == U``) and the whole notional once ``OI >= U``; and it is what
    ``initial_requirement`` returns (its max with the tiered one never binds).
    A ceiling ``c`` of ``x / d`` is stated as ``d * (c - 1) < x <= d * c``."""

    def build(params: ProtocolParams) -> tuple[list[Any], Any]:
        market, lower, upper, caps = _with_symbolic_caps(params, market_id)
        scale = params.feed_by_id[market.feed].scale
        size, price, interest = _ints("abs_size", "price", "open_interest")
        result = scaled_initial_requirement(market, size, price, scale, interest)
        tiered = tiered_requirement(market, size, price, scale)[0]
        exact = size * price
        below = z3.If(upper > lower, interest <= lower, interest < lower)
        goal = z3.And(
            tiered <= result,  # so initial_requirement's max with it never binds
            initial_requirement(market, size, price, scale, interest) == result,
            scale * (result - 1) < exact,
            z3.Implies(below, result == tiered),
            z3.Implies(interest >= upper, exact <= scale * result),
        )
        return [*caps, size >= 0, price >= 1], goal

    return build


def _haircut_as_specified(asset_id: str) -> Callable[[ProtocolParams], tuple[list[Any], Any]]:
    """MRG-1, restated from the spec for a collateral balance ``b >= 0`` at price
    ``P``: ``value = floor(b * P / S)``, ``imr = value - floor(b * P * w_i / (S * PPM))``,
    ``mmr = value - floor(b * P * w_m / (S * PPM))``; a floor ``f`` of ``x / d`` is
    stated as ``d * f <= x < d * (f + 1)``."""

    def build(params: ProtocolParams) -> tuple[list[Any], Any]:
        asset = params.asset_by_id[asset_id]
        assert asset.feed is not None
        scale = params.feed_by_id[asset.feed].scale
        balance, price = _ints("balance", "price")
        base = genesis(params, {f.feed_id: 1 for f in params.feeds})
        priced = replace(base.prices[asset.feed], price=price)
        ledger = replace(base, prices=base.prices.set(asset.feed, priced))
        risk = asset_risk(ledger, asset, balance)
        exact = balance * price

        def floor(result: Any, x: Any, d: int) -> Any:
            return z3.And(d * result <= x, x < d * (result + 1))

        d = scale * PPM
        goal = z3.And(
            floor(risk.nc, exact, scale),
            floor(risk.nc - risk.imr, exact * asset.initial_weight_ppm, d),
            floor(risk.nc - risk.mmr, exact * asset.maintenance_weight_ppm, d),
        )
        return [balance >= 0, price >= 1], goal

    return build


def _nc_released_rounds_down(_: ProtocolParams) -> tuple[list[Any], Any]:
    """LIQ-2, restated from the spec: the NC released is ``floor(NC * DMMR / TMMR)``,
    written without division (``TMMR * r <= NC * DMMR < TMMR * (r + 1)``), so the
    bankruptcy quote rounds in the account's favour."""
    nc, released, total = _ints("nc", "released_mmr", "total_mmr")
    r = nc_released(nc, released, total)
    return [total > 0], z3.And(total * r <= nc * released, nc * released < total * (r + 1))


def _fund_delta_as_specified(params: ProtocolParams) -> tuple[list[Any], Any]:
    """LIQ-4, restated from the spec: ``fund_delta = surplus`` if ``surplus <= 0``,
    else ``min(floor(N * max_liquidation_fee_ppm / PPM), surplus)`` with ``N`` the
    fill's notional ``|received|``."""
    received, bankruptcy = _ints("received", "bankruptcy")
    rate = params.liquidation.max_liquidation_fee_ppm
    delta = insurance_fund_delta(received, bankruptcy, rate)
    surplus = received - bankruptcy
    cap_times_ppm = z3.If(received >= 0, received, -received) * rate
    capped = z3.And(
        delta <= surplus,
        delta * PPM <= cap_times_ppm,  # at most the cap, floor(N * rate / PPM)
        z3.Or(delta == surplus, (delta + 1) * PPM > cap_times_ppm),  # and exactly the smaller one
    )
    return [], z3.And(z3.Implies(surplus <= 0, delta == surplus), z3.Implies(surplus > 0, capped))


def _maintenance_covers_gap(market_id: str) -> Callable[[ProtocolParams], tuple[list[Any], Any]]:
    """PAR-5 for one market, over *symbolic* parameters: one tier whose
    maintenance fraction ``mmf`` and a circuit breaker ``dev`` (both ppm) are
    free, with ``mmf >= dev`` the only premise on them."""

    def build(params: ProtocolParams) -> tuple[list[Any], Any]:
        mmf, dev = _ints("mmf", "deviation")
        market = replace(params.market_by_id[market_id], tiers=(MarginTier(None, mmf, mmf),))
        scale = params.feed_by_id[market.feed].scale
        size, quote, balance, price, moved = _ints("size", "quote", "balance", "price", "moved")
        mmr = tiered_requirement(market, k.abs_(size), price, scale)[1]
        before = balance + notional(size, price, scale) + quote
        after = balance + notional(size, moved, scale) + quote
        hypotheses = [
            dev >= 0,
            dev <= mmf,
            mmf <= PPM,
            price > 0,
            moved > 0,
            within_ppm(moved, price, dev),
            before >= mmr,
        ]
        return hypotheses, after >= 0

    return build


def lemmas(params: ProtocolParams) -> list[Lemma]:
    """Every lemma, the parameter theorem once per market."""
    found = [
        Lemma("ARI-2/div-floor-bounds", "ARI-2", _floor),
        Lemma("ARI-2/div-ceil-bounds", "ARI-2", _ceil),
        Lemma("ARI-1/clamp", "ARI-1", _clamp),
        Lemma("TRD-5/fee-rounds-up", "TRD-5", _fee_rounds_up),
        Lemma("TRD-5/fee-pool-never-pays", "TRD-5", _fee_pool_never_pays),
        Lemma("LIQ-6/ratio", "LIQ-6", _ratio),
        Lemma("LIQ-2/nc-released-rounds-down", "LIQ-2", _nc_released_rounds_down),
        Lemma("LIQ-4/fund-delta-as-specified", "LIQ-4", _fund_delta_as_specified),
    ]
    found += [
        Lemma(f"MRG-1/haircut-as-specified[{a.asset_id}]", "MRG-1", _haircut_as_specified(a.asset_id))
        for a in params.assets
        if a.feed is not None
    ]
    found += [
        Lemma(f"MRG-2/tiers-as-specified[{m}]", "MRG-2", _tiers_as_specified(m)) for m in params.market_by_id
    ]
    # ORA-8 for every number of reports an update may carry: quorum to all reporters.
    reporters = len(params.oracle.reporters)
    found += [
        Lemma(f"ORA-7/lower-median-{n}", "ORA-7", _lower_median_index(n)) for n in range(1, reporters + 1)
    ]
    found += [
        Lemma(f"ORA-8/median-{n}", "ORA-8", _median(n))
        for n in range(max(params.oracle.quorum, 1), reporters + 1)
    ]
    # ORA-10: a staircase of up to four updates within one interval.
    found += [Lemma(f"ORA-10/interval-bound-{n}", "ORA-10", _interval_bound(n)) for n in range(1, 5)]
    found += [
        Lemma(f"MRG-7/open-interest-monotone[{m}]", "MRG-7", _open_interest_monotone(m))
        for m in params.market_by_id
    ]
    found += [
        Lemma(f"MRG-7/open-interest-bounds[{m}]", "MRG-7", _open_interest_bounds(m))
        for m in params.market_by_id
    ]
    found += [
        Lemma(f"PAR-5/maintenance-covers-gap[{m}]", "PAR-5", _maintenance_covers_gap(m))
        for m in params.market_by_id
    ]
    return found
