"""MRG-1..MRG-6: net collateral, tiered requirements and the update rule."""

from __future__ import annotations

from dataclasses import replace

import pytest

from clearspec.actions import Deposit
from clearspec.margin import (
    Risk,
    account_risk,
    is_liquidatable,
    meets_initial,
    notional,
    tiered_requirement,
    update_allowed,
)
from clearspec.state import Position
from clearspec.transition import apply
from clearspec_tools.examples import BTC, USD, example_genesis, usd_price

MARKET = example_genesis().params.market_by_id["BTC-PERP"]
PRICE = usd_price(60_000)
SCALE = 10**6


@pytest.mark.parametrize(
    ("coins", "initial_usd", "maintenance_usd"),
    [
        (0, 0, 0),
        (1, 3_000, 1_800),  # all in the first tier: 5% / 3% of 60,000
        (2, 3_000 + 6_000, 1_800 + 3_600),  # second coin at 10% / 6%
        (10, 3_000 + 9 * 6_000, 1_800 + 9 * 3_600),
        (11, 3_000 + 54_000 + 12_000, 1_800 + 32_400 + 7_200),  # third tier 20% / 12%
    ],
)
def test_mrg2_tiers_apply_progressively(coins: int, initial_usd: int, maintenance_usd: int) -> None:
    assert tiered_requirement(MARKET, coins * BTC, PRICE, SCALE) == (initial_usd * USD, maintenance_usd * USD)


def test_mrg2_requirement_rounds_up() -> None:
    # One step (1,000 units) at 60,000: notional 600,000; 5% = 30,000 exactly, 3% = 18,000.
    assert tiered_requirement(MARKET, 1_000, PRICE, SCALE) == (30_000, 18_000)
    # At a price one unit above, the fractions are not whole: both round up.
    assert tiered_requirement(MARKET, 1_000, PRICE + 1, SCALE) == (30_001, 18_001)


def test_mrg1_notional_rounds_toward_negative_infinity() -> None:
    assert notional(3, 1, 2) == 1
    assert notional(-3, 1, 2) == -2  # a short owes the larger amount


def test_mrg1_account_risk_sums_collateral_haircuts_and_positions() -> None:
    ledger = apply(example_genesis(), Deposit("a", "BTC", BTC))
    account = replace(
        ledger.account("a"),
        positions=ledger.account("a").positions.set("BTC-PERP", Position(-BTC, 61_000 * USD)),
    )
    account = replace(account, balances=account.balances.set("USDC", -500 * USD))
    risk = account_risk(ledger, account)
    # NC = 60,000 (BTC) - 500 (debt) + (-60,000 + 61,000) (short's PnL) = 60,500.
    # IMR = 20% haircut of 60,000 + 5% of 60,000; MMR = 10% haircut + 3%.
    assert risk == Risk(60_500 * USD, 15_000 * USD, 7_800 * USD)
    assert meets_initial(risk) and not is_liquidatable(risk)


@pytest.mark.parametrize(
    ("before", "after", "allowed"),
    [
        (Risk(0, 0, 0), Risk(100, 100, 50), True),  # ends at initial margin
        (Risk(100, 100, 50), Risk(99, 100, 50), False),  # newly below initial, same MMR, less NC
        (Risk(50, 100, 60), Risk(25, 50, 30), True),  # ratio 50/60 -> 25/30: equal
        (Risk(50, 100, 60), Risk(24, 50, 30), False),  # ratio falls
        (Risk(50, 100, 60), Risk(60, 130, 70), False),  # MMR rises: refused even though NC rises
        (Risk(-10, 0, 0), Risk(-5, 0, 0), True),  # no positions: NC must strictly rise
        (Risk(-10, 0, 0), Risk(-10, 0, 0), False),
        (Risk(-10, 0, 0), Risk(-20, 5, 1), False),  # from zero MMR to positive
        (Risk(-10, 20, 10), Risk(-10, 0, 0), False),  # to zero MMR with no NC gain
        (Risk(-10, 20, 10), Risk(-5, 0, 0), False),  # to zero MMR: dYdX requires both zero
        (Risk(-10, 20, 10), Risk(-4, 10, 5), True),  # -10/10 -> -4/5: ratio rises
        (Risk(-10, 20, 10), Risk(-6, 10, 5), False),  # -10/10 -> -6/5: ratio falls
    ],
)
def test_mrg4_update_rule(before: Risk, after: Risk, allowed: bool) -> None:
    assert update_allowed(before, after) is allowed


@pytest.mark.parametrize(
    ("risk", "liquidatable"),
    [
        (Risk(10, 30, 20), True),
        (Risk(20, 30, 20), False),  # exactly at maintenance is not liquidatable
        (Risk(-5, 0, 0), False),  # negative NC without positions: a bad-debt case, not liquidation
        (Risk(19, 30, 20), True),
    ],
)
def test_mrg6_liquidatable(risk: Risk, liquidatable: bool) -> None:
    assert is_liquidatable(risk) is liquidatable
