"""Bad input at the wire (spec: vectors.md, VEC-2..VEC-5): the decoders and the
reference's answer take any JSON and either decode it or refuse it with a wire
code, never another exception; what decodes is canonical; valid encodings
round-trip.

CI-sized: a few thousand inputs in all. ``CLEARSPEC_FUZZ_EXAMPLES=N`` raises the
count per Hypothesis test; the long run (>= 100,000 inputs) is
``bench/bench_vectors.py --fuzz N``.
"""

from __future__ import annotations

import os
import random
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clearspec.actions import Deposit, Fill, SettleTrades, Side
from clearspec.errors import ClearingError, ErrorCode
from clearspec_tools.vectors import fuzz
from clearspec_tools.vectors.case import answer
from clearspec_tools.vectors.codec import (
    decode_action,
    decode_params,
    decode_state,
    encode_action,
    encode_params,
    encode_state,
)
from clearspec_tools.vectors.fuzz import ALLOWED, NASTY_INTEGERS, TARGETS, FuzzViolation, check, draw, seeds

EXAMPLES = int(os.environ.get("CLEARSPEC_FUZZ_EXAMPLES", "700"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=12)
    | st.sampled_from(NASTY_INTEGERS),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


@FUZZ
@given(st.randoms(use_true_random=False), st.sampled_from(TARGETS))
def test_vec3_mutated_encodings_decode_or_get_a_wire_code(rng: random.Random, target: str) -> None:
    check(target, draw(target, rng))


@FUZZ
@given(json_values, st.sampled_from(TARGETS))
def test_vec3_arbitrary_json_decodes_or_gets_a_wire_code(value: Any, target: str) -> None:
    if target == "case":
        value = {"id": "x", "params": seeds().wire_params, "pre_state": value, "actions": [value]}
    check(target, value)


@FUZZ
@given(
    st.sampled_from(["deposit", "withdraw"]),
    st.from_regex(r"[A-Za-z0-9._:-]{1,64}", fullmatch=True),
    st.integers(min_value=-(2**255), max_value=2**255 - 1),
)
def test_vec4_valid_actions_round_trip(kind: str, account: str, amount: int) -> None:
    encoded = {"type": kind, "account": account, "asset": "USDC", "amount": str(amount)}
    assert encode_action(decode_action(encoded)) == encoded


def test_vec2_vec4_seed_encodings_round_trip() -> None:
    s = seeds()
    assert decode_params(encode_params(s.params)) == s.params
    assert all(encode_action(decode_action(a)) == a for a in s.actions)
    assert all(encode_state(decode_state(state, s.params)) == state for state in s.states)
    assert {a["type"] for a in s.actions} == set(fuzz.ACTION_NAMES)  # every decoder branch is seeded


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("+1", ErrorCode.NON_CANONICAL_INTEGER),
        ("01", ErrorCode.NON_CANONICAL_INTEGER),
        ("-0", ErrorCode.NON_CANONICAL_INTEGER),
        ("1\n", ErrorCode.NON_CANONICAL_INTEGER),
        ("\u0661", ErrorCode.NON_CANONICAL_INTEGER),  # int() would take this Arabic-Indic one
        ("1e3", ErrorCode.NON_CANONICAL_INTEGER),
        (str(2**255), ErrorCode.INTEGER_OUT_OF_RANGE),
        ("9" * 5000, ErrorCode.INTEGER_OUT_OF_RANGE),
    ],
)
@pytest.mark.parametrize("where", ["action", "params"])
def test_vec3_each_bad_integer_has_its_code(text: str, code: ErrorCode, where: str) -> None:
    """In actions and, as VEC-3 says, in parameter sets alike (the parameter
    decoder took "1\\n" for 1 and raised ValueError on 5,000 digits)."""
    with pytest.raises(ClearingError) as error:
        if where == "action":
            decode_action({"type": "deposit", "account": "a", "asset": "USDC", "amount": text})
        else:
            decode_params({**seeds().wire_params, "max_batch_fills": text})
    assert error.value.code is code


def test_vec3_the_largest_integers_decode() -> None:
    for value in (2**255 - 1, -(2**255)):
        action = decode_action({"type": "deposit", "account": "a", "asset": "USDC", "amount": str(value)})
        assert isinstance(action, Deposit) and action.amount == value


