"""The oracle network (spec: oracle.md, rules ORA-*).

A registered set of reporters signs price reports with ed25519, each for one
deployment and one feed's decimals (ORA-2). An update is accepted only if every
report in it is valid; its price is the lower median of the reports, which with
at most ``f`` faulty reporters among ``n >= 2f + 1`` reports lies within the
range of the honest ones (ORA-8), and within two circuit breakers: one per
update (ORA-9) and one per interval of time (ORA-10).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import icontract
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from clearspec import kernel as k
from clearspec.actions import OracleUpdate, PriceReport
from clearspec.errors import ErrorCode
from clearspec.params import MAX_AMOUNT, PPM
from clearspec.reporter_keys import L
from clearspec.state import Ledger, OraclePrice, interval_start

MESSAGE_DOMAIN = b"clearspec/oracle-report"
# ORA-2: signed into every report; a report of another format never verifies.
REPORT_FORMAT_VERSION = 2


@icontract.ensure(lambda result: result.startswith(MESSAGE_DOMAIN + b"\n2\n"), enabled=k.SLOW_CONTRACTS)
@icontract.ensure(lambda result: result.count(b"\n") >= 7, enabled=k.SLOW_CONTRACTS)
def report_message(
    deployment: str, feed: str, decimals: int, price: int, timestamp: int, round_: int
) -> bytes:
    """ORA-2: the exact bytes a reporter signs.

    Newline-separated: the domain tag, the format version, the deployment id
    and the feed id (UTF-8), then the feed's decimals, price, timestamp and
    round as base-10 integers with no leading zeros.
    """
    numbers = (decimals, price, timestamp, round_)
    fields = [
        MESSAGE_DOMAIN,
        str(REPORT_FORMAT_VERSION).encode(),
        deployment.encode(),
        feed.encode(),
        *(str(n).encode() for n in numbers),
    ]
    return b"\n".join(fields)


@icontract.ensure(lambda result: len(result.signature) == 64, enabled=k.SLOW_CONTRACTS)
def sign_report(
    key: Ed25519PrivateKey,
    reporter: str,
    deployment: str,
    feed: str,
    decimals: int,
    price: int,
    timestamp: int,
    round_: int,
) -> PriceReport:
    """A report signed by ``key`` (what a reporter runs; tests and simulations use it)."""
    signature = key.sign(report_message(deployment, feed, decimals, price, timestamp, round_))
    return PriceReport(feed, price, timestamp, round_, reporter, signature, deployment, decimals)


@icontract.ensure(lambda report, result: not result or len(report.signature) == 64, enabled=k.SLOW_CONTRACTS)
def signature_valid(public_key: bytes, report: PriceReport) -> bool:
    """ORA-2: the report's signature verifies under the reporter's public key:
    RFC 8032 cofactorless verification, with ``S < L`` required (a
    non-canonical ``S`` is refused here, whatever the library does)."""
    if len(report.signature) != 64 or int.from_bytes(report.signature[32:], "little") >= L:
        return False
    message = report_message(
        report.deployment, report.feed, report.decimals, report.price, report.timestamp, report.round
    )
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(report.signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True


@icontract.require(lambda prices: len(prices) > 0, enabled=k.SLOW_CONTRACTS)
@icontract.ensure(lambda prices, result: result in prices, enabled=k.SLOW_CONTRACTS)
@icontract.ensure(
    lambda prices, result: (
        sum(1 for p in prices if p <= result) >= k.div_ceil(len(prices), 2)
        and sum(1 for p in prices if p >= result) >= k.div_floor(len(prices), 2) + 1
    ),
    "at least half the reports lie at or below, and more than half at or above",
    enabled=k.SLOW_CONTRACTS,
)
def lower_median(prices: Sequence[int]) -> int:
    """ORA-7: the element at index ``floor((n - 1) / 2)`` of the sorted prices."""
    ordered = sorted(prices)
    return ordered[k.div_floor(len(ordered) - 1, 2)]


@icontract.require(lambda reference: k.holds(reference > 0), enabled=k.SLOW_CONTRACTS)
@icontract.require(
    lambda band_ppm: k.holds(band_ppm >= 0), "PAR-2: a band is not negative", enabled=k.SLOW_CONTRACTS
)
@icontract.ensure(
    lambda value, reference, result: k.holds(k.implies(value == reference, result)), enabled=k.SLOW_CONTRACTS
)
def within_ppm(value: int, reference: int, band_ppm: int) -> bool:
    """``|value - reference| <= reference * band_ppm / 1e6``, without division."""
    return k.abs_(value - reference) * PPM <= reference * band_ppm


def _check_report(ledger: Ledger, update: OracleUpdate, report: PriceReport, seen: set[str]) -> None:
    """ORA-3..ORA-6: the per-report checks, in the order the spec fixes."""
    params = ledger.params
    oracle = params.oracle
    last_round = ledger.prices[update.feed].round
    who = f"report from {report.reporter!r}"
    k.require(report.feed == update.feed, ErrorCode.ORACLE_FEED_MISMATCH, who)
    key = ledger.params.reporter_keys.get(report.reporter)
    k.require(key is not None, ErrorCode.ORACLE_UNKNOWN_REPORTER, who)
    assert key is not None
    k.require(len(report.signature) > 0, ErrorCode.ORACLE_UNSIGNED_REPORT, who)
    k.require(signature_valid(key, report), ErrorCode.ORACLE_BAD_SIGNATURE, who)
    k.require(
        report.deployment == params.deployment_id,
        ErrorCode.ORACLE_WRONG_DEPLOYMENT,
        f"{who}: signed for {report.deployment!r}",
    )
    k.require(
        report.decimals == params.feed_by_id[update.feed].price_decimals,
        ErrorCode.ORACLE_WRONG_DECIMALS,
        f"{who}: signed for {report.decimals} decimals",
    )
    k.require(report.reporter not in seen, ErrorCode.ORACLE_DUPLICATE_REPORTER, who)
    k.require(report.price > 0, ErrorCode.ORACLE_NON_POSITIVE_PRICE, who)
    k.require(report.price <= MAX_AMOUNT, ErrorCode.AMOUNT_TOO_LARGE, who)
    k.require(report.round > last_round, ErrorCode.ORACLE_REPLAYED_ROUND, who)
    k.require(report.round - last_round <= oracle.max_round_step, ErrorCode.ORACLE_ROUND_TOO_FAR, who)
    k.require(report.round == update.reports[0].round, ErrorCode.ORACLE_ROUND_MISMATCH, who)
    k.require(
        report.timestamp <= ledger.now + oracle.max_future_skew,
        ErrorCode.ORACLE_FUTURE_REPORT,
        who,
    )
    k.require(ledger.now - report.timestamp <= oracle.max_age, ErrorCode.ORACLE_STALE_REPORT, who)


@icontract.require(lambda interval: k.holds(interval > 0), enabled=k.SLOW_CONTRACTS)
@icontract.ensure(
    lambda now, interval, result: k.holds(k.and_(result[1] <= now, now < result[1] + interval)),
    "ORA-10: the interval returned holds now",
    enabled=k.SLOW_CONTRACTS,
)
def breaker_reference(feed: OraclePrice, now: int, interval: int) -> tuple[int, int]:
    """ORA-10: the reference price and start of the breaker interval holding
    ``now``. When the feed's interval has ended, the new one starts with the
    price in force at its start: the last accepted price, since none was
    accepted in it yet."""
    start = interval_start(now, interval)
    rolled = feed.reference_at < start
    return k.ite(rolled, feed.price, feed.reference), k.ite(rolled, start, feed.reference_at)


@icontract.ensure(
    lambda update, result: k.holds(
        k.and_(result.prices[update.feed].price > 0, result.prices[update.feed].price <= MAX_AMOUNT)
    ),
    "PAR-1: the accepted price is positive and at most MAX_AMOUNT",
    enabled=k.SLOW_CONTRACTS,
)
@icontract.ensure(
    lambda ledger, update, result: k.holds(
        result.prices[update.feed].round > ledger.prices[update.feed].round
    ),
    "ORA-4: rounds strictly increase",
    enabled=k.SLOW_CONTRACTS,
)
@icontract.ensure(
    lambda ledger, update, result: k.holds(
        k.or_(*[r.price == result.prices[update.feed].price for r in update.reports])
    ),
    "ORA-7: the accepted price is one of the reported prices",
    enabled=k.SLOW_CONTRACTS,
)
@icontract.ensure(
    lambda ledger, update, result: k.holds(
        within_ppm(
            result.prices[update.feed].price,
            result.prices[update.feed].reference,
            ledger.params.oracle.max_interval_move_ppm,
        )
    ),
    "ORA-10: the accepted price lies within the interval's bound of its reference",
    enabled=k.SLOW_CONTRACTS,
)
@icontract.ensure(
    lambda ledger, result: result.accounts is ledger.accounts,
    "prices move no balance",
    enabled=k.SLOW_CONTRACTS,
)
def apply_oracle_update(ledger: Ledger, update: OracleUpdate) -> Ledger:
    """ORA-1..ORA-10: accept a round of reports for one feed, or reject it whole."""
    oracle = ledger.params.oracle
    k.require(update.feed in ledger.params.feed_by_id, ErrorCode.UNKNOWN_FEED, update.feed)
    k.require(len(update.reports) > 0, ErrorCode.ORACLE_NO_REPORTS)
    seen: set[str] = set()
    for report in update.reports:
        _check_report(ledger, update, report, seen)
        seen.add(report.reporter)
    k.require(
        len(update.reports) >= oracle.quorum,
        ErrorCode.ORACLE_QUORUM_NOT_MET,
        f"{len(update.reports)} of {oracle.quorum} reports",
    )
    price = lower_median([r.price for r in update.reports])
    for report in update.reports:
        k.require(
            within_ppm(report.price, price, oracle.report_band_ppm),
            ErrorCode.ORACLE_OUT_OF_BAND,
            f"report from {report.reporter!r}: {report.price} vs median {price}",
        )
    feed = ledger.prices[update.feed]
    previous = feed.price
    k.require(
        within_ppm(price, previous, oracle.max_deviation_ppm),
        ErrorCode.ORACLE_CIRCUIT_BREAKER,
        f"{price} vs previous {previous}",
    )
    reference, start = breaker_reference(feed, ledger.now, oracle.breaker_interval)
    k.require(
        within_ppm(price, reference, oracle.max_interval_move_ppm),
        ErrorCode.ORACLE_INTERVAL_BREAKER,
        f"{price} vs {reference}, the price in force when the interval began",
    )
    accepted = OraclePrice(price, update.reports[0].round, ledger.now, reference, start)
    return replace(ledger, prices=ledger.prices.set(update.feed, accepted))
