"""The wire format of states and actions (spec: vectors.md, VEC-2..VEC-5).

Everything an implementation in another language reads or writes goes through
here: the canonical JSON of a ledger and its digest, and the JSON of every
action. Decoding is strict and total: any input either decodes or raises
``ClearingError`` with one of the wire codes (``MALFORMED_INPUT``,
``NON_CANONICAL_INTEGER``, ``INTEGER_OUT_OF_RANGE``, ``INVALID_STATE``) and a
detail naming the JSON path; never another exception.

What the decoder does *not* reject is left to the protocol, on purpose: an
unknown asset in a deposit, a negative amount, a bad signature are rejections
with their own codes (UNKNOWN_ASSET, NON_POSITIVE_AMOUNT, ORACLE_BAD_SIGNATURE),
which is what the vectors test.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar

from immutables import Map

from clearspec import identifiers
from clearspec.actions import (
    Action,
    AdvanceTime,
    ApplyFunding,
    CoverBadDebt,
    Deleverage,
    Deposit,
    Fill,
    FundInsurance,
    Liquidate,
    LiquidateCollateral,
    OracleUpdate,
    PremiumSample,
    PriceReport,
    ReportNegativeCollateral,
    SettleExpiry,
    SettleTrades,
    Side,
    Transfer,
    Withdraw,
)
from clearspec.errors import ClearingError, ErrorCode
from clearspec.params import ProtocolParams
from clearspec.state import Account, Ledger, LiquidationUsage, MarketState, OraclePrice, Position

# VEC-3: integers are decimal strings, canonical (no '+', no leading zeros, no
# '-0'), and within signed 256 bits, which every target language can hold.
INTEGER = re.compile(r"0|-?[1-9][0-9]*")
INTEGER_BITS = 256
INTEGER_LIMIT = 2 ** (INTEGER_BITS - 1)
# VEC-3: identifiers are short ASCII words, so the canonical JSON needs no
# escaping and sorts the same way (by byte) in every language: the model's one
# grammar (clearspec.identifiers), re-exported for the codec's readers.
IDENTIFIER = identifiers.IDENTIFIER
HEX = re.compile(r"(?:[0-9a-f]{2})*")
MAX_SIGNATURE_BYTES = 64
MAX_LIST = 4096

T = TypeVar("T")


def _fail(code: ErrorCode, where: str, detail: str) -> ClearingError:
    return ClearingError(code, f"{where}: {detail}")


# --- primitives ---------------------------------------------------------------------------


def decode_int(value: Any, where: str) -> int:
    """VEC-3: a canonical decimal string within signed 256 bits."""
    if not isinstance(value, str):
        raise _fail(
            ErrorCode.MALFORMED_INPUT, where, f"expected an integer as a decimal string, got {_kind(value)}"
        )
    if not INTEGER.fullmatch(value):
        raise _fail(
            ErrorCode.NON_CANONICAL_INTEGER, where, f"{value[:40]!r} is not a canonical decimal integer"
        )
    if len(value) > 80:  # longer than any 256-bit value: refuse before converting
        raise _fail(ErrorCode.INTEGER_OUT_OF_RANGE, where, "more than 256 bits")
    number = int(value)
    if not -INTEGER_LIMIT <= number < INTEGER_LIMIT:
        raise _fail(ErrorCode.INTEGER_OUT_OF_RANGE, where, "more than 256 bits")
    return number


def encode_int(value: int) -> str:
    """VEC-3: the canonical decimal string of an integer."""
    return str(value)


def decode_id(value: Any, where: str) -> str:
    """VEC-3: an identifier (account, asset, market, feed, reporter)."""
    if not isinstance(value, str):
        raise _fail(ErrorCode.MALFORMED_INPUT, where, f"expected an identifier string, got {_kind(value)}")
    if not IDENTIFIER.fullmatch(value):
        raise _fail(ErrorCode.MALFORMED_INPUT, where, f"{value[:70]!r} is not 1-64 of [A-Za-z0-9._:-]")
    return value


def _kind(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number" if isinstance(value, int | float) else type(value).__name__)


def _object(
    value: Any, where: str, required: set[str], optional: frozenset[str] = frozenset()
) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _fail(ErrorCode.MALFORMED_INPUT, where, f"expected an object, got {_kind(value)}")
    missing = required - set(value)
    if missing:
        raise _fail(ErrorCode.MALFORMED_INPUT, where, f"missing field(s) {sorted(missing)}")
    unknown = set(value) - required - optional
    if unknown:
        raise _fail(ErrorCode.MALFORMED_INPUT, where, f"unknown field(s) {sorted(map(str, unknown))[:5]}")
    return value


def _list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise _fail(ErrorCode.MALFORMED_INPUT, where, f"expected a list, got {_kind(value)}")
    if len(value) > MAX_LIST:
        raise _fail(ErrorCode.MALFORMED_INPUT, where, f"more than {MAX_LIST} items")
    return value


def _map(value: Any, where: str, item: Callable[[Any, str], T]) -> dict[str, T]:
    """A JSON object keyed by identifiers."""
    if not isinstance(value, dict):
        raise _fail(ErrorCode.MALFORMED_INPUT, where, f"expected an object, got {_kind(value)}")
    if len(value) > MAX_LIST:
        raise _fail(ErrorCode.MALFORMED_INPUT, where, f"more than {MAX_LIST} entries")
    return {decode_id(key, f"{where} key"): item(raw, f"{where}.{key}") for key, raw in value.items()}


def _hex(value: Any, where: str, max_bytes: int) -> bytes:
    if not isinstance(value, str) or not HEX.fullmatch(value):
        raise _fail(ErrorCode.MALFORMED_INPUT, where, "expected lowercase hex with an even number of digits")
    if len(value) > 2 * max_bytes:
        raise _fail(ErrorCode.MALFORMED_INPUT, where, f"more than {max_bytes} bytes")
    return bytes.fromhex(value)


# --- actions ------------------------------------------------------------------------------


def _report(value: Any, where: str) -> PriceReport:
    # ORA-2: a report of the first format (no deployment, no decimals) is a wire flaw.
    fields = {"feed", "price", "timestamp", "round", "reporter", "signature", "deployment", "decimals"}
    data = _object(value, where, fields)
    return PriceReport(
        feed=decode_id(data["feed"], f"{where}.feed"),
        price=decode_int(data["price"], f"{where}.price"),
        timestamp=decode_int(data["timestamp"], f"{where}.timestamp"),
        round=decode_int(data["round"], f"{where}.round"),
        reporter=decode_id(data["reporter"], f"{where}.reporter"),
        signature=_hex(data["signature"], f"{where}.signature", MAX_SIGNATURE_BYTES),
        deployment=decode_id(data["deployment"], f"{where}.deployment"),
        decimals=decode_int(data["decimals"], f"{where}.decimals"),
    )


def _side(value: Any, where: str) -> Side:
    if value not in ("buy", "sell"):
        raise _fail(ErrorCode.MALFORMED_INPUT, where, "expected 'buy' or 'sell'")
    return Side(value)


def _fill(value: Any, where: str) -> Fill:
    fields = {"market", "maker", "taker", "taker_side", "size", "price", "maker_fee_ppm", "taker_fee_ppm"}
    data = _object(value, where, fields)
    return Fill(
        market=decode_id(data["market"], f"{where}.market"),
        maker=decode_id(data["maker"], f"{where}.maker"),
        taker=decode_id(data["taker"], f"{where}.taker"),
        taker_side=_side(data["taker_side"], f"{where}.taker_side"),
        size=decode_int(data["size"], f"{where}.size"),
        price=decode_int(data["price"], f"{where}.price"),
        maker_fee_ppm=decode_int(data["maker_fee_ppm"], f"{where}.maker_fee_ppm"),
        taker_fee_ppm=decode_int(data["taker_fee_ppm"], f"{where}.taker_fee_ppm"),
    )


def _ids(value: Any, where: str) -> tuple[str, ...]:
    return tuple(decode_id(v, f"{where}[{i}]") for i, v in enumerate(_list(value, where)))


# Per action type: its class and, per field, the decoder of that field. The
# field order is the class's, so encoding and decoding cannot drift apart.
_FIELD_DECODERS: dict[str, Callable[[Any, str], Any]] = {
    "account": decode_id,
    "asset": decode_id,
    "source": decode_id,
    "destination": decode_id,
    "market": decode_id,
    "feed": decode_id,
    "liquidated": decode_id,
    "counterparty": decode_id,
    "liquidator": decode_id,
    "repay": decode_int,
    "seize": decode_int,
    "amount": decode_int,
    "now": decode_int,
    "premium_ppm": decode_int,
    "size": decode_int,
    "price": decode_int,
    "counterparty_fee_ppm": decode_int,
    "reports": lambda v, w: tuple(_report(r, f"{w}[{i}]") for i, r in enumerate(_list(v, w))),
    "fills": lambda v, w: tuple(_fill(f, f"{w}[{i}]") for i, f in enumerate(_list(v, w))),
    "counterparties": _ids,
    "accounts": _ids,
}

ACTION_TYPES: dict[str, type[Any]] = {
    "deposit": Deposit,
    "withdraw": Withdraw,
    "transfer": Transfer,
    "advance_time": AdvanceTime,
    "oracle_update": OracleUpdate,
    "settle_trades": SettleTrades,
    "premium_sample": PremiumSample,
    "apply_funding": ApplyFunding,
    "liquidate": Liquidate,
    "liquidate_collateral": LiquidateCollateral,
    "deleverage": Deleverage,
    "cover_bad_debt": CoverBadDebt,
    "report_negative_collateral": ReportNegativeCollateral,
    "fund_insurance": FundInsurance,
    "settle_expiry": SettleExpiry,
}
_TYPE_OF: dict[type[Any], str] = {cls: name for name, cls in ACTION_TYPES.items()}


def _fields(cls: type[Any]) -> tuple[str, ...]:
    return tuple(cls.__dataclass_fields__)


def decode_action(value: Any, where: str = "action") -> Action:
    """VEC-4: an action from its JSON object ``{"type": ..., fields...}``."""
    if not isinstance(value, dict):
        raise _fail(ErrorCode.MALFORMED_INPUT, where, f"expected an object, got {_kind(value)}")
    kind = value.get("type")
    if not isinstance(kind, str) or kind not in ACTION_TYPES:
        raise _fail(ErrorCode.MALFORMED_INPUT, f"{where}.type", f"expected one of {sorted(ACTION_TYPES)}")
    cls = ACTION_TYPES[kind]
    data = _object(value, where, {"type", *_fields(cls)})
    kwargs = {name: _FIELD_DECODERS[name](data[name], f"{where}.{name}") for name in _fields(cls)}
    action: Action = cls(**kwargs)
    return action


def _encode_value(value: Any) -> Any:
    if isinstance(value, Side):
        return value.value
    if isinstance(value, bool):
        raise TypeError("no booleans in actions")
    if isinstance(value, int):
        return encode_int(value)
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, tuple):
        return [_encode_value(v) for v in value]
    if isinstance(value, PriceReport | Fill):
        return {name: _encode_value(getattr(value, name)) for name in _fields(type(value))}
    raise TypeError(f"cannot encode {type(value).__name__}")


def encode_action(action: Action) -> dict[str, Any]:
    """VEC-4: the JSON object of an action."""
    encoded: dict[str, Any] = {"type": _TYPE_OF[type(action)]}
    for name in _fields(type(action)):
        encoded[name] = _encode_value(getattr(action, name))
    return encoded


# --- states -------------------------------------------------------------------------------


def _position(position: Position) -> dict[str, str]:
    return {
        "size": encode_int(position.size),
        "quote": encode_int(position.quote),
        "funding_index": encode_int(position.funding_index),
        "loss_index": encode_int(position.loss_index),
    }


def _market_state(state: MarketState) -> dict[str, Any]:
    return {
        "funding_index": encode_int(state.funding_index),
        "loss_index": encode_int(state.loss_index),
        "premium_sum": encode_int(state.premium_sum),
        "premium_count": encode_int(state.premium_count),
        "last_funding_at": encode_int(state.last_funding_at),
        "pool": encode_int(state.pool),
        "open_interest": encode_int(state.open_interest),
        "settlement_price": None if state.settlement_price is None else encode_int(state.settlement_price),
    }


def _per_asset(totals: Mapping[str, int]) -> dict[str, str]:
    return {asset: encode_int(amount) for asset, amount in sorted(totals.items())}


def encode_state(ledger: Ledger) -> dict[str, Any]:
    """VEC-2: the canonical JSON form of a ledger (without its parameters).

    Canonical means: zero balances are left out (an account exists or not, its
    missing balances are zero); liquidation usage of earlier blocks is left out
    (LIQ-5 ignores it); everything else is written in full.
    """
    accounts = {
        name: {
            "balances": {a: encode_int(b) for a, b in sorted(account.balances.items()) if b != 0},
            "positions": {m: _position(p) for m, p in sorted(account.positions.items())},
        }
        for name, account in sorted(ledger.accounts.items())
    }
    usage = {
        name: {
            "at": encode_int(u.at),
            "notional": encode_int(u.notional),
            "insurance_lost": encode_int(u.insurance_lost),
            "positions": {
                m: {"initial_size": encode_int(initial), "liquidated": encode_int(done)}
                for m, (initial, done) in sorted(u.positions.items())
            },
        }
        for name, u in sorted(ledger.liquidation_usage.items())
        if u.at == ledger.now
    }
    return {
        "now": encode_int(ledger.now),
        "accounts": accounts,
        "prices": {
            feed: {
                "price": encode_int(p.price),
                "round": encode_int(p.round),
                "updated_at": encode_int(p.updated_at),
                "reference": encode_int(p.reference),
                "reference_at": encode_int(p.reference_at),
            }
            for feed, p in sorted(ledger.prices.items())
        },
        "fee_pool": _per_asset(ledger.fee_pool),
        "insurance_fund": _per_asset(ledger.insurance_fund),
        "net_deposits": _per_asset(ledger.net_deposits),
        "markets": {m: _market_state(s) for m, s in sorted(ledger.markets.items())},
        "gate_until": encode_int(ledger.gate_until),
        "liquidation_usage": usage,
    }


def canonical_bytes(value: Any) -> bytes:
    """VEC-2: the canonical serialisation: sorted keys, no whitespace, ASCII."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def digest(value: Any) -> str:
    """VEC-2: the SHA-256 of the canonical serialisation, in lowercase hex."""
    return hashlib.sha256(canonical_bytes(value)).hexdigest()