def test_vec3_deeply_nested_parameters_are_malformed_not_a_recursion_error() -> None:
    deep: Any = "x"
    for _ in range(900):
        deep = [deep]
    with pytest.raises(ClearingError) as error:
        decode_params({**seeds().wire_params, "assets": deep})
    assert error.value.code is ErrorCode.MALFORMED_INPUT
    assert answer({"id": "x", "params": deep, "pre_state": {}, "actions": []}) == {"error": "MALFORMED_INPUT"}


def test_vec5_a_state_that_breaks_an_invariant_is_refused_not_crashed_on() -> None:
    """INV-1: alice's balance without the deposits to match it; the model's
    contracts would raise on the first step, so the case is refused."""
    s = seeds()
    state = next(st for st in s.states if "alice" in st["accounts"])
    broken = {**state, "accounts": {**state["accounts"], "alice": {**state["accounts"]["alice"]}}}
    broken["accounts"]["alice"]["balances"] = {**broken["accounts"]["alice"]["balances"], "USDC": "1"}
    action = encode_action(Deposit("alice", "USDC", 1))
    reply = answer({"id": "x", "params": s.wire_params, "pre_state": broken, "actions": [action]})
    assert reply == {"error": ErrorCode.INVALID_STATE.value}
    fine = answer({"id": "x", "params": s.wire_params, "pre_state": state, "actions": [action]})
    assert fine["results"][0]["accepted"] is True


def test_vec4_bad_signature_and_unknown_asset_are_protocol_codes_not_wire_codes() -> None:
    """Well-formed but not allowed: the decoder lets it through, the protocol refuses it."""
    s = seeds()
    update = next(a for a in s.actions if a["type"] == "oracle_update")
    forged = {**update, "reports": [{**update["reports"][0], "signature": "00" * 64}, *update["reports"][1:]]}
    deposit = {"type": "deposit", "account": "alice", "asset": "DOGE", "amount": "1"}
    negative = {"type": "deposit", "account": "alice", "asset": "USDC", "amount": "-1"}
    reply = answer(
        {"id": "x", "params": s.wire_params, "pre_state": s.states[0], "actions": [forged, deposit, negative]}
    )
    assert [r.get("error") for r in reply["results"]] == [
        "ORACLE_BAD_SIGNATURE",
        "UNKNOWN_ASSET",
        "NON_POSITIVE_AMOUNT",
    ]


def test_check_flags_a_decoder_that_raises_something_else(monkeypatch: pytest.MonkeyPatch) -> None:
    """The property can fail: a decoder raising KeyError is a violation, and so
    is a wire code where it does not belong."""

    def broken(value: Any, where: str = "action") -> Any:
        raise KeyError("amount")

    monkeypatch.setattr(fuzz, "decode_action", broken)
    with pytest.raises(FuzzViolation, match="KeyError"):
        check("action", {"type": "deposit"})

    def wrong_code(value: Any, where: str = "action") -> Any:
        raise ClearingError(ErrorCode.INVALID_PARAMS, "no")

    monkeypatch.setattr(fuzz, "decode_action", wrong_code)
    with pytest.raises(FuzzViolation, match="not a wire code"):
        check("action", {"type": "deposit"})
    assert ErrorCode.INVALID_PARAMS not in ALLOWED["action"]


def test_check_flags_a_decoder_that_accepts_non_canonical_input(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fuzz, "decode_action", lambda value, where="action": Deposit("a", "USDC", 1))
    with pytest.raises(FuzzViolation, match="not canonical"):
        check("action", {"type": "deposit", "account": "a", "asset": "USDC", "amount": "01"})


def test_run_fuzz_counts_inputs_and_finds_nothing() -> None:
    report = fuzz.run_fuzz(400, seed=7)
    summary = report.to_json()
    assert summary["inputs"] == 400 and summary["violations"] == 0
    assert sum(sum(c.values()) for c in report.outcomes.values()) == 400
    # The mix reaches both sides: refusals with wire codes and accepted input.
    assert report.outcomes["action"]["accepted"] > 0 and report.outcomes["action"]["MALFORMED_INPUT"] > 0
    assert report.outcomes["case"]["answered"] > 0


def test_fill_fields_decode_in_order() -> None:
    fill = Fill("BTC-PERP", "bob", "alice", Side.SELL, 1_000, 10_000, -10, 20)
    encoded = encode_action(SettleTrades((fill,)))
    assert decode_action(encoded) == SettleTrades((fill,))
    encoded["fills"][0]["taker_side"] = "SELL"
    with pytest.raises(ClearingError) as error:
        decode_action(encoded)
    assert error.value.code is ErrorCode.MALFORMED_INPUT
