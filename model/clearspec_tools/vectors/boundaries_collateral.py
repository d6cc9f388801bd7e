"""Boundary and check cases of collateral liquidation (spec: collateral-liquidation.md).

Each threshold of CLQ-3, CLQ-4 and CLQ-1's liquidator check met exactly and
missed by one unit, the exits of CLQ-5 (a partial liquidation refused deep
under water, the asset taken whole), and one case per check of CLQ-1 in its
order. Thresholds are computed with the model's own functions.
"""

from __future__ import annotations

from collections.abc import Iterator

from clearspec.actions import Action, Deposit, Fill, LiquidateCollateral, SettleTrades, Side
from clearspec.collateral_liquidation import max_seize, protocol_fee
from clearspec.params import LiquidationParams, ProtocolParams, revise
from clearspec.state import Ledger, genesis
from clearspec.transition import apply
from clearspec_tools.examples import BTC, USD, example_params, usd_price, with_loan
from clearspec_tools.vectors.generate import Draft, draft_from

SCALE = 10**6  # the example feeds' scale
NAME = "collateral-liquidation"


def _loan(btc_dollars: int, btc: int, debt: int, params: ProtocolParams | None = None) -> Ledger:
    """Dave holds ``btc`` base units of BTC at ``btc_dollars`` and owes ``debt`` to
    Bob; Carol holds 1,000,000 USDC to liquidate with."""
    prices = {"BTC-USD": usd_price(btc_dollars), "ETH-USD": usd_price(3_000)}
    ledger = with_loan(genesis(params or example_params(), prices), "dave", "bob", "BTC", btc, debt)
    return apply(ledger, Deposit("carol", "USDC", 1_000_000 * USD))


def _bought(ledger: Ledger, repay: int) -> int:
    """CLQ-4: the most BTC ``repay`` buys at the ledger's price."""
    return max_seize(
        repay, ledger.price("BTC-USD"), SCALE, ledger.params.asset_by_id["BTC"].liquidation_bonus_ppm
    )


def _take(ledger: Ledger, repay: int, seize: int | None = None) -> LiquidateCollateral:
    return LiquidateCollateral(
        "dave", "carol", "BTC", repay, _bought(ledger, repay) if seize is None else seize
    )


def _pair(
    key: str, rule: str, what: str, at: tuple[Ledger, Action], past: tuple[Ledger, Action], code: str
) -> Iterator[Draft]:
    yield draft_from(
        f"boundary/{NAME}/{key}/at-edge",
        f"{what}: exactly at the edge, accepted",
        f"boundary:{rule}",
        at[0],
        [at[1]],
        (None,),
        (rule,),
    )
    yield draft_from(
        f"boundary/{NAME}/{key}/one-past",
        f"{what}: one unit past the edge, {code}",
        f"boundary:{rule}",
        past[0],
        [past[1]],
        (code,),
        (rule,),
    )


def _the_example() -> Ledger:
    """The chapter's example: 1 BTC at 59,000 USD against 54,000 USD of debt (HF 0.983)."""
    return _loan(59_000, BTC, 54_000 * USD)


