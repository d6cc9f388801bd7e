"""ADL-1..ADL-6: auto-deleveraging and socialised loss.

The running example (example parameters, BTC-PERP 5% / 3% up to 1 BTC): alice deposits
800 USD and buys 0.1 BTC from bob (1,000 USD) and 0.1 from carol (2,000 USD) at 60,000;
dave (100,000 USD) buys 0.1 from erin (100,000 USD). BTC falls to 55,000:

    alice  NC = 800 + 11,000 - 12,000 = -200 USD, positions' MMR = 3% * 11,000 = 330 USD
    bob    NC = 1,000 + 500 = 1,500;   carol NC = 2,500;   erin NC = 100,500

ADL-2's score is upnl * |notional| / max(NC, 1), rounded down: bob 500 * 5,500 / 1,500
= 1,833.33 USD (1,833,333,333 units), carol 1,100, erin 27.36: the ranking of the
shorts is bob, carol, erin, and a Deleverage of alice lists all three (``SHORTS``).
"""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from clearspec.actions import (
    Action,
    AdvanceTime,
    Deleverage,
    Deposit,
    FundInsurance,
    Liquidate,
    Side,
    Transfer,
    Withdraw,
)
from clearspec.deleveraging import adl_ranking, adl_score
from clearspec.errors import ErrorCode
from clearspec.invariants import pool_covers_claims
from clearspec.liquidation import positions_mmr
from clearspec.margin import account_risk, notional, tiered_requirement
from clearspec.params import (
    PPM,
    DeficitPolicy,
    ProtocolParams,
    with_market,
)
from clearspec.positions import LOSS_SCALE
from clearspec.state import Ledger
from clearspec.transition import apply
from clearspec_tools.examples import BTC, USD, example_genesis, example_params, usd_price
from tests.helpers import fill, move_price, rejects, run, trade

TENTH = BTC // 10
BIG = 100_000 * USD
SHORTS = ("bob", "carol", "erin")  # ADL-2: the whole opposite side, in ranking order


def _params(**changes: int | DeficitPolicy) -> ProtocolParams:
    """The example parameters with BTC-PERP changed, validated again by make_params."""
    return with_market(example_params(), "BTC-PERP", **changes)


def _ledger(
    dollars: int = 55_000,
    *,
    fund: int = 0,
    params: ProtocolParams | None = None,
    extra: Sequence[Action] = (),
) -> Ledger:
    """The running example; ``fund`` paid in by frank before BTC moves to ``dollars`` (clock 1)."""
    actions: list[Action] = [
        Deposit("alice", "USDC", 800 * USD),
        Deposit("bob", "USDC", 1_000 * USD),
        Deposit("carol", "USDC", 2_000 * USD),
        Deposit("dave", "USDC", BIG),
        Deposit("erin", "USDC", BIG),
        Deposit("frank", "USDC", BIG),
        trade(fill(maker="bob"), fill(maker="carol")),
        trade(fill(taker="dave", maker="erin")),
        *extra,
    ]
    if fund:
        actions.append(FundInsurance("frank", fund))
    return move_price(run(actions, example_genesis(params)), "BTC-USD", dollars)


def _nc(ledger: Ledger, name: str) -> int:
    return account_risk(ledger, ledger.account(name)).nc


def _adl(*counterparties: str, account: str = "alice", market: str = "BTC-PERP") -> Deleverage:
    return Deleverage(market, account, counterparties)


def test_adl_running_example_numbers() -> None:
    ledger = _ledger()
    assert _nc(ledger, "alice") == -200 * USD
    assert positions_mmr(ledger, "alice") == 330 * USD
    assert (_nc(ledger, "bob"), _nc(ledger, "carol"), _nc(ledger, "erin")) == (
        1_500 * USD,
        2_500 * USD,
        100_500 * USD,
    )


# --- ADL-1, ADL-4: when deleveraging applies ----------------------------------------------------


