"""Collateral liquidation (spec/collateral-liquidation.md, CLQ-1..CLQ-8).

Aave v3's published rules are reproduced with their own numbers where the
sources give numbers: the close factor and its health-factor threshold from
Aave's liquidation guide (at most 50 % of the debt while the health factor is
above 0.95, all of it at or below), the collateral a repayment buys from the
same guide (debt to cover times the debt price times the bonus, over the
collateral price), and the two position examples of the Aave v3.3 feature
notes (a close factor applied to the whole debt; a full close below the
dust threshold of 1,000 USD for a collateral worth 800 USD).
"""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clearspec.actions import Deposit, LiquidateCollateral
from clearspec.collateral_liquidation import max_repay, max_seize, protocol_fee
from clearspec.errors import ErrorCode
from clearspec.invariants import all_global_invariants
from clearspec.margin import account_risk
from clearspec.params import PPM, LiquidationParams, ProtocolParams, revise
from clearspec.state import Ledger, genesis
from clearspec.transition import apply, step
from clearspec_tools.examples import BTC, USD, example_genesis, example_params, usd_price, with_loan

SCALE = 10**6  # the example feeds' price scale


def _prices(btc: int, eth: int) -> dict[str, int]:
    return {"BTC-USD": usd_price(btc), "ETH-USD": usd_price(eth)}


def _weights(params: ProtocolParams, **maintenance: int) -> ProtocolParams:
    """``params`` with the named assets' maintenance weights (initial weights at most that)."""
    assets = tuple(
        replace(
            a,
            maintenance_weight_ppm=maintenance[a.asset_id],
            initial_weight_ppm=min(a.initial_weight_ppm, maintenance[a.asset_id]),
        )
        if a.asset_id in maintenance
        else a
        for a in params.assets
    )
    return revise(params, assets=assets)


def _dust(params: ProtocolParams, threshold: int) -> ProtocolParams:
    return revise(params, liquidation=LiquidationParams(collateral_dust_threshold=threshold))


def _with_liquidator(ledger: Ledger) -> Ledger:
    return apply(ledger, Deposit("carol", "USDC", 1_000_000 * USD))


def _borrower(params: ProtocolParams, prices: dict[str, int], btc: int, eth: int, debt: int) -> Ledger:
    """Dave holds ``btc`` and ``eth`` base units and owes ``debt`` to Bob; Carol liquidates."""
    ledger = with_loan(genesis(params, prices), "dave", "bob", "BTC", btc, debt)
    if eth:
        dave = ledger.accounts["dave"]
        ledger = replace(
            ledger,
            accounts=ledger.accounts.set("dave", replace(dave, balances=dave.balances.set("ETH", eth))),
            net_deposits=ledger.net_deposits.set("ETH", ledger.net_deposits["ETH"] + eth),
        )
    return _with_liquidator(ledger)


def _limit(ledger: Ledger, asset: str) -> int:
    """CLQ-3's max_repay for Dave seizing ``asset``."""
    dave = ledger.accounts["dave"]
    feed = ledger.params.asset_by_id[asset].feed
    assert feed is not None
    value = dave.balance(asset) * ledger.price(feed) // SCALE
    return max_repay(ledger, account_risk(ledger, dave), -dave.balance("USDC"), value)


def _seize(ledger: Ledger, asset: str, repay: int) -> int:
    """The most of ``asset`` that ``repay`` buys, capped at Dave's balance."""
    params = ledger.params.asset_by_id[asset]
    assert params.feed is not None
    bound = max_seize(repay, ledger.price(params.feed), SCALE, params.liquidation_bonus_ppm)
    return min(bound, ledger.accounts["dave"].balance(asset))


# --- Aave v3's published rules ------------------------------------------------------------


