"""The transitions the prover runs, each as an action with symbolic fields.

Every action type of the model appears at least once. Where tracing cannot
reach — signature checks (cryptography) and the median's sort — the proof runs
the model with those two replaced for a *fixed order*: reports arrive sorted by
price and their signatures are taken as valid. The signature check and the
median are covered instead by the oracle theorem (ORA-8), CrossHair and tests;
the report says so next to each oracle obligation.

A case names the markets and assets it acts on by role (``clearspec_proofs.roles``:
``w.role(QUOTE)``, ``w.role(PERPETUAL)`` ...), resolved from the parameter set
being proved; a case whose roles the set lacks is not applicable (``needs``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from clearspec import oracle
from clearspec.actions import (
    Action,
    AdvanceTime,
    ApplyFunding,
    CoverBadDebt,
    Deleverage,
    Deposit,
    Fill,
    FundInsurance,
    Liquidate,
    LiquidateCollateral,
    OracleUpdate,
    PremiumSample,
    PriceReport,
    ReportNegativeCollateral,
    SettleExpiry,
    SettleTrades,
    Side,
    Transfer,
    Withdraw,
)
from clearspec.errors import ErrorCode
from clearspec.params import MAX_AMOUNT, ProtocolParams
from clearspec_proofs.roles import Role, resolve
from clearspec_proofs.symbolic import Shape, World

QUOTE, COLLATERAL, PERPETUAL = Role.QUOTE, Role.COLLATERAL, Role.PERPETUAL
DATED, DELEVERAGE, FEED = Role.DATED, Role.DELEVERAGE, Role.FEED

# Positions in the set's first perpetual and one more (roles.resolve: a
# deleveraging one if any), the quote asset and one collateral asset.
PERPS = Shape()
# a0 may have been liquidated earlier in this block (LIQ-5: symbolic usage).
LIQUIDATION = Shape(usage=("a0",))
# One dated market, every account holding it, the clock symbolic (before or past
# its expiry), no final price yet.
EXPIRY = Shape(accounts=("a0", "a1", "a2"), markets=(DATED,), symbolic_now=True)
# The same after a first settlement fixed the final price; the oracle has moved on.
SETTLED = Shape(accounts=("a0", "a1", "a2"), markets=(DATED,), settled=(DATED,), symbolic_now=True)
# ADL-2's ranking: a0 long three steps of the deleverage market, deleveraged
# against a1 and a2, short one and two steps (the market sums to zero); whatever
# their order, two offsets close a0. The sizes are fixed so that two offsets in a
# row stay linear in the price; the scores stay symbolic (prices, quotes, balances free).
RANKED = Shape(markets=(DELEVERAGE,), collateral=(), steps=(("a0", 3), ("a1", -1), ("a2", -2)))
# LIQ-5: the first liquidation of a0 in this block (no usage yet). The sizes are
# fixed (a0 long two steps, a1 and a2 short one each), the rest symbolic:
# "liquidate" proves every size with a0's usage symbolic, which its first
# liquidation in a market (done = 0) is a case of; this world runs the line
# that opens the block's usage.
FIRST_IN_BLOCK = Shape(markets=(PERPETUAL,), collateral=(), steps=(("a0", 2), ("a1", -1), ("a2", -1)))
# Two perpetuals and the quote asset (no collateral asset): a batch in two
# markets. The sizes are fixed (trade-buy and trade-sell prove every size).
TWO_MARKETS = Shape(collateral=(), steps=(("a0", 1), ("a1", -2), ("a2", 1)))
# ADL-3's leftovers: a0 and a3 long one step each, a1 and a2 short one step each
# (equal sizes, scores free: equal or not). Deleveraging a0 against a1 then a2:
# a1 closes a0 and a2 is not used, or a1 is skipped and a2 takes it, or both are
# skipped.
LEFTOVER = Shape(
    accounts=("a0", "a1", "a2", "a3"),
    markets=(DELEVERAGE,),
    collateral=(),
    steps=(("a0", 1), ("a1", -1), ("a2", -1), ("a3", 1)),
)
# One dated market, the clock symbolic (a trade may come before or after expiry).
DATED_ONLY = Shape(markets=(DATED,), collateral=(), symbolic_now=True)
# Accounts holding the dated market and a perpetual.
EXPIRY_AND_PERP = Shape(
    accounts=("a0", "a1", "a2"), markets=(DATED, PERPETUAL), collateral=(), symbolic_now=True
)
# a2 holds collateral only, so it can be the subject of bad-debt actions.
FLAT = Shape(accounts=("a0", "a1", "a2"), markets=(PERPETUAL,), flat=("a2",))


@dataclass(frozen=True)
class TransitionCase:
    """One transition as the prover runs it."""

    name: str
    rules: str
    shape: Shape
    build: Callable[[World], Action]
    fixed_order: bool = False  # the oracle's sort and signatures are fixed (see module doc)
    expiry: bool = False
    # The roles the action names or its shape's markets must hold (roles.Role):
    # a parameter set without one of them makes the case not applicable.
    needs: tuple[Role, ...] = ()
    # ERR-1: the code every state must reject the action with, for an action the
    # spec always refuses (a self-transfer, covering an account with positions).
    rejects: ErrorCode | None = None
    # A further condition on the set's numbers (a fixed-size world must fit its
    # limits): why the case cannot be formed, or None.
    fits: Callable[[ProtocolParams], str | None] | None = None

    def not_applicable(self, params: ProtocolParams) -> str | None:
        """Why the case cannot be formed on ``params`` (a role it needs is
        missing, or its world does not fit the set), or None when it applies."""
        missing = resolve(params).missing(self.needs)
        if missing is None and self.fits is not None:
            return self.fits(params)
        return missing

    def applies(self, params: ProtocolParams) -> bool:
        """Whether ``params`` has every role the case needs."""
        return self.not_applicable(params) is None


def _update(world: World) -> OracleUpdate:
    """An update of the role FEED by the first reporters of the set (roles.REPORTS
    of them, or the quorum if larger), each report's fields symbolic."""
    feed = world.role(FEED)
    return OracleUpdate(feed, _reports(world, feed, world.roles.reporters))