def test_adl1_disabled_in_a_socialise_market() -> None:
    ledger = _ledger(params=_params(deficit_policy=DeficitPolicy.SOCIALISE))
    rejects(ledger, _adl(*SHORTS), ErrorCode.DELEVERAGING_DISABLED)


def test_adl4_identifiers() -> None:
    ledger = _ledger()
    rejects(ledger, _adl("bob", market="DOGE-PERP"), ErrorCode.UNKNOWN_MARKET)
    rejects(ledger, _adl("bob", account="nobody"), ErrorCode.UNKNOWN_ACCOUNT)


def test_adl4_only_a_bankrupt_account() -> None:
    # At 56,000 alice's NC is 800 + 11,200 - 12,000 = 0: liquidatable, but not bankrupt.
    at_zero = _ledger(56_000)
    assert _nc(at_zero, "alice") == 0
    rejects(at_zero, _adl(*SHORTS), ErrorCode.NOT_BANKRUPT)
    # One dollar lower, NC is -0.20 USD.
    below = _ledger(55_999)
    assert _nc(below, "alice") == -200_000
    apply(below, _adl(*SHORTS))
    rejects(_ledger(), _adl("alice", account="bob"), ErrorCode.NOT_BANKRUPT)


def test_adl4_only_when_the_fund_cannot_cover() -> None:
    rejects(_ledger(fund=200 * USD), _adl(*SHORTS), ErrorCode.FUND_CAN_COVER)
    rejects(_ledger(fund=300 * USD), _adl(*SHORTS), ErrorCode.FUND_CAN_COVER)
    after = apply(_ledger(fund=200 * USD - 1), _adl(*SHORTS))
    # Deleveraging leaves the fund alone.
    assert after.insurance_fund["USDC"] == 200 * USD - 1


def test_adl4_no_position_in_that_market() -> None:
    rejects(_ledger(), _adl("bob", market="ETH-PERP"), ErrorCode.NO_POSITION)


# --- ADL-2: counterparties and their ranking ---------------------------------------------


def test_adl2_scores_and_ranking() -> None:
    ledger = _ledger()
    assert adl_score(ledger, "bob", "BTC-PERP") == 1_833_333_333  # 500e6 * 5,500e6 / 1,500e6
    assert adl_score(ledger, "carol", "BTC-PERP") == 1_100_000_000  # 500e6 * 5,500e6 / 2,500e6
    assert adl_score(ledger, "erin", "BTC-PERP") == 27_363_184  # 500e6 * 5,500e6 / 100,500e6
    assert adl_ranking(ledger, "BTC-PERP", -1) == ["bob", "carol", "erin"]
    # The longs: dave loses 500 on NC 99,500 (-27,638,190.95 rounds down to -27,638,191);
    # alice's NC is negative, so her divisor is 1: -1,000e6 * 11,000e6.
    assert adl_score(ledger, "dave", "BTC-PERP") == -27_638_191
    assert adl_score(ledger, "alice", "BTC-PERP") == -1_000 * USD * 11_000 * USD
    assert adl_ranking(ledger, "BTC-PERP", 1) == ["dave", "alice"]
    assert adl_ranking(ledger, "ETH-PERP", 1) == []


def test_adl2_ties_are_broken_by_account_id() -> None:
    twins: list[Action] = [
        Deposit("zed", "USDC", 5_000 * USD),
        Deposit("amy", "USDC", 5_000 * USD),
        trade(fill(taker="frank", maker="zed"), fill(taker="frank", maker="amy")),
    ]
    ledger = _ledger(extra=twins)
    assert adl_score(ledger, "zed", "BTC-PERP") == adl_score(ledger, "amy", "BTC-PERP")
    # amy and zed (score 500e6 * 5,500e6 / 5,500e6 = 500e6) rank between carol and erin.
    assert adl_ranking(ledger, "BTC-PERP", -1) == ["bob", "carol", "amy", "zed", "erin"]
    apply(ledger, _adl("bob", "carol", "amy", "zed", "erin"))
    rejects(ledger, _adl("bob", "carol", "zed", "amy", "erin"), ErrorCode.ADL_RANKING_VIOLATED)


