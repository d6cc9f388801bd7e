"""Which rule ids a vector exercises (spec: vectors.md VEC-1; errors.md for the codes).

Every case lists the rules of its actions, of the codes it expects, the
invariants every accepted step keeps, and the wire rules; generator groups add
what they probe on purpose (a boundary names the rule whose threshold it sits on).
"""

from __future__ import annotations

from typing import Any

# The rules each action type is governed by (spec: errors.md, "Order of checks").
ACTION_RULES: dict[str, tuple[str, ...]] = {
    "deposit": ("COL-1", "COL-3"),
    "withdraw": ("COL-1", "COL-2", "COL-4", "MRG-1", "MRG-5", "FND-3"),
    "transfer": ("COL-1", "COL-2", "COL-5", "MRG-1", "MRG-5", "FND-3"),
    "advance_time": ("CLK-1",),
    "oracle_update": (
        "ORA-1",
        "ORA-2",
        "ORA-3",
        "ORA-4",
        "ORA-5",
        "ORA-6",
        "ORA-7",
        "ORA-8",
        "ORA-9",
        "ORA-10",
    ),
    "settle_trades": (
        "ARI-1",
        "INS-5",
        "TRD-1",
        "TRD-2",
        "TRD-3",
        "TRD-4",
        "TRD-5",
        "TRD-6",
        "TRD-7",
        "TRD-8",
        "MRG-1",
        "MRG-2",
        "MRG-3",
        "MRG-4",
        "PAR-3",
        "ARI-2",
        "FND-3",
    ),
    "premium_sample": ("FND-1",),
    "apply_funding": ("ARI-1", "FND-2", "FND-4", "FND-5"),
    "liquidate": ("LIQ-1", "LIQ-2", "LIQ-3", "LIQ-4", "LIQ-5", "LIQ-6", "LIQ-7", "MRG-6", "INS-2", "INS-3"),
    "liquidate_collateral": ("CLQ-1", "CLQ-2", "CLQ-3", "CLQ-4", "CLQ-5", "CLQ-6", "CLQ-7", "CLQ-8", "MRG-6"),
    "deleverage": ("ADL-1", "ADL-2", "ADL-3", "ADL-4", "ADL-5"),
    "cover_bad_debt": ("INS-4",),
    "report_negative_collateral": ("INS-6",),
    "fund_insurance": ("INS-1",),
    "settle_expiry": ("EXP-1", "EXP-2", "EXP-3", "EXP-4"),
}

