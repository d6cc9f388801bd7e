"""MRG-7: the initial requirement scaled by a market's open interest, its
parameters (PAR-2, PAR-4), its place in the update rule (MRG-4) and the
withdrawal check (MRG-5), and the lemmas that prove it monotone."""

from __future__ import annotations

import json
from dataclasses import replace
from fractions import Fraction
from math import ceil
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clearspec import margin
from clearspec.actions import Deposit, Fill, SettleTrades, Side, Withdraw
from clearspec.errors import ClearingError, ErrorCode
from clearspec.margin import account_risk, initial_requirement, meets_initial, tiered_requirement
from clearspec.params import MAX_AMOUNT, PPM, MarketParams, ProtocolParams, with_market
from clearspec.params_file import params_from_json, params_to_json
from clearspec.state import Ledger, genesis
from clearspec.transition import apply
from clearspec_proofs import lemmas
from clearspec_proofs.engine import check_lemmas
from clearspec_tools.examples import BTC, USD, example_genesis, example_params, usd_price
from clearspec_tools.vectors.case import ParamsCache
from clearspec_tools.vectors.generate import build_case
from clearspec_tools.vectors.open_interest import capped_params, open_interest_drafts

SCALE = 10**6
PRICE = usd_price(60_000)
LOWER, UPPER = 1 * BTC, 3 * BTC


def _capped(lower: int | None = LOWER, upper: int | None = UPPER) -> ProtocolParams:
    return with_market(
        example_params(), "BTC-PERP", open_interest_lower_cap=lower, open_interest_upper_cap=upper
    )


def _market(params: ProtocolParams) -> MarketParams:
    return params.market_by_id["BTC-PERP"]


def _restated(market: MarketParams, size: int, price: int, interest: int) -> int:
    """MRG-7 from the spec's words, with exact fractions: the tiers' requirement
    below the lower cap, the whole notional from the upper cap on, linear between;
    rounded up once."""
    lower, upper = market.open_interest_lower_cap, market.open_interest_upper_cap
    assert lower is not None and upper is not None
    tiered = Fraction(tiered_weighted(market, size) * price, SCALE * PPM)
    whole = Fraction(size * price, SCALE)
    if interest >= upper:
        share = Fraction(1)
    elif interest <= lower:
        share = Fraction(0)
    else:
        share = Fraction(interest - lower, upper - lower)
    return ceil(tiered + share * (whole - tiered))


def tiered_weighted(market: MarketParams, size: int) -> int:
    """MRG-2's ``sum(part_j * im_j)``, restated with a plain loop."""
    total, below = 0, 0
    for tier in market.tiers:
        top = size if tier.up_to_size is None else min(size, tier.up_to_size)
        total += max(top - below, 0) * tier.initial_ppm
        below = tier.up_to_size or below
    return total


@pytest.mark.parametrize(
    ("interest", "expected_usd"),
    [
        (0, 3_000),  # below the lower cap: the tiers' 5 % of 60,000 USD
        (LOWER, 3_000),  # at the lower cap: still the tiers'
        (2 * BTC, 31_500),  # halfway: 3,000 + (60,000 - 3,000) / 2
        (UPPER, 60_000),  # at the upper cap: the whole notional
        (10 * UPPER, 60_000),  # above it: still the whole notional, never more
    ],
)
def test_mrg7_below_between_and_above_the_caps(interest: int, expected_usd: int) -> None:
    market = _market(_capped())
    assert initial_requirement(market, 1 * BTC, PRICE, SCALE, interest) == expected_usd * USD
    assert tiered_requirement(market, 1 * BTC, PRICE, SCALE)[0] == 3_000 * USD  # MMR's companion unchanged


@given(
    size=st.integers(0, 20 * BTC),
    price=st.integers(1, 10**12),
    interest=st.integers(0, 5 * BTC),
    lower=st.integers(0, 4 * BTC),
    width=st.integers(0, 2 * BTC),
)
def test_mrg7_agrees_with_the_spec_formula_and_rounds_up_once(
    size: int, price: int, interest: int, lower: int, width: int
) -> None:
    market = _market(_capped(lower, lower + width))
    expected = _restated(market, size, price, interest)
    assert initial_requirement(market, size, price, SCALE, interest) == expected
    assert (
        tiered_requirement(market, size, price, SCALE)[0] <= expected <= ceil(Fraction(size * price, SCALE))
    )


def test_mrg7_equal_caps_are_a_step() -> None:
    market = _market(_capped(2 * BTC, 2 * BTC))
    below = initial_requirement(market, 1 * BTC, PRICE, SCALE, 2 * BTC - 1)
    at = initial_requirement(market, 1 * BTC, PRICE, SCALE, 2 * BTC)
    assert (below, at) == (3_000 * USD, 60_000 * USD)