def test_adl2_bad_counterparties() -> None:
    ledger = _ledger()
    rejects(ledger, _adl("dave"), ErrorCode.ADL_BAD_COUNTERPARTY)  # long, the same side
    rejects(ledger, _adl("bob", "dave"), ErrorCode.ADL_BAD_COUNTERPARTY)
    rejects(ledger, _adl("nobody"), ErrorCode.ADL_BAD_COUNTERPARTY)
    rejects(ledger, _adl("bob", "bob"), ErrorCode.ADL_BAD_COUNTERPARTY)
    rejects(ledger, _adl("alice"), ErrorCode.ADL_BAD_COUNTERPARTY)
    rejects(ledger, _adl("frank"), ErrorCode.ADL_BAD_COUNTERPARTY)  # no position at all
    # An empty list leaves out every short (ADL-2).
    rejects(ledger, _adl(), ErrorCode.ADL_RANKING_VIOLATED)


def test_adl2_ranking_order_is_enforced() -> None:
    ledger = _ledger()
    rejects(ledger, _adl("carol", "bob"), ErrorCode.ADL_RANKING_VIOLATED)
    rejects(ledger, _adl("bob", "erin", "carol"), ErrorCode.ADL_RANKING_VIOLATED)
    # A bad counterparty is reported where it stands in the list, before a later violation.
    rejects(ledger, _adl("carol", "nobody", "bob"), ErrorCode.ADL_BAD_COUNTERPARTY)
    apply(ledger, _adl(*SHORTS))


def test_adl2_the_list_starts_at_the_top_and_skips_nobody() -> None:
    ledger = _ledger()
    # carol and erin in order, but bob, the top of the ranking, left out: their sizes
    # (0.2 BTC) fall short of the open interest (0.3 BTC), and the ledger is unchanged.
    assert ledger.market("BTC-PERP").open_interest == 3 * TENTH
    rejects(ledger, _adl("carol", "erin"), ErrorCode.ADL_RANKING_VIOLATED)
    # A prefix of the ranking skips erin, last; skipping the middle is refused too.
    rejects(ledger, _adl("bob", "carol"), ErrorCode.ADL_RANKING_VIOLATED)
    rejects(ledger, _adl("bob", "erin"), ErrorCode.ADL_RANKING_VIOLATED)
    rejects(ledger, _adl("bob"), ErrorCode.ADL_RANKING_VIOLATED)
    # The order is checked first: carol before bob is out of order whatever follows.
    rejects(ledger, _adl("carol", "bob"), ErrorCode.ADL_RANKING_VIOLATED)
    # Once bob has bought his short back (from dave, long), the whole side is carol and erin.
    trimmed = run([trade(fill(taker="dave", maker="bob", side=Side.SELL, dollars=55_000))], ledger)
    assert "BTC-PERP" not in trimmed.account("bob").positions
    apply(trimmed, _adl("carol", "erin"))


# --- ADL-3, ADL-4: the offset at the bankruptcy price ------------------------------------


def test_adl3_offsets_at_the_bankruptcy_price_in_order() -> None:
    ledger = _ledger()
    after = apply(ledger, _adl("bob", "carol", "erin"))
    # bob first: alice closes 0.1 of 0.2 at -DNNV - NC * DMMR / TMMR = 5,500 + 200 * 165 / 330
    # = 5,600 USD (56,000/BTC): bob's short closes with 6,000 - 5,600 = +400 (not +500).
    assert after.account("bob").positions.get("BTC-PERP") is None
    assert after.account("bob").balance("USDC") == 1_400 * USD
    # Then carol: alice's NC is now -100 on MMR 165: 5,500 + 100 = 5,600 again.
    assert after.account("carol").balance("USDC") == 2_400 * USD
    # alice is fully closed before erin's turn; erin is untouched.
    assert after.account("erin") is ledger.account("erin")
    # ADL-4: alice ends with no position and NC exactly 0.
    assert after.account("alice").positions.get("BTC-PERP") is None
    assert after.account("alice").balance("USDC") == 0
    assert _nc(after, "alice") == 0
    assert after.market("BTC-PERP").open_interest == TENTH  # dave's long remains