@pytest.mark.parametrize(
    ("weighted", "expected"),
    [
        (950 * USD + 1, 500 * USD),  # HF just above 0.95: the default close factor, 50 %
        (950 * USD, 1_000 * USD),  # HF at 0.95: the whole debt
        (940 * USD, 1_000 * USD),  # HF below 0.95: the whole debt
    ],
)
def test_aave_close_factor_and_its_health_factor_threshold(weighted: int, expected: int) -> None:
    """Aave's guide: above CLOSE_FACTOR_HF_THRESHOLD (0.95) at most
    DEFAULT_LIQUIDATION_CLOSE_FACTOR (50 %) of the debt, else all of it. A debt
    of 1,000 USD against BTC whose weighted value is ``weighted``."""
    params = _weights(example_params(), BTC=500_000)
    # BTC at 100 USD: one base unit is worth one quote base unit; weight 0.5.
    ledger = _borrower(params, _prices(100, 3_000), 2 * weighted, 0, 1_000 * USD)
    risk = account_risk(ledger, ledger.accounts["dave"])
    assert risk.nc - risk.mmr + 1_000 * USD == weighted  # W = NC - MMR + D (CLQ-2)
    assert _limit(ledger, "BTC") == expected
    repay = expected + 1
    assert step(ledger, LiquidateCollateral("dave", "carol", "BTC", repay, 1)).error is (
        ErrorCode.CLOSE_FACTOR_EXCEEDED
    )


def test_aave_collateral_bought_by_a_repayment() -> None:
    """Aave's guide: maxAmountOfCollateralToLiquidate = debtAssetPrice *
    debtToCover * liquidationBonus / collateralPrice; with a 105 % bonus (5 %),
    27,000 USD at 59,000 USD per BTC, rounded down to a base unit."""
    exact = Fraction(1) * 27_000 * Fraction(105, 100) / 59_000 * BTC
    assert max_seize(27_000 * USD, usd_price(59_000), SCALE, 50_000) == int(exact) == 48_050_847
    assert exact != int(exact)  # rounded down, the account keeps the rest (CLQ-4)


