"""PAR-4: parameter files. The example set survives JSON text; every kind of bad
input is an INVALID_PARAMS error whose detail names the field; ``clearspec
params export`` writes a file that loads back equal."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from clearspec.errors import ClearingError, ErrorCode
from clearspec.params_file import MAX_DIGITS, MAX_FILE_BYTES, load_params, params_from_json, params_to_json
from clearspec_tools.cli import main
from clearspec_tools.examples import example_params

PARAMS = example_params()
Edit = Callable[[dict[str, Any]], None]


def _document() -> dict[str, Any]:
    return copy.deepcopy(params_to_json(PARAMS))


def _rejected(edit: Edit) -> str:
    data = _document()
    edit(data)
    with pytest.raises(ClearingError) as caught:
        params_from_json(data)
    assert caught.value.code is ErrorCode.INVALID_PARAMS
    return caught.value.detail


def _market(data: dict[str, Any]) -> dict[str, Any]:
    market: dict[str, Any] = data["markets"][0]
    return market


def _reporter(data: dict[str, Any]) -> dict[str, Any]:
    reporter: dict[str, Any] = data["oracle"]["reporters"][0]
    return reporter


def test_par4_example_round_trips_through_json_text() -> None:
    text = json.dumps(params_to_json(PARAMS))
    assert params_from_json(json.loads(text)) == PARAMS
    # Integers travel as decimal strings; none is a JSON number.
    data = json.loads(text)
    assert data["max_batch_fills"] == "64"
    assert _market(data)["tiers"][0] == {
        "up_to_size": "100000000",
        "initial_ppm": "50000",
        "maintenance_ppm": "30000",
    }
    assert _market(data)["expiry"] is None
    assert len(_reporter(data)["public_key"]) == 64


def test_par4_numbers_are_accepted_and_optional_fields_default() -> None:
    data = _document()
    _market(data)["step_size"] = 1000
    data["oracle"]["quorum"] = 3
    del data["max_batch_fills"], data["liquidation"]
    for market in data["markets"]:
        for name in ("min_position_size", "deficit_policy", "funding_interval", "funding_interest_ppm"):
            del market[name]
        del market["premium_clamp_factor_ppm"], market["funding_clamp_factor_ppm"]
    del data["markets"][0]["expiry"]  # a perpetual: none
    del data["assets"][0]["initial_weight_ppm"], data["assets"][0]["maintenance_weight_ppm"]  # USDC: PPM
    assert params_from_json(data) == PARAMS


def test_par4_a_partial_liquidation_object_takes_the_other_defaults() -> None:
    data = _document()
    data["liquidation"] = {"withdrawal_gate_seconds": "600"}
    loaded = params_from_json(data)
    assert loaded.liquidation.withdrawal_gate_seconds == 600
    assert loaded.liquidation.max_liquidation_fee_ppm == PARAMS.liquidation.max_liquidation_fee_ppm


@pytest.mark.parametrize(
    ("edit", "detail"),
    [
        (lambda d: d.__setitem__("surprise", "1"), "params: unknown field(s) ['surprise']"),
        (lambda d: _market(d).__setitem__("bogus", "1"), "params.markets[0]: unknown field(s) ['bogus']"),
        (
            lambda d: _reporter(d).__setitem__("name", "x"),
            "params.oracle.reporters[0]: unknown field(s) ['name']",
        ),
        (lambda d: d.pop("oracle"), "params.oracle: missing"),
        (lambda d: _market(d).pop("step_size"), "params.markets[0].step_size: missing"),
        (lambda d: d["feeds"][1].pop("price_decimals"), "params.feeds[1].price_decimals: missing"),
        (
            lambda d: _market(d)["tiers"][2].pop("up_to_size"),
            "params.markets[0].tiers[2].up_to_size: missing",
        ),
    ],
    ids=[
        "unknown-top",
        "unknown-market",
        "unknown-reporter",
        "missing-top",
        "missing-market",
        "missing-feed",
        "missing-tier",
    ],
)
def test_par4_unknown_and_missing_fields_are_named(edit: Edit, detail: str) -> None:
    assert _rejected(edit) == detail


@pytest.mark.parametrize("value", [True, False])
def test_par4_a_boolean_is_not_an_integer(value: bool) -> None:
    detail = _rejected(lambda d: _market(d).__setitem__("step_size", value))
    assert detail == "params.markets[0].step_size: expected an integer, got a boolean"


@pytest.mark.parametrize("text", ["01", "+5", "1.0", "1e3", " 5", "5 ", "0x10", "1_000", "", "-", "١٢"])
def test_par4_integer_strings_must_be_canonical(text: str) -> None:
    detail = _rejected(lambda d: _market(d).__setitem__("step_size", text))
    assert detail == (
        f"params.markets[0].step_size: expected an integer or a canonical decimal string, got {text!r}"
    )


@pytest.mark.parametrize("value", [1000.0, 1.5, None, [1000], {"value": 1000}])
def test_par4_other_json_values_are_not_integers(value: Any) -> None:
    detail = _rejected(lambda d: _market(d).__setitem__("step_size", value))
    assert detail.startswith("params.markets[0].step_size: expected an integer or a canonical decimal string")


def test_par4_negative_integers_are_canonical_too() -> None:
    data = _document()
    _market(data)["funding_interest_ppm"] = "-5"
    assert params_from_json(data).markets[0].funding_interest_ppm == -5


@pytest.mark.parametrize(
    ("field", "value", "allowed"),
    [
        ("kind", "future", "['perpetual', 'dated']"),
        ("kind", "Perpetual", "['perpetual', 'dated']"),
        ("deficit_policy", "socialize", "['deleverage', 'socialise']"),
    ],
)
def test_par4_enumerations_take_only_listed_values(field: str, value: str, allowed: str) -> None:
    detail = _rejected(lambda d: _market(d).__setitem__(field, value))
    assert detail == f"params.markets[0].{field}: expected one of {allowed}"


@pytest.mark.parametrize("key", ["zz" * 32, "not hex", "abc"])
def test_par4_reporter_keys_are_hex(key: str) -> None:
    detail = _rejected(lambda d: _reporter(d).__setitem__("public_key", key))
    assert detail == "params.oracle.reporters[0].public_key: expected 64 lowercase hex digits"


def test_par4_a_key_of_the_wrong_length_fails_validation() -> None:
    detail = _rejected(lambda d: _reporter(d).__setitem__("public_key", "ab" * 31))
    assert "64 lowercase hex digits" in detail


@pytest.mark.parametrize(
    ("edit", "detail"),
    [
        (lambda d: d.__setitem__("markets", {}), "params.markets: expected a list"),
        (lambda d: d.__setitem__("oracle", []), "params.oracle: expected an object"),
        (
            lambda d: _market(d).__setitem__("tiers", ["tier"]),
            "params.markets[0].tiers[0]: expected an object",
        ),
        (lambda d: d.__setitem__("quote_asset", 5), "params.quote_asset: expected a non-empty string"),
        (
            lambda d: d["assets"][1].__setitem__("feed", ""),
            "params.assets[1].feed: expected a non-empty string",
        ),
        (lambda d: _reporter(d).pop("id"), "params.oracle.reporters[0].id: expected a non-empty string"),
        (
            lambda d: _reporter(d).__setitem__("public_key", 7),
            "params.oracle.reporters[0].public_key: expected a non-empty string",
        ),
    ],
    ids=["list", "object", "tier", "string", "empty-string", "reporter-id", "key-type"],
)
def test_par4_wrong_json_types_are_named(edit: Edit, detail: str) -> None:
    assert _rejected(edit) == detail


def test_par4_the_document_must_be_an_object() -> None:
    documents: list[Any] = [[], "params", 7, None]
    for document in documents:
        with pytest.raises(ClearingError) as caught:
            params_from_json(document)
        assert caught.value.code is ErrorCode.INVALID_PARAMS
        assert caught.value.detail == "params: expected an object"


@pytest.mark.parametrize(
    ("edit", "words"),
    [
        (lambda d: d["oracle"].__setitem__("quorum", "0"), "quorum"),
        (lambda d: _market(d).__setitem__("tick_size", "1"), "BTC-PERP: step * tick"),
        (lambda d: _market(d).__setitem__("expiry", "100"), "BTC-PERP"),
        (lambda d: d.__setitem__("quote_asset", "DOGE"), "DOGE"),
    ],
    ids=["quorum", "par3", "expiry-on-perpetual", "unlisted-quote"],
)
def test_par4_values_are_validated_by_make_params(edit: Edit, words: str) -> None:
    # The JSON decodes; PAR-2's check rejects it and its detail names the field or market.
    assert words in _rejected(edit)


def test_par4_a_missing_file_is_invalid_params(tmp_path: Path) -> None:
    missing = tmp_path / "absent.json"
    with pytest.raises(ClearingError) as caught:
        load_params(missing)
    assert caught.value.code is ErrorCode.INVALID_PARAMS
    assert caught.value.detail.startswith(f"{missing}: ")


@pytest.mark.parametrize("text", ["{not json", "", '{"quote_asset": "USDC",}'])
def test_par4_a_file_that_is_not_json_is_invalid_params(tmp_path: Path, text: str) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text(text)
    with pytest.raises(ClearingError) as caught:
        load_params(broken)
    assert caught.value.code is ErrorCode.INVALID_PARAMS
    assert caught.value.detail.startswith(f"{broken}: not JSON: ")


def test_par4_load_params_reads_a_file(tmp_path: Path) -> None:
    path = tmp_path / "params.json"
    path.write_text(json.dumps(params_to_json(PARAMS), indent=1))
    assert load_params(path) == PARAMS
    assert load_params(str(path)) == PARAMS


def test_par4_params_export_loads_back_equal(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["params", "export"]) == 0
    exported = capsys.readouterr().out
    assert params_from_json(json.loads(exported)) == PARAMS
    path = tmp_path / "exported.json"
    path.write_text(exported)
    assert load_params(path) == PARAMS


@pytest.mark.parametrize(
    ("content", "detail"),
    [
        (b"\xff\xfe{}", "not UTF-8"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b" " * (MAX_FILE_BYTES + 1), f"larger than {MAX_FILE_BYTES} bytes"),
        (b'{"quote_asset": ' + b"9" * 5_000 + b"}", "not usable JSON"),
    ],
    ids=["not-utf8", "deep", "oversized", "huge-number"],
)
def test_par4_hostile_files_are_invalid_params(tmp_path: Path, content: bytes, detail: str) -> None:
    path = tmp_path / "hostile.json"
    path.write_bytes(content)
    with pytest.raises(ClearingError) as caught:
        load_params(path)
    assert caught.value.code is ErrorCode.INVALID_PARAMS and detail in caught.value.detail


@pytest.mark.parametrize("value", ["9" * (MAX_DIGITS + 1), 10**MAX_DIGITS])
def test_par4_integers_beyond_the_digit_limit_are_named(value: Any) -> None:
    def edit(data: dict[str, Any]) -> None:
        _market(data)["tick_size"] = value

    assert _rejected(edit) == f"params.markets[0].tick_size: integer of more than {MAX_DIGITS} digits"