def state_digest(ledger: Ledger) -> str:
    """VEC-2: the digest of a ledger's canonical state."""
    return digest(encode_state(ledger))


def _decode_position(value: Any, where: str) -> Position:
    data = _object(value, where, {"size", "quote", "funding_index", "loss_index"})
    position = Position(
        size=decode_int(data["size"], f"{where}.size"),
        quote=decode_int(data["quote"], f"{where}.quote"),
        funding_index=decode_int(data["funding_index"], f"{where}.funding_index"),
        loss_index=decode_int(data["loss_index"], f"{where}.loss_index"),
    )
    if position.size == 0:
        raise _fail(ErrorCode.INVALID_STATE, f"{where}.size", "an open position has a non-zero size")
    return position


def _decode_account(value: Any, where: str, params: ProtocolParams) -> Account:
    data = _object(value, where, {"balances", "positions"})
    balances = _map(data["balances"], f"{where}.balances", decode_int)
    for asset, amount in balances.items():
        if asset not in params.asset_by_id:
            raise _fail(ErrorCode.INVALID_STATE, f"{where}.balances.{asset}", "unknown asset")
        if amount == 0:
            raise _fail(ErrorCode.INVALID_STATE, f"{where}.balances.{asset}", "zero balances are left out")
        if amount < 0 and asset != params.quote_asset:
            raise _fail(
                ErrorCode.INVALID_STATE, f"{where}.balances.{asset}", "only the quote asset may be negative"
            )
    positions = _map(data["positions"], f"{where}.positions", _decode_position)
    for market in positions:
        if market not in params.market_by_id:
            raise _fail(ErrorCode.INVALID_STATE, f"{where}.positions.{market}", "unknown market")
    return Account(Map(balances), Map(positions))