def test_aave_protocol_fee_is_its_share_of_the_bonus() -> None:
    """Aave takes liquidationProtocolFee of the bonus collateral,
    ``seize - seize / bonus``; paid in quote here (CLQ-6), the same value up to
    the fee share of one collateral base unit (the seized amount is rounded
    down, and that rounding comes off the bonus here), rounded up."""
    seize = max_seize(27_000 * USD, usd_price(59_000), SCALE, 50_000)
    bonus_collateral = Fraction(seize) - Fraction(seize) / Fraction(105, 100)
    aave_fee_value = bonus_collateral * Fraction(10, 100) * usd_price(59_000) / SCALE
    fee = protocol_fee(27_000 * USD, seize, usd_price(59_000), SCALE, 100_000)
    one_unit = Fraction(usd_price(59_000), SCALE) * Fraction(10, 100)
    assert abs(fee - aave_fee_value) <= one_unit + 1
    # A share that does not divide: the fee rounds up, in the fund's favour (CLQ-6).
    share = 333_333
    exact = Fraction(seize * usd_price(59_000) - 27_000 * USD * SCALE, SCALE) * Fraction(share, PPM)
    rounded = protocol_fee(27_000 * USD, seize, usd_price(59_000), SCALE, share)
    assert exact.denominator > 1 and rounded == -(-exact.numerator // exact.denominator)


def test_aave_v33_close_factor_is_on_the_whole_debt() -> None:
    """Aave v3.3 notes: debts of 3,000 USD in each of three reserves against
    9,000 USD of ETH could be liquidated 1,500 USD at a time before; the close
    factor now applies to the whole debt, so one liquidation may repay 4,500 USD.
    The quote balance is the one debt here; ETH's maintenance weight 0.96 puts
    the health factor at 0.96."""
    params = _weights(example_params(), ETH=960_000)
    ledger = _borrower(params, _prices(60_000, 3_000), 0, 3 * BTC, 9_000 * USD)
    assert _limit(ledger, "ETH") == 4_500 * USD
    assert step(ledger, LiquidateCollateral("dave", "carol", "ETH", 4_500 * USD + 1, 1)).error is (
        ErrorCode.CLOSE_FACTOR_EXCEEDED
    )
    # A weight of 0.96 with a 7.5 % bonus breaks CLQ-5's guideline: the full
    # bonus would lower Dave's ratio. At no bonus (1.5 ETH for 4,500 USD) it rises.
    with_bonus = LiquidateCollateral("dave", "carol", "ETH", 4_500 * USD, _seize(ledger, "ETH", 4_500 * USD))
    assert step(ledger, with_bonus).error is ErrorCode.LIQUIDATION_LOWERS_RATIO
    done = apply(ledger, LiquidateCollateral("dave", "carol", "ETH", 4_500 * USD, 150_000_000))
    assert done.accounts["dave"].balance("USDC") == -4_500 * USD


def test_aave_v33_dust_threshold_allows_a_full_close() -> None:
    """Aave v3.3 notes, with MIN_BASE_MAX_CLOSE_FACTOR_THRESHOLD at 1,000 USD:
    2,300 USD of collateral A, 800 USD of collateral B, 2,000 USD of debt, health
    factor 0.96. B is below the threshold, so any debt may be repaid for it;
    seizing A, the 50 % close factor holds (neither A nor the debt is below it)."""
    params = _dust(_weights(example_params(), BTC=640_000, ETH=560_000), 1_000 * USD)
    # BTC at 100,000 USD: 0.023 BTC is 2,300 USD; ETH at 2,000 USD: 0.4 ETH is 800 USD.
    ledger = _borrower(params, _prices(100_000, 2_000), 2_300_000, 40_000_000, 2_000 * USD)
    risk = account_risk(ledger, ledger.accounts["dave"])
    assert (risk.nc - risk.mmr + 2_000 * USD) * 100 == 96 * 2_000 * USD  # HF 0.96
    assert _limit(ledger, "BTC") == 1_000 * USD
    assert _limit(ledger, "ETH") == 2_000 * USD
    over_half = 1_500 * USD
    assert step(ledger, LiquidateCollateral("dave", "carol", "BTC", over_half, 1)).error is (
        ErrorCode.CLOSE_FACTOR_EXCEEDED
    )
    whole_b = apply(ledger, LiquidateCollateral("dave", "carol", "ETH", over_half, 40_000_000))
    assert whole_b.accounts["dave"].balance("ETH") == 0
    # Without the dust rule the same liquidation is above the close factor.
    plain = _borrower(
        _weights(example_params(), BTC=640_000, ETH=560_000),
        _prices(100_000, 2_000),
        2_300_000,
        40_000_000,
        2_000 * USD,
    )
    assert step(plain, LiquidateCollateral("dave", "carol", "ETH", over_half, 40_000_000)).error is (
        ErrorCode.CLOSE_FACTOR_EXCEEDED
    )


# --- bad input: rejected with its code, the ledger unchanged --------------------------------


def _fell() -> Ledger:
    """The chapter's example: 1 BTC against 54,000 USD of debt, BTC at 59,000 USD."""
    ledger = with_loan(example_genesis(), "dave", "bob", "BTC", 1 * BTC, 54_000 * USD)
    return _with_liquidator(replace(ledger, prices=genesis(ledger.params, _prices(59_000, 3_000)).prices))


@pytest.mark.parametrize(
    ("action", "code"),
    [
        # A healthy account: Bob is owed, not owing.
        (LiquidateCollateral("bob", "carol", "BTC", 1_000 * USD, 1_000), ErrorCode.NOT_LIQUIDATABLE),
        # Above the close factor: half of 54,000 USD plus one base unit.
        (
            LiquidateCollateral("dave", "carol", "BTC", 27_000 * USD + 1, 1_000),
            ErrorCode.CLOSE_FACTOR_EXCEEDED,
        ),
        # At a worse-than-bonus price: one base unit more than the bonus allows.
        (LiquidateCollateral("dave", "carol", "BTC", 27_000 * USD, 48_050_848), ErrorCode.SEIZE_ABOVE_BONUS),
        # An asset Dave does not hold, and the quote asset.
        (LiquidateCollateral("dave", "carol", "ETH", 1_000 * USD, 1_000), ErrorCode.COLLATERAL_NOT_HELD),
        (LiquidateCollateral("dave", "carol", "USDC", 1_000 * USD, 1_000), ErrorCode.COLLATERAL_NOT_HELD),
        # More than he holds.
        (LiquidateCollateral("dave", "carol", "BTC", 27_000 * USD, BTC + 1), ErrorCode.INSUFFICIENT_BALANCE),
    ],
    ids=["healthy", "above-close-factor", "worse-than-bonus", "not-held", "quote", "more-than-held"],
)
def test_bad_collateral_liquidations_are_rejected_and_change_nothing(
    action: LiquidateCollateral, code: ErrorCode
) -> None:
    ledger = _fell()
    outcome = step(ledger, action)
    assert outcome.error is code
    assert outcome.ledger is ledger


def test_an_account_with_positions_is_liquidated_through_them_first() -> None:
    """CLQ-2: HAS_POSITIONS while the account holds a position, whatever its margin."""
    from clearspec.actions import Fill, SettleTrades, Side

    ledger = _fell()
    ledger = apply(ledger, Deposit("bob", "USDC", 100_000 * USD))
    fill = Fill("BTC-PERP", "bob", "carol", Side.BUY, BTC // 100, usd_price(59_000), 0, 0)
    traded = apply(ledger, SettleTrades((fill,)))
    action = LiquidateCollateral("carol", "dave", "BTC", 1 * USD, 1)
    assert step(traded, action).error is ErrorCode.HAS_POSITIONS
    assert step(ledger, action).error is ErrorCode.NOT_LIQUIDATABLE  # without it, the next check


# --- the rules as properties ----------------------------------------------------------------


def test_the_example_set_always_leaves_an_exit() -> None:
    """CLQ-5's guideline: w * (PPM + bonus) <= threshold * PPM for every seizable asset."""
    params = example_params()
    threshold = params.liquidation.close_factor_hf_threshold_ppm
    for asset in params.assets:
        if asset.feed is not None:
            assert asset.maintenance_weight_ppm * (PPM + asset.liquidation_bonus_ppm) <= threshold * PPM


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    btc=st.integers(1_000, 10 * BTC),
    debt_share=st.integers(1, 1_500),  # the debt in thousandths of the collateral's value
    price=st.integers(1_000, 200_000),
)
def test_a_liquidatable_single_asset_account_always_has_an_accepted_liquidation(
    btc: int, debt_share: int, price: int
) -> None:
    """CLQ-5: with the example set, either the largest partial liquidation keeps the
    ratio, or taking the asset whole is allowed. Every accepted one conserves
    value, feeds the fund and keeps the ratio or empties the asset."""
    params = example_params()
    prices = _prices(price, 3_000)
    value = btc * prices["BTC-USD"] // SCALE
    debt = max(value * debt_share // 1_000, 1)
    ledger = _borrower(params, prices, btc, 0, debt)
    before = account_risk(ledger, ledger.accounts["dave"])
    if not (before.mmr > 0 and before.nc < before.mmr):
        return  # not liquidatable: nothing to show
    limit = _limit(ledger, "BTC")
    partial = LiquidateCollateral("dave", "carol", "BTC", limit, max(_seize(ledger, "BTC", limit), 1))
    repay_whole = min(debt, -(-value * PPM // (PPM + 50_000)) + 1)
    whole = LiquidateCollateral("dave", "carol", "BTC", repay_whole, btc)
    outcomes = [step(ledger, partial), step(ledger, whole)]
    accepted = [o for o in outcomes if o.error is None]
    assert accepted, [o.error for o in outcomes]
    for outcome in accepted:
        after = outcome.ledger
        assert all_global_invariants(after)
        assert after.insurance_fund["USDC"] >= ledger.insurance_fund["USDC"]
        risk = account_risk(after, after.accounts["dave"])
        emptied = after.accounts["dave"].balance("BTC") == 0
        assert emptied or risk.nc * before.mmr >= before.nc * risk.mmr


# --- the proofs catch a broken rule ---------------------------------------------------------


@pytest.mark.parametrize("ident", ["Q01-ratio-rule-dropped", "Q02-bonus-rounds-up"])  # CLQ-5, CLQ-4
def test_a_broken_ratio_rule_or_bonus_rounding_is_killed_by_the_prover(ident: str) -> None:
    """The mutant, planted in a copy of the model, is refuted by an obligation of
    ``liquidate-collateral`` and the counterexample replays on the concrete copy."""
    from pathlib import Path

    from clearspec_proofs import mutation
    from clearspec_proofs.mutants import MUTANTS, by_id

    mutant = by_id(ident)
    assert mutant in MUTANTS and mutant.cases == ("liquidate-collateral",)
    source = Path(__file__).resolve().parent.parent
    record = mutation.run_mutant(mutant, source, base=example_params(), escalate=False, timeout=300)
    assert record["status"] == "killed", record
    assert record["kill"]["kind"] == "counterexample-confirmed", record["kill"]
    assert record["kill"]["obligation"].startswith("liquidate-collateral/"), record["kill"]
