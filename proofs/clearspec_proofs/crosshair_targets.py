"""CrossHair harnesses: what Z3 tracing cannot reach (PRF-3, spec/crosshair.md).

Z3 proves the model by running it on Z3 terms, which excludes code that
branches on amounts with Python itself: the sort in ``lower_median``, the
ranking of deleveraging counterparties, loops over a list whose length is
data, and the wire decoder. CrossHair explores such code path by path on
symbolic Python values instead. Each function here is a *harness*: a flat
signature (ints, lists of ints, strings, a dict of strings; CrossHair is weak
on anything richer, and crashes on ``Fraction``) whose icontract
postconditions state a property of the real model functions it calls. No
harness copies model logic; the conditions are independent restatements of
the rules, each description starting with the rule it checks.

The model's own contracts are off while a harness runs
(``CLEARSPEC_SLOW_CHECKS=0``, set by :mod:`clearspec_proofs.crosshair_run`):
nested icontract wrappers send CrossHair into unbounded recursion, and the
harness's conditions are the claims under test. The ``model-*`` targets
check a model function's own contracts instead, one function at a time.

``TARGETS`` lists what every run checks; ``FALSE_CLAIMS`` lists deliberately
wrong harnesses, which a run must refute, so that a quiet run means something
(the engine can fail).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

import icontract
from immutables import Map

from clearspec import deleveraging, oracle
from clearspec import kernel as k
from clearspec.actions import Action, OracleUpdate, PriceReport
from clearspec.deleveraging import adl_ranking, adl_score
from clearspec.errors import ClearingError
from clearspec.margin import is_liquidatable, meets_initial, tiered_requirement, update_allowed
from clearspec.oracle import apply_oracle_update, lower_median, within_ppm
from clearspec.params import MAX_AMOUNT, PPM, MarginTier
from clearspec.state import Account, Ledger, Position
from clearspec.trading import fill_fee
from clearspec_tools.examples import example_genesis, example_params
from clearspec_tools.vectors.codec import INTEGER_LIMIT, decode_action, decode_int, encode_action, encode_int

_PARAMS = example_params()
_BASE = example_genesis(_PARAMS)
_MARKET = _PARAMS.market_by_id["BTC-PERP"]
_FEED = _MARKET.feed
_SCALE = _PARAMS.feed_by_id[_FEED].scale
_QUORUM = _PARAMS.oracle.quorum
_REPORTERS = tuple(name for name, _ in _PARAMS.oracle.reporters)
_BAND = _PARAMS.oracle.report_band_ppm
_HOLDER_NAMES = ("carol", "alice", "bob")  # not in id order: ties must sort them
_SIGNATURE = bytes(64)
_DEPLOYMENT = _PARAMS.deployment_id
_DECIMALS = _PARAMS.feed_by_id[_FEED].price_decimals

# Bounds on list lengths keep the number of paths finite, so that CrossHair can
# exhaust them ("confirmed over all paths") instead of sampling. An update has
# at most one report per registered reporter (ORA-3): five in the example set.
MAX_REPORTS = len(_REPORTERS)
MAX_HOLDERS = len(_HOLDER_NAMES)


# --- ORA-7, ORA-8: the median and the quorum ------------------------------------------


def _at_or_below(prices: list[int], value: int) -> int:
    return sum(1 for p in prices if p <= value)


def _at_or_above(prices: list[int], value: int) -> int:
    return sum(1 for p in prices if p >= value)


@icontract.require(lambda prices: 1 <= len(prices) <= MAX_REPORTS)
@icontract.ensure(lambda prices, result: result in prices, "ORA-7: the median is one of the reports")
@icontract.ensure(
    lambda prices, result: 2 * _at_or_below(prices, result) >= len(prices),
    "ORA-7: at least half of the reports lie at or below the median",
)
@icontract.ensure(
    lambda prices, result: 2 * _at_or_above(prices, result) > len(prices),
    "ORA-7: more than half of the reports lie at or above the median",
)
def median_rank(prices: list[int]) -> int:
    """``lower_median`` of reports in any order."""
    return lower_median(prices)


# The faulty reports are appended after the honest ones: lower_median sorts,
# and median-permutation shows that no arrangement of the reports changes it,
# so this covers every order of arrival.
@icontract.require(lambda honest, faulty: 1 <= len(honest) + len(faulty) <= MAX_REPORTS)
@icontract.require(lambda honest, faulty: 2 * len(faulty) + 1 <= len(honest) + len(faulty))
@icontract.ensure(
    lambda honest, result: min(honest) <= result <= max(honest),
    "ORA-8: with f faulty among n >= 2f + 1 reports the median lies within the honest reports' range",
)
def median_within_honest_range(honest: list[int], faulty: list[int]) -> int:
    """``lower_median`` when the ``faulty`` reports may lie arbitrarily."""
    return lower_median(honest + faulty)


def _rotated(prices: list[int]) -> list[int]:
    return prices[1:] + prices[:1]


def _swapped(prices: list[int]) -> list[int]:
    return [prices[1], prices[0], *prices[2:]] if len(prices) >= 2 else prices


# A rotation by one place and the exchange of the first two places generate
# every permutation, so invariance under both is invariance under all orders.
@icontract.require(lambda prices: 1 <= len(prices) <= MAX_REPORTS)
@icontract.ensure(
    lambda prices, result: result == lower_median(_rotated(prices)),
    "ORA-7: the median is unchanged by rotating the reports",
)
@icontract.ensure(
    lambda prices, result: result == lower_median(_swapped(prices)),
    "ORA-7: the median is unchanged by exchanging the first two reports",
)
def median_permutation_invariant(prices: list[int]) -> int:
    """``lower_median``, compared with its value on rearranged reports."""
    return lower_median(prices)


@contextmanager
def _signatures_trusted() -> Iterator[None]:
    """ORA-2's ed25519 check computes on the bytes of the price, which would fix
    every symbolic price; signatures are covered by tests/test_oracle.py."""
    saved = oracle.signature_valid
    oracle.signature_valid = lambda public_key, report: True
    try:
        yield
    finally:
        oracle.signature_valid = saved


def _update(prices: list[int], reporters: list[int]) -> OracleUpdate:
    round_ = _BASE.prices[_FEED].round + 1
    reports = tuple(
        PriceReport(_FEED, p, _BASE.now, round_, _REPORTERS[r], _SIGNATURE, _DEPLOYMENT, _DECIMALS)
        for p, r in zip(prices, reporters, strict=True)
    )
    return OracleUpdate(_FEED, reports)


def _accepted_price(prices: list[int], reporters: list[int]) -> int:
    """The accepted price of the update of ``prices`` from ``reporters``, or 0 when
    it is rejected (prices are positive): by ``apply``, or already when its
    reports are built (a price beyond 256 bits, STA-1)."""
    try:
        update = _update(prices, reporters)
        with _signatures_trusted():
            return apply_oracle_update(_BASE, update).price(_FEED)
    except ClearingError:
        return 0


def _price_acceptable(prices: list[int]) -> bool:
    """ORA-5, ORA-7, ORA-9, ORA-10 restated for reports from distinct registered
    reporters: a quorum of them, every price within 1..MAX_AMOUNT and within the
    report band of the median, and the median within the circuit breaker of the
    last price and within the interval's bound of its reference (genesis: the
    reference is the last price)."""
    if len(prices) < _QUORUM or not all(0 < p <= MAX_AMOUNT for p in prices):
        return False
    median = sorted(prices)[(len(prices) - 1) // 2]
    previous = _BASE.price(_FEED)
    in_band = all(abs(p - median) * PPM <= median * _BAND for p in prices)
    oracle_params = _PARAMS.oracle
    reference = _BASE.prices[_FEED].reference
    within_interval = abs(median - reference) * PPM <= reference * oracle_params.max_interval_move_ppm
    breaker = abs(median - previous) * PPM <= previous * oracle_params.max_deviation_ppm
    return in_band and breaker and within_interval


@icontract.require(lambda prices: 1 <= len(prices) <= MAX_REPORTS)
@icontract.ensure(
    lambda prices, result: (result != 0) == _price_acceptable(prices),
    "ORA-5, ORA-7, ORA-9: a quorum of reports is accepted exactly when every price is valid, within the "
    "band of the median, and the median within the circuit breaker",
)
@icontract.ensure(
    lambda prices, result: result == 0 or result == lower_median(prices),
    "ORA-7: an accepted update's price is the median of its reports",
)
@icontract.ensure(
    lambda prices, result: result == _accepted_price(prices[::-1], _first(len(prices))[::-1]),
    "ORA-7: whether and at what price an update is accepted does not depend on the order of its reports",
)
def oracle_update_price(prices: list[int]) -> int:
    """``apply_oracle_update`` on the example ledger with one report per price,
    from distinct registered reporters; 0 when rejected."""
    return _accepted_price(prices, _first(len(prices)))


def _first(count: int) -> list[int]:
    return list(range(count))


def _restricted_growth(reporters: list[int]) -> bool:
    """Each report is from one of the reporters seen so far or from the next new
    one: every pattern of repeated reporters, up to renaming them, once."""
    return reporters[0] == 0 and all(
        0 <= reporters[i] <= max(reporters[:i]) + 1 for i in range(1, len(reporters))
    )


@icontract.require(lambda reporters: 1 <= len(reporters) <= MAX_REPORTS and _restricted_growth(reporters))
@icontract.ensure(
    lambda reporters, result: (result != 0) == (len(set(reporters)) == len(reporters) >= _QUORUM),
    "ORA-3, ORA-7: an update of agreeing reports is accepted exactly when its reporters are distinct "
    "and reach the quorum",
)
def oracle_update_quorum(reporters: list[int]) -> int:
    """``apply_oracle_update`` of reports at the current price from the
    reporters at the given indices; 0 when rejected."""
    return _accepted_price([_BASE.price(_FEED)] * len(reporters), reporters)


# --- ADL-2: the deleveraging ranking ----------------------------------------------------


def _holders_ledger(sizes: list[int], quotes: list[int], balances: list[int], reverse: bool) -> Ledger:
    """The example ledger with one account per entry, named from _HOLDER_NAMES,
    holding a quote balance and a BTC-PERP position (none if its size is 0);
    ``reverse`` stores them in the opposite order."""
    entries = [
        (
            name,
            Account(Map({"USDC": balance}), Map({"BTC-PERP": Position(size, quote)}) if size else Map()),
        )
        for name, size, quote, balance in zip(_HOLDER_NAMES, sizes, quotes, balances, strict=False)
    ]
    return replace(_BASE, accounts=Map(entries[::-1] if reverse else entries))


def _holders(sizes: list[int], side: int) -> list[str]:
    return [name for name, size in zip(_HOLDER_NAMES, sizes, strict=False) if size * side > 0]


def _strictly_ranked(keys: list[tuple[int, str]]) -> bool:
    return all(keys[i] < keys[i + 1] for i in range(len(keys) - 1))


@contextmanager
def _scores_given(scores: list[int]) -> Iterator[None]:
    """Replace ADL-2's score (profit times leverage, non-linear, which no solver
    decides in general) by free integers, one per account, so that the
    ranking's own logic is checked for every possible score."""
    saved = deleveraging.adl_score
    by_name = dict(zip(_HOLDER_NAMES, scores, strict=False))
    deleveraging.adl_score = lambda ledger, name, market_id: by_name[name]
    try:
        yield
    finally:
        deleveraging.adl_score = saved