def _decode_price(value: Any, where: str) -> OraclePrice:
    data = _object(value, where, {"price", "round", "updated_at", "reference", "reference_at"})
    price = OraclePrice(
        decode_int(data["price"], f"{where}.price"),
        decode_int(data["round"], f"{where}.round"),
        decode_int(data["updated_at"], f"{where}.updated_at"),
        decode_int(data["reference"], f"{where}.reference"),
        decode_int(data["reference_at"], f"{where}.reference_at"),
    )
    if price.price <= 0:
        raise _fail(ErrorCode.INVALID_STATE, f"{where}.price", "prices are positive")
    if price.reference <= 0:
        raise _fail(ErrorCode.INVALID_STATE, f"{where}.reference", "prices are positive")
    return price


def _decode_market(value: Any, where: str) -> MarketState:
    fields = {
        "funding_index",
        "loss_index",
        "premium_sum",
        "premium_count",
        "last_funding_at",
        "pool",
        "open_interest",
        "settlement_price",
    }
    data = _object(value, where, fields)
    ints = {f: decode_int(data[f], f"{where}.{f}") for f in sorted(fields - {"settlement_price"})}
    raw = data["settlement_price"]
    settlement = None if raw is None else decode_int(raw, f"{where}.settlement_price")
    return MarketState(settlement_price=settlement, **ints)


