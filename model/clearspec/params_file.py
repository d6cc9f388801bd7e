"""Parameter files (spec: parameters.md, PAR-4): a parameter set as JSON.

Integers may be JSON numbers or decimal strings (a string is required above
2**53, where JavaScript parsers lose digits). Reporter keys are hex. Every
field of ``ProtocolParams`` appears by its name; missing optional fields take
their defaults; an unknown field, a wrong type or an invalid value is an
``INVALID_PARAMS`` error naming the field.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

import icontract

from clearspec import kernel as k
from clearspec.errors import ClearingError, ErrorCode
from clearspec.params import (
    PARAMS_FIELDS,
    AssetParams,
    DeficitPolicy,
    FeedParams,
    LiquidationParams,
    MarginTier,
    MarketKind,
    MarketParams,
    OracleParams,
    ProtocolParams,
    make_params,
)

_INTEGER = re.compile(r"^(0|-?[1-9][0-9]*)$")
# No parameter needs more digits (MAX_AMOUNT has 31); longer ones are refused
# before Python converts them (its conversion is quadratic in the digits).
MAX_DIGITS = 100
# A parameter file is a few kilobytes; a larger input (or /dev/zero) is refused unread.
MAX_FILE_BYTES = 1 << 20
_KEY = re.compile(r"[0-9a-f]{64}")
# Market fields written only when set (MRG-7's open-interest caps).
OPTIONAL_MARKET_FIELDS = ("open_interest_lower_cap", "open_interest_upper_cap")


def _fail(where: str, detail: str) -> ClearingError:
    return ClearingError(ErrorCode.INVALID_PARAMS, f"{where}: {detail}")


def _int(value: Any, where: str) -> int:
    if isinstance(value, bool):
        raise _fail(where, "expected an integer, got a boolean")
    if isinstance(value, int):
        if abs(value) >= 10**MAX_DIGITS:
            raise _fail(where, f"integer of more than {MAX_DIGITS} digits")
        return value
    if isinstance(value, str) and len(value.removeprefix("-")) > MAX_DIGITS:
        raise _fail(where, f"integer of more than {MAX_DIGITS} digits")
    if isinstance(value, str) and _INTEGER.match(value):
        return int(value)
    raise _fail(where, f"expected an integer or a canonical decimal string, got {value!r}")


def _object(value: Any, where: str, allowed: set[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _fail(where, "expected an object")
    unknown = set(value) - allowed
    if unknown:
        raise _fail(where, f"unknown field(s) {sorted(unknown)}")
    return value


def _record(cls: type, value: Any, where: str, convert: dict[str, Any]) -> Any:
    """Build dataclass ``cls`` from a JSON object: ints by default, ``convert``
    for fields of other types."""
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    data = _object(value, where, set(fields))
    kwargs: dict[str, Any] = {}
    for name, spec in fields.items():
        if name not in data:
            if spec.default is dataclasses.MISSING and spec.default_factory is dataclasses.MISSING:
                raise _fail(f"{where}.{name}", "missing")
            continue
        raw = data[name]
        if name in convert:
            kwargs[name] = convert[name](raw, f"{where}.{name}")
        else:
            kwargs[name] = _int(raw, f"{where}.{name}")
    return cls(**kwargs)


def _str(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise _fail(where, "expected a non-empty string")
    return value


def _optional_int(value: Any, where: str) -> int | None:
    return None if value is None else _int(value, where)


def _optional_str(value: Any, where: str) -> str | None:
    return None if value is None else _str(value, where)


def _list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise _fail(where, "expected a list")
    return value


def _enum(kind: type[MarketKind] | type[DeficitPolicy]) -> Any:
    def convert(value: Any, where: str) -> Any:
        try:
            return kind(value)
        except ValueError:
            raise _fail(where, f"expected one of {[e.value for e in kind]}") from None

    return convert


def _tiers(value: Any, where: str) -> tuple[MarginTier, ...]:
    return tuple(
        _record(MarginTier, t, f"{where}[{i}]", {"up_to_size": _optional_int})
        for i, t in enumerate(_list(value, where))
    )


def _reporters(value: Any, where: str) -> tuple[tuple[str, bytes], ...]:
    reporters = []
    for i, item in enumerate(_list(value, where)):
        data = _object(item, f"{where}[{i}]", {"id", "public_key"})
        text = _str(data.get("public_key"), f"{where}[{i}].public_key")
        if not _KEY.fullmatch(text):
            raise _fail(f"{where}[{i}].public_key", "expected 64 lowercase hex digits")
        key = bytes.fromhex(text)
        reporters.append((_str(data.get("id"), f"{where}[{i}].id"), key))
    return tuple(reporters)


@icontract.ensure(lambda result: result.quote_asset in result.asset_by_id, enabled=k.SLOW_CONTRACTS)
def params_from_json(data: Any) -> ProtocolParams:
    """PAR-4: a validated parameter set from decoded JSON; raises ``INVALID_PARAMS``."""
    top = _object(data, "params", set(PARAMS_FIELDS))
    market_fields = {
        "market_id": _str,
        "feed": _str,
        "kind": _enum(MarketKind),
        "tiers": _tiers,
        "expiry": _optional_int,
        "deficit_policy": _enum(DeficitPolicy),
        "open_interest_lower_cap": _optional_int,
        "open_interest_upper_cap": _optional_int,
    }
    for required in ("quote_asset", "assets", "feeds", "markets", "oracle", "deployment_id"):
        if required not in top:
            raise _fail(f"params.{required}", "missing")
    return make_params(
        quote_asset=_str(top["quote_asset"], "params.quote_asset"),
        assets=tuple(
            _record(AssetParams, a, f"params.assets[{i}]", {"asset_id": _str, "feed": _optional_str})
            for i, a in enumerate(_list(top["assets"], "params.assets"))
        ),
        feeds=tuple(
            _record(FeedParams, f, f"params.feeds[{i}]", {"feed_id": _str})
            for i, f in enumerate(_list(top["feeds"], "params.feeds"))
        ),
        markets=tuple(
            _record(MarketParams, m, f"params.markets[{i}]", market_fields)
            for i, m in enumerate(_list(top["markets"], "params.markets"))
        ),
        oracle=_record(OracleParams, top["oracle"], "params.oracle", {"reporters": _reporters}),
        deployment_id=_str(top["deployment_id"], "params.deployment_id"),
        max_batch_fills=_int(top.get("max_batch_fills", 64), "params.max_batch_fills"),
        liquidation=_record(LiquidationParams, top.get("liquidation", {}), "params.liquidation", {}),
    )


def _plain(value: Any) -> Any:
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return str(value)  # no JSON numbers for integers: they may exceed 2**53
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    raise TypeError(f"cannot encode {type(value).__name__}")


@icontract.ensure(
    lambda params, result: params_from_json(result) == params, "round trip", enabled=k.SLOW_CONTRACTS
)
def params_to_json(params: ProtocolParams) -> dict[str, Any]:
    """PAR-4: the JSON form of a parameter set (integers as decimal strings)."""

    def record(value: Any) -> dict[str, Any]:
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value) if f.init}

    oracle = record(params.oracle)
    oracle["reporters"] = [{"id": name, "public_key": key.hex()} for name, key in params.oracle.reporters]
    markets = []
    for market in params.markets:
        data = record(dataclasses.replace(market, tiers=()))
        data["tiers"] = [record(t) for t in market.tiers]
        # MRG-7's caps are optional: absent caps are left out, so a set without
        # them encodes as it did before they existed.
        for cap in OPTIONAL_MARKET_FIELDS:
            if data[cap] is None:
                del data[cap]
        markets.append(data)
    return {
        "quote_asset": params.quote_asset,
        "assets": [record(a) for a in params.assets],
        "feeds": [record(f) for f in params.feeds],
        "markets": markets,
        "oracle": oracle,
        "deployment_id": params.deployment_id,
        "max_batch_fills": str(params.max_batch_fills),
        "liquidation": record(params.liquidation),
    }


def load_params(path: str | Path) -> ProtocolParams:
    """Read a parameter file; a missing, oversized, non-UTF-8 or too deeply
    nested file, or bad JSON, is ``INVALID_PARAMS`` too."""
    try:
        with open(path, "rb") as file:
            raw = file.read(MAX_FILE_BYTES + 1)
    except OSError as error:
        raise ClearingError(ErrorCode.INVALID_PARAMS, f"{path}: {error.strerror}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise ClearingError(ErrorCode.INVALID_PARAMS, f"{path}: larger than {MAX_FILE_BYTES} bytes")
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as error:
        raise ClearingError(ErrorCode.INVALID_PARAMS, f"{path}: not UTF-8: {error.reason}") from None
    except json.JSONDecodeError as error:
        raise ClearingError(ErrorCode.INVALID_PARAMS, f"{path}: not JSON: {error}") from None
    except RecursionError:
        raise ClearingError(ErrorCode.INVALID_PARAMS, f"{path}: nested too deeply") from None
    except ValueError as error:  # a JSON number beyond Python's integer conversion limit
        raise ClearingError(ErrorCode.INVALID_PARAMS, f"{path}: not usable JSON: {error}") from None
    return params_from_json(data)