def _rank_by_scores(sizes: list[int], scores: list[int], side: int, reverse: bool) -> list[str]:
    zeros = [0] * len(sizes)
    with _scores_given(scores):
        return adl_ranking(_holders_ledger(sizes, zeros, zeros, reverse), "BTC-PERP", side)


def _scored(names: list[str], scores: list[int]) -> list[tuple[int, str]]:
    by_name = dict(zip(_HOLDER_NAMES, scores, strict=False))
    return [(-by_name[name], name) for name in names]


@icontract.require(
    lambda sizes, scores, side: (
        1 <= len(sizes) <= MAX_HOLDERS and len(scores) == len(sizes) and side in (1, -1)
    )
)
@icontract.ensure(
    lambda sizes, side, result: sorted(result) == sorted(_holders(sizes, side)),
    "ADL-2: the ranking lists every holder of the side exactly once, and nobody else",
)
@icontract.ensure(
    lambda scores, result: _strictly_ranked(_scored(result, scores)),
    "ADL-2: highest score first, ties by account id",
)
@icontract.ensure(
    lambda sizes, scores, side, result: result == _rank_by_scores(sizes, scores, side, True),
    "ADL-2: the ranking does not depend on the order the accounts are stored in",
)
def adl_ranking_any_scores(sizes: list[int], scores: list[int], side: int) -> list[str]:
    """``adl_ranking`` over up to three accounts, each with any position and any score."""
    return _rank_by_scores(sizes, scores, side, False)