def _reports(world: World, feed: str, reporters: tuple[str, ...]) -> tuple[PriceReport, ...]:
    reports = []
    params = world.ledger.params
    deployment, decimals = params.deployment_id, params.feed_by_id[feed].price_decimals
    for i, reporter in enumerate(reporters):
        price = world.var(f"report[{i}].price")
        timestamp = world.var(f"report[{i}].timestamp")
        round_ = world.var("report.round")
        signature = b"\x01" * 64
        reports.append(PriceReport(feed, price, timestamp, round_, reporter, signature, deployment, decimals))
        if i:
            world.assume(reports[i - 1].price <= price)  # the fixed order: sorted by price
    return tuple(reports)


def _fill(world: World, side: Side, market: str | None = None) -> SettleTrades:
    """One fill of a0 (maker) with a1 (taker), every number symbolic, in ``market``
    (by default the role PERPETUAL)."""
    market = world.role(PERPETUAL) if market is None else market
    return SettleTrades(
        (
            Fill(
                market,
                "a0",
                "a1",
                side,
                world.var("fill.size"),
                world.var("fill.price"),
                world.var("fill.maker_fee_ppm"),
                world.var("fill.taker_fee_ppm"),
            ),
        )
    )


def _liquidation(world: World) -> Liquidate:
    """a1 takes a fill of a0's position in the role PERPETUAL, every number symbolic."""
    return Liquidate(
        world.role(PERPETUAL), "a0", "a1", world.var("fill.size"), world.var("fill.price"), world.var("fee")
    )


def _two_fills(world: World) -> SettleTrades:
    """TRD-4 over a batch in two markets: a0 sells to a1 in the first perpetual,
    a2 buys from a1 in the second; a1 trades in both, and each fill counts only
    towards its own market's position. The second fill is one step of its
    market (its price and fees symbolic), which keeps the margin checks of a
    batch in two markets within the solver's reach."""
    first, second = world.roles.perpetuals[:2]
    step = world.ledger.params.market_by_id[second].step_size
    return SettleTrades(
        (
            Fill(
                first,
                "a0",
                "a1",
                Side.BUY,
                world.var("fill.size"),
                world.var("fill.price"),
                world.var("fill.maker_fee_ppm"),
                world.var("fill.taker_fee_ppm"),
            ),
            Fill(
                second,
                "a1",
                "a2",
                Side.BUY,
                step,
                world.var("fill2.price"),
                world.var("fill2.maker_fee_ppm"),
                world.var("fill2.taker_fee_ppm"),
            ),
        )
    )


def _two_perpetuals(params: ProtocolParams) -> str | None:
    """Why the two-market batch cannot be formed (the set has one perpetual), or None."""
    perpetuals = resolve(params).perpetuals
    if len(perpetuals) < 2:
        return "the parameter set has no second perpetual market"
    for market in (params.market_by_id[m] for m in perpetuals[:2]):
        if 2 * market.step_size > market.max_position:
            return f"{market.market_id}'s max_position is below two steps, the two-market world's size"
    return None


