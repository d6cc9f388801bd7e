"""JSON Schemas of the conformance format (spec: vectors.md, VEC-1..VEC-6).

Two schemas ship with the package, in ``clearspec_tools/vectors/schema/``:

* ``case.schema.json``: one case file (VEC-1), with the canonical state (VEC-2),
  the wire integers and identifiers (VEC-3), the actions (VEC-4) and the
  expected results (VEC-5);
* ``protocol.schema.json``: the messages of the runner protocol (VEC-6).

They are built here from the model's own definitions (the action classes, the
parameter dataclasses, the error codes), so they cannot drift from the code;
the shipped files are this module's output (``python -m
clearspec_tools.vectors.schemas`` rewrites them, and a test checks they are current).
A schema checks the form; the codec checks the rest (e.g. that a state names
only known assets), as JSON Schema cannot relate one part of a case to another.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import types
import typing
from enum import Enum
from importlib import resources
from pathlib import Path
from typing import Any

from clearspec.actions import Fill, PriceReport
from clearspec.errors import ErrorCode
from clearspec.params import (
    AssetParams,
    FeedParams,
    LiquidationParams,
    MarginTier,
    MarketParams,
    OracleParams,
    ProtocolParams,
)
from clearspec_tools.vectors.codec import ACTION_TYPES, MAX_LIST, MAX_SIGNATURE_BYTES, STATE_FIELDS

CASE_SCHEMA = "case.schema.json"
PROTOCOL_SCHEMA = "protocol.schema.json"
DRAFT = "https://json-schema.org/draft/2020-12/schema"

# VEC-3 as regular expressions. 2**255 has 77 digits, so 77 digits bound the
# length; the exact 256-bit range is the codec's (a regex cannot express it).
INT_PATTERN = "^(0|-?[1-9][0-9]{0,76})$"
ID_PATTERN = "^[A-Za-z0-9._:-]{1,64}$"
HEX_PATTERN = f"^([0-9a-f]{{2}}){{0,{MAX_SIGNATURE_BYTES}}}$"
DIGEST_PATTERN = "^[0-9a-f]{64}$"
RULE_PATTERN = "^[A-Z]{3}-[0-9]+$"
CASE_ID_PATTERN = "^[A-Za-z0-9._:/+-]{1,200}$"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/$defs/{name}"}


def _obj(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties) if required is None else required,
        "additionalProperties": False,
    }


def _id_map(item: Any) -> dict[str, Any]:
    return {
        "type": "object",
        "propertyNames": _ref("id"),
        "additionalProperties": item,
        "maxProperties": MAX_LIST,
    }


def _array(item: Any) -> dict[str, Any]:
    return {"type": "array", "items": item, "maxItems": MAX_LIST}


# --- parameters (PAR-4), from the dataclasses -------------------------------------------------


def _param_type(hint: Any) -> Any:
    """The schema of one parameter field, from its type annotation."""
    if hint is int:
        return _ref("int")
    if hint is str:
        return _ref("id")
    if isinstance(hint, type) and issubclass(hint, Enum):
        return {"enum": [member.value for member in hint]}
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        members = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(members) == 1:
            return {"oneOf": [_param_type(members[0]), {"type": "null"}]}
    if hint == tuple[MarginTier, ...]:
        return {"type": "array", "items": _ref("margin_tier"), "minItems": 1}
    if dataclasses.is_dataclass(hint):
        return _ref(_PARAM_DEFS[typing.cast(type, hint)])
    raise TypeError(f"no schema for parameter type {hint!r}")


_PARAM_DEFS: dict[type, str] = {
    AssetParams: "asset_params",
    FeedParams: "feed_params",
    MarginTier: "margin_tier",
    MarketParams: "market_params",
    OracleParams: "oracle_params",
    LiquidationParams: "liquidation_params",
    ProtocolParams: "params",
}


def _param_record(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    properties: dict[str, Any] = {}
    required: list[str] = []
    for field in dataclasses.fields(cls):
        if not field.init:
            continue
        if cls is OracleParams and field.name == "reporters":
            reporter = _obj({"id": _ref("id"), "public_key": {"type": "string", "pattern": "^[0-9a-f]{64}$"}})
            properties[field.name] = {"type": "array", "items": reporter, "minItems": 1}
        elif cls is ProtocolParams and field.name in ("assets", "feeds", "markets"):
            item = {"assets": AssetParams, "feeds": FeedParams, "markets": MarketParams}[field.name]
            properties[field.name] = {"type": "array", "items": _ref(_PARAM_DEFS[item])}
        else:
            properties[field.name] = _param_type(hints[field.name])
        if field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            required.append(field.name)
    return _obj(properties, required)


# --- actions (VEC-4), from the codec's table -------------------------------------------------

_ACTION_FIELD_SCHEMAS: dict[str, Any] = {
    "reports": _array(_ref("price_report")),
    "fills": _array(_ref("fill")),
    "counterparties": _array(_ref("id")),
    "accounts": _array(_ref("id")),
}


def _action_field(name: str, hint: Any) -> Any:
    if name in _ACTION_FIELD_SCHEMAS:
        return _ACTION_FIELD_SCHEMAS[name]
    return _ref("int") if hint is int else _ref("id")


def _record_fields(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    fields: dict[str, Any] = {}
    for field in dataclasses.fields(cls):
        if field.name == "taker_side":
            fields[field.name] = {"enum": ["buy", "sell"]}
        elif field.name == "signature":
            fields[field.name] = _ref("hex")
        else:
            fields[field.name] = _action_field(field.name, hints[field.name])
    return fields


def _actions() -> dict[str, Any]:
    variants = []
    for kind, cls in ACTION_TYPES.items():
        properties = {"type": {"const": kind}, **_record_fields(cls)}
        variants.append(_obj(properties))
    return {"oneOf": variants}


# --- states (VEC-2) ---------------------------------------------------------------------------


def _state() -> dict[str, Any]:
    position = _obj({name: _ref("int") for name in ("size", "quote", "funding_index", "loss_index")})
    market_ints = ["funding_index", "loss_index", "premium_sum", "premium_count", "last_funding_at", "pool"]
    market = _obj(
        {
            **{name: _ref("int") for name in [*market_ints, "open_interest"]},
            "settlement_price": {"oneOf": [_ref("int"), {"type": "null"}]},
        }
    )
    usage = _obj(
        {
            "at": _ref("int"),
            "notional": _ref("int"),
            "insurance_lost": _ref("int"),
            "positions": _id_map(_obj({"initial_size": _ref("int"), "liquidated": _ref("int")})),
        }
    )
    properties = {
        "now": _ref("int"),
        "accounts": _id_map(_obj({"balances": _id_map(_ref("int")), "positions": _id_map(position)})),
        "prices": _id_map(
            _obj(
                {
                    "price": _ref("int"),
                    "round": _ref("int"),
                    "updated_at": _ref("int"),
                    "reference": _ref("int"),
                    "reference_at": _ref("int"),
                }
            )
        ),
        "fee_pool": _id_map(_ref("int")),
        "insurance_fund": _id_map(_ref("int")),
        "net_deposits": _id_map(_ref("int")),
        "markets": _id_map(market),
        "gate_until": _ref("int"),
        "liquidation_usage": _id_map(usage),
    }
    assert set(properties) == STATE_FIELDS, "the schema lists the codec's state fields"
    return _obj(properties)


def _expected() -> dict[str, Any]:
    accepted = _obj({"accepted": {"const": True}, "post_state": _ref("state"), "post_digest": _ref("digest")})
    rejected = _obj({"accepted": {"const": False}, "error": _ref("error_code")})
    return {"oneOf": [accepted, rejected]}


def _common_defs() -> dict[str, Any]:
    defs: dict[str, Any] = {
        "int": {
            "type": "string",
            "pattern": INT_PATTERN,
            "description": "VEC-3: a canonical decimal integer",
        },
        "id": {"type": "string", "pattern": ID_PATTERN, "description": "VEC-3: an identifier"},
        "hex": {"type": "string", "pattern": HEX_PATTERN, "description": "VEC-3: lowercase hex bytes"},
        "digest": {"type": "string", "pattern": DIGEST_PATTERN, "description": "VEC-2: SHA-256, hex"},
        "error_code": {"enum": [code.value for code in ErrorCode]},
        "state": _state(),
        "action": _actions(),
        "price_report": _obj(_record_fields(PriceReport)),
        "fill": _obj(_record_fields(Fill)),
        "expected": _expected(),
    }
    for cls, name in _PARAM_DEFS.items():
        defs[name] = _param_record(cls)
    return defs


def case_schema() -> dict[str, Any]:
    """VEC-1: the schema of one case file."""
    # VEC-3: an action that must not decode is malformed on purpose: any JSON,
    # as long as the expected result is the wire code that refuses it.
    wire_codes = [ErrorCode.MALFORMED_INPUT, ErrorCode.NON_CANONICAL_INTEGER, ErrorCode.INTEGER_OUT_OF_RANGE]
    undecodable = _obj({"accepted": {"const": False}, "error": {"enum": [c.value for c in wire_codes]}})
    step = {
        "anyOf": [
            _obj({"action": _ref("action"), "expected": _ref("expected")}),
            _obj({"action": True, "expected": undecodable}),
        ]
    }
    properties: dict[str, Any] = {
        "format": {"const": "clearspec-vector/1"},
        "suite_version": {"type": "string", "minLength": 1},
        "id": {"type": "string", "pattern": CASE_ID_PATTERN},
        "description": {"type": "string", "minLength": 1},
        "rules": {"type": "array", "items": {"type": "string", "pattern": RULE_PATTERN}, "minItems": 1},
        "source": {"type": "string", "minLength": 1},
        # Checked per kind of case below: a refused case's are wrong on purpose.
        "params": True,
        "pre_state": True,
        "pre_digest": _ref("digest"),
        "steps": {"type": "array", "items": step},
        "expected_error": _ref("error_code"),
    }
    # VEC-5: a case either runs its steps from a valid start, or has no steps
    # and expects its parameters or pre-state to be refused with one code.
    runs = {
        "not": {"required": ["expected_error"]},
        "required": ["pre_digest"],
        "properties": {"params": _ref("params"), "pre_state": _ref("state"), "steps": {"minItems": 1}},
    }
    refused = {"required": ["expected_error"], "properties": {"steps": {"maxItems": 0}}}
    return {
        "$schema": DRAFT,
        "$id": "urn:clearspec:vectors:case:1",
        "title": "clearspec conformance case (clearspec-vector/1)",
        "description": "One conformance case: spec/vectors.md, VEC-1..VEC-5.",
        **_obj(properties, [name for name in properties if name not in ("expected_error", "pre_digest")]),
        "oneOf": [runs, refused],
        "$defs": _common_defs(),
    }


def protocol_schema() -> dict[str, Any]:
    """VEC-6: the schema of every message of the runner protocol, both ways."""
    implementation = _obj(
        {"name": {"type": "string"}, "version": {"type": "string"}, "language": {"type": "string"}}
    )
    run_case = _obj(
        {
            "id": {"type": "string"},
            "params": True,
            "pre_state": True,
            "actions": {"type": "array"},
        }
    )
    result = {
        "oneOf": [
            _obj(
                {
                    "accepted": {"const": True},
                    "post_state": {"type": "object"},
                    "post_digest": {"type": "string"},
                    "detail": {"type": "string"},
                },
                ["accepted", "post_state"],
            ),
            _obj(
                {"accepted": {"const": False}, "error": {"type": "string"}, "detail": {"type": "string"}},
                ["accepted", "error"],
            ),
        ]
    }
    seq = {"type": "integer", "minimum": 0}
    requests = {
        "hello": _obj(
            {"cmd": {"const": "hello"}, "protocol": {"const": 1}, "suite_version": {"type": "string"}}
        ),
        "run": _obj({"cmd": {"const": "run"}, "seq": seq, "case": run_case}),
        "stop": _obj({"cmd": {"const": "stop"}}),
    }
    answers = {
        "hello_answer": _obj(
            {"hello": {"const": True}, "protocol": {"const": 1}, "implementation": implementation}
        ),
        "results_answer": _obj({"seq": seq, "results": {"type": "array", "items": result}}),
        "error_answer": _obj(
            {"seq": seq, "error": {"type": "string"}, "detail": {"type": "string"}}, ["seq", "error"]
        ),
        "skipped_answer": _obj({"seq": seq, "skipped": {"type": "string"}}),
    }
    return {
        "$schema": DRAFT,
        "$id": "urn:clearspec:vectors:protocol:1",
        "title": "clearspec runner protocol, version 1",
        "description": "Messages of `clearspec vectors run` and an implementation: spec/vectors.md, VEC-6.",
        "oneOf": [_ref(name) for name in [*requests, *answers]],
        "$defs": {**requests, **answers, "result": result},
    }


BUILDERS = {CASE_SCHEMA: case_schema, PROTOCOL_SCHEMA: protocol_schema}


def render(schema: dict[str, Any]) -> str:
    """The text of a shipped schema file (stable: the generator copies it byte for byte)."""
    return json.dumps(schema, indent=1, sort_keys=False) + "\n"


def load(name: str) -> dict[str, Any]:
    """A shipped schema (``case.schema.json`` or ``protocol.schema.json``)."""
    data: dict[str, Any] = json.loads(shipped_text(name))
    return data


def shipped_text(name: str) -> str:
    """The bytes of a shipped schema file, as text."""
    return resources.files("clearspec_tools.vectors").joinpath("schema", name).read_text(encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    """Rewrite the shipped schema files from the model's definitions."""
    folder = Path(__file__).resolve().parent / "schema"
    folder.mkdir(exist_ok=True)
    for name, build in BUILDERS.items():
        (folder / name).write_text(render(build()), encoding="utf-8")
        print(f"wrote {folder / name}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