def _adl_inputs_ok(sizes: list[int], quotes: list[int], balances: list[int], side: int) -> bool:
    return (
        1 <= len(sizes) <= MAX_HOLDERS
        and len(quotes) == len(sizes) == len(balances)
        and side in (1, -1)
        and all(abs(s) <= _MARKET.max_position for s in sizes)
        and all(abs(q) <= MAX_AMOUNT for q in quotes)
        and all(abs(b) <= MAX_AMOUNT for b in balances)
    )


def _real_keys(
    sizes: list[int], quotes: list[int], balances: list[int], names: list[str]
) -> list[tuple[int, str]]:
    ledger = _holders_ledger(sizes, quotes, balances, False)
    return [(-adl_score(ledger, name, "BTC-PERP"), name) for name in names]


@icontract.require(_adl_inputs_ok)
@icontract.ensure(
    lambda sizes, side, result: sorted(result) == sorted(_holders(sizes, side)),
    "ADL-2: the ranking lists every holder of the side exactly once, and nobody else",
)
@icontract.ensure(
    lambda sizes, quotes, balances, result: _strictly_ranked(_real_keys(sizes, quotes, balances, result)),
    "ADL-2: highest profit-times-leverage score first, ties by account id",
)
def adl_ranking_real_scores(sizes: list[int], quotes: list[int], balances: list[int], side: int) -> list[str]:
    """``adl_ranking`` with the real score over up to three accounts with any
    positions and quote balances. The score's product of two amounts makes the
    solver's answers unknown on many paths: a search for counterexamples, not a
    proof (it is rarely confirmed)."""
    return adl_ranking(_holders_ledger(sizes, quotes, balances, False), "BTC-PERP", side)


