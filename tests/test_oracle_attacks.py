"""The attacks found on the oracle, each replayed through the public API and now refused.

PAR-2 (weak reporter keys), ORA-2 (the signed context: deployment, decimals,
format version; S < L), ORA-4 (the round step) and ORA-10 (the per-interval
circuit breaker). Every refused update leaves the ledger exactly as it was
(``tests.helpers.rejects`` compares the rendered ledger before and after).
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from clearspec.actions import AdvanceTime, OracleUpdate, PriceReport
from clearspec.errors import ClearingError, ErrorCode
from clearspec.oracle import signature_valid
from clearspec.params import revise
from clearspec.params_file import params_to_json
from clearspec.reporter_keys import COFACTOR, L, P, decode, encode, is_identity, multiply, public_key_flaw
from clearspec.state import Ledger
from clearspec.transition import apply
from clearspec_tools.cli import main
from clearspec_tools.examples import (
    DEPLOYMENT_ID,
    PRICE_DECIMALS,
    example_genesis,
    example_params,
    reporter_keys,
    signed_update,
    usd_price,
)
from tests.helpers import rejects

KEYS = reporter_keys()
IDENTITY_KEY = (1).to_bytes(32, "little")  # y = 1, x = 0: the neutral point
ZERO_KEY = bytes(32)  # y = 0: a point of order 4
ORDER_TWO_KEY = (P - 1).to_bytes(32, "little")  # y = -1, x = 0: the point of order 2


def _order_eight_key() -> bytes:
    """A point of order 8: the small-order part ``[L] Q`` of a curve point ``Q``
    whose own order is not prime (searched, not copied)."""
    for y in range(2, 100):
        point = decode(y.to_bytes(32, "little"))
        if isinstance(point, str):
            continue
        torsion = multiply(L, point)
        if not is_identity(multiply(4, torsion)):
            return encode(torsion)
    raise AssertionError("no point of order 8 among the first y values")


def _with_reporter_key(key: bytes) -> None:
    params = example_params()
    reporters = ((KEYS[0][0], key), *params.oracle.reporters[1:])
    revise(params, oracle=replace(params.oracle, reporters=reporters))


def _forged_by_the_identity(report: PriceReport) -> PriceReport:
    """The forgery of the attack: ``R`` the neutral point, ``S = 0``."""
    return replace(report, signature=IDENTITY_KEY + bytes(32))


@pytest.mark.parametrize(
    "key",
    [IDENTITY_KEY, ZERO_KEY, ORDER_TWO_KEY, _order_eight_key()],
    ids=["identity", "all-zero", "order-2", "order-8"],
)
def test_par2_a_small_order_reporter_key_is_refused(key: bytes) -> None:
    assert is_identity(multiply(COFACTOR, decode(key)))  # type: ignore[arg-type]
    assert public_key_flaw(key) == "small order (8 times the point is the identity)"
    with pytest.raises(ClearingError, match="weak or invalid ed25519 public key") as caught:
        _with_reporter_key(key)
    assert caught.value.code is ErrorCode.INVALID_PARAMS


def test_par2_why_it_matters_the_identity_key_verifies_a_forgery_for_any_message() -> None:
    # Under the neutral point every message "verifies" with (R = identity, S = 0):
    # [0]B = R + [k]A. Only the registration check stands between it and the ledger.
    report = signed_update("BTC-USD", [usd_price(1)], 30, 1).reports[0]
    assert signature_valid(IDENTITY_KEY, _forged_by_the_identity(report))
    assert not signature_valid(
        dict(example_params().oracle.reporters)[KEYS[0][0]], _forged_by_the_identity(report)
    )


def test_par2_non_canonical_and_mixed_order_keys_are_refused() -> None:
    non_canonical = (P + 1).to_bytes(32, "little")  # y = p + 1, the neutral point again
    negative_zero = (1 | (1 << 255)).to_bytes(32, "little")  # x = 0 with the sign bit set
    honest = decode(dict(example_params().oracle.reporters)[KEYS[0][0]])
    assert not isinstance(honest, str)
    mixed = encode(_plus_order_two(honest))
    assert public_key_flaw(non_canonical) is not None and "non-canonical" in str(
        public_key_flaw(non_canonical)
    )
    assert public_key_flaw(negative_zero) is not None and "non-canonical" in str(
        public_key_flaw(negative_zero)
    )
    assert public_key_flaw(mixed) == "not in the prime-order subgroup (it has a small-order component)"
    for key in (non_canonical, negative_zero, mixed, b"\x01" * 31):
        with pytest.raises(ClearingError) as caught:
            _with_reporter_key(key)
        assert caught.value.code is ErrorCode.INVALID_PARAMS
    # Every example key passes.
    assert all(public_key_flaw(key) is None for _, key in example_params().oracle.reporters)


def _plus_order_two(point: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    """``point`` plus the point of order 2, ``(x, y) -> (-x, -y)``."""
    x, y, z, t = point
    return (P - x, P - y, z, t)


def test_par2_params_check_refuses_a_set_with_the_identity_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = params_to_json(example_params())
    data["oracle"]["reporters"][0]["public_key"] = IDENTITY_KEY.hex()
    path = tmp_path / "weak.json"
    path.write_text(json.dumps(data))
    assert main(["params", "check", "--params", str(path)]) == 2
    assert "INVALID_PARAMS" in capsys.readouterr().err


def test_ora2_a_signature_with_s_not_below_l_is_refused() -> None:
    ledger = apply(example_genesis(), AdvanceTime(30))
    update = signed_update("BTC-USD", [usd_price(60_100)] * 3, 30, 1)
    first = update.reports[0]
    s = int.from_bytes(first.signature[32:], "little")
    malleated = replace(first, signature=first.signature[:32] + (s + L).to_bytes(32, "little"))
    rejects(ledger, replace(update, reports=(malleated, *update.reports[1:])), ErrorCode.ORACLE_BAD_SIGNATURE)


def _at(now: int) -> Ledger:
    return apply(example_genesis(), AdvanceTime(now))


def test_ora2_a_report_signed_for_another_deployment_is_refused() -> None:
    prices = [usd_price(60_100)] * 3
    elsewhere = signed_update("BTC-USD", prices, 30, 1, deployment="clearspec-other")
    rejects(_at(30), elsewhere, ErrorCode.ORACLE_WRONG_DEPLOYMENT)
    # Relabelled as ours, the signature no longer verifies.
    relabelled = OracleUpdate(
        "BTC-USD", tuple(replace(r, deployment=DEPLOYMENT_ID) for r in elsewhere.reports)
    )
    rejects(_at(30), relabelled, ErrorCode.ORACLE_BAD_SIGNATURE)
    # The same round signed for this deployment is accepted.
    assert apply(_at(30), signed_update("BTC-USD", prices, 30, 1)).price("BTC-USD") == prices[0]


def test_ora2_a_report_signed_for_other_decimals_is_refused() -> None:
    # The same digits mean a price 100 times apart where the feed has 8 decimals.
    prices = [usd_price(60_100)] * 3
    other = signed_update("BTC-USD", prices, 30, 1, decimals=PRICE_DECIMALS + 2)
    rejects(_at(30), other, ErrorCode.ORACLE_WRONG_DECIMALS)
    relabelled = OracleUpdate("BTC-USD", tuple(replace(r, decimals=PRICE_DECIMALS) for r in other.reports))
    rejects(_at(30), relabelled, ErrorCode.ORACLE_BAD_SIGNATURE)


def test_ora10_a_staircase_at_one_clock_value_stops_at_the_interval_bound() -> None:
    # The attack: each step within ORA-9's 25 %, many steps at one clock value.
    ledger = _at(30)
    steps = [usd_price(d) for d in (50_000, 45_000)]  # 45,000 is exactly 25 % below 60,000
    for round_, price in enumerate(steps, start=1):
        ledger = apply(ledger, signed_update("BTC-USD", [price] * 3, 30, round_))
    assert ledger.price("BTC-USD") == usd_price(45_000)
    assert ledger.prices["BTC-USD"].reference == usd_price(60_000)
    # One dollar further is within ORA-9 of 45,000 but beyond the interval's bound.
    rejects(
        ledger, signed_update("BTC-USD", [usd_price(44_999)] * 3, 30, 3), ErrorCode.ORACLE_INTERVAL_BREAKER
    )
    # Later in the same interval (it began at 0 and lasts 3,600 s): still refused.
    later = apply(ledger, AdvanceTime(3_599))
    rejects(
        later, signed_update("BTC-USD", [usd_price(44_999)] * 3, 3_599, 3), ErrorCode.ORACLE_INTERVAL_BREAKER
    )
    # The next interval starts from the price then in force, 45,000.
    nxt = apply(ledger, AdvanceTime(3_600))
    moved = apply(nxt, signed_update("BTC-USD", [usd_price(34_000)] * 3, 3_600, 3))
    assert moved.prices["BTC-USD"].reference == usd_price(45_000)
    assert moved.prices["BTC-USD"].reference_at == 3_600


def test_ora10_the_attack_walk_to_a_fraction_of_a_cent_is_refused_at_the_second_step() -> None:
    # Three reporters walked BTC from 60,000 USD towards 0.0004 USD, 20 % per update.
    ledger = _at(30)
    price = usd_price(60_000)
    accepted = 0
    for round_ in range(1, 69):
        price = price * 4 // 5
        update = signed_update("BTC-USD", [price] * 3, 30, round_)
        try:
            ledger = apply(ledger, update)
        except ClearingError as error:
            assert error.code is ErrorCode.ORACLE_INTERVAL_BREAKER
            rejects(ledger, update, ErrorCode.ORACLE_INTERVAL_BREAKER)
            break
        accepted += 1
    assert accepted == 1 and ledger.price("BTC-USD") == usd_price(48_000)


def test_ora4_a_round_far_ahead_of_the_last_is_refused() -> None:
    ledger = _at(30)
    step = ledger.params.oracle.max_round_step
    prices = [usd_price(60_100)] * 3
    rejects(ledger, signed_update("BTC-USD", prices, 30, step + 1), ErrorCode.ORACLE_ROUND_TOO_FAR)
    rejects(ledger, signed_update("BTC-USD", prices, 30, 1_000), ErrorCode.ORACLE_ROUND_TOO_FAR)
    rejects(ledger, signed_update("BTC-USD", prices, 30, 2**255 - 1), ErrorCode.ORACLE_ROUND_TOO_FAR)
    # Exactly max_round_step ahead is accepted, and the window moves with the feed.
    after = apply(ledger, signed_update("BTC-USD", prices, 30, step))
    assert after.prices["BTC-USD"].round == step
    rejects(after, signed_update("BTC-USD", prices, 30, 2 * step + 1), ErrorCode.ORACLE_ROUND_TOO_FAR)


def test_par2_a_deployment_id_is_required_and_newline_free() -> None:
    params = example_params()
    for bad in ("", "two\nlines", "x" * 65, "-leading-dash"):
        with pytest.raises(ClearingError) as caught:
            revise(params, deployment_id=bad)
        assert caught.value.code is ErrorCode.INVALID_PARAMS
    assert revise(params, deployment_id="clearspec-mainnet").deployment_id == "clearspec-mainnet"


def test_par2_the_new_oracle_parameters_are_validated() -> None:
    params = example_params()
    oracle = params.oracle
    for bad in (
        replace(oracle, max_round_step=0),
        replace(oracle, breaker_interval=0),
        replace(oracle, max_interval_move_ppm=1_000_001),
    ):
        with pytest.raises(ClearingError) as caught:
            revise(params, oracle=bad)
        assert caught.value.code is ErrorCode.INVALID_PARAMS


def test_an_unregistered_key_cannot_sign_for_a_registered_name() -> None:
    # Unchanged by the context: the key, not the name, is what verifies.
    outsider = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
    update = signed_update(
        "BTC-USD", [usd_price(60_100)] * 3, 30, 1, keys=[(KEYS[0][0], outsider), *KEYS[1:]]
    )
    rejects(_at(30), update, ErrorCode.ORACLE_BAD_SIGNATURE)