@given(size=st.integers(0, 20 * BTC), interest=st.integers(0, MAX_AMOUNT))
def test_mrg7_without_caps_is_mrg2(size: int, interest: int) -> None:
    market = _market(example_params())
    assert market.open_interest_lower_cap is None and market.open_interest_upper_cap is None
    assert (
        initial_requirement(market, size, PRICE, SCALE, interest)
        == (tiered_requirement(market, size, PRICE, SCALE)[0])
    )


@pytest.mark.parametrize(
    ("lower", "upper"),
    [(1, None), (None, 1), (-1, 5), (6, 5), (0, MAX_AMOUNT + 1)],
)
def test_par2_refuses_a_lone_negative_inverted_or_huge_cap(lower: int | None, upper: int | None) -> None:
    with pytest.raises(ClearingError) as raised:
        _capped(lower, upper)
    assert raised.value.code is ErrorCode.INVALID_PARAMS
    assert "open_interest" in str(raised.value)


def test_par2_accepts_zero_and_equal_and_largest_caps() -> None:
    for lower, upper in [(0, 0), (5, 5), (0, MAX_AMOUNT), (MAX_AMOUNT, MAX_AMOUNT)]:
        assert _market(_capped(lower, upper)).open_interest_upper_cap == upper


def test_par4_caps_round_trip_and_absent_caps_are_left_out() -> None:
    capped = _capped()
    data = params_to_json(capped)
    btc = next(m for m in data["markets"] if m["market_id"] == "BTC-PERP")
    assert (btc["open_interest_lower_cap"], btc["open_interest_upper_cap"]) == (str(LOWER), str(UPPER))
    assert params_from_json(json.loads(json.dumps(data))) == capped
    plain = params_to_json(example_params())
    assert not any("open_interest_lower_cap" in m for m in plain["markets"])
    for value, detail in [("x", "params.markets[0].open_interest_lower_cap"), (None, "go together")]:
        broken: Any = json.loads(json.dumps(data))
        broken["markets"][0]["open_interest_lower_cap"] = value
        with pytest.raises(ClearingError, match=detail.replace("[", r"\[").replace("]", r"\]")):
            params_from_json(broken)


def _funded(params: ProtocolParams, *names: str) -> Ledger:
    ledger = replace(example_genesis(), params=params)
    for name in names:
        ledger = apply(ledger, Deposit(name, "USDC", 10_000 * USD))
    return ledger


def _buy(buyer: str, seller: str, size: int) -> SettleTrades:
    return SettleTrades((Fill("BTC-PERP", seller, buyer, Side.BUY, size, PRICE, 0, 0),))