# --- TRD-5, MRG-2: fees and margin tiers ------------------------------------------------


@icontract.require(lambda notional, rate_ppm: notional >= 0 and -PPM <= rate_ppm <= PPM)
@icontract.ensure(
    lambda notional, rate_ppm, result: result * PPM >= notional * rate_ppm,
    "TRD-5: never below the exact amount: a fee rounds up, a rebate toward zero",
)
@icontract.ensure(
    lambda notional, rate_ppm, result: result * PPM - notional * rate_ppm < PPM,
    "TRD-5: rounded by less than one base unit",
)
@icontract.ensure(
    lambda rate_ppm, result: (result >= 0) == (rate_ppm >= 0) or result == 0,
    "TRD-5: a fee is paid to the pool, a rebate paid from it",
)
def fee_rounding(notional: int, rate_ppm: int) -> int:
    """``fill_fee`` of a notional at a fee (positive) or rebate (negative) rate."""
    return fill_fee(notional, rate_ppm)


@icontract.require(lambda small, large, rate_ppm: 0 <= small <= large and -PPM <= rate_ppm <= PPM)
@icontract.ensure(
    lambda rate_ppm, result: result[0] <= result[1] if rate_ppm >= 0 else result[0] >= result[1],
    "TRD-5: a larger notional pays at least the fee, and earns at least the rebate, of a smaller one",
)
def fee_monotone_in_notional(small: int, large: int, rate_ppm: int) -> tuple[int, int]:
    """``fill_fee`` of two notionals at one rate."""
    return fill_fee(small, rate_ppm), fill_fee(large, rate_ppm)


