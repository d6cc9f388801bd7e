"""ORA-1..ORA-10: the oracle network (the attacks on it: tests/test_oracle_attacks.py)."""

from __future__ import annotations

from dataclasses import replace

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from clearspec.actions import AdvanceTime, OracleUpdate, PriceReport
from clearspec.errors import ErrorCode
from clearspec.oracle import lower_median, report_message, sign_report, signature_valid
from clearspec.state import Ledger
from clearspec.transition import apply
from clearspec_tools.examples import (
    DEPLOYMENT_ID,
    PRICE_DECIMALS,
    example_genesis,
    reporter_keys,
    signed_update,
    usd_price,
)
from tests.helpers import rejects

KEYS = reporter_keys()
PRICE = usd_price(60_000)


def at(now: int) -> Ledger:
    return apply(example_genesis(), AdvanceTime(now))


def update(prices: list[int], timestamp: int = 100, round_: int = 1) -> OracleUpdate:
    return signed_update("BTC-USD", prices, timestamp, round_)


def sign(key: Ed25519PrivateKey, name: str, price: int, timestamp: int, round_: int) -> PriceReport:
    """A BTC-USD report signed for the example deployment."""
    return sign_report(key, name, DEPLOYMENT_ID, "BTC-USD", PRICE_DECIMALS, price, timestamp, round_)


def test_ora2_message_bytes_are_fixed() -> None:
    message = report_message("clearspec-example", "BTC-USD", 6, 600_000_000, 1_700_000_000, 7)
    assert message == (
        b"clearspec/oracle-report\n2\nclearspec-example\nBTC-USD\n6\n600000000\n1700000000\n7"
    )


def test_ora2_signature_verifies_only_the_signed_fields() -> None:
    name, key = KEYS[0]
    report = sign(key, name, PRICE, 100, 1)
    public = dict(example_genesis().params.oracle.reporters)[name]
    assert signature_valid(public, report)
    assert not signature_valid(public, replace(report, price=PRICE + 1))
    assert not signature_valid(public, replace(report, round=2))
    # The context is signed too: the deployment and the feed's decimals.
    assert not signature_valid(public, replace(report, deployment="other-deployment"))
    assert not signature_valid(public, replace(report, decimals=PRICE_DECIMALS + 2))
    assert not signature_valid(public, replace(report, signature=b"\x00" * 64))
    assert not signature_valid(public, replace(report, signature=b"short"))


def test_ora7_accepts_the_lower_median_of_a_quorum() -> None:
    ledger = apply(at(100), update([PRICE + 30_000, PRICE - 10_000, PRICE, PRICE + 20_000]))
    assert ledger.prices["BTC-USD"].price == PRICE  # sorted: -10k, 0, +20k, +30k; index 1
    assert ledger.prices["BTC-USD"].round == 1
    assert ledger.prices["BTC-USD"].updated_at == 100


def test_ora7_quorum_is_required() -> None:
    rejects(at(100), update([PRICE, PRICE]), ErrorCode.ORACLE_QUORUM_NOT_MET)