def threshold_drafts() -> Iterator[Draft]:
    """CLQ-3 and CLQ-4 at their edges."""
    ledger = _the_example()
    half = 27_000 * USD
    yield from _pair(
        "close-factor",
        "CLQ-3",
        "repaying half the debt (HF above 0.95)",
        (ledger, _take(ledger, half)),
        (ledger, _take(ledger, half + 1)),
        "CLOSE_FACTOR_EXCEEDED",
    )
    yield from _pair(
        "bonus",
        "CLQ-4",
        "seizing the repayment's value plus the bonus, rounded down",
        (ledger, _take(ledger, half)),
        (ledger, _take(ledger, half, _bought(ledger, half) + 1)),
        "SEIZE_ABOVE_BONUS",
    )
    # BTC at 100 USD: one base unit is worth one quote base unit. 1,900 USD of
    # BTC at weight 0.9 is 1,710 USD, 0.95 of a 1,800 USD debt: the whole debt may go.
    debt = 1_800 * USD
    at, past = _loan(100, 1_900 * USD, debt), _loan(100, 1_900 * USD + 2, debt)
    yield from _pair(
        "health-factor-threshold",
        "CLQ-3",
        "repaying the whole debt at a health factor of exactly 0.95",
        (at, _take(at, debt)),
        (past, _take(past, debt)),
        "CLOSE_FACTOR_EXCEEDED",
    )
    # The dust threshold at 2,000 USD: a debt one base unit below it may be
    # repaid beyond the close factor, a debt at it may not (HF 0.97).
    dusty = revise(example_params(), liquidation=LiquidationParams(collateral_dust_threshold=2_000 * USD))
    below, at_dust = 2_000 * USD - 1, 2_000 * USD
    small = _loan(100, -(-below * 97 // 90), below, dusty)
    level = _loan(100, -(-at_dust * 97 // 90), at_dust, dusty)
    yield from _pair(
        "dust-threshold",
        "CLQ-3",
        "repaying 75 % of a debt just below the dust threshold",
        (small, _take(small, 1_500 * USD)),
        (level, _take(level, 1_500 * USD)),
        "CLOSE_FACTOR_EXCEEDED",
    )


def liquidator_drafts() -> Iterator[Draft]:
    """CLQ-1 check 16: the liquidator's quote covers ``repay + fee`` exactly, or
    falls one unit short; check 17: its margin after taking the collateral."""
    base = _the_example()
    action = _take(base, 10_000 * USD)
    fee = protocol_fee(action.repay, action.seize, base.price("BTC-USD"), SCALE, 100_000)
    ledgers = [apply(base, Deposit("erin", "USDC", action.repay + fee - short)) for short in (0, 1)]
    erin = LiquidateCollateral("dave", "erin", "BTC", action.repay, action.seize)
    yield from _pair(
        "liquidator-cash",
        "CLQ-6",
        "a liquidator holding exactly the repayment and the fee",
        (ledgers[0], erin),
        (ledgers[1], erin),
        "INSUFFICIENT_BALANCE",
    )
    # Erin, at initial margin on a 1 BTC long, would take on BTC's 20 % haircut.
    levered = apply(apply(base, Deposit("erin", "USDC", 3_000 * USD)), Deposit("bob", "USDC", 100_000 * USD))
    fill = Fill("BTC-PERP", "bob", "erin", Side.BUY, BTC, usd_price(59_000), 0, 0)
    levered = apply(levered, SettleTrades((fill,)))
    yield draft_from(
        f"boundary/{NAME}/liquidator-margin",
        "a liquidator left below initial margin by the collateral's haircut, MARGIN_INSUFFICIENT",
        "boundary:CLQ-1",
        levered,
        [LiquidateCollateral("dave", "erin", "BTC", 1_000 * USD, _bought(levered, 1_000 * USD))],
        ("MARGIN_INSUFFICIENT",),
        ("CLQ-1", "MRG-5"),
    )


def exit_drafts() -> Iterator[Draft]:
    """CLQ-5: deep under water (HF 0.933), a partial liquidation at the full
    bonus is refused and taking the BTC whole is accepted; at NC below zero, the
    whole BTC leaves bad debt and gates withdrawals."""
    deep = _loan(56_000, BTC, 54_000 * USD)
    yield draft_from(
        f"boundary/{NAME}/ratio/partial-refused",
        "a partial liquidation that lowers the account's ratio, LIQUIDATION_LOWERS_RATIO",
        "boundary:CLQ-5",
        deep,
        [_take(deep, 30_000 * USD)],
        ("LIQUIDATION_LOWERS_RATIO",),
        ("CLQ-5",),
    )
    yield draft_from(
        f"boundary/{NAME}/ratio/whole-accepted",
        "the asset taken whole for the whole debt, accepted",
        "boundary:CLQ-5",
        deep,
        [_take(deep, 54_000 * USD, BTC)],
        (None,),
        ("CLQ-5",),
    )
    crash = _loan(50_000, BTC, 54_000 * USD)
    repay = -(-50_000 * USD * 1_000_000 // 1_050_000)
    yield draft_from(
        f"boundary/{NAME}/ratio/bad-debt",
        "negative NC: the asset taken whole, the rest of the debt left as bad debt, withdrawals gated",
        "boundary:CLQ-5",
        crash,
        [_take(crash, repay, BTC)],
        (None,),
        ("CLQ-5", "CLQ-7", "INS-4", "INS-6"),
    )


def check_drafts() -> Iterator[Draft]:
    """One case per check of CLQ-1, in its order, each failing only that check."""
    ledger = _the_example()
    ok = _take(ledger, 1_000 * USD)
    positioned = apply(
        apply(ledger, Deposit("bob", "USDC", 100_000 * USD)), Deposit("erin", "USDC", 10_000 * USD)
    )
    positioned = apply(
        positioned,
        SettleTrades((Fill("BTC-PERP", "bob", "erin", Side.BUY, BTC // 100, usd_price(59_000), 0, 0),)),
    )
    cases: list[tuple[str, Ledger, LiquidateCollateral, str]] = [
        (
            "unknown-account",
            ledger,
            LiquidateCollateral("zed", "carol", "BTC", ok.repay, ok.seize),
            "UNKNOWN_ACCOUNT",
        ),
        (
            "unknown-liquidator",
            ledger,
            LiquidateCollateral("dave", "zed", "BTC", ok.repay, ok.seize),
            "UNKNOWN_ACCOUNT",
        ),
        ("self", ledger, LiquidateCollateral("dave", "dave", "BTC", ok.repay, ok.seize), "TRADE_SELF_MATCH"),
        (
            "unknown-asset",
            ledger,
            LiquidateCollateral("dave", "carol", "DOGE", ok.repay, ok.seize),
            "UNKNOWN_ASSET",
        ),
        (
            "zero-repay",
            ledger,
            LiquidateCollateral("dave", "carol", "BTC", 0, ok.seize),
            "NON_POSITIVE_AMOUNT",
        ),
        (
            "huge-repay",
            ledger,
            LiquidateCollateral("dave", "carol", "BTC", 10**30 + 1, ok.seize),
            "AMOUNT_TOO_LARGE",
        ),
        (
            "negative-seize",
            ledger,
            LiquidateCollateral("dave", "carol", "BTC", ok.repay, -1),
            "NON_POSITIVE_AMOUNT",
        ),
        (
            "huge-seize",
            ledger,
            LiquidateCollateral("dave", "carol", "BTC", ok.repay, 10**30 + 1),
            "AMOUNT_TOO_LARGE",
        ),
        (
            "has-positions",
            positioned,
            LiquidateCollateral("erin", "carol", "BTC", ok.repay, 1),
            "HAS_POSITIONS",
        ),
        ("healthy", ledger, LiquidateCollateral("carol", "dave", "BTC", ok.repay, 1), "NOT_LIQUIDATABLE"),
        ("not-held", ledger, LiquidateCollateral("dave", "carol", "ETH", ok.repay, 1), "COLLATERAL_NOT_HELD"),
        ("quote", ledger, LiquidateCollateral("dave", "carol", "USDC", ok.repay, 1), "COLLATERAL_NOT_HELD"),
        (
            "more-than-held",
            ledger,
            LiquidateCollateral("dave", "carol", "BTC", ok.repay, BTC + 1),
            "INSUFFICIENT_BALANCE",
        ),
        ("accepted", ledger, ok, ""),
    ]
    for key, state, action, code in cases:
        yield draft_from(
            f"boundary/{NAME}/checks/{key}",
            f"{key}: {code or 'accepted'}",
            "boundary:CLQ-1",
            state,
            [action],
            (code or None,),
            ("CLQ-1",),
        )


def collateral_liquidation_drafts() -> Iterator[Draft]:
    """Every collateral-liquidation case."""
    yield from threshold_drafts()
    yield from liquidator_drafts()
    yield from exit_drafts()
    yield from check_drafts()