@icontract.require(lambda notional, low, high: notional >= 0 and -PPM <= low <= high <= PPM)
@icontract.ensure(lambda result: result[0] <= result[1], "TRD-5: a higher rate never charges less")
def fee_monotone_in_rate(notional: int, low: int, high: int) -> tuple[int, int]:
    """``fill_fee`` of one notional at two rates."""
    return fill_fee(notional, low), fill_fee(notional, high)


def _tiers_ok(bounds: list[int], initial: list[int], maintenance: list[int]) -> bool:
    """MRG-2 as PAR-2 validates it: increasing brackets, fractions within
    ``0..PPM`` with maintenance at most initial; the last tier is unbounded."""
    return (
        1 <= len(initial) <= 3
        and len(bounds) == len(initial) - 1
        and len(maintenance) == len(initial)
        and all(b > 0 for b in bounds)
        and all(bounds[i] < bounds[i + 1] for i in range(len(bounds) - 1))
        and all(0 <= m <= i <= PPM for i, m in zip(initial, maintenance, strict=True))
    )


def _requirement(
    bounds: list[int], initial: list[int], maintenance: list[int], size: int, price: int
) -> tuple[int, int]:
    tiers = tuple(
        MarginTier(bounds[i] if i < len(bounds) else None, initial[i], maintenance[i])
        for i in range(len(initial))
    )
    return tiered_requirement(replace(_MARKET, tiers=tiers), size, price, _SCALE)


def _exact(bounds: list[int], fractions: list[int], size: int) -> int:
    """``sum over brackets of (the part of size inside the bracket) * fraction``,
    the progressive schedule of MRG-2 before the price and the rounding."""
    total, lower = 0, 0
    for i, fraction in enumerate(fractions):
        upper = size if i == len(bounds) else min(size, bounds[i])
        total += max(upper - lower, 0) * fraction
        lower = bounds[i] if i < len(bounds) else lower
    return total


@icontract.require(_tiers_ok)
@icontract.require(lambda size, price: 0 <= size <= _MARKET.max_position and 0 < price <= MAX_AMOUNT)
@icontract.ensure(
    lambda result: result[0] >= result[1] >= 0, "MRG-2: initial requirement >= maintenance requirement >= 0"
)
@icontract.ensure(
    lambda bounds, initial, size, price, result: (
        0 <= result[0] * _SCALE * PPM - _exact(bounds, initial, size) * price < _SCALE * PPM
    ),
    "MRG-2: each fraction applies to the part of the size in its bracket; the total rounds up",
)
def tiered_requirement_schedule(
    bounds: list[int], initial: list[int], maintenance: list[int], size: int, price: int
) -> tuple[int, int]:
    """``tiered_requirement`` with up to three tiers of arbitrary brackets."""
    return _requirement(bounds, initial, maintenance, size, price)


@icontract.require(_tiers_ok)
@icontract.require(lambda small, large: 0 <= small <= large <= _MARKET.max_position)
@icontract.require(lambda price: 0 < price <= MAX_AMOUNT)
@icontract.ensure(
    lambda result: result[0][0] <= result[1][0] and result[0][1] <= result[1][1],
    "MRG-2: a larger position never needs less margin",
)
def tiered_requirement_monotone(
    bounds: list[int], initial: list[int], maintenance: list[int], small: int, large: int, price: int
) -> tuple[tuple[int, int], tuple[int, int]]:
    """``tiered_requirement`` of two sizes under one schedule."""
    return (
        _requirement(bounds, initial, maintenance, small, price),
        _requirement(bounds, initial, maintenance, large, price),
    )