# The rules that state each rejection (spec: errors.md, "Error codes").
ERROR_RULES: dict[str, tuple[str, ...]] = {
    "UNKNOWN_ASSET": ("COL-1", "CLQ-1"),
    "UNKNOWN_MARKET": ("TRD-2", "FND-1", "FND-2", "LIQ-1", "ADL-4", "EXP-1"),
    "UNKNOWN_ACCOUNT": ("COL-4", "COL-5", "TRD-2", "LIQ-1", "ADL-4", "INS-1", "INS-4", "INS-6", "EXP-2"),
    "UNKNOWN_FEED": ("ORA-1",),
    "NON_POSITIVE_AMOUNT": ("COL-1", "INS-1"),
    "AMOUNT_TOO_LARGE": ("PAR-1", "COL-1", "TRD-2", "LIQ-1", "INS-1", "FND-1"),
    "INSUFFICIENT_BALANCE": ("COL-4", "COL-5", "INS-1"),
    "SELF_TRANSFER": ("COL-5",),
    "MARGIN_INSUFFICIENT": ("MRG-5", "MRG-4", "TRD-7", "LIQ-7", "INS-1"),
    "CLOCK_NOT_MONOTONIC": ("CLK-1",),
    "ORACLE_NO_REPORTS": ("ORA-1",),
    "ORACLE_FEED_MISMATCH": ("ORA-1",),
    "ORACLE_UNKNOWN_REPORTER": ("ORA-3",),
    "ORACLE_UNSIGNED_REPORT": ("ORA-3",),
    "ORACLE_BAD_SIGNATURE": ("ORA-2", "ORA-3"),
    "ORACLE_DUPLICATE_REPORTER": ("ORA-3",),
    "ORACLE_NON_POSITIVE_PRICE": ("ORA-5",),
    "ORACLE_ROUND_MISMATCH": ("ORA-4",),
    "ORACLE_REPLAYED_ROUND": ("ORA-4",),
    "ORACLE_FUTURE_REPORT": ("ORA-6",),
    "ORACLE_STALE_REPORT": ("ORA-6",),
    "ORACLE_QUORUM_NOT_MET": ("ORA-7",),
    "ORACLE_OUT_OF_BAND": ("ORA-7",),
    "ORACLE_CIRCUIT_BREAKER": ("ORA-9",),
    "ORACLE_WRONG_DEPLOYMENT": ("ORA-2", "ORA-3"),
    "ORACLE_WRONG_DECIMALS": ("ORA-2", "ORA-3"),
    "ORACLE_ROUND_TOO_FAR": ("ORA-4",),
    "ORACLE_INTERVAL_BREAKER": ("ORA-10",),
    "TRADE_EMPTY_BATCH": ("TRD-1",),
    "TRADE_BATCH_TOO_LARGE": ("TRD-1",),
    "TRADE_SELF_MATCH": ("TRD-2", "LIQ-1"),
    "MARKET_EXPIRED": ("TRD-2", "LIQ-1"),
    "TRADE_NON_POSITIVE_SIZE": ("TRD-2", "LIQ-1"),
    "TRADE_SIZE_NOT_STEP": ("TRD-2", "LIQ-1"),
    "TRADE_NON_POSITIVE_PRICE": ("TRD-2", "LIQ-1"),
    "TRADE_PRICE_NOT_TICK": ("TRD-2", "LIQ-1"),
    "TRADE_PRICE_OUT_OF_BAND": ("TRD-3",),
    "TRADE_FEE_INVALID": ("TRD-5", "LIQ-1"),
    "POSITION_LIMIT_EXCEEDED": ("TRD-6", "TRD-2", "LIQ-7"),
    "INVALID_PARAMS": ("PAR-2",),
    "POSITION_BELOW_MINIMUM": ("TRD-8", "LIQ-7"),
    "FUNDING_NOT_PERPETUAL": ("FND-1", "FND-2"),
    "FUNDING_TOO_EARLY": ("FND-2",),
    "NOT_LIQUIDATABLE": ("LIQ-1",),
    "LIQUIDATION_INCREASES_RISK": ("LIQ-7",),
    "LIQUIDATION_LIMIT_EXCEEDED": ("LIQ-5",),
    "LIQUIDATION_PRICE_WORSE_THAN_FILLABLE": ("LIQ-3",),
    "INSURANCE_FUND_INSUFFICIENT": ("INS-3", "LIQ-1", "ADL-6", "INS-4", "EXP-4"),
    "NO_BAD_DEBT": ("INS-4",),
    "HAS_POSITIONS": ("INS-4", "CLQ-2"),
    "WITHDRAWALS_GATED": ("INS-6", "COL-4", "COL-5"),
    "DELEVERAGING_DISABLED": ("ADL-1", "ADL-4"),
    "NOT_BANKRUPT": ("ADL-4", "INS-6"),
    "FUND_CAN_COVER": ("ADL-4",),
    "NO_POSITION": ("LIQ-1", "ADL-4", "EXP-2"),
    "ADL_BAD_COUNTERPARTY": ("ADL-2", "ADL-4"),
    "ADL_RANKING_VIOLATED": ("ADL-2",),
    "ADL_NO_VALID_COUNTERPARTY": ("ADL-3",),
    "MARKET_NOT_DATED": ("EXP-1",),
    "EXPIRY_NOT_REACHED": ("EXP-1",),
    "EXPIRY_PRICE_NOT_FINAL": ("EXP-1",),
    "EXPIRY_UNBALANCED": ("EXP-2",),
    "MALFORMED_INPUT": ("VEC-3", "VEC-4"),
    "NON_CANONICAL_INTEGER": ("VEC-3",),
    "INTEGER_OUT_OF_RANGE": ("VEC-3",),
    "INVALID_STATE": ("VEC-2", "VEC-3"),
    "COLLATERAL_NOT_HELD": ("CLQ-1",),
    "CLOSE_FACTOR_EXCEEDED": ("CLQ-3",),
    "SEIZE_ABOVE_BONUS": ("CLQ-4",),
    "LIQUIDATION_LOWERS_RATIO": ("CLQ-5",),
}

# Every accepted step keeps the invariants (INV-*) and is atomic and local (STA-*);
# every case travels in the wire format and is run over the protocol.
ACCEPTED_RULES = ("INV-1", "INV-2", "INV-3", "INV-4", "INV-5", "INV-6", "STA-1", "STA-3", "STA-4", "ARI-5")
REJECTED_RULES = ("ARI-3", "ERR-1", "STA-2")
WIRE_RULES = ("VEC-1", "VEC-2", "VEC-3", "VEC-4", "VEC-5", "VEC-6", "VEC-7", "PAR-4")


def rule_sort_key(rule: str) -> tuple[str, int]:
    """Rule ids in reading order: by prefix, then by number (so 2 sorts before 10)."""
    prefix, _, number = rule.partition("-")
    return prefix, int(number)


def rules_of(steps: list[tuple[dict[str, Any], dict[str, Any]]], extra: tuple[str, ...] = ()) -> list[str]:
    """The sorted rule ids a case exercises, from its (action, expected) steps."""
    found = set(WIRE_RULES) | set(extra)
    for action, expected in steps:
        kind = action.get("type") if isinstance(action, dict) else None
        if isinstance(kind, str):
            found.update(ACTION_RULES.get(kind, ()))
        if expected.get("accepted"):
            found.update(ACCEPTED_RULES)
        else:
            found.update(REJECTED_RULES)
            found.update(ERROR_RULES.get(str(expected.get("error")), ()))
    return sorted(found, key=rule_sort_key)