def _partial_ledger() -> Ledger:
    """BTC-PERP with a 0.05 BTC minimum: alice (1,200 USD) buys 0.2 from yuri at 61,000
    and 0.1 from xena at 60,000; lena buys 0.02 from xena and 0.13 from zoe. At 55,000
    the shorts rank yuri, zoe, xena; after yuri's 0.2, zoe (0.13) and xena (0.12) would
    each be left below the minimum by the remaining 0.1, so both are skipped."""
    hundredth = BTC // 100
    actions: list[Action] = [
        Deposit("alice", "USDC", 1_200 * USD),
        *[Deposit(name, "USDC", 10_000 * USD) for name in ("yuri", "xena", "zoe")],
        Deposit("lena", "USDC", BIG),
        trade(
            fill(maker="yuri", size=20 * hundredth, dollars=61_000),
            fill(maker="xena", size=10 * hundredth),
            fill(taker="lena", maker="xena", size=2 * hundredth),
            fill(taker="lena", maker="zoe", size=13 * hundredth),
        ),
    ]
    params = _params(min_position_size=5 * hundredth)
    return move_price(run(actions, example_genesis(params)), "BTC-USD", 55_000)


def test_adl4_partial_offset_shrinks_the_position() -> None:
    ledger = _partial_ledger()
    assert adl_ranking(ledger, "BTC-PERP", -1) == ["yuri", "zoe", "xena"]
    assert (_nc(ledger, "alice"), positions_mmr(ledger, "alice")) == (-500 * USD, 495 * USD)
    after = apply(ledger, _adl("yuri", "zoe", "xena"))
    assert after.account("alice").positions["BTC-PERP"].size == TENTH
    assert after.account("zoe") is ledger.account("zoe")
    assert after.account("xena") is ledger.account("xena")
    # Two thirds of the MMR gone, two thirds of the deficit (NC rounded up for alice):
    # NC / MMR stays -500 / 495 (ADL-3).
    assert (_nc(after, "alice"), positions_mmr(after, "alice")) == (-166_666_666, 165 * USD)


def test_adl3_deleveraging_every_market_ends_at_zero() -> None:
    # alice also buys 2 ETH from carol at 3,000; then BTC 55,000 and ETH 2,800.
    eth: list[Action] = [
        Deposit("alice", "USDC", 1_000 * USD),
        trade(fill(maker="carol", market="ETH-PERP", size=2 * BTC, dollars=3_000)),
    ]
    ledger = move_price(_ledger(extra=eth), "ETH-USD", 2_800)
    # 1,800 USD deposited; 0.2 BTC loses 1,000 and 2 ETH lose 400: NC 400 USD.
    assert _nc(ledger, "alice") == 400 * USD
    # BTC on to 52,500: 0.2 BTC loses 1,500: NC = 1,800 - 1,500 - 400 = -100 USD.
    ledger = move_price(ledger, "BTC-USD", 52_500)
    assert _nc(ledger, "alice") == -100 * USD
    # Positions' MMR: BTC 3% * 10,500 = 315; ETH 3% * 2,800 + 6% * 2,800 = 252 (tiers): 567.
    assert positions_mmr(ledger, "alice") == 567 * USD
    btc_done = apply(ledger, _adl(*SHORTS))
    # bob: DNNV -5,250, DMMR 157.5 of 567: floor(-100e6 * 157.5e6 / 567e6) = -27,777,778, so
    # NC -100e6 + 27,777,778 = -72,222,222; carol: DMMR 157.5 of 409.5:
    # floor(-72,222,222 * 157.5 / 409.5) = -27,777,778 again: NC -44,444,444 (still < 0).
    assert _nc(btc_done, "alice") == -44_444_444
    assert btc_done.account("alice").positions.get("BTC-PERP") is None
    done = apply(btc_done, _adl("carol", market="ETH-PERP"))  # the only ETH short
    assert done.account("alice").positions.get("ETH-PERP") is None
    assert _nc(done, "alice") == 0