def _decode_usage(value: Any, where: str) -> LiquidationUsage:
    data = _object(value, where, {"at", "notional", "insurance_lost", "positions"})

    def pair(raw: Any, at: str) -> tuple[int, int]:
        item = _object(raw, at, {"initial_size", "liquidated"})
        return decode_int(item["initial_size"], f"{at}.initial_size"), decode_int(
            item["liquidated"], f"{at}.liquidated"
        )

    return LiquidationUsage(
        at=decode_int(data["at"], f"{where}.at"),
        notional=decode_int(data["notional"], f"{where}.notional"),
        insurance_lost=decode_int(data["insurance_lost"], f"{where}.insurance_lost"),
        positions=Map(_map(data["positions"], f"{where}.positions", pair)),
    )


def _same_keys(found: Mapping[str, Any], expected: set[str], where: str, what: str) -> None:
    if set(found) != expected:
        raise _fail(ErrorCode.INVALID_STATE, where, f"expected one entry per {what}: {sorted(expected)}")


STATE_FIELDS = {
    "now",
    "accounts",
    "prices",
    "fee_pool",
    "insurance_fund",
    "net_deposits",
    "markets",
    "gate_until",
    "liquidation_usage",
}


def decode_state(value: Any, params: ProtocolParams, where: str = "state") -> Ledger:
    """VEC-2: a ledger from its canonical JSON under ``params``.

    Checks the form and what refers to the parameters (known assets, markets
    and feeds, one total per asset, non-negative non-quote balances); whether
    the state is reachable is not decidable here, and is not needed: the
    reference and the implementation start from the same state.
    """
    data = _object(value, where, STATE_FIELDS)
    now = decode_int(data["now"], f"{where}.now")
    accounts = _map(data["accounts"], f"{where}.accounts", lambda v, w: _decode_account(v, w, params))
    prices = _map(data["prices"], f"{where}.prices", _decode_price)
    _same_keys(prices, set(params.feed_by_id), f"{where}.prices", "feed")
    totals = {}
    for name in ("fee_pool", "insurance_fund", "net_deposits"):
        totals[name] = _map(data[name], f"{where}.{name}", decode_int)
        _same_keys(totals[name], set(params.asset_by_id), f"{where}.{name}", "asset")
    markets = _map(data["markets"], f"{where}.markets", _decode_market)
    _same_keys(markets, set(params.market_by_id), f"{where}.markets", "market")
    usage = _map(data["liquidation_usage"], f"{where}.liquidation_usage", _decode_usage)
    for name, entry in usage.items():
        if entry.at != now:
            raise _fail(
                ErrorCode.INVALID_STATE, f"{where}.liquidation_usage.{name}.at", "only this block's usage"
            )
    return Ledger(
        params=params,
        now=now,
        accounts=Map(accounts),
        prices=Map(prices),
        fee_pool=Map(totals["fee_pool"]),
        insurance_fund=Map(totals["insurance_fund"]),
        net_deposits=Map(totals["net_deposits"]),
        markets=Map(markets),
        gate_until=decode_int(data["gate_until"], f"{where}.gate_until"),
        liquidation_usage=Map(usage),
    )


