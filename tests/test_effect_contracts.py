"""The effect contracts and lemmas: what an accepted action does, and that each
statement can fail.

Every new postcondition is checked twice: it holds on real runs of the model,
and it fails (concretely, or as a Z3 counterexample of its lemma) when the
model is patched to the bug it is there to catch (the mutants T06, F06, L05,
L12, D06, M05, M07 and O06 of ``clearspec mutate``).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import icontract
import pytest

from clearspec import deleveraging, funding, insurance, liquidation, margin, positions, trading
from clearspec import kernel as k
from clearspec.actions import (
    AdvanceTime,
    Deleverage,
    Deposit,
    PremiumSample,
    ReportNegativeCollateral,
    Side,
)
from clearspec.margin import account_risk
from clearspec.params import PPM, AssetParams, MarketParams
from clearspec.positions import position_size
from clearspec.state import Ledger
from clearspec.transition import apply
from clearspec_proofs import lemmas
from clearspec_proofs.engine import check_lemmas
from clearspec_tools.examples import BTC, USD, example_genesis, example_params
from tests.helpers import fill, funded, move_price, run, trade

TENTH = BTC // 10


def _postcondition(function: Callable[..., Any], rule_prefix: str) -> Callable[..., Any]:
    """The condition of ``function``'s postcondition whose description starts with
    ``rule_prefix``, callable with keyword arguments (only those it names are passed)."""
    found = [
        c
        for c in getattr(function, "__postconditions__", [])
        if isinstance(c, icontract._types.Contract) and (c.description or "").startswith(rule_prefix)
    ]
    assert len(found) == 1, f"{function.__name__}: {len(found)} postconditions start with {rule_prefix!r}"
    condition = found[0].condition
    names = set(inspect.signature(condition).parameters)

    def call(**kwargs: Any) -> Any:
        return condition(**{n: v for n, v in kwargs.items() if n in names})

    return call


# --- TRD-4: the direction of every fill -----------------------------------------------------


def test_trd4_sizes_follow_the_signed_fills_of_a_mixed_batch() -> None:
    ledger = funded(names=("alice", "bob", "carol"))
    batch = trade(
        fill(taker="alice", maker="bob", side=Side.BUY, size=TENTH),
        fill(taker="bob", maker="carol", side=Side.SELL, size=2 * TENTH),
        fill(taker="carol", maker="alice", side=Side.BUY, size=TENTH // 2),
    )
    after = apply(ledger, batch)  # the TRD-4 postcondition runs here (slow contracts are on)
    sizes = {n: position_size(after.account(n), "BTC-PERP") for n in ("alice", "bob", "carol")}
    assert sizes == {"alice": TENTH // 2, "bob": -3 * TENTH, "carol": 5 * TENTH // 2}


def test_trd4_catches_a_taker_side_swap(monkeypatch: pytest.MonkeyPatch) -> None:
    # T06: the taker of a BUY sells. Every invariant is symmetric in the side; TRD-4 is not.
    real = positions.move_position

    def swapped(ledger: Ledger, name: str, market: str, size_delta: int, quote_delta: int) -> Ledger:
        return real(ledger, name, market, -size_delta, -quote_delta)

    monkeypatch.setattr(trading, "move_position", swapped)
    with pytest.raises(icontract.ViolationError, match="TRD-4"):
        apply(funded(), trade(fill(side=Side.BUY, size=TENTH)))


# --- FND-1: the clamped premium sample -------------------------------------------------------


def _btc_perp() -> MarketParams:
    return example_params().market_by_id["BTC-PERP"]


def test_fnd1_sample_is_clamped_and_counted() -> None:
    bound = funding.premium_clamp_ppm(_btc_perp())
    assert bound > 0
    ledger = example_genesis()
    for premium, added in ((bound + 7, bound), (-(bound + 7), -bound), (bound - 1, bound - 1)):
        after = apply(ledger, PremiumSample("BTC-PERP", premium))
        state, before = after.markets["BTC-PERP"], ledger.markets["BTC-PERP"]
        assert state.premium_sum - before.premium_sum == added
        assert state.premium_count == before.premium_count + 1
        ledger = after


def test_fnd1_catches_an_unclamped_sample() -> None:
    # F06: the sample is added as sent.
    ledger = example_genesis()
    action = PremiumSample("BTC-PERP", funding.premium_clamp_ppm(_btc_perp()) + 1)
    state = ledger.markets["BTC-PERP"]
    unclamped = replace(state, premium_sum=state.premium_sum + action.premium_ppm, premium_count=1)
    buggy = replace(ledger, markets=ledger.markets.set("BTC-PERP", unclamped))
    condition = _postcondition(funding.record_premium, "FND-1: premium_sum")
    assert condition(ledger=ledger, action=action, result=buggy) is False
    counted = _postcondition(funding.record_premium, "FND-1: premium_count")
    assert counted(ledger=ledger, action=action, result=ledger) is False  # a sample that is not counted


# --- LIQ-4: the capped liquidation fee -------------------------------------------------------


def test_liq4_fee_cap_holds_and_catches_an_uncapped_fee() -> None:
    rate = example_params().liquidation.max_liquidation_fee_ppm
    received, bankruptcy = -1_000_000, -5_000_000  # a surplus of 4,000,000, far above the cap
    fee = liquidation.insurance_fund_delta(received, bankruptcy, rate)
    assert fee * PPM <= abs(received) * rate and fee == abs(received) * rate // PPM
    condition = _postcondition(liquidation.insurance_fund_delta, "LIQ-4")
    # L05: the fund takes the whole surplus.
    assert condition(received=received, max_fee_ppm=rate, result=received - bankruptcy) is False


# --- INS-6: the withdrawal gate ----------------------------------------------------------------


def _bankrupt() -> Ledger:
    """alice long 0.1 BTC at 60,000 with 800 USD; BTC falls to 51,500: NC = -50 USD."""
    ledger = run(
        [Deposit("alice", "USDC", 800 * USD), Deposit("bob", "USDC", 100_000 * USD), trade(fill())],
        example_genesis(),
    )
    for dollars in (57_000, 54_200, 51_500):
        ledger = move_price(ledger, "BTC-USD", dollars)
    assert account_risk(ledger, ledger.account("alice")).nc < 0
    return ledger


def test_ins6_report_gates_for_the_gate_period() -> None:
    ledger = _bankrupt()
    after = apply(ledger, ReportNegativeCollateral("alice"))
    assert after.gate_until >= ledger.now + ledger.params.liquidation.withdrawal_gate_seconds


def test_ins6_catches_a_gate_that_is_not_set() -> None:
    # L12: negative NC seen, the ledger returned as it was.
    ledger = _bankrupt()
    gated = _postcondition(liquidation.gate_if_negative, "INS-6: a negative NC")
    assert gated(ledger=ledger, nc=-1, result=ledger) is False
    assert gated(ledger=ledger, nc=0, result=ledger) is True
    report = _postcondition(insurance.report_negative_collateral, "INS-6: a report")
    assert report(ledger=ledger, result=ledger) is False
    unchanged = _postcondition(liquidation.gate_if_negative, "INS-6: a non-negative NC")
    assert unchanged(ledger=ledger, nc=0, result=replace(ledger, gate_until=ledger.now + 1)) is False


# --- ADL-3: deleveraging every position leaves no debt -------------------------------------------


def _bankrupt_with_collateral() -> Ledger:
    """alice holds 0.01 BTC of collateral (haircut 10% at maintenance) and a 0.1 BTC long
    bought from bob; BTC falls until her NC is negative and the fund is empty."""
    ledger = run(
        [
            Deposit("alice", "USDC", 200 * USD),
            Deposit("alice", "BTC", BTC // 100),
            Deposit("bob", "USDC", 100_000 * USD),
            trade(fill()),
        ],
        example_genesis(),
    )
    for dollars in (57_000, 54_200, 51_500):
        ledger = move_price(ledger, "BTC-USD", dollars)
    risk = account_risk(ledger, ledger.account("alice"))
    assert risk.nc < 0 and ledger.insurance_fund["USDC"] < -risk.nc
    assert risk.mmr > liquidation.positions_mmr(ledger, "alice")  # the collateral carries a requirement
    return ledger


def test_adl3_closing_every_position_leaves_no_debt() -> None:
    ledger = _bankrupt_with_collateral()
    after = apply(ledger, Deleverage("BTC-PERP", "alice", ("bob",)))
    assert not after.account("alice").positions
    assert account_risk(after, after.account("alice")).nc >= 0


def test_adl3_catches_the_total_requirement_in_the_bankruptcy_quote(monkeypatch: pytest.MonkeyPatch) -> None:
    # D06: the bankruptcy quote divides by the whole MMR, collateral haircut included.
    def total_mmr(ledger: Ledger, name: str) -> int:
        return account_risk(ledger, ledger.accounts[name]).mmr

    monkeypatch.setattr(deleveraging, "positions_mmr", total_mmr)
    with pytest.raises(icontract.ViolationError, match="ADL-3"):
        apply(_bankrupt_with_collateral(), Deleverage("BTC-PERP", "alice", ("bob",)))


# --- CLK-1 -------------------------------------------------------------------------------------


def test_clk1_no_action_moves_the_clock_back() -> None:
    from clearspec import transition

    ledger = funded()
    later = apply(ledger, AdvanceTime(ledger.now + 5))
    condition = _postcondition(transition.apply, "CLK-1")
    assert condition(ledger=later, action=AdvanceTime(later.now), result=later) is True
    assert condition(ledger=later, action=Deposit("alice", "USDC", 1), result=ledger) is False
    assert condition(ledger=ledger, action=Deposit("alice", "USDC", 1), result=later) is False


# --- lemmas: the spec's formulas against the model's helpers -------------------------------------


def _statuses(pattern: str) -> list[str]:
    results = check_lemmas(example_params(), pattern=pattern)
    assert results, pattern
    return [r.status for r in results]


def test_new_lemmas_are_proved_on_the_model() -> None:
    for pattern in ("MRG-1/", "MRG-2/", "ORA-7/", "LIQ-2/", "LIQ-4/", "ORA-8/"):
        assert set(_statuses(pattern)) == {"proved"}, pattern


def test_mrg2_lemma_catches_initial_tiers_with_maintenance_fractions(monkeypatch: pytest.MonkeyPatch) -> None:
    # M05: IMR computed with the maintenance fractions.
    def buggy(market: MarketParams, abs_size: int, price: int, scale: int) -> tuple[int, int]:
        tiers = tuple(replace(t, initial_ppm=t.maintenance_ppm) for t in market.tiers)
        return margin.tiered_requirement(replace(market, tiers=tiers), abs_size, price, scale)

    monkeypatch.setattr(lemmas, "tiered_requirement", buggy)
    assert "counterexample" in _statuses("MRG-2/")


def test_mrg1_lemma_catches_a_swapped_haircut_weight(monkeypatch: pytest.MonkeyPatch) -> None:
    # M07: the initial haircut uses the maintenance weight.
    def buggy(ledger: Ledger, asset: AssetParams, balance: int) -> margin.Risk:
        return margin.asset_risk(
            ledger, replace(asset, initial_weight_ppm=asset.maintenance_weight_ppm), balance
        )

    monkeypatch.setattr(lemmas, "asset_risk", buggy)
    assert "counterexample" in _statuses("MRG-1/")


def test_liq4_lemma_catches_an_uncapped_fee(monkeypatch: pytest.MonkeyPatch) -> None:
    def buggy(received: int, bankruptcy: int, max_fee_ppm: int) -> int:
        return received - bankruptcy  # L05 (the real function's own contract would also object)

    monkeypatch.setattr(lemmas, "insurance_fund_delta", buggy)
    assert "counterexample" in _statuses("LIQ-4/")


def test_liq2_lemma_catches_a_bankruptcy_quote_rounding_against_the_account(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # L10: the NC released by the closed part rounds up, so the quote rounds down.
    def buggy(nc: int, released_mmr: int, total_mmr: int) -> int:
        return k.div_ceil(nc * released_mmr, total_mmr)

    monkeypatch.setattr(lemmas, "nc_released", buggy)
    assert "counterexample" in _statuses("LIQ-2/")


def test_ora7_lemma_runs_the_models_sort_and_catches_the_upper_median(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # O06, with no contract of lower_median to object: the lemma's goal alone catches it.
    def upper_median(prices: Sequence[int]) -> int:
        ordered = sorted(prices)
        return ordered[len(ordered) >> 1]

    monkeypatch.setattr(lemmas, "lower_median", upper_median)
    statuses = _statuses("ORA-7/")
    # Odd counts: upper and lower median coincide; even counts: a counterexample.
    assert statuses == ["proved", "counterexample", "proved", "counterexample", "proved"]


def test_ora7_lemma_sees_a_median_that_ignores_the_order(monkeypatch: pytest.MonkeyPatch) -> None:
    # A "median" that skips the sort is right only when the reports arrive sorted: the
    # lemma presents every order, so it is caught.
    def unsorted_median(prices: Sequence[int]) -> int:
        return prices[(len(prices) - 1) >> 1]

    monkeypatch.setattr(lemmas, "lower_median", unsorted_median)
    assert _statuses("ORA-7/lower-median-3") == ["counterexample"]