def _seize_from(world: World, account: str, amounts_valid: bool = False) -> LiquidateCollateral:
    """CLQ-1: a1 liquidates ``account``'s collateral, the repayment and the seized
    amount symbolic; with ``amounts_valid``, both within ``1..MAX_AMOUNT`` (so a
    case about a later check is not answered by the amount checks)."""
    repay, seize = world.var("repay"), world.var("seize")
    if amounts_valid:
        world.assume(repay >= 1, repay <= MAX_AMOUNT, seize >= 1, seize <= MAX_AMOUNT)
    return LiquidateCollateral(account, "a1", world.role(COLLATERAL), repay, seize)


def _steps_fit(shape: Shape, role: Role = DELEVERAGE) -> Callable[[ProtocolParams], str | None]:
    """Why ``shape``'s fixed sizes do not fit the position limit of the market
    ``role`` resolves to, or None when they do (the cases with fixed sizes need them)."""

    def fits(params: ProtocolParams) -> str | None:
        market = params.market_by_id[resolve(params).of(role)]
        largest = max(abs(steps) for _, steps in shape.steps) * market.step_size
        if largest > market.max_position:
            return f"{market.market_id}'s max_position is below {largest}, a fixed size of the world"
        return None

    return fits


_ranking_fits = _steps_fit(RANKED)
_first_in_block_fits = _steps_fit(FIRST_IN_BLOCK, PERPETUAL)