def decode_params(value: Any, where: str = "params") -> ProtocolParams:
    """PAR-4 through the wire's rules: integers as canonical strings only."""
    from clearspec.params_file import params_from_json

    _reject_json_numbers(value, where)
    # Parameter ids become keys of the state: on the wire an id outside the
    # grammar is MALFORMED_INPUT (VEC-3), found before PAR-2 validation would
    # call it INVALID_PARAMS.
    for name, path in _param_ids(value, where):
        decode_id(name, path)
    return params_from_json(value)


def _param_ids(value: Any, where: str) -> Iterator[tuple[Any, str]]:
    """Every id of a raw parameter set that is a string, with its path (other
    shapes are params_from_json's to refuse)."""
    if not isinstance(value, dict):
        return
    lists = (("assets", "asset_id"), ("feeds", "feed_id"), ("markets", "market_id"))
    for field, key in lists:
        for index, item in enumerate(value.get(field) or []):
            if isinstance(item, dict) and isinstance(item.get(key), str):
                yield item[key], f"{where}.{field}[{index}].{key}"
    oracle = value.get("oracle")
    if isinstance(oracle, dict):
        for index, item in enumerate(oracle.get("reporters") or []):
            if isinstance(item, dict) and isinstance(item.get("id"), str):
                yield item["id"], f"{where}.oracle.reporters[{index}].id"


