"""The actions a ledger accepts (spec: state.md). Each is an immutable record.

Each action checks its fields' types at construction, with the grammar the
conformance codec enforces (VEC-3): an identifier is 1-64 of ``[A-Za-z0-9._:-]``,
an integer is an ``int`` (never a ``bool`` or a float) within signed 256 bits, or
a symbolic term while the prover traces; a list field is a tuple (a list is
converted) of at most ``MAX_LIST`` items. A field that is not refuses the action
with ``ClearingError(MALFORMED_INPUT)`` or ``INTEGER_OUT_OF_RANGE``, before any
arithmetic: a ledger never holds an id its own codec cannot decode, and no
5,000-digit integer reaches Python's string conversion.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from enum import StrEnum
from typing import Any

from clearspec import kernel as k
from clearspec.errors import ClearingError, ErrorCode
from clearspec.identifiers import IDENTIFIER

_IDENTIFIER_MATCH = IDENTIFIER.fullmatch
INTEGER_LIMIT = 2**255  # signed 256 bits, as VEC-3
MAX_LIST = 4096
MAX_SIGNATURE_BYTES = 4096  # far beyond any scheme; the oracle checks the real length


def _refuse(
    action: object, name: str, detail: str, code: ErrorCode = ErrorCode.MALFORMED_INPUT
) -> ClearingError:
    return ClearingError(code, f"{type(action).__name__}.{name}: {detail}")


def check_id(action: object, name: str, value: Any) -> None:
    """An identifier of VEC-3's grammar."""
    if type(value) is not str or not _IDENTIFIER_MATCH(value):
        shown = repr(value[:70]) if isinstance(value, str) else type(value).__name__
        raise _refuse(action, name, f"{shown} is not an identifier (1-64 of [A-Za-z0-9._:-])")


def check_int(action: object, name: str, value: Any) -> None:
    """An integer within signed 256 bits, or a symbolic term (the prover's). An
    ``int`` subclass other than ``bool`` counts as an integer: CrossHair's
    symbolic integers are one (PRF-3)."""
    if type(value) is int or (isinstance(value, int) and not isinstance(value, bool)):
        if not -INTEGER_LIMIT <= value < INTEGER_LIMIT:
            raise _refuse(action, name, "an integer beyond 256 bits", ErrorCode.INTEGER_OUT_OF_RANGE)
        return
    if not k.is_symbolic(value):
        raise _refuse(action, name, f"expected an integer, got {type(value).__name__}")


def _tuple(action: object, name: str, value: Any, check: Any) -> None:
    if isinstance(value, list):
        value = tuple(value)
        object.__setattr__(action, name, value)
    if type(value) is not tuple:
        raise _refuse(action, name, f"expected a tuple, got {type(value).__name__}")
    if len(value) > MAX_LIST:
        raise _refuse(action, name, f"{len(value)} items, more than {MAX_LIST}")
    for item in value:
        check(item)


def _check_bytes(action: object, name: str, value: Any) -> None:
    if type(value) is not bytes or len(value) > MAX_SIGNATURE_BYTES:
        raise _refuse(action, name, f"expected at most {MAX_SIGNATURE_BYTES} bytes")


def _check_ids(action: object, name: str, value: Any) -> None:
    _tuple(action, name, value, lambda item: check_id(action, name, item))


def _check_reports(action: object, name: str, value: Any) -> None:
    _tuple(action, name, value, lambda item: _instance(action, name, item, PriceReport))


def _check_fills(action: object, name: str, value: Any) -> None:
    _tuple(action, name, value, lambda item: _instance(action, name, item, Fill))


# A field's annotation (a string: annotations are postponed) to its check.
_CHECKS = {
    "str": check_id,
    "int": check_int,
    "bytes": _check_bytes,
    "tuple[str, ...]": _check_ids,
    "tuple[PriceReport, ...]": _check_reports,
    "tuple[Fill, ...]": _check_fills,
}
_FIELDS: dict[type, tuple[tuple[str, Any], ...]] = {}


def _checked(action: Any) -> None:
    """Every field of ``action`` by its annotation (the dataclasses below)."""
    specs = _FIELDS.get(type(action))
    if specs is None:
        specs = _FIELDS[type(action)] = tuple(
            (f.name, _CHECKS[str(f.type)]) for f in fields(action) if str(f.type) in _CHECKS
        )
    for name, check in specs:
        value = getattr(action, name)
        # The common cases inline (an action is built for every step of a replay).
        if check is check_int:
            if type(value) is int and -INTEGER_LIMIT <= value < INTEGER_LIMIT:
                continue
        elif check is check_id and type(value) is str and _IDENTIFIER_MATCH(value):
            continue
        check(action, name, value)


def _instance(action: object, name: str, value: Any, cls: type) -> None:
    if not isinstance(value, cls):
        raise _refuse(action, name, f"expected {cls.__name__} items, got {type(value).__name__}")


@dataclass(frozen=True, slots=True)
class Deposit:
    """COL-3: ``amount`` of ``asset`` enters ``account`` (created if new)."""

    account: str
    asset: str
    amount: int

    def __post_init__(self) -> None:
        _checked(self)


@dataclass(frozen=True, slots=True)
class Withdraw:
    """COL-4: ``amount`` of ``asset`` leaves ``account`` and the protocol."""

    account: str
    asset: str
    amount: int

    def __post_init__(self) -> None:
        _checked(self)


