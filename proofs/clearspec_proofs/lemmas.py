"""Kernel lemmas and theorems: facts about the model's functions on free integers.

Each lemma runs model functions (the kernel, fees, the median's fixed-order
selection, margin requirements) on fresh Z3 integers and states a fact about the
result. They close the gaps the transition obligations leave by design:

* ARI-*: what every rounding helper guarantees, which the kernel's contracts
  check only on concrete values;
* LIQ-6/ratio: the arithmetic step that turns LIQ-6's linear transition
  obligation into "the NC/MMR ratio does not fall";
* ORA-8: with at most f faulty reports among 2f+1 sorted ones, the median lies
  within the honest reports' range (for the fixed, sorted order; sorting itself
  is CrossHair's and the tests' part);
* PAR-5: the parameter theorem: if every maintenance fraction covers the largest
  move the circuit breaker admits, an account at or above maintenance before an
  oracle update is not left with negative equity after it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, cast

import z3

from clearspec import kernel as k
from clearspec.margin import notional, tiered_requirement
from clearspec.oracle import within_ppm
from clearspec.params import PPM, MarginTier, ProtocolParams
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


def _median(count: int) -> Callable[[ProtocolParams], tuple[list[Any], Any]]:
    def build(_: ProtocolParams) -> tuple[list[Any], Any]:
        faulty = (count - 1) // 2
        prices = _ints(*[f"p{i}" for i in range(count)])
        honest = [z3.Bool(f"honest{i}") for i in range(count)]
        median = prices[faulty]  # the fixed-order lower median: index (n - 1) // 2 of the sorted reports
        sorted_ = [prices[i] <= prices[i + 1] for i in range(count - 1)]
        enough = z3.Sum([z3.If(h, 1, 0) for h in honest]) >= count - faulty
        below = z3.Or([z3.And(honest[i], prices[i] <= median) for i in range(count)])
        above = z3.Or([z3.And(honest[i], prices[i] >= median) for i in range(count)])
        return [*sorted_, enough], z3.And(below, above)

    return build


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
    ]
    # ORA-8 for every number of reports an update may carry: quorum to all reporters.
    reporters = len(params.oracle.reporters)
    found += [
        Lemma(f"ORA-8/median-{n}", "ORA-8", _median(n))
        for n in range(max(params.oracle.quorum, 1), reporters + 1)
    ]
    found += [
        Lemma(f"PAR-5/maintenance-covers-gap[{m}]", "PAR-5", _maintenance_covers_gap(m))
        for m in params.market_by_id
    ]
    return found