def _min_size_ledger() -> Ledger:
    """BTC-PERP with a 0.05 BTC minimum: alice (800 USD) buys 0.2 from yuri; xena is short
    0.23 (to lena) and ranks first; offsetting 0.2 against her would leave her 0.03."""
    params = _params(min_position_size=5_000_000)
    actions: list[Action] = [
        Deposit("alice", "USDC", 800 * USD),
        Deposit("xena", "USDC", 10_000 * USD),
        Deposit("yuri", "USDC", 10_000 * USD),
        Deposit("lena", "USDC", BIG),
        trade(fill(maker="yuri", size=2 * TENTH)),
        trade(fill(taker="lena", maker="xena", size=23 * TENTH // 10)),
    ]
    return move_price(run(actions, example_genesis(params)), "BTC-USD", 55_000)


def test_adl3_counterparty_left_invalid_is_skipped() -> None:
    ledger = _min_size_ledger()
    # xena: upnl 1,150, notional 12,650, NC 11,150: score 1,304.7 USD; yuri: 1,000.
    assert adl_ranking(ledger, "BTC-PERP", -1) == ["xena", "yuri"]
    after = apply(ledger, _adl("xena", "yuri"))
    assert after.account("xena") is ledger.account("xena")
    assert after.account("yuri").positions.get("BTC-PERP") is None
    # alice: 0.2 closed at 11,000 + 200 = 11,200 USD; yuri gains 800 instead of 1,000.
    assert after.account("yuri").balance("USDC") == 10_800 * USD
    assert _nc(after, "alice") == 0


def test_adl3_no_valid_counterparty() -> None:
    # As _min_size_ledger, but yuri is short 0.22 (0.02 more to lena): offsetting alice's
    # 0.2 would leave xena 0.03 and yuri 0.02, both below the minimum: both are skipped.
    params = _params(min_position_size=5_000_000)
    actions: list[Action] = [
        Deposit("alice", "USDC", 800 * USD),
        Deposit("xena", "USDC", 10_000 * USD),
        Deposit("yuri", "USDC", 10_000 * USD),
        Deposit("lena", "USDC", BIG),
        trade(
            fill(maker="yuri", size=2 * TENTH),
            fill(taker="lena", maker="xena", size=23 * TENTH // 10),
            fill(taker="lena", maker="yuri", size=TENTH // 5),
        ),
    ]
    ledger = move_price(run(actions, example_genesis(params)), "BTC-USD", 55_000)
    ranking = adl_ranking(ledger, "BTC-PERP", -1)
    assert sorted(ranking) == ["xena", "yuri"]
    rejects(ledger, _adl(*ranking), ErrorCode.ADL_NO_VALID_COUNTERPARTY)


# --- ADL-5, INS-6: withdrawals wait after a deficit is seen -----------------------------


def test_adl5_withdrawals_gated_after_deleveraging() -> None:
    ledger = _ledger()
    after = apply(ledger, _adl(*SHORTS))
    assert after.gate_until == ledger.now + 300 == 301
    rejects(after, Withdraw("bob", "USDC", 1), ErrorCode.WITHDRAWALS_GATED)
    rejects(after, Transfer("bob", "dave", "USDC", 1), ErrorCode.WITHDRAWALS_GATED)
    # Deposits are never gated.
    apply(after, Deposit("bob", "USDC", 1))
    rejects(run([AdvanceTime(300)], after), Withdraw("bob", "USDC", 1), ErrorCode.WITHDRAWALS_GATED)
    opened = run([AdvanceTime(301)], after)
    assert apply(opened, Withdraw("bob", "USDC", 1_400 * USD)).account("bob").balance("USDC") == 0
    apply(opened, Transfer("carol", "dave", "USDC", 1))


# --- ADL-6: socialised loss ---------------------------------------------------------------


def _socialise_ledger(fund: int = 0, extra: Sequence[Action] = ()) -> Ledger:
    """SOCIALISE BTC-PERP: alice (400 USD) buys 0.1 from bob at 60,000; BTC falls to
    55,000 (NC -100, MMR 165, fillable price 54,835, bankruptcy quote 5,600 USD)."""
    actions: list[Action] = [
        Deposit("alice", "USDC", 400 * USD),
        Deposit("bob", "USDC", BIG),
        Deposit("carol", "USDC", BIG),
        Deposit("frank", "USDC", BIG),
        trade(fill()),
        *extra,
    ]
    if fund:
        actions.append(FundInsurance("frank", fund))
    params = _params(deficit_policy=DeficitPolicy.SOCIALISE)
    return move_price(run(actions, example_genesis(params)), "BTC-USD", 55_000)


def _liquidate(ledger: Ledger, counterparty: str = "carol") -> Ledger:
    return apply(ledger, Liquidate("BTC-PERP", "alice", counterparty, TENTH, usd_price(54_835), 0))


def _touch(ledger: Ledger, name: str) -> Ledger:
    return apply(ledger, Withdraw(name, "USDC", 1))


def test_adl6_loss_is_socialised_when_the_fund_is_empty() -> None:
    after = _liquidate(_socialise_ledger())
    # The fund (empty) pays nothing; the pool pays alice the 116.50 USD shortfall.
    assert after.insurance_fund["USDC"] == 0
    assert after.account("alice").balance("USDC") == 0
    state = after.market("BTC-PERP")
    assert state.pool == -116_500_000
    # Open positions: bob's short and carol's new long, 0.2 BTC in all:
    # 116,500,000 * 10**18 / 20,000,000 = 5,825,000,000,000,000,000 per base unit.
    assert state.loss_index == 116_500_000 * LOSS_SCALE // (2 * TENTH) == 5_825_000_000_000_000_000
    assert pool_covers_claims(after, "BTC-PERP")
    # Each pays its share when touched (after the withdrawal gate): 58.25 USD for 0.1 BTC.
    later = run([AdvanceTime(after.gate_until)], after)
    bob = _touch(later, "bob")
    assert bob.account("bob").balance("USDC") == BIG - 1 - 58_250_000
    assert bob.market("BTC-PERP").pool == -58_250_000
    assert pool_covers_claims(bob, "BTC-PERP")
    both = _touch(bob, "carol")
    assert both.account("carol").balance("USDC") == BIG - 1 - 58_250_000
    assert both.market("BTC-PERP").pool == 0
    assert pool_covers_claims(both, "BTC-PERP")


def test_adl6_fund_pays_first_then_the_rest_is_socialised() -> None:
    after = _liquidate(_socialise_ledger(fund=100 * USD))
    assert after.insurance_fund["USDC"] == 0
    assert after.market("BTC-PERP").pool == -16_500_000
    assert after.market("BTC-PERP").loss_index == 16_500_000 * LOSS_SCALE // (2 * TENTH)
    assert after.liquidation_usage["alice"].insurance_lost == 100 * USD


def test_adl6_shares_round_up_and_leave_the_remainder_in_the_pool() -> None:
    # dave buys 3,000 base units from erin: open interest after the liquidation is
    # 10,003,000, so 20,006,000 base units share the loss.
    pair: list[Action] = [
        Deposit("dave", "USDC", BIG),
        Deposit("erin", "USDC", BIG),
        trade(fill(taker="dave", maker="erin", size=3_000)),
    ]
    after = _liquidate(_socialise_ledger(extra=pair))
    # ceil(116,500,000 * 10**18 / 20,006,000) = 5,823,253,024,092,772,169.
    assert after.market("BTC-PERP").loss_index == 5_823_253_024_092_772_169
    ledger = run([AdvanceTime(after.gate_until)], after)
    for name in ("bob", "carol", "dave", "erin"):
        ledger = _touch(ledger, name)
        assert pool_covers_claims(ledger, "BTC-PERP")
    # 0.1 BTC owes ceil(58,232,530.24) = 58,232,531; 3,000 units ceil(17,469.76) = 17,470.
    assert ledger.account("bob").balance("USDC") == BIG - 1 - 58_232_531
    assert ledger.account("dave").balance("USDC") == BIG - 1 - 17_470
    # 2 * 58,232,531 + 2 * 17,470 = 116,500,002: two units of rounding stay in the pool ...
    assert ledger.market("BTC-PERP").pool == 2
    # ... and reach the fund when the market empties (FND-4).
    closed = run(
        [
            trade(fill(taker="bob", maker="carol", size=TENTH, dollars=55_000)),
            trade(fill(taker="erin", maker="dave", size=3_000, dollars=55_000)),
        ],
        ledger,
    )
    assert (closed.market("BTC-PERP").pool, closed.insurance_fund["USDC"]) == (0, 2)


def test_adl6_no_position_left_to_share_the_loss() -> None:
    # bob, the only short, buys alice's long back: no open position would remain.
    rejects(
        _socialise_ledger(),
        Liquidate("BTC-PERP", "alice", "bob", TENTH, usd_price(54_835), 0),
        ErrorCode.INSURANCE_FUND_INSUFFICIENT,
    )


@settings(max_examples=100, deadline=None)
@given(
    short=st.booleans(),
    steps=st.integers(min_value=2, max_value=2_000),
    split=st.integers(min_value=1, max_value=PPM - 1),
    extra_ppm=st.integers(min_value=0, max_value=20_000),
    move=st.integers(min_value=2_000, max_value=15_000),
    bob_usd=st.integers(min_value=10_000, max_value=1_000_000),
)
def test_adl3_full_deleveraging_ends_at_exactly_zero(
    short: bool, steps: int, split: int, extra_ppm: int, move: int, bob_usd: int
) -> None:
    # alice opens 0.001 * steps BTC at 60,000 against bob and carol (split at random) with
    # her initial margin plus extra_ppm of the notional; BTC moves against her by `move`.
    size = steps * 100_000
    bob_part = max(min(size * split // PPM // 1_000 * 1_000, size - 1_000), 1_000)
    side = Side.SELL if short else Side.BUY
    market = example_params().market_by_id["BTC-PERP"]
    opening = usd_price(60_000)
    deposit = (
        tiered_requirement(market, size, opening, 10**6)[0]
        + notional(size, opening, 10**6) * extra_ppm // PPM
    )
    actions: list[Action] = [
        Deposit("alice", "USDC", deposit),
        Deposit("bob", "USDC", bob_usd * USD),
        Deposit("carol", "USDC", 100_000 * USD),
        trade(
            fill(side=side, maker="bob", size=bob_part), fill(side=side, maker="carol", size=size - bob_part)
        ),
    ]
    ledger = move_price(run(actions), "BTC-USD", 60_000 + move if short else 60_000 - move)
    assume(_nc(ledger, "alice") < 0)
    ranking = adl_ranking(ledger, "BTC-PERP", 1 if short else -1)
    assert sorted(ranking) == ["bob", "carol"]
    after = apply(ledger, _adl(*ranking))
    assert after.account("alice").positions.get("BTC-PERP") is None
    assert _nc(after, "alice") == 0 == after.account("alice").balance("USDC")
    # The counterparties closed at alice's bankruptcy price and took her whole deposit.
    gains = sum(
        after.account(n).balance("USDC") - ledger.account(n).balance("USDC") for n in ("bob", "carol")
    )
    assert gains == deposit
    assert after.market("BTC-PERP").open_interest == 0