def test_ora7_out_of_band_report_rejects_the_round() -> None:
    # 2% band around the median: exactly 2% is inside, one unit more is not.
    apply(at(100), update([PRICE, PRICE, PRICE + PRICE // 50]))
    rejects(at(100), update([PRICE, PRICE, PRICE + PRICE // 50 + 1]), ErrorCode.ORACLE_OUT_OF_BAND)


def test_ora9_circuit_breaker_bounds_the_move() -> None:
    # 25% from the previous accepted price.
    up = PRICE + PRICE // 4
    apply(at(100), update([up] * 3))
    rejects(at(100), update([up + 1] * 3), ErrorCode.ORACLE_CIRCUIT_BREAKER)


def test_ora6_freshness_boundaries() -> None:
    ledger = at(100)
    apply(ledger, update([PRICE] * 3, timestamp=40))  # age 60 == max_age
    rejects(ledger, update([PRICE] * 3, timestamp=39), ErrorCode.ORACLE_STALE_REPORT)
    apply(ledger, update([PRICE] * 3, timestamp=105))  # 5 s ahead == max_future_skew
    rejects(ledger, update([PRICE] * 3, timestamp=106), ErrorCode.ORACLE_FUTURE_REPORT)


def test_ora4_rounds_strictly_increase_and_match() -> None:
    ledger = apply(at(100), update([PRICE] * 3, round_=5))
    rejects(ledger, update([PRICE] * 3, round_=5), ErrorCode.ORACLE_REPLAYED_ROUND)
    rejects(ledger, update([PRICE] * 3, round_=4), ErrorCode.ORACLE_REPLAYED_ROUND)
    mixed = update([PRICE] * 3, round_=6)
    other = sign(KEYS[3][1], KEYS[3][0], PRICE, 100, 7)
    rejects(ledger, replace(mixed, reports=(*mixed.reports, other)), ErrorCode.ORACLE_ROUND_MISMATCH)


def test_ora3_reporter_and_signature_checks() -> None:
    ledger = at(100)
    good = update([PRICE] * 3)
    outsider = Ed25519PrivateKey.generate()
    forged = sign(outsider, "mallory", PRICE, 100, 1)
    rejects(ledger, replace(good, reports=(*good.reports, forged)), ErrorCode.ORACLE_UNKNOWN_REPORTER)
    # A registered name with a signature from another key.
    impostor = sign(outsider, KEYS[4][0], PRICE, 100, 1)
    rejects(ledger, replace(good, reports=(*good.reports, impostor)), ErrorCode.ORACLE_BAD_SIGNATURE)
    unsigned = PriceReport("BTC-USD", PRICE, 100, 1, KEYS[4][0], b"", DEPLOYMENT_ID, PRICE_DECIMALS)
    rejects(ledger, replace(good, reports=(*good.reports, unsigned)), ErrorCode.ORACLE_UNSIGNED_REPORT)
    duplicate = replace(good, reports=(*good.reports, good.reports[0]))
    rejects(ledger, duplicate, ErrorCode.ORACLE_DUPLICATE_REPORTER)


def test_ora1_ora5_feed_and_price_checks() -> None:
    ledger = at(100)
    rejects(ledger, OracleUpdate("DOGE-USD", update([PRICE] * 3).reports), ErrorCode.UNKNOWN_FEED)
    rejects(ledger, OracleUpdate("BTC-USD", ()), ErrorCode.ORACLE_NO_REPORTS)
    eth = signed_update("ETH-USD", [PRICE] * 3, 100, 1)
    rejects(ledger, OracleUpdate("BTC-USD", eth.reports), ErrorCode.ORACLE_FEED_MISMATCH)
    rejects(ledger, update([PRICE, PRICE, 0]), ErrorCode.ORACLE_NON_POSITIVE_PRICE)
    rejects(ledger, update([PRICE, PRICE, -PRICE]), ErrorCode.ORACLE_NON_POSITIVE_PRICE)


def test_err1_first_failing_check_names_the_code() -> None:
    # Reports are checked in list order, each through the whole per-report list.
    good = update([PRICE, PRICE])
    bad = sign(KEYS[2][1], KEYS[2][0], 0, 1, 1)  # non-positive and stale
    rejects(at(100), replace(good, reports=(*good.reports, bad)), ErrorCode.ORACLE_NON_POSITIVE_PRICE)
    # A stale first report wins over a non-positive later one.
    stale = sign(KEYS[3][1], KEYS[3][0], PRICE, 1, 1)
    zero = sign(KEYS[4][1], KEYS[4][0], 0, 100, 1)
    rejects(at(100), replace(good, reports=(stale, *good.reports, zero)), ErrorCode.ORACLE_STALE_REPORT)


@given(
    honest=st.lists(st.integers(1, 10**12), min_size=1, max_size=6),
    faulty=st.lists(st.integers(-(10**12), 10**15), max_size=6),
)
def test_ora8_median_within_honest_range(honest: list[int], faulty: list[int]) -> None:
    # With f faulty among n >= 2f + 1 reports, the lower median is within the honest range.
    faulty = faulty[: (len(honest) + len(faulty) - 1) // 2]
    while len(faulty) * 2 + 1 > len(honest) + len(faulty):
        faulty = faulty[:-1]
    median = lower_median(honest + faulty)
    assert min(honest) <= median <= max(honest)


def test_ora8_fails_without_an_honest_majority() -> None:
    # The theorem needs n >= 2f + 1: two liars among three reports move the price.
    assert lower_median([100, 10**9, 10**9]) == 10**9