@dataclass(frozen=True, slots=True)
class Transfer:
    """COL-5: ``amount`` of ``asset`` moves from ``source`` to ``destination``."""

    source: str
    destination: str
    asset: str
    amount: int

    def __post_init__(self) -> None:
        _checked(self)


@dataclass(frozen=True, slots=True)
class AdvanceTime:
    """CLK-1: the ledger's clock moves to ``now`` (seconds)."""

    now: int

    def __post_init__(self) -> None:
        _checked(self)


@dataclass(frozen=True, slots=True)
class PriceReport:
    """One reporter's signed claim: ``feed`` was ``price`` at ``timestamp`` in ``round``,
    for the deployment ``deployment`` where the feed has ``decimals`` decimals (ORA-2)."""

    feed: str
    price: int
    timestamp: int
    round: int
    reporter: str
    signature: bytes
    deployment: str
    decimals: int

    def __post_init__(self) -> None:
        _checked(self)


@dataclass(frozen=True, slots=True)
class OracleUpdate:
    """ORA-*: a relayer submits the reports of one round for one feed."""

    feed: str
    reports: tuple[PriceReport, ...]

    def __post_init__(self) -> None:
        _checked(self)


class Side(StrEnum):
    """The taker's side of a fill."""

    BUY = "buy"
    SELL = "sell"


@dataclass(frozen=True, slots=True)
class Fill:
    """TRD-2: one match from the off-chain engine. ``size`` is base units (> 0),
    ``price`` is at the market feed's decimals; fee rates are in ppm of notional,
    negative for a rebate."""

    market: str
    maker: str
    taker: str
    taker_side: Side
    size: int
    price: int
    maker_fee_ppm: int
    taker_fee_ppm: int

    def __post_init__(self) -> None:
        # A side given as its string value ("buy") becomes the enum, so the
        # settlement's identity test can never read a plain string as a sell.
        try:
            object.__setattr__(self, "taker_side", Side(self.taker_side))
        except ValueError:
            raise _refuse(self, "taker_side", f"{str(self.taker_side)[:20]!r} is not buy or sell") from None
        _checked(self)


@dataclass(frozen=True, slots=True)
class SettleTrades:
    """TRD-1: a batch of fills, settled atomically."""

    fills: tuple[Fill, ...]

    def __post_init__(self) -> None:
        _checked(self)


@dataclass(frozen=True, slots=True)
class PremiumSample:
    """FND-1: one premium sample (ppm of the oracle price) for a perpetual."""

    market: str
    premium_ppm: int

    def __post_init__(self) -> None:
        _checked(self)


@dataclass(frozen=True, slots=True)
class ApplyFunding:
    """FND-2: close the funding interval: average the samples into a rate and
    add it to the market's funding index."""

    market: str

    def __post_init__(self) -> None:
        _checked(self)


@dataclass(frozen=True, slots=True)
class Liquidate:
    """LIQ-*: a liquidation fill from the matching engine. ``size`` base units of
    ``liquidated``'s position in ``market`` are closed against ``counterparty``
    at ``price``; the counterparty pays its fee rate like a maker."""

    market: str
    liquidated: str
    counterparty: str
    size: int
    price: int
    counterparty_fee_ppm: int

    def __post_init__(self) -> None:
        _checked(self)


@dataclass(frozen=True, slots=True)
class LiquidateCollateral:
    """CLQ-*: ``liquidator`` repays ``repay`` of ``account``'s quote debt and takes
    ``seize`` base units of its collateral ``asset``, at most the oracle value of
    the repayment plus the asset's liquidation bonus."""

    account: str
    liquidator: str
    asset: str
    repay: int
    seize: int

    def __post_init__(self) -> None:
        _checked(self)


@dataclass(frozen=True, slots=True)
class Deleverage:
    """ADL-*: offset ``account``'s position in ``market`` against
    ``counterparties``, which must be in the protocol's ranking order."""

    market: str
    account: str
    counterparties: tuple[str, ...]

    def __post_init__(self) -> None:
        _checked(self)


@dataclass(frozen=True, slots=True)
class CoverBadDebt:
    """INS-4: the insurance fund tops up an account with no positions and negative NC."""

    account: str

    def __post_init__(self) -> None:
        _checked(self)


@dataclass(frozen=True, slots=True)
class ReportNegativeCollateral:
    """INS-6: anyone may show that ``account`` has negative NC, which gates withdrawals."""

    account: str

    def __post_init__(self) -> None:
        _checked(self)


@dataclass(frozen=True, slots=True)
class FundInsurance:
    """INS-1: ``account`` moves ``amount`` of the quote asset into the insurance fund."""

    account: str
    amount: int

    def __post_init__(self) -> None:
        _checked(self)


@dataclass(frozen=True, slots=True)
class SettleExpiry:
    """EXP-*: settle the listed accounts' positions in a dated market at its final price."""

    market: str
    accounts: tuple[str, ...]

    def __post_init__(self) -> None:
        _checked(self)


Action = (
    Deposit
    | Withdraw
    | Transfer
    | AdvanceTime
    | OracleUpdate
    | SettleTrades
    | PremiumSample
    | ApplyFunding
    | Liquidate
    | LiquidateCollateral
    | Deleverage
    | CoverBadDebt
    | ReportNegativeCollateral
    | FundInsurance
    | SettleExpiry
)