def _param_integer_fields() -> frozenset[str]:
    """The names of the integer fields of a parameter set (one meaning per name)."""
    import dataclasses
    import typing

    from clearspec import params as p

    records = (p.AssetParams, p.FeedParams, p.MarginTier, p.MarketParams, p.OracleParams)
    names: set[str] = set()
    for record in (*records, p.LiquidationParams, p.ProtocolParams):
        hints = typing.get_type_hints(record)
        names.update(
            f.name for f in dataclasses.fields(record) if f.init and hints[f.name] in (int, int | None)
        )
    return frozenset(names)


_PARAM_INTEGERS = _param_integer_fields()
_PARAM_DEPTH = 16  # a parameter set nests 4 deep; deeper input is refused before recursing further


def _reject_json_numbers(value: Any, where: str, depth: int = 0) -> None:
    # VEC-3: no JSON numbers on the wire, parameters included; and an integer
    # field's string is a canonical 256-bit integer (decode_int), checked before
    # PAR-4 validation, which would accept "1\n" and choke on 5,000 digits.
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return
    if isinstance(value, int | float):
        raise _fail(ErrorCode.MALFORMED_INPUT, where, "integers travel as decimal strings")
    if depth > _PARAM_DEPTH:
        raise _fail(ErrorCode.MALFORMED_INPUT, where, "nested too deep for a parameter set")
    if isinstance(value, dict):
        for key, item in value.items():
            if key in _PARAM_INTEGERS and isinstance(item, str):
                decode_int(item, f"{where}.{key}")
            else:
                _reject_json_numbers(item, f"{where}.{key}", depth + 1)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _reject_json_numbers(item, f"{where}[{i}]", depth + 1)
    else:
        raise _fail(ErrorCode.MALFORMED_INPUT, where, f"unexpected {_kind(value)}")


def encode_params(params: ProtocolParams) -> dict[str, Any]:
    """PAR-4: the parameter set as the wire carries it."""
    from clearspec.params_file import params_to_json

    return params_to_json(params)
