"""INS-1, INS-4..INS-6, TRD-8 and EXP-1..EXP-4: the insurance fund's own actions, the
rounding rule for tiny positions, and expiry settlement of dated futures.

Example parameters: BTC at 60,000 USD is the feed price 600,000,000 (scale 10**6);
BTC-DEC expires at 2,592,000 s; the withdrawal gate lasts 300 s.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import pytest

from clearspec.actions import (
    Action,
    AdvanceTime,
    ApplyFunding,
    CoverBadDebt,
    Deposit,
    FundInsurance,
    Liquidate,
    PremiumSample,
    ReportNegativeCollateral,
    SettleExpiry,
    Side,
    Transfer,
    Withdraw,
)
from clearspec.errors import ClearingError, ErrorCode
from clearspec.margin import account_risk
from clearspec.params import (
    MAX_AMOUNT,
    FeedParams,
    MarginTier,
    MarketKind,
    MarketParams,
    ProtocolParams,
    revise,
)
from clearspec.state import Ledger, Position, genesis
from clearspec.transition import apply
from clearspec_tools.examples import BTC, USD, example_genesis, example_params, signed_update, usd_price
from tests.helpers import fill, funded, move_price, rejects, run, trade

TENTH = BTC // 10
EXPIRY = 86_400 * 30
GATE = 300


def _nc(ledger: Ledger, name: str) -> int:
    return account_risk(ledger, ledger.account(name)).nc


def _remake(
    base: ProtocolParams, markets: tuple[MarketParams, ...], feeds: tuple[FeedParams, ...] | None = None
) -> ProtocolParams:
    return revise(base, markets=markets, feeds=feeds or base.feeds)


def _with_min_size(min_size: int) -> ProtocolParams:
    base = example_params()
    markets = tuple(
        replace(m, min_position_size=min_size) if m.market_id == "BTC-PERP" else m for m in base.markets
    )
    return _remake(base, markets)


def _set_raw_price(ledger: Ledger, feed: str, price: int) -> Ledger:
    """Advance one second and accept a unanimous round at the raw feed price ``price``."""
    now = ledger.now + 1
    update = signed_update(feed, [price] * 3, now, ledger.prices[feed].round + 1)
    return run([AdvanceTime(now), update], ledger)


# --- INS-1: paying into the fund ----------------------------------------------------------


def test_ins1_fund_insurance_moves_quote_into_the_fund() -> None:
    ledger = funded(usdc=1_000)
    after = apply(ledger, FundInsurance("alice", 250 * USD))
    assert after.insurance_fund["USDC"] == 250 * USD
    assert after.account("alice").balance("USDC") == 750 * USD
    # The whole balance may go.
    emptied = apply(after, FundInsurance("alice", 750 * USD))
    assert (emptied.insurance_fund["USDC"], emptied.account("alice").balance("USDC")) == (1_000 * USD, 0)


def test_ins1_fund_insurance_rejections() -> None:
    ledger = funded(usdc=1_000)
    rejects(ledger, FundInsurance("nobody", 1), ErrorCode.UNKNOWN_ACCOUNT)
    rejects(ledger, FundInsurance("alice", 0), ErrorCode.NON_POSITIVE_AMOUNT)
    rejects(ledger, FundInsurance("alice", -1), ErrorCode.NON_POSITIVE_AMOUNT)
    rejects(ledger, FundInsurance("alice", MAX_AMOUNT + 1), ErrorCode.AMOUNT_TOO_LARGE)
    rejects(ledger, FundInsurance("alice", 1_000 * USD + 1), ErrorCode.INSUFFICIENT_BALANCE)


def test_ins1_fund_insurance_keeps_initial_margin() -> None:
    # alice: 400 USD, long 0.1 BTC at 60,000: IMR 5% * 6,000 = 300 USD.
    ledger = run([Deposit("alice", "USDC", 400 * USD), Deposit("bob", "USDC", 10_000 * USD), trade(fill())])
    apply(ledger, FundInsurance("alice", 100 * USD))
    rejects(ledger, FundInsurance("alice", 100 * USD + 1), ErrorCode.MARGIN_INSUFFICIENT)


# --- INS-4: covering bad debt -------------------------------------------------------------


def _bad_debt(fund: int = 0) -> Ledger:
    """alice holds 0.1 BTC as collateral (weights 80% / 90%), buys 1 BTC-PERP from bob at
    60,000, sells it back at 55,000 (realising -5,000 USD: her USDC balance is -5,000),
    and BTC falls to 45,000: she has no position and NC = 4,500 - 5,000 = -500 USD.
    frank pays ``fund`` into the insurance fund."""
    ledger = run(
        [
            Deposit("alice", "BTC", TENTH),
            Deposit("bob", "USDC", 100_000 * USD),
            Deposit("frank", "USDC", 10_000 * USD),
            trade(fill(size=BTC)),
        ]
    )
    if fund:
        ledger = apply(ledger, FundInsurance("frank", fund))
    ledger = move_price(ledger, "BTC-USD", 55_000)
    ledger = apply(ledger, trade(fill(side=Side.SELL, size=BTC, dollars=55_000)))
    return move_price(ledger, "BTC-USD", 45_000)


def test_ins4_bad_debt_example_numbers() -> None:
    ledger = _bad_debt()
    assert ledger.account("alice").positions.get("BTC-PERP") is None
    assert ledger.account("alice").balance("USDC") == -5_000 * USD
    assert _nc(ledger, "alice") == -500 * USD


def test_ins4_fund_covers_bad_debt_in_full() -> None:
    ledger = _bad_debt(fund=1_000 * USD)
    after = apply(ledger, CoverBadDebt("alice"))
    assert after.insurance_fund["USDC"] == 500 * USD
    assert after.account("alice").balance("USDC") == -4_500 * USD
    assert _nc(after, "alice") == 0
    # INS-6: the negative NC was seen: withdrawals wait.
    assert after.gate_until == ledger.now + GATE
    # Covered: no bad debt left.
    rejects(after, CoverBadDebt("alice"), ErrorCode.NO_BAD_DEBT)


def test_ins4_fund_covers_as_far_as_it_goes() -> None:
    ledger = _bad_debt(fund=300 * USD)
    after = apply(ledger, CoverBadDebt("alice"))
    assert after.insurance_fund["USDC"] == 0
    assert _nc(after, "alice") == -200 * USD
    # The rest stays visible as alice's negative NC; an empty fund refuses.
    rejects(after, CoverBadDebt("alice"), ErrorCode.INSURANCE_FUND_INSUFFICIENT)


def test_ins4_cover_bad_debt_rejections() -> None:
    ledger = _bad_debt()
    rejects(ledger, CoverBadDebt("nobody"), ErrorCode.UNKNOWN_ACCOUNT)
    rejects(ledger, CoverBadDebt("alice"), ErrorCode.INSURANCE_FUND_INSUFFICIENT)
    rejects(ledger, CoverBadDebt("frank"), ErrorCode.NO_BAD_DEBT)
    # An account with a position is liquidated or deleveraged, not covered, even when bankrupt.
    bankrupt = run([Deposit("alice", "USDC", 400 * USD), Deposit("bob", "USDC", 10_000 * USD), trade(fill())])
    bankrupt = move_price(bankrupt, "BTC-USD", 55_000)
    assert _nc(bankrupt, "alice") == -100 * USD
    rejects(bankrupt, CoverBadDebt("alice"), ErrorCode.HAS_POSITIONS)


def test_ins4_a_zero_size_entry_is_no_position() -> None:
    # Unreachable on a concrete ledger: alice's closed position left no entry (TRD-4) ...
    ledger = _bad_debt(fund=1_000 * USD)
    assert "BTC-PERP" not in ledger.account("alice").positions
    # ... and harmless where one is kept (a symbolic ledger keeps them): covering alice
    # with a zero-size, zero-quote entry does exactly what covering her without it does,
    # as LIQ-1 reads such an entry for NO_POSITION.
    alice = ledger.account("alice")
    empty = Position(0, 0, 0, 0)
    kept = replace(
        ledger,
        accounts=ledger.accounts.set(
            "alice", replace(alice, positions=alice.positions.set("BTC-PERP", empty))
        ),
    )
    assert _nc(kept, "alice") == _nc(ledger, "alice") == -500 * USD
    plain, with_entry = apply(ledger, CoverBadDebt("alice")), apply(kept, CoverBadDebt("alice"))
    assert with_entry.account("alice").balance("USDC") == plain.account("alice").balance("USDC")
    assert with_entry.insurance_fund == plain.insurance_fund
    assert with_entry.gate_until == plain.gate_until
    # A non-zero entry is a position.
    held = replace(
        kept,
        accounts=kept.accounts.set(
            "alice", replace(alice, positions=alice.positions.set("BTC-PERP", replace(empty, size=1)))
        ),
    )
    rejects(held, CoverBadDebt("alice"), ErrorCode.HAS_POSITIONS)


# --- INS-6: reporting negative collateral gates withdrawals -------------------------------


def test_ins6_report_negative_collateral_gates_withdrawals_and_transfers() -> None:
    ledger = _bad_debt()
    rejects(ledger, ReportNegativeCollateral("nobody"), ErrorCode.UNKNOWN_ACCOUNT)
    rejects(ledger, ReportNegativeCollateral("frank"), ErrorCode.NOT_BANKRUPT)
    gated = apply(ledger, ReportNegativeCollateral("alice"))
    assert gated.gate_until == ledger.now + GATE
    rejects(gated, Withdraw("frank", "USDC", 1), ErrorCode.WITHDRAWALS_GATED)
    rejects(gated, Transfer("frank", "bob", "USDC", 1), ErrorCode.WITHDRAWALS_GATED)
    apply(gated, Deposit("frank", "USDC", 1))  # deposits are not gated
    apply(gated, FundInsurance("frank", 1))  # nor payments into the fund (INS-1)
    still = run([AdvanceTime(gated.gate_until - 1)], gated)
    rejects(still, Withdraw("frank", "USDC", 1), ErrorCode.WITHDRAWALS_GATED)
    # A second report later extends the gate.
    extended = run([AdvanceTime(ledger.now + 100), ReportNegativeCollateral("alice")], gated)
    assert extended.gate_until == ledger.now + 100 + GATE
    opened = run([AdvanceTime(extended.gate_until)], extended)
    apply(opened, Withdraw("frank", "USDC", 1))
    apply(opened, Transfer("frank", "bob", "USDC", 1))


def test_ins6_report_settles_funding_first() -> None:
    # alice: 400 USD, long 0.1 from bob at 60,000; BTC at 56,000: NC exactly 0, not
    # reportable. A full-clamp interval (15,000 ppm of 560,000,000, FND-2's hourly
    # share of 120,000 per 8 hours) then makes her owe
    # 10,000,000 * 8,400,000,000,000 / 10**12 = 84 USD, which only settling reveals.
    ledger = run([Deposit("alice", "USDC", 400 * USD), Deposit("bob", "USDC", 10_000 * USD), trade(fill())])
    ledger = move_price(ledger, "BTC-USD", 56_000)
    assert _nc(ledger, "alice") == 0
    rejects(ledger, ReportNegativeCollateral("alice"), ErrorCode.NOT_BANKRUPT)
    ledger = run([PremiumSample("BTC-PERP", 10**6), AdvanceTime(3_600), ApplyFunding("BTC-PERP")], ledger)
    assert _nc(ledger, "alice") == 0  # unsettled
    after = apply(ledger, ReportNegativeCollateral("alice"))
    assert _nc(after, "alice") == -84 * USD
    assert after.market("BTC-PERP").pool == 84 * USD
    assert after.gate_until == 3_600 + GATE


# --- INS-5, TRD-8: rounding cannot create bad debt from nothing ---------------------------


def _penny_params() -> ProtocolParams:
    """A market where one step (10**6 base units) at price 1 is worth 1 quote base unit."""
    base = example_params()
    penny = MarketParams(
        market_id="PENNY-PERP",
        kind=MarketKind.PERPETUAL,
        feed="PENNY-USD",
        tiers=(MarginTier(None, 50_000, 30_000),),
        step_size=10**6,
        tick_size=1,
        max_position=10**15,
        price_band_ppm=50_000,
        max_fee_ppm=5_000,
    )
    return _remake(base, (*base.markets, penny), (*base.feeds, FeedParams("PENNY-USD", 6)))


def _penny_ledger(alice: int) -> Ledger:
    params = _penny_params()
    prices = {"BTC-USD": usd_price(60_000), "ETH-USD": usd_price(3_000), "PENNY-USD": 1}
    # alice deposits one unit and withdraws it again (an existing account with nothing),
    # then gets ``alice`` units.
    actions: list[Action] = [
        Deposit("alice", "USDC", 1),
        Withdraw("alice", "USDC", 1),
        Deposit("bob", "USDC", 10_000 * USD),
    ]
    if alice:
        actions.append(Deposit("alice", "USDC", alice))
    return run(actions, genesis(params, prices))


def test_ins5_zero_collateral_cannot_open_one_step_at_a_tiny_price() -> None:
    ledger = _penny_ledger(0)
    assert ledger.account("alice").balance("USDC") == 0
    # One step at price 1: notional 1 quote unit, IMR ceil(10**6 * 50,000 * 1 / 10**12)
    # = ceil(0.05) = 1 > NC 0, on either side.
    for side in (Side.BUY, Side.SELL):
        rejects(
            ledger,
            trade(fill(market="PENNY-PERP", side=side, size=10**6, price=1)),
            ErrorCode.MARGIN_INSUFFICIENT,
        )
    # One unit of collateral is enough.
    funded_one = _penny_ledger(1)
    after = apply(funded_one, trade(fill(market="PENNY-PERP", side=Side.SELL, size=10**6, price=1)))
    assert account_risk(after, after.account("alice")).imr == 1


def test_trd8_position_below_market_minimum() -> None:
    ledger = run(
        [Deposit("alice", "USDC", 10_000 * USD), Deposit("bob", "USDC", 10_000 * USD)],
        example_genesis(_with_min_size(10_000)),
    )
    rejects(ledger, trade(fill(size=9_000)), ErrorCode.POSITION_BELOW_MINIMUM)
    opened = apply(ledger, trade(fill(size=10_000)))
    rejects(opened, trade(fill(side=Side.SELL, size=5_000)), ErrorCode.POSITION_BELOW_MINIMUM)
    rejects(
        opened, trade(fill(side=Side.SELL, size=15_000)), ErrorCode.POSITION_BELOW_MINIMUM
    )  # flip to -5,000
    apply(opened, trade(fill(side=Side.SELL, size=20_000)))  # flip to -10,000
    closed = apply(opened, trade(fill(side=Side.SELL, size=10_000)))  # zero is always allowed
    assert closed.account("alice").positions.get("BTC-PERP") is None
    # Within one batch only the end state counts.
    apply(ledger, trade(fill(size=5_000), fill(size=5_000)))


def test_trd8_min_position_size_validated() -> None:
    with pytest.raises(ClearingError) as caught:
        _with_min_size(-1)
    assert caught.value.code is ErrorCode.INVALID_PARAMS
    with pytest.raises(ClearingError) as caught:
        _with_min_size(1_000 * BTC + 1)  # above max_position
    assert caught.value.code is ErrorCode.INVALID_PARAMS


# --- EXP-1..EXP-4: expiry settlement -----------------------------------------------------


def _dated(
    extra: Sequence[Action] = (), alice: int = 10_000 * USD, size: int = TENTH, until: int = EXPIRY - 1
) -> Ledger:
    """alice (``alice`` quote units) buys ``size`` of BTC-DEC from bob (10,000 USD) at 60,000
    at time 0; then the ``extra`` actions; then the clock moves to ``until``."""
    actions: list[Action] = [
        Deposit("alice", "USDC", alice),
        Deposit("bob", "USDC", 10_000 * USD),
        Deposit("frank", "USDC", 10_000 * USD),
        trade(fill(market="BTC-DEC", size=size)),
        *extra,
        AdvanceTime(until),
    ]
    return run(actions)


def test_exp1_settlement_rejections() -> None:
    ledger = _dated()
    rejects(ledger, SettleExpiry("BTC-PERP", ("alice",)), ErrorCode.MARKET_NOT_DATED)
    rejects(ledger, SettleExpiry("DOGE-DEC", ("alice",)), ErrorCode.UNKNOWN_MARKET)
    rejects(ledger, SettleExpiry("BTC-DEC", ("alice", "bob")), ErrorCode.EXPIRY_NOT_REACHED)
    # At expiry, the last price was accepted at time 0, before expiry: not final.
    at_expiry = apply(ledger, AdvanceTime(EXPIRY))
    rejects(at_expiry, SettleExpiry("BTC-DEC", ("alice", "bob")), ErrorCode.EXPIRY_PRICE_NOT_FINAL)
    # Nor is one accepted a second before expiry.
    just_before = run([AdvanceTime(EXPIRY)], move_price(_dated(until=EXPIRY - 2), "BTC-USD", 61_000))
    assert just_before.prices["BTC-USD"].updated_at == EXPIRY - 1
    rejects(just_before, SettleExpiry("BTC-DEC", ("alice", "bob")), ErrorCode.EXPIRY_PRICE_NOT_FINAL)
    # With a final price: an unknown account and an account without a position are refused.
    final = move_price(ledger, "BTC-USD", 62_000)
    rejects(final, SettleExpiry("BTC-DEC", ("alice", "bob", "nobody")), ErrorCode.UNKNOWN_ACCOUNT)
    rejects(final, SettleExpiry("BTC-DEC", ("alice", "bob", "frank")), ErrorCode.NO_POSITION)
    rejects(final, SettleExpiry("BTC-DEC", ("alice", "bob", "alice")), ErrorCode.NO_POSITION)


def test_exp2_positions_close_at_the_final_price() -> None:
    final = move_price(_dated(), "BTC-USD", 62_000)  # accepted at 2,592,000: final
    after = apply(final, SettleExpiry("BTC-DEC", ("alice", "bob")))
    assert after.market("BTC-DEC").settlement_price == usd_price(62_000)
    # 0.1 BTC bought at 60,000 is worth 6,200: alice +200, bob -200.
    assert after.account("alice").balance("USDC") == 10_200 * USD
    assert after.account("bob").balance("USDC") == 9_800 * USD
    assert after.account("alice").positions.get("BTC-DEC") is None
    state = after.market("BTC-DEC")
    assert (state.open_interest, state.pool) == (0, 0)
    assert after.insurance_fund["USDC"] == 0


def test_exp1_first_settlement_fixes_the_final_price() -> None:
    pair: list[Action] = [
        Deposit("carol", "USDC", 10_000 * USD),
        Deposit("dave", "USDC", 10_000 * USD),
        trade(fill(taker="carol", maker="dave", market="BTC-DEC", size=TENTH)),
    ]
    final = move_price(_dated(pair), "BTC-USD", 62_000)
    first = apply(final, SettleExpiry("BTC-DEC", ("alice", "bob")))
    # The oracle moves on; carol and dave still settle at 62,000.
    moved = move_price(first, "BTC-USD", 64_000)
    second = apply(moved, SettleExpiry("BTC-DEC", ("dave", "carol")))
    assert second.market("BTC-DEC").settlement_price == usd_price(62_000)
    assert second.account("carol").balance("USDC") == 10_200 * USD
    assert second.account("dave").balance("USDC") == 9_800 * USD
    # Trading the expired market is refused.
    rejects(
        moved,
        trade(fill(taker="carol", maker="dave", market="BTC-DEC", dollars=64_000)),
        ErrorCode.MARKET_EXPIRED,
    )


def test_exp1_final_price_is_the_price_current_at_the_first_settlement() -> None:
    # EXP-1 as specified: not necessarily the first price accepted after expiry, but the one
    # current when the market is first settled.
    final = move_price(_dated(), "BTC-USD", 62_000)  # accepted at expiry
    later = move_price(final, "BTC-USD", 64_000)  # accepted at expiry + 1, before any settlement
    after = apply(later, SettleExpiry("BTC-DEC", ("alice", "bob")))
    assert after.market("BTC-DEC").settlement_price == usd_price(64_000)
    assert after.account("alice").balance("USDC") == 10_400 * USD


def test_exp3_rounding_remainders_reach_the_fund() -> None:
    # 0.12346 BTC at a final raw price of 600,000,001: the long is worth
    # floor(12,346,000 * 600,000,001 / 10**6) = floor(7,407,600,012.346) = 7,407,600,012 and
    # the short floor(-7,407,600,012.346) = -7,407,600,013: one unit stays in the pool.
    ledger = _set_raw_price(_dated(size=12_346_000), "BTC-USD", 600_000_001)
    after = apply(ledger, SettleExpiry("BTC-DEC", ("alice", "bob")))
    assert after.account("alice").balance("USDC") == 10_000 * USD + 12
    assert after.account("bob").balance("USDC") == 10_000 * USD - 13
    assert (after.market("BTC-DEC").pool, after.insurance_fund["USDC"]) == (0, 1)


def test_exp3_no_sweep_while_positions_remain() -> None:
    pair: list[Action] = [
        Deposit("carol", "USDC", 10_000 * USD),
        Deposit("dave", "USDC", 10_000 * USD),
        trade(fill(taker="carol", maker="dave", market="BTC-DEC", size=TENTH)),
    ]
    ledger = _set_raw_price(_dated(pair, size=12_346_000), "BTC-USD", 600_000_001)
    first = apply(ledger, SettleExpiry("BTC-DEC", ("alice", "bob")))
    # carol's long remains open: the remainder waits in the pool.
    assert (first.market("BTC-DEC").pool, first.insurance_fund["USDC"]) == (1, 0)
    # 0.1 BTC at 600,000,001: 6,000,000,010 exactly for both: nothing more.
    second = apply(first, SettleExpiry("BTC-DEC", ("carol", "dave")))
    assert (second.market("BTC-DEC").pool, second.insurance_fund["USDC"]) == (0, 1)


def test_exp2_a_batch_must_net_to_zero() -> None:
    final = move_price(_dated(), "BTC-USD", 62_000)
    # Settling one side alone would break zero-sum positions (INV-2): rejected.
    rejects(final, SettleExpiry("BTC-DEC", ("bob",)), ErrorCode.EXPIRY_UNBALANCED)
    rejects(final, SettleExpiry("BTC-DEC", ("alice",)), ErrorCode.EXPIRY_UNBALANCED)
    together = apply(final, SettleExpiry("BTC-DEC", ("bob", "alice")))
    assert together.markets["BTC-DEC"].open_interest == 0


def test_exp4_fund_tops_up_an_account_left_negative() -> None:
    # alice: 400 USD, long 0.1 BTC-DEC from 60,000; final 55,000: 400 - 500 = -100 USD.
    def settle_with(fund: int) -> Ledger:
        ledger = _dated([FundInsurance("frank", fund)] if fund else [], alice=400 * USD)
        return move_price(ledger, "BTC-USD", 55_000)

    rejects(settle_with(0), SettleExpiry("BTC-DEC", ("alice", "bob")), ErrorCode.INSURANCE_FUND_INSUFFICIENT)
    rejects(
        settle_with(100 * USD - 1),
        SettleExpiry("BTC-DEC", ("bob", "alice")),
        ErrorCode.INSURANCE_FUND_INSUFFICIENT,
    )
    exact = apply(settle_with(100 * USD), SettleExpiry("BTC-DEC", ("alice", "bob")))
    assert exact.account("alice").balance("USDC") == 0
    assert exact.account("bob").balance("USDC") == 10_500 * USD
    assert exact.insurance_fund["USDC"] == 0
    assert exact.gate_until == EXPIRY + GATE
    more = apply(settle_with(150 * USD), SettleExpiry("BTC-DEC", ("bob", "alice")))
    assert more.insurance_fund["USDC"] == 50 * USD
    assert more.account("alice").balance("USDC") == 0


def test_exp4_no_top_up_while_other_positions_remain() -> None:
    # alice (800 USD) also holds 0.1 BTC-PERP from bob at 60,000; at 55,000 her NC is
    # 800 - 500 - 500 = -200. Settling BTC-DEC leaves her the perpetual: no top-up, but
    # the negative NC gates withdrawals.
    ledger = _dated([trade(fill())], alice=800 * USD)
    ledger = move_price(ledger, "BTC-USD", 55_000)
    after = apply(ledger, SettleExpiry("BTC-DEC", ("alice", "bob")))
    assert after.account("alice").balance("USDC") == 300 * USD
    assert _nc(after, "alice") == -200 * USD
    assert after.insurance_fund["USDC"] == 0
    assert after.gate_until == EXPIRY + GATE


def test_exp_market_expired_for_trades_and_liquidations() -> None:
    # alice (400 USD) long 0.1 BTC-DEC; at expiry BTC is 57,000: liquidatable, but too late.
    ledger = move_price(_dated(alice=400 * USD), "BTC-USD", 57_000)
    assert ledger.now == EXPIRY
    rejects(ledger, trade(fill(market="BTC-DEC", dollars=57_000)), ErrorCode.MARKET_EXPIRED)
    liquidation = Liquidate("BTC-DEC", "alice", "frank", TENTH, usd_price(57_000), 0)
    rejects(ledger, liquidation, ErrorCode.MARKET_EXPIRED)
    # One second earlier the same liquidation is accepted.
    before = move_price(_dated(alice=400 * USD, until=EXPIRY - 2), "BTC-USD", 57_000)
    assert before.now == EXPIRY - 1
    apply(before, liquidation)
