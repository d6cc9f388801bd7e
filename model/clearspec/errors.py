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


class ClearingError(Exception):
    """An action was rejected. ``code`` is the stable reason; ``detail`` is for people."""

    def __init__(self, code: ErrorCode, detail: str = "") -> None:
        super().__init__(f"{code.value}: {detail}" if detail else code.value)
        self.code = code
        self.detail = detail


class KernelError(Exception):
    """A misuse of the arithmetic kernel: a bug in the model, never a user's input."""
