"""The actions a ledger accepts (spec: state.md). Each is an immutable record."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


@dataclass(frozen=True, slots=True)
class Deposit:
    """COL-3: ``amount`` of ``asset`` enters ``account`` (created if new)."""

    account: str
    asset: str
    amount: int


@dataclass(frozen=True, slots=True)
class Withdraw:
    """COL-4: ``amount`` of ``asset`` leaves ``account`` and the protocol."""

    account: str
    asset: str
    amount: int


@dataclass(frozen=True, slots=True)
class Transfer:
    """COL-5: ``amount`` of ``asset`` moves from ``source`` to ``destination``."""

    source: str
    destination: str
    asset: str
    amount: int


@dataclass(frozen=True, slots=True)
class AdvanceTime:
    """CLK-1: the ledger's clock moves to ``now`` (seconds)."""

    now: int


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


@dataclass(frozen=True, slots=True)
class OracleUpdate:
    """ORA-*: a relayer submits the reports of one round for one feed."""

    feed: str
    reports: tuple[PriceReport, ...]


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
        object.__setattr__(self, "taker_side", Side(self.taker_side))


@dataclass(frozen=True, slots=True)
class SettleTrades:
    """TRD-1: a batch of fills, settled atomically."""

    fills: tuple[Fill, ...]


@dataclass(frozen=True, slots=True)
class PremiumSample:
    """FND-1: one premium sample (ppm of the oracle price) for a perpetual."""

    market: str
    premium_ppm: int


@dataclass(frozen=True, slots=True)
class ApplyFunding:
    """FND-2: close the funding interval: average the samples into a rate and
    add it to the market's funding index."""

    market: str


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


@dataclass(frozen=True, slots=True)
class Deleverage:
    """ADL-*: offset ``account``'s position in ``market`` against
    ``counterparties``, which must be in the protocol's ranking order."""

    market: str
    account: str
    counterparties: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class CoverBadDebt:
    """INS-4: the insurance fund tops up an account with no positions and negative NC."""

    account: str


@dataclass(frozen=True, slots=True)
class ReportNegativeCollateral:
    """INS-6: anyone may show that ``account`` has negative NC, which gates withdrawals."""

    account: str


@dataclass(frozen=True, slots=True)
class FundInsurance:
    """INS-1: ``account`` moves ``amount`` of the quote asset into the insurance fund."""

    account: str
    amount: int


@dataclass(frozen=True, slots=True)
class SettleExpiry:
    """EXP-*: settle the listed accounts' positions in a dated market at its final price."""

    market: str
    accounts: tuple[str, ...]


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
    | Deleverage
    | CoverBadDebt
    | ReportNegativeCollateral
    | FundInsurance
    | SettleExpiry
)
