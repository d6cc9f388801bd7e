"""Typed actions (clearspec.actions): a field of the wrong type, an identifier the
codec could not decode, or an integer beyond 256 bits refuses the action at
construction with a ClearingError and a stable code, before any arithmetic."""

from __future__ import annotations

from typing import Any

import pytest

from clearspec.actions import (
    AdvanceTime,
    Deleverage,
    Deposit,
    Fill,
    OracleUpdate,
    PriceReport,
    SettleExpiry,
    SettleTrades,
    Side,
    Transfer,
)
from clearspec.errors import ClearingError, ErrorCode
from clearspec.transition import step
from clearspec_tools.examples import example_genesis
from clearspec_tools.vectors.codec import IDENTIFIER, INTEGER_LIMIT, decode_action, encode_action


def refused(code: ErrorCode, words: str, make: Any) -> None:
    with pytest.raises(ClearingError) as caught:
        make()
    assert caught.value.code is code
    assert words in caught.value.detail


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda: Deposit("alice", "USDC", 1.5), "Deposit.amount: expected an integer, got float"),  # type: ignore[arg-type]
        (lambda: Deposit("alice", "USDC", True), "Deposit.amount: expected an integer, got bool"),
        (lambda: Deposit("alice", "USDC", "10"), "Deposit.amount: expected an integer, got str"),  # type: ignore[arg-type]
        (lambda: AdvanceTime(float("inf")), "AdvanceTime.now: expected an integer, got float"),  # type: ignore[arg-type]
        (lambda: Deposit(None, "USDC", 1), "Deposit.account: NoneType is not an identifier"),  # type: ignore[arg-type]
        (lambda: Deposit(7.0, "USDC", 1), "Deposit.account: float is not an identifier"),  # type: ignore[arg-type]
        (lambda: Deposit("", "USDC", 1), "Deposit.account: '' is not an identifier"),
        (lambda: Deposit("a" * 5_000, "USDC", 1), "is not an identifier (1-64 of [A-Za-z0-9._:-])"),
        (lambda: Deposit("\u00e9ric", "USDC", 1), "Deposit.account: '\u00e9ric' is not an identifier"),
        (lambda: Transfer("a", "b c", "USDC", 1), "Transfer.destination: 'b c' is not an identifier"),
        (lambda: SettleExpiry("M", ("a", 3)), "SettleExpiry.accounts: int is not an identifier"),  # type: ignore[arg-type]
        (lambda: Deleverage("M", "a", "bc"), "Deleverage.counterparties: expected a tuple, got str"),  # type: ignore[arg-type]
        (lambda: SettleTrades(("not a fill",)), "SettleTrades.fills: expected Fill items, got str"),  # type: ignore[arg-type]
        (lambda: OracleUpdate("F", (1,)), "OracleUpdate.reports: expected PriceReport items, got int"),  # type: ignore[arg-type]
        (lambda: PriceReport("F", 1, 0, 1, "r", "sig", "d", 6), "PriceReport.signature: expected at most"),  # type: ignore[arg-type]
        (lambda: Fill("M", "a", "b", "up", 1, 1, 0, 0), "Fill.taker_side: 'up' is not buy or sell"),  # type: ignore[arg-type]
        (lambda: SettleExpiry("M", ("a",) * 5_000), "SettleExpiry.accounts: 5000 items, more than 4096"),
    ],
)
def test_a_malformed_field_is_malformed_input(make: Any, words: str) -> None:
    refused(ErrorCode.MALFORMED_INPUT, words, make)


def test_an_integer_beyond_256_bits_is_out_of_range_not_a_value_error() -> None:
    refused(
        ErrorCode.INTEGER_OUT_OF_RANGE,
        "Deposit.amount: an integer beyond 256 bits",
        lambda: Deposit("a", "USDC", 10**4_400),
    )
    refused(ErrorCode.INTEGER_OUT_OF_RANGE, "beyond 256 bits", lambda: AdvanceTime(-(2**255) - 1))
    assert AdvanceTime(2**255 - 1).now == 2**255 - 1  # the edge itself is an integer the codec holds


def test_lists_become_tuples_and_sides_their_enum() -> None:
    assert SettleExpiry("M", ["a", "b"]).accounts == ("a", "b")  # type: ignore[arg-type]
    assert Fill("M", "a", "b", "buy", 1, 1, 0, 0).taker_side is Side.BUY  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["a", "A-1", "x" * 64, "acct.1:2_b", "0"])
def test_the_grammar_is_the_codecs(name: str) -> None:
    assert IDENTIFIER.fullmatch(name)
    action = Deposit(name, "USDC", 1)
    assert decode_action(encode_action(action), "action") == action  # what the model holds, the codec reads


@pytest.mark.parametrize("name", ["", "x" * 65, "a b", "\u00e9", "a\n", "a/b"])
def test_what_the_codec_refuses_the_model_refuses(name: str) -> None:
    assert not IDENTIFIER.fullmatch(name)
    with pytest.raises(ClearingError):
        Deposit(name, "USDC", 1)


def test_the_integer_limit_is_the_codecs() -> None:
    from clearspec import actions, identifiers

    assert actions.INTEGER_LIMIT == INTEGER_LIMIT
    assert IDENTIFIER is identifiers.IDENTIFIER  # one grammar: actions, parameter sets, codec


def test_a_well_typed_action_still_reaches_the_model() -> None:
    outcome = step(example_genesis(), Deposit("alice", "USDC", 10**31))
    assert outcome.error is ErrorCode.AMOUNT_TOO_LARGE  # the model's own refusal, not the type check