# --- ARI-1, ARI-2: the kernel on plain integers, negative operands included ----------


@icontract.require(lambda divisor: divisor > 0)
@icontract.ensure(
    lambda a, divisor, result: divisor * result <= a < divisor * (result + 1),
    "ARI-2: div_floor rounds toward negative infinity",
)
@icontract.ensure(lambda a, divisor, result: result == a // divisor, "ARI-2: div_floor is Python's //")
def floor_division(a: int, divisor: int) -> int:
    """``k.div_floor`` for any dividend, negative ones included."""
    return k.div_floor(a, divisor)


@icontract.require(lambda divisor: divisor > 0)
@icontract.ensure(
    lambda a, divisor, result: divisor * (result - 1) < a <= divisor * result,
    "ARI-2: div_ceil rounds toward positive infinity",
)
@icontract.ensure(
    lambda a, divisor, result: result - k.div_floor(a, divisor) == (0 if k.divides(divisor, a) else 1),
    "ARI-2: div_ceil exceeds div_floor by one exactly when the division is inexact",
)
def ceil_division(a: int, divisor: int) -> int:
    """``k.div_ceil`` for any dividend."""
    return k.div_ceil(a, divisor)


@icontract.require(lambda divisor: divisor > 0)
@icontract.ensure(lambda divisor, result: 0 <= result < divisor, "ARI-2: the remainder lies in 0..divisor-1")
@icontract.ensure(
    lambda a, divisor, result: a == divisor * k.div_floor(a, divisor) + result,
    "ARI-2: quotient and remainder recompose the dividend",
)
def floor_remainder(a: int, divisor: int) -> int:
    """``k.mod_floor`` for any dividend."""
    return k.mod_floor(a, divisor)


@icontract.require(lambda divisor: divisor > 0)
@icontract.ensure(
    lambda a, b, divisor, result: divisor * result[0] <= a * b < divisor * (result[0] + 1),
    "ARI-2: mul_div_floor rounds the exact product down",
)
@icontract.ensure(
    lambda a, b, divisor, result: divisor * (result[1] - 1) < a * b <= divisor * result[1],
    "ARI-2: mul_div_ceil rounds the exact product up",
)
def mul_div(a: int, b: int, divisor: int) -> tuple[int, int]:
    """``k.mul_div_floor`` and ``k.mul_div_ceil`` of signed factors."""
    return k.mul_div_floor(a, b, divisor), k.mul_div_ceil(a, b, divisor)


@icontract.require(lambda low, high: low <= high)
@icontract.ensure(lambda low, high, result: low <= result <= high, "ARI-1: clamp stays within its bounds")
@icontract.ensure(
    lambda a, low, high, result: result == a if low <= a <= high else result in (low, high),
    "ARI-1: clamp keeps a value within its bounds and otherwise returns the nearer bound",
)
def clamp_bounds(a: int, low: int, high: int) -> int:
    """``k.clamp``."""
    return k.clamp(a, low, high)


@icontract.ensure(
    lambda a, b, result: result[0] == min(a, b) and result[1] == max(a, b),
    "ARI-1: min_ and max_ agree with Python's",
)
@icontract.ensure(
    lambda a, result: result[2] == abs(a) and result[3] * result[2] == a,
    "ARI-1: abs_ is the magnitude and sign times magnitude is the value",
)
def min_max_abs_sign(a: int, b: int) -> tuple[int, int, int, int]:
    """``k.min_``, ``k.max_``, ``k.abs_`` and ``k.sign``."""
    return k.min_(a, b), k.max_(a, b), k.abs_(a), k.sign(a)


@icontract.require(lambda reference, band_ppm: reference > 0 and band_ppm >= 0)
@icontract.ensure(
    lambda value, reference, band_ppm, result: (
        result == (reference * (PPM - band_ppm) <= value * PPM <= reference * (PPM + band_ppm))
    ),
    "ORA-7, ORA-9, TRD-3: within_ppm is |value - reference| <= reference * band / PPM, exactly",
)
def band_check(value: int, reference: int, band_ppm: int) -> bool:
    """``within_ppm``, the band helper of oracle reports and fill prices."""
    return within_ppm(value, reference, band_ppm)


# --- VEC-3, VEC-4: decoding the wire format ------------------------------------------------
#
# Strings and JSON objects have no bound CrossHair could exhaust: these are
# searches for a counterexample, and "unknown" is their usual answer. The
# ":raises ClearingError:" line of a docstring tells CrossHair that a typed
# rejection is an expected outcome; any other exception is a counterexample.


@icontract.ensure(
    lambda text, result: encode_int(result) == text,
    "VEC-3: only the canonical decimal string of an integer decodes, and to that integer",
)
@icontract.ensure(
    lambda result: -INTEGER_LIMIT <= result < INTEGER_LIMIT, "VEC-3: a decoded integer fits in 256 bits"
)
def decode_integer(text: str) -> int:
    """``decode_int`` of any string.

    :raises ClearingError: for any string that is not a canonical integer
    """
    return decode_int(text, "value")


@icontract.require(lambda n: -INTEGER_LIMIT <= n < INTEGER_LIMIT)
@icontract.ensure(lambda n, result: result == n, "VEC-3: decode_int(encode_int(n)) == n within 256 bits")
def integer_round_trip(n: int) -> int:
    """``decode_int`` of ``encode_int``."""
    return decode_int(encode_int(n), "value")


@icontract.require(lambda fields: len(fields) <= 6)
@icontract.ensure(
    lambda fields, result: encode_action(result) == fields,
    "VEC-4: an action decodes only from its own encoding: encode_action(decode_action(x)) == x",
)
def decode_flat_action(fields: dict[str, str | list[str]]) -> Action:
    """``decode_action`` of any object of strings and lists of strings (every
    action but an oracle update or a batch of fills).

    :raises ClearingError: for any object that is not an action
    """
    return decode_action(fields)


# --- Deliberately false claims: a run must refute every one ---------------------------


@icontract.require(lambda prices: 1 <= len(prices) <= MAX_REPORTS)
@icontract.ensure(lambda prices, result: result == prices[0], "FALSE: the median is the first report")
def false_median_is_first(prices: list[int]) -> int:
    """A wrong claim about ``lower_median``."""
    return lower_median(prices)


def _truncated(a: int, divisor: int) -> int:
    """Division toward zero, as Go, Rust and Solidity do it."""
    return -(-a // divisor) if a < 0 else a // divisor


@icontract.require(lambda divisor: divisor > 0)
@icontract.ensure(
    lambda a, divisor, result: result == _truncated(a, divisor), "FALSE: div_floor truncates toward zero"
)
def false_floor_truncates(a: int, divisor: int) -> int:
    """A wrong claim about ``k.div_floor`` (it fails for negative inexact dividends)."""
    return k.div_floor(a, divisor)


@icontract.require(lambda notional, rate_ppm: notional >= 0 and 0 <= rate_ppm <= PPM)
@icontract.ensure(
    lambda notional, rate_ppm, result: result * PPM <= notional * rate_ppm, "FALSE: a fee rounds down"
)
def false_fee_rounds_down(notional: int, rate_ppm: int) -> int:
    """A wrong claim about ``fill_fee``."""
    return fill_fee(notional, rate_ppm)


@icontract.require(lambda sizes, scores, side: 1 <= len(sizes) <= MAX_HOLDERS and len(scores) == len(sizes))
@icontract.require(lambda side: side in (1, -1))
@icontract.ensure(
    lambda sizes, side, result: result == sorted(_holders(sizes, side)),
    "FALSE: deleveraging ranks by account id alone",
)
def false_ranking_by_id(sizes: list[int], scores: list[int], side: int) -> list[str]:
    """A wrong claim about ``adl_ranking``."""
    return _rank_by_scores(sizes, scores, side, False)


@icontract.ensure(lambda result: isinstance(result, int), "FALSE: decode_int accepts every string")
def false_decode_never_rejects(text: str) -> int:
    """A wrong claim about ``decode_int``: no ``:raises:`` line, so a rejection
    counts as a counterexample."""
    return decode_int(text, "value")


# --- the registry ---------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """One harness: its name, the function CrossHair checks, and the area it
    covers. With ``own_contracts`` the function is a model function, and the
    conditions checked are the model's own contracts (run in slow mode, its
    callees without theirs)."""

    name: str
    function: Callable[..., Any]
    area: str
    own_contracts: bool = False

    @property
    def qualname(self) -> str:
        """``module:function``, what a worker process imports."""
        return f"{self.function.__module__}:{self.function.__name__}"

    @property
    def dotted(self) -> str:
        """``module.function``, how the documentation names it."""
        return f"{self.function.__module__}.{self.function.__name__}"


# Cheapest first, so that a run cut short by its budget has checked the most.
TARGETS: tuple[Target, ...] = (
    Target("div-floor", floor_division, "kernel"),
    Target("div-ceil", ceil_division, "kernel"),
    Target("mod-floor", floor_remainder, "kernel"),
    Target("mul-div", mul_div, "kernel"),
    Target("clamp", clamp_bounds, "kernel"),
    Target("min-max-abs-sign", min_max_abs_sign, "kernel"),
    Target("fee-rounding", fee_rounding, "fees"),
    Target("fee-monotone-notional", fee_monotone_in_notional, "fees"),
    Target("fee-monotone-rate", fee_monotone_in_rate, "fees"),
    Target("band-check", band_check, "oracle"),
    Target("adl-ranking", adl_ranking_any_scores, "deleveraging"),
    Target("tier-schedule", tiered_requirement_schedule, "margin"),
    Target("tier-monotone", tiered_requirement_monotone, "margin"),
    Target("median-rank", median_rank, "oracle"),
    Target("median-honest-range", median_within_honest_range, "oracle"),
    Target("median-permutation", median_permutation_invariant, "oracle"),
    Target("oracle-update-quorum", oracle_update_quorum, "oracle"),
    Target("oracle-update-price", oracle_update_price, "oracle"),
    Target("adl-ranking-real-scores", adl_ranking_real_scores, "deleveraging"),
    Target("integer-round-trip", integer_round_trip, "decoding"),
    Target("decode-integer", decode_integer, "decoding"),
    Target("decode-action", decode_flat_action, "decoding"),
)

# The model's own contracts, on functions whose inputs CrossHair can build
# (integers, lists of integers, Risk records). Not here: the divisions, whose
# KernelError on a non-positive divisor is documented but not declared, and
# within_ppm, whose postcondition fails for a negative band (see spec/crosshair.md).
TARGETS += (
    Target("model-clamp", k.clamp, "kernel", own_contracts=True),
    Target("model-min", k.min_, "kernel", own_contracts=True),
    Target("model-max", k.max_, "kernel", own_contracts=True),
    Target("model-abs", k.abs_, "kernel", own_contracts=True),
    Target("model-sign", k.sign, "kernel", own_contracts=True),
    Target("model-fill-fee", fill_fee, "fees", own_contracts=True),
    Target("model-meets-initial", meets_initial, "margin", own_contracts=True),
    Target("model-is-liquidatable", is_liquidatable, "margin", own_contracts=True),
    Target("model-update-allowed", update_allowed, "margin", own_contracts=True),
    Target("model-lower-median", lower_median, "oracle", own_contracts=True),
)

FALSE_CLAIMS: tuple[Target, ...] = (
    Target("false-median-is-first", false_median_is_first, "oracle"),
    Target("false-floor-truncates", false_floor_truncates, "kernel"),
    Target("false-fee-rounds-down", false_fee_rounds_down, "fees"),
    Target("false-ranking-by-id", false_ranking_by_id, "deleveraging"),
    Target("false-decode-never-rejects", false_decode_never_rejects, "decoding"),
)