CASES: tuple[TransitionCase, ...] = (
    TransitionCase("deposit-quote", "COL-3", PERPS, lambda w: Deposit("a0", w.role(QUOTE), w.var("amount"))),
    TransitionCase(
        "deposit-collateral",
        "COL-3",
        PERPS,
        lambda w: Deposit("a0", w.role(COLLATERAL), w.var("amount")),
        needs=(COLLATERAL,),
    ),
    TransitionCase(
        "withdraw-quote", "COL-4", PERPS, lambda w: Withdraw("a0", w.role(QUOTE), w.var("amount"))
    ),
    TransitionCase(
        "withdraw-collateral",
        "COL-4",
        PERPS,
        lambda w: Withdraw("a0", w.role(COLLATERAL), w.var("amount")),
        needs=(COLLATERAL,),
    ),
    TransitionCase(
        "transfer", "COL-5", PERPS, lambda w: Transfer("a0", "a1", w.role(QUOTE), w.var("amount"))
    ),
    TransitionCase(
        "transfer-self",
        "COL-5",
        PERPS,
        lambda w: Transfer("a0", "a0", w.role(QUOTE), w.var("amount")),
        rejects=ErrorCode.SELF_TRANSFER,
    ),
    TransitionCase("advance-time", "CLK-1", PERPS, lambda w: AdvanceTime(w.var("now"))),
    TransitionCase("oracle-update", "ORA-1..ORA-10", PERPS, _update, fixed_order=True, needs=(FEED,)),
    TransitionCase("trade-buy", "TRD-1..TRD-8", PERPS, lambda w: _fill(w, Side.BUY), needs=(PERPETUAL,)),
    TransitionCase("trade-sell", "TRD-1..TRD-8", PERPS, lambda w: _fill(w, Side.SELL), needs=(PERPETUAL,)),
    TransitionCase(
        "premium-sample",
        "FND-1",
        PERPS,
        lambda w: PremiumSample(w.role(PERPETUAL), w.var("premium")),
        needs=(PERPETUAL,),
    ),
    TransitionCase(
        "apply-funding", "FND-2", PERPS, lambda w: ApplyFunding(w.role(PERPETUAL)), needs=(PERPETUAL,)
    ),
    TransitionCase(
        "liquidate",
        "LIQ-1..LIQ-7",
        LIQUIDATION,
        _liquidation,
        needs=(PERPETUAL,),
    ),
    TransitionCase(
        "deleverage",
        "ADL-1..ADL-5",
        PERPS,
        lambda w: Deleverage(w.role(DELEVERAGE), "a0", ("a1",)),
        needs=(DELEVERAGE,),
    ),
    # CLQ-*: a2 holds collateral only (no position), a1 liquidates it.
    TransitionCase(
        "liquidate-collateral",
        "CLQ-1..CLQ-7",
        FLAT,
        lambda w: _seize_from(w, "a2"),
        needs=(COLLATERAL,),
    ),
    # CLQ-2: positions are liquidated first.
    TransitionCase(
        "liquidate-collateral-positions",
        "CLQ-2",
        PERPS,
        lambda w: _seize_from(w, "a0", amounts_valid=True),
        needs=(COLLATERAL, PERPETUAL),
    ),
    TransitionCase("fund-insurance", "INS-1", PERPS, lambda w: FundInsurance("a0", w.var("amount"))),
    TransitionCase("report-negative", "INS-6", PERPS, lambda w: ReportNegativeCollateral("a0")),
    TransitionCase("cover-bad-debt", "INS-4", FLAT, lambda w: CoverBadDebt("a2")),
    # INS-4: an account holding position entries, each of symbolic size: refused
    # with HAS_POSITIONS unless every size is zero, and then covered exactly as
    # a flat account (a zero-size entry is no position, as for liquidate).
    TransitionCase(
        "cover-bad-debt-positions",
        "INS-4",
        PERPS,
        lambda w: CoverBadDebt("a0"),
        needs=(PERPETUAL,),
    ),
    TransitionCase(
        "settle-expiry",
        "EXP-1..EXP-4",
        EXPIRY,
        lambda w: SettleExpiry(w.role(DATED), ("a0", "a1")),
        expiry=True,
        needs=(DATED,),
    ),
    # EXP-1: a later settlement uses the final price fixed by the first one.
    TransitionCase(
        "settle-expiry-fixed",
        "EXP-1..EXP-4",
        SETTLED,
        lambda w: SettleExpiry(w.role(DATED), ("a0", "a1")),
        expiry=True,
        needs=(DATED,),
    ),
    # EXP-1, MRG-1: after the final price is fixed, margin values the positions at it.
    TransitionCase(
        "withdraw-settled",
        "COL-4",
        SETTLED,
        lambda w: Withdraw("a0", w.role(QUOTE), w.var("amount")),
        expiry=True,
        needs=(DATED,),
    ),
    # ADL-2 over two counterparties with symbolic scores, in both orders of their
    # ids: listed a1 then a2, equal scores are in ranking order; listed a2 then
    # a1, a2 must score strictly higher (the tie goes to the lower id).
    TransitionCase(
        "deleverage-two",
        "ADL-1..ADL-5",
        RANKED,
        lambda w: Deleverage(w.role(DELEVERAGE), "a0", ("a1", "a2")),
        needs=(DELEVERAGE,),
        fits=_ranking_fits,
    ),
    TransitionCase(
        "deleverage-two-reversed",
        "ADL-1..ADL-5",
        RANKED,
        lambda w: Deleverage(w.role(DELEVERAGE), "a0", ("a2", "a1")),
        needs=(DELEVERAGE,),
        fits=_ranking_fits,
    ),
    # ADL-3: a1 then a2, one step each against a0's one: a2 is used only if a1 is skipped.
    TransitionCase(
        "deleverage-leftover",
        "ADL-1..ADL-5",
        LEFTOVER,
        lambda w: Deleverage(w.role(DELEVERAGE), "a0", ("a1", "a2")),
        needs=(DELEVERAGE,),
        fits=_steps_fit(LEFTOVER),
    ),
    # COL-3, INV-1: a deposit that opens an account the ledger did not have.
    TransitionCase(
        "deposit-new-account", "COL-3", PERPS, lambda w: Deposit("a3", w.role(QUOTE), w.var("amount"))
    ),
    # COL-4, FND-3: a withdrawal from an account with no position to settle.
    TransitionCase("withdraw-flat", "COL-4", FLAT, lambda w: Withdraw("a2", w.role(QUOTE), w.var("amount"))),
    # EXP-2: an account settled in the dated market keeps its perpetual position.
    TransitionCase(
        "settle-expiry-keeps-perp",
        "EXP-1..EXP-4",
        EXPIRY_AND_PERP,
        lambda w: SettleExpiry(w.role(DATED), ("a0", "a1")),
        expiry=True,
        needs=(DATED, PERPETUAL),
    ),
    TransitionCase(
        "liquidate-first-in-block",
        "LIQ-1..LIQ-7",
        FIRST_IN_BLOCK,
        _liquidation,
        needs=(PERPETUAL,),
        fits=_first_in_block_fits,
    ),
    # TRD-4: one batch, two markets, one account in both.
    TransitionCase(
        "trade-two-markets",
        "TRD-1..TRD-8",
        TWO_MARKETS,
        _two_fills,
        needs=(PERPETUAL,),
        fits=_two_perpetuals,
    ),
    # TRD-2: a trade in a dated market, the clock before or past its expiry.
    TransitionCase(
        "trade-dated",
        "TRD-1..TRD-8",
        DATED_ONLY,
        lambda w: _fill(w, Side.BUY, w.role(DATED)),
        needs=(DATED,),
    ),
)


@contextmanager
def fixed_order_oracle() -> Iterator[None]:
    """Replace the two steps tracing cannot reach (see the module docstring)."""
    saved = oracle.signature_valid, oracle.lower_median

    def median_of_sorted(prices: Sequence[int]) -> int:
        return prices[(len(prices) - 1) >> 1]

    oracle.signature_valid = lambda public_key, report: True
    oracle.lower_median = median_of_sorted
    try:
        yield
    finally:
        oracle.signature_valid, oracle.lower_median = saved
