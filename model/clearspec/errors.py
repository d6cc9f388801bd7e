"""Stable error codes (spec: errors.md, ERR-1) and the one exception type the model raises.

Codes are part of the conformance format: vectors name them, so a code is never
renamed or reused. New codes are appended.
"""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    """Every reason the protocol can reject an action. The value is the stable name."""

    # Identifiers and amounts (COL-*).
    UNKNOWN_ASSET = "UNKNOWN_ASSET"
    UNKNOWN_MARKET = "UNKNOWN_MARKET"
    UNKNOWN_ACCOUNT = "UNKNOWN_ACCOUNT"
    UNKNOWN_FEED = "UNKNOWN_FEED"
    NON_POSITIVE_AMOUNT = "NON_POSITIVE_AMOUNT"
    AMOUNT_TOO_LARGE = "AMOUNT_TOO_LARGE"
    INSUFFICIENT_BALANCE = "INSUFFICIENT_BALANCE"
    SELF_TRANSFER = "SELF_TRANSFER"
    # Margin (MRG-*).
    MARGIN_INSUFFICIENT = "MARGIN_INSUFFICIENT"
    # Clock (CLK-*).
    CLOCK_NOT_MONOTONIC = "CLOCK_NOT_MONOTONIC"
    # Oracle network (ORA-*). The order of checks is in spec/errors.md.
    ORACLE_NO_REPORTS = "ORACLE_NO_REPORTS"
    ORACLE_FEED_MISMATCH = "ORACLE_FEED_MISMATCH"
    ORACLE_UNKNOWN_REPORTER = "ORACLE_UNKNOWN_REPORTER"
    ORACLE_UNSIGNED_REPORT = "ORACLE_UNSIGNED_REPORT"
    ORACLE_BAD_SIGNATURE = "ORACLE_BAD_SIGNATURE"
    ORACLE_DUPLICATE_REPORTER = "ORACLE_DUPLICATE_REPORTER"
    ORACLE_NON_POSITIVE_PRICE = "ORACLE_NON_POSITIVE_PRICE"
    ORACLE_ROUND_MISMATCH = "ORACLE_ROUND_MISMATCH"
    ORACLE_REPLAYED_ROUND = "ORACLE_REPLAYED_ROUND"
    ORACLE_FUTURE_REPORT = "ORACLE_FUTURE_REPORT"
    ORACLE_STALE_REPORT = "ORACLE_STALE_REPORT"
    ORACLE_QUORUM_NOT_MET = "ORACLE_QUORUM_NOT_MET"
    ORACLE_OUT_OF_BAND = "ORACLE_OUT_OF_BAND"
    ORACLE_CIRCUIT_BREAKER = "ORACLE_CIRCUIT_BREAKER"
    # Trade settlement (TRD-*). The order of checks is in spec/errors.md.
    TRADE_EMPTY_BATCH = "TRADE_EMPTY_BATCH"
    TRADE_BATCH_TOO_LARGE = "TRADE_BATCH_TOO_LARGE"
    TRADE_SELF_MATCH = "TRADE_SELF_MATCH"
    MARKET_EXPIRED = "MARKET_EXPIRED"
    TRADE_NON_POSITIVE_SIZE = "TRADE_NON_POSITIVE_SIZE"
    TRADE_SIZE_NOT_STEP = "TRADE_SIZE_NOT_STEP"
    TRADE_NON_POSITIVE_PRICE = "TRADE_NON_POSITIVE_PRICE"
    TRADE_PRICE_NOT_TICK = "TRADE_PRICE_NOT_TICK"
    TRADE_PRICE_OUT_OF_BAND = "TRADE_PRICE_OUT_OF_BAND"
    TRADE_FEE_INVALID = "TRADE_FEE_INVALID"
    POSITION_LIMIT_EXCEEDED = "POSITION_LIMIT_EXCEEDED"
    # Parameters (PAR-*).
    INVALID_PARAMS = "INVALID_PARAMS"
    # Positions (TRD-8).
    POSITION_BELOW_MINIMUM = "POSITION_BELOW_MINIMUM"
    # Funding (FND-*).
    FUNDING_NOT_PERPETUAL = "FUNDING_NOT_PERPETUAL"
    FUNDING_TOO_EARLY = "FUNDING_TOO_EARLY"
    # Liquidation and the insurance fund (LIQ-*, INS-*).
    NOT_LIQUIDATABLE = "NOT_LIQUIDATABLE"
    LIQUIDATION_INCREASES_RISK = "LIQUIDATION_INCREASES_RISK"
    LIQUIDATION_LIMIT_EXCEEDED = "LIQUIDATION_LIMIT_EXCEEDED"
    LIQUIDATION_PRICE_WORSE_THAN_FILLABLE = "LIQUIDATION_PRICE_WORSE_THAN_FILLABLE"
    INSURANCE_FUND_INSUFFICIENT = "INSURANCE_FUND_INSUFFICIENT"
    NO_BAD_DEBT = "NO_BAD_DEBT"
    HAS_POSITIONS = "HAS_POSITIONS"
    WITHDRAWALS_GATED = "WITHDRAWALS_GATED"
    # Deleveraging (ADL-*).
    DELEVERAGING_DISABLED = "DELEVERAGING_DISABLED"
    NOT_BANKRUPT = "NOT_BANKRUPT"
    FUND_CAN_COVER = "FUND_CAN_COVER"
    NO_POSITION = "NO_POSITION"
    ADL_BAD_COUNTERPARTY = "ADL_BAD_COUNTERPARTY"
    ADL_RANKING_VIOLATED = "ADL_RANKING_VIOLATED"
    ADL_NO_VALID_COUNTERPARTY = "ADL_NO_VALID_COUNTERPARTY"
    # Expiry settlement (EXP-*).
    MARKET_NOT_DATED = "MARKET_NOT_DATED"
    EXPIRY_NOT_REACHED = "EXPIRY_NOT_REACHED"
    EXPIRY_PRICE_NOT_FINAL = "EXPIRY_PRICE_NOT_FINAL"
    EXPIRY_UNBALANCED = "EXPIRY_UNBALANCED"
    # The wire format of conformance vectors (VEC-*): input that cannot be decoded.
    MALFORMED_INPUT = "MALFORMED_INPUT"
    NON_CANONICAL_INTEGER = "NON_CANONICAL_INTEGER"
    INTEGER_OUT_OF_RANGE = "INTEGER_OUT_OF_RANGE"
    INVALID_STATE = "INVALID_STATE"
    # Oracle network, continued (ORA-2, ORA-4, ORA-10).
    ORACLE_WRONG_DEPLOYMENT = "ORACLE_WRONG_DEPLOYMENT"
    ORACLE_WRONG_DECIMALS = "ORACLE_WRONG_DECIMALS"
    ORACLE_ROUND_TOO_FAR = "ORACLE_ROUND_TOO_FAR"
    ORACLE_INTERVAL_BREAKER = "ORACLE_INTERVAL_BREAKER"
    # Collateral liquidation (CLQ-*).
    COLLATERAL_NOT_HELD = "COLLATERAL_NOT_HELD"
    CLOSE_FACTOR_EXCEEDED = "CLOSE_FACTOR_EXCEEDED"
    SEIZE_ABOVE_BONUS = "SEIZE_ABOVE_BONUS"
    LIQUIDATION_LOWERS_RATIO = "LIQUIDATION_LOWERS_RATIO"


class ClearingError(Exception):
    """An action was rejected. ``code`` is the stable reason; ``detail`` is for people."""

    def __init__(self, code: ErrorCode, detail: str = "") -> None:
        super().__init__(f"{code.value}: {detail}" if detail else code.value)
        self.code = code
        self.detail = detail

    def __reduce__(self) -> tuple[type[ClearingError], tuple[ErrorCode, str]]:
        # Picklable, so a rejection raised in a prover worker reaches the parent.
        return (ClearingError, (self.code, self.detail))


class KernelError(Exception):
    """A misuse of the arithmetic kernel: a bug in the model, never a user's input."""


class SymbolicBranchError(KernelError):
    """Model code made Python decide on a symbolic value while tracing (PRF-4):
    ``if``, ``and``/``or``/``not``, a tuple comparison, ``min``/``max``/``sorted``,
    ``in`` or a dict key on a Z3 term. The trace would silently prove one branch
    only, so the prover refuses it; the message names the file and line."""