def test_mrg7_a_batch_is_checked_at_the_open_interest_it_leaves() -> None:
    """MRG-4's ``after`` is computed with the open interest after the batch: a
    second coin bought takes BTC-PERP to 2 coins of open interest, halfway between
    the caps, and alice's initial requirement to 9,000 + (120,000 - 9,000) / 2 USD,
    more than her 10,000 USD; without the caps the same trade is accepted."""
    capped = apply(_funded(_capped(), "alice", "bob"), _buy("alice", "bob", 1 * BTC))
    assert capped.market("BTC-PERP").open_interest == LOWER
    with pytest.raises(ClearingError) as raised:
        apply(capped, _buy("alice", "bob", 1 * BTC))
    assert raised.value.code is ErrorCode.MARGIN_INSUFFICIENT
    plain = _funded(example_params(), "alice", "bob")
    for _ in range(2):
        plain = apply(plain, _buy("alice", "bob", 1 * BTC))
    assert account_risk(plain, plain.account("alice")).imr == 9_000 * USD
    # The refused batch's end state, computed directly: the scaled requirement.
    ended = replace(plain, params=_capped())
    assert account_risk(ended, ended.account("alice")).imr == (9_000 + 111_000 // 2) * USD


def test_mrg7_others_raising_open_interest_leave_an_account_below_initial_but_not_liquidatable() -> None:
    """carol's long meets initial margin at 1 coin of open interest; when alice
    and bob add half a coin, her requirement rises (she is untouched and unchecked):
    she may no longer withdraw (MRG-5), is not liquidatable (MMR unchanged), and
    may still reduce her position (MRG-4's ratio rule)."""
    params = _capped()
    ledger = _funded(params, "alice", "bob", "carol", "dave")
    ledger = apply(ledger, _buy("carol", "dave", 1 * BTC))
    before = account_risk(ledger, ledger.account("carol"))
    assert meets_initial(before) and before.imr == 3_000 * USD
    ledger = apply(ledger, _buy("alice", "bob", BTC // 2))  # open interest 1.5 coins
    after = account_risk(ledger, ledger.account("carol"))
    assert after.imr > after.nc > after.mmr == before.mmr and after.nc == before.nc
    with pytest.raises(ClearingError) as raised:
        apply(ledger, Withdraw("carol", "USDC", 1))
    assert raised.value.code is ErrorCode.MARGIN_INSUFFICIENT
    reduced = apply(
        ledger, SettleTrades((Fill("BTC-PERP", "dave", "carol", Side.SELL, BTC // 2, PRICE, 0, 0),))
    )
    assert reduced.account("carol").positions["BTC-PERP"].size == BTC // 2


def test_mrg7_the_ledger_without_caps_is_unchanged() -> None:
    """A set without caps computes every account's risk as before (MRG-2 alone)."""
    params = example_params()
    ledger = apply(_funded(params, "alice", "bob"), _buy("alice", "bob", 2 * BTC))
    risk = account_risk(ledger, ledger.account("alice"))
    assert risk.imr == tiered_requirement(_market(params), 2 * BTC, PRICE, SCALE)[0]
    assert genesis(params, {"BTC-USD": PRICE, "ETH-USD": PRICE}).market("BTC-PERP").open_interest == 0


def _statuses(pattern: str) -> list[str]:
    results = check_lemmas(example_params(), pattern=pattern)
    assert results, pattern
    return [r.status for r in results]


def test_mrg7_lemmas_are_proved_for_every_market_and_caps() -> None:
    names = {r.id for r in check_lemmas(example_params(), pattern="MRG-7/")}
    assert names == {
        f"lemma/MRG-7/open-interest-{what}[{m}]"
        for what in ("monotone", "bounds")
        for m in ("BTC-PERP", "ETH-PERP", "BTC-DEC")
    }
    assert set(_statuses("MRG-7/")) == {"proved"}


def test_mrg7_monotone_lemma_catches_a_share_that_runs_backwards(monkeypatch: pytest.MonkeyPatch) -> None:
    # M08: more open interest, less margin.
    def backwards(market: MarketParams, abs_size: int, price: int, scale: int, open_interest: int) -> int:
        upper = market.open_interest_upper_cap
        assert upper is not None
        return margin.scaled_initial_requirement(market, abs_size, price, scale, upper - open_interest)

    monkeypatch.setattr(lemmas, "scaled_initial_requirement", backwards)
    assert "counterexample" in _statuses("MRG-7/open-interest-monotone[BTC-PERP]")


def test_mrg7_bounds_lemma_catches_a_requirement_below_the_tiers(monkeypatch: pytest.MonkeyPatch) -> None:
    # M09-like: one unit less than the scaled value.
    def short(market: MarketParams, abs_size: int, price: int, scale: int, open_interest: int) -> int:
        return margin.scaled_initial_requirement(market, abs_size, price, scale, open_interest) - 1

    monkeypatch.setattr(lemmas, "scaled_initial_requirement", short)
    assert "counterexample" in _statuses("MRG-7/open-interest-bounds[BTC-PERP]")


def test_mrg7_vectors_cover_below_between_above_and_answer_as_drafted() -> None:
    """The generator's MRG-7 cases (boundary/open-interest-*): the reference
    answers each as drafted (build_case refuses otherwise), each names MRG-7, the
    between case's exact requirement is not whole (its rounding is seen), and the
    refused batch is accepted once the caps are removed."""
    drafts = list(open_interest_drafts())
    cache = ParamsCache()
    cases = [build_case(draft, cache) for draft in drafts]
    names = {c["id"].split("/")[1] for c in cases}
    assert names >= {f"open-interest-{n}" for n in ("below", "between", "above", "crossed", "untouched")}
    assert all("MRG-7" in c["rules"] for c in cases)
    market = capped_params().market_by_id["BTC-PERP"]
    lower, upper = LOWER, UPPER
    size = 123_457_000  # the between case's position, and so the open interest
    weighted = tiered_weighted(market, size)
    exact = Fraction(weighted * (upper - lower) + (size - lower) * (size * PPM - weighted), 1)
    assert (exact * PRICE / (SCALE * PPM * (upper - lower))).denominator != 1
    crossed = next(d for d in drafts if d.id == "boundary/open-interest-crossed/batch")
    plain = _funded(example_params(), "alice", "bob")
    for action in (_buy("alice", "bob", 1 * BTC),) * 2:
        plain = apply(plain, action)
    assert len(crossed.actions) == 2 and plain.market("BTC-PERP").open_interest == 2 * BTC
