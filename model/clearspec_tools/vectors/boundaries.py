"""Boundary cases: each threshold met exactly and missed by one unit (spec: vectors.md).

Implementations go wrong at the edges: ``>`` for ``>=``, a rounding toward zero
where the spec floors, a 64-bit overflow. Each case here sits on one edge and
its twin one unit past it; the thresholds are computed with the model's own
functions, so they stay exact when parameters change.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

from clearspec.actions import (
    Action,
    AdvanceTime,
    ApplyFunding,
    Deposit,
    Fill,
    Liquidate,
    OracleUpdate,
    PremiumSample,
    SettleExpiry,
    SettleTrades,
    Side,
    Withdraw,
)
from clearspec.margin import account_risk
from clearspec.params import MAX_AMOUNT, PPM
from clearspec.state import Ledger
from clearspec.transition import apply
from clearspec_tools.examples import BTC, USD, example_genesis, signed_update, usd_price
from clearspec_tools.vectors.boundaries_collateral import collateral_liquidation_drafts
from clearspec_tools.vectors.generate import Draft, draft_from


def _run(ledger: Ledger, *actions: Action) -> Ledger:
    for action in actions:
        ledger = apply(ledger, action)
    return ledger


def _pair(
    name: str, rule: str, what: str, at: tuple[Ledger, Action], past: tuple[Ledger, Action], code: str
) -> Iterator[Draft]:
    """The edge accepted, and one unit past it rejected with ``code``."""
    yield draft_from(
        f"boundary/{name}/at-edge",
        f"{what}: exactly at the edge, accepted",
        f"boundary:{name}",
        at[0],
        [at[1]],
        (None,),
        (rule,),
    )
    yield draft_from(
        f"boundary/{name}/one-past",
        f"{what}: one unit past the edge, {code}",
        f"boundary:{name}",
        past[0],
        [past[1]],
        (code,),
        (rule,),
    )


def _funded() -> Ledger:
    return _run(
        example_genesis(), Deposit("alice", "USDC", 10_000 * USD), Deposit("bob", "USDC", 10_000 * USD)
    )


def amount_drafts() -> Iterator[Draft]:
    """Zero, one unit, the largest amount (PAR-1, COL-3, COL-4)."""
    empty = example_genesis()
    yield from _pair(
        "deposit-largest",
        "PAR-1",
        "a deposit of MAX_AMOUNT (10^30, beyond 64 and 96 bits)",
        (empty, Deposit("alice", "USDC", MAX_AMOUNT)),
        (empty, Deposit("alice", "USDC", MAX_AMOUNT + 1)),
        "AMOUNT_TOO_LARGE",
    )
    yield from _pair(
        "deposit-smallest",
        "COL-3",
        "a deposit of one base unit",
        (empty, Deposit("alice", "BTC", 1)),
        (empty, Deposit("alice", "BTC", 0)),
        "NON_POSITIVE_AMOUNT",
    )
    funded = _funded()
    held = funded.account("alice").balance("USDC")
    yield from _pair(
        "withdraw-whole-balance",
        "COL-4",
        "a withdrawal of the whole balance (the balance leaves the state)",
        (funded, Withdraw("alice", "USDC", held)),
        (funded, Withdraw("alice", "USDC", held + 1)),
        "INSUFFICIENT_BALANCE",
    )
    big = _run(empty, Deposit("alice", "USDC", MAX_AMOUNT), Deposit("alice", "USDC", MAX_AMOUNT))
    yield draft_from(
        "boundary/balance-above-max-amount/withdraw",
        "a balance of 2 x MAX_AMOUNT, withdrawn in two",
        "boundary:largest",
        big,
        [Withdraw("alice", "USDC", MAX_AMOUNT)] * 2,
        (None, None),
        ("PAR-1",),
    )


def _open(ledger: Ledger, size: int, dollars: int, side: Side = Side.BUY) -> Ledger:
    fill = Fill("BTC-PERP", "bob", "alice", side, size, usd_price(dollars), 0, 0)
    return _run(ledger, SettleTrades((fill,)))


def margin_drafts() -> Iterator[Draft]:
    """Initial margin met exactly (MRG-5) and maintenance met exactly (MRG-6, LIQ-1)."""
    ledger = _open(_funded(), 10 * BTC // 100, 60_000)
    risk = account_risk(ledger, ledger.account("alice"))
    free = risk.nc - risk.imr
    yield from _pair(
        "withdraw-to-initial-margin",
        "MRG-5",
        "a withdrawal that leaves NC exactly at IMR",
        (ledger, Withdraw("alice", "USDC", free)),
        (ledger, Withdraw("alice", "USDC", free + 1)),
        "MARGIN_INSUFFICIENT",
    )
    # Maintenance: the price at which alice's long is exactly at MMR, found by
    # bisection on the model's own account_risk; the pre-state carries it.
    lean = _run(ledger, Withdraw("alice", "USDC", free))
    feed = "BTC-USD"

    def at_price(price: int) -> Ledger:
        old = lean.prices[feed]
        return replace(lean, prices=lean.prices.set(feed, replace(old, price=price)))

    def healthy(price: int) -> bool:
        r = account_risk(at_price(price), lean.account("alice"))
        return r.nc >= r.mmr

    low, high = 1, lean.price(feed)  # healthy(high), not healthy(low)
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (low, middle) if healthy(middle) else (middle, high)
    edge, past = at_price(high), at_price(low)
    size = 10 * BTC // 100
    liquidation = Liquidate(
        "BTC-PERP", "alice", "bob", size, lean.price(feed) - lean.price(feed) % usd_price(1), 0
    )
    yield draft_from(
        "boundary/maintenance/at-edge",
        "a liquidation of an account exactly at maintenance: NOT_LIQUIDATABLE",
        "boundary:maintenance",
        edge,
        [liquidation],
        ("NOT_LIQUIDATABLE",),
        ("MRG-6", "LIQ-1"),
    )
    price = past.price(feed)
    at_oracle = Liquidate("BTC-PERP", "alice", "bob", size, price - price % usd_price(1) + usd_price(1), 0)
    yield draft_from(
        "boundary/maintenance/one-below",
        "a liquidation of an account one price unit below maintenance",
        "boundary:maintenance",
        past,
        [at_oracle],
        None,
        ("MRG-6", "LIQ-1"),
    )


def oracle_drafts() -> Iterator[Draft]:
    """Circuit breaker, report band, staleness and future skew met exactly (ORA-6, ORA-7, ORA-9)."""
    ledger = _run(example_genesis(), AdvanceTime(1_000))
    oracle = ledger.params.oracle
    last = ledger.price("BTC-USD")
    limit = last * oracle.max_deviation_ppm // PPM
    for direction, sign in (("down", -1), ("up", 1)):
        edge = last + sign * limit
        yield from _pair(
            f"circuit-breaker-{direction}",
            "ORA-9",
            f"an update moving the price {direction} by exactly max_deviation",
            (ledger, signed_update("BTC-USD", [edge] * 3, 1_000, 1)),
            (ledger, signed_update("BTC-USD", [edge + sign] * 3, 1_000, 1)),
            "ORACLE_CIRCUIT_BREAKER",
        )
    yield from _pair(
        "report-stale",
        "ORA-6",
        "a report exactly max_age old",
        (ledger, signed_update("BTC-USD", [last] * 3, 1_000 - oracle.max_age, 1)),
        (ledger, signed_update("BTC-USD", [last] * 3, 1_000 - oracle.max_age - 1, 1)),
        "ORACLE_STALE_REPORT",
    )
    yield from _pair(
        "report-future",
        "ORA-6",
        "a report exactly max_future_skew ahead",
        (ledger, signed_update("BTC-USD", [last] * 3, 1_000 + oracle.max_future_skew, 1)),
        (ledger, signed_update("BTC-USD", [last] * 3, 1_000 + oracle.max_future_skew + 1, 1)),
        "ORACLE_FUTURE_REPORT",
    )
    band = last * oracle.report_band_ppm // PPM
    yield from _pair(
        "report-band",
        "ORA-7",
        "a report exactly report_band away from the median",
        (ledger, signed_update("BTC-USD", [last, last, last + band], 1_000, 1)),
        (ledger, signed_update("BTC-USD", [last, last, last + band + 1], 1_000, 1)),
        "ORACLE_OUT_OF_BAND",
    )
    quorum = oracle.quorum
    yield from _pair(
        "quorum",
        "ORA-7",
        "an update with exactly quorum reports",
        (ledger, signed_update("BTC-USD", [last] * quorum, 1_000, 1)),
        (ledger, signed_update("BTC-USD", [last] * (quorum - 1), 1_000, 1)),
        "ORACLE_QUORUM_NOT_MET",
    )
    yield from _context_drafts(ledger)
    yield from _interval_drafts(ledger)
    # ORA-8: the lower median of an even number of reports, given unsorted (the
    # sort is what CrossHair covers, PRF-3).
    yield draft_from(
        "boundary/median-even/lower",
        "four reports: the accepted price is the lower of the middle two",
        "boundary:median",
        ledger,
        [signed_update("BTC-USD", [last + 3, last, last + 1, last + 2], 1_000, 1)],
        (None,),
        ("ORA-8", "PRF-3"),
    )


def _context_drafts(ledger: Ledger) -> Iterator[Draft]:
    """ORA-2, ORA-4: the signed context and the round window, met exactly."""
    last = ledger.price("BTC-USD")
    params = ledger.params
    decimals = params.feed_by_id["BTC-USD"].price_decimals
    for name, what, past, code in (
        (
            "report-deployment",
            "a report signed for this deployment, then for another",
            signed_update("BTC-USD", [last] * 3, 1_000, 1, deployment=f"{params.deployment_id}-other"),
            "ORACLE_WRONG_DEPLOYMENT",
        ),
        (
            "report-decimals",
            "a report signed for the feed's decimals, then for two more",
            signed_update("BTC-USD", [last] * 3, 1_000, 1, decimals=decimals + 2),
            "ORACLE_WRONG_DECIMALS",
        ),
    ):
        yield from _pair(
            name,
            "ORA-2",
            what,
            (ledger, signed_update("BTC-USD", [last] * 3, 1_000, 1)),
            (ledger, past),
            code,
        )
    step_size = params.oracle.max_round_step
    yield from _pair(
        "round-step",
        "ORA-4",
        "a round exactly max_round_step above the last",
        (ledger, signed_update("BTC-USD", [last] * 3, 1_000, step_size)),
        (ledger, signed_update("BTC-USD", [last] * 3, 1_000, step_size + 1)),
        "ORACLE_ROUND_TOO_FAR",
    )


def _interval_drafts(ledger: Ledger) -> Iterator[Draft]:
    """ORA-10: after a first update to the edge of the interval's bound, a second
    one at the same clock value may stay on it but not go one unit further
    (within ORA-9 of the last price); in the next interval it may."""
    oracle = ledger.params.oracle
    reference = ledger.price("BTC-USD")
    edge = reference - reference * oracle.max_interval_move_ppm // PPM
    stepped = _run(ledger, signed_update("BTC-USD", [edge] * 3, 1_000, 1))
    yield from _pair(
        "interval-breaker",
        "ORA-10",
        "a second update in one interval at the interval's bound",
        (stepped, signed_update("BTC-USD", [edge] * 3, 1_000, 2)),
        (stepped, signed_update("BTC-USD", [edge - 1] * 3, 1_000, 2)),
        "ORACLE_INTERVAL_BREAKER",
    )
    start = (1_000 // oracle.breaker_interval + 1) * oracle.breaker_interval
    yield draft_from(
        "boundary/interval-breaker/next-interval",
        "the same move one unit further, in the next interval: accepted against the new reference",
        "boundary:interval-breaker",
        _run(stepped, AdvanceTime(start)),
        [signed_update("BTC-USD", [edge - 1] * 3, start, 2)],
        (None,),
        ("ORA-10",),
    )


def rounding_drafts() -> Iterator[Draft]:
    """Negative operands, where truncating division differs from floor (ARI-2)."""
    ledger = _funded()
    # A short at a price whose notional is not whole: floor(-s * P / S) rounds
    # away from zero, a truncating implementation gets one unit more.
    odd = usd_price(60_000) + 7 * usd_price(1)
    for side, label in ((Side.SELL, "short"), (Side.BUY, "long")):
        opened = _open(ledger, 1_000 * 7, 60_007, side)
        update = signed_update("BTC-USD", [odd + 1] * 3, 0, 1)
        yield draft_from(
            f"boundary/rounding/{label}-odd-notional",
            f"a {label} valued at a price with a fractional notional",
            "boundary:rounding",
            opened,
            [update, Withdraw("alice", "USDC", 1)],
            (None, None),
            ("ARI-2", "ARI-4", "MRG-1"),
        )
    # Funding with a negative premium: longs are paid, shorts pay; the index
    # moves by a negative amount and each payment is floored.
    opened = _open(ledger, 10 * BTC // 100 + 3_000, 60_000)
    for premium in (-7, -1, 1, 7):
        actions: list[Action] = [
            PremiumSample("BTC-PERP", premium),
            AdvanceTime(3_600),
            signed_update("BTC-USD", [usd_price(60_000)] * 3, 3_600, 1),
            ApplyFunding("BTC-PERP"),
            Withdraw("alice", "USDC", 1),
            Withdraw("bob", "USDC", 1),
        ]
        label = f"minus-{-premium}" if premium < 0 else f"plus-{premium}"
        yield draft_from(
            f"boundary/funding/premium-{label}",
            f"one funding interval at a premium of {premium} ppm: payments are floored against each account",
            "boundary:funding",
            opened,
            actions,
            (None,) * 6,
            ("FND-2", "FND-3", "ARI-2"),
        )


def theorem_drafts() -> Iterator[Draft]:
    """PAR-5 on the example set, which does not meet its premise: an account at
    maintenance, one accepted update within the circuit breaker, NC below zero."""
    ledger = _run(
        example_genesis(),
        Deposit("alice", "USDC", 3_000 * USD),
        Deposit("bob", "USDC", 100_000 * USD),
    )
    ledger = _open(ledger, BTC, 60_000)
    drop = usd_price(45_000)
    actions: list[Action] = [
        AdvanceTime(1),
        signed_update("BTC-USD", [drop] * 3, 1, 1),
        Liquidate("BTC-PERP", "alice", "bob", BTC, drop, 0),
    ]
    yield draft_from(
        "boundary/par-5/gap-past-bankruptcy",
        "a 25% gap (the breaker's limit) takes a 20x long far past bankruptcy",
        "boundary:PAR-5",
        ledger,
        actions,
        None,
        ("PAR-5", "LIQ-2"),
    )


def expiry_drafts() -> Iterator[Draft]:
    """EXP-4 with an empty fund: a DELEVERAGE market refuses, a SOCIALISE one
    settles and leaves the deficit visible as the account's negative NC."""
    from clearspec.params import DeficitPolicy, with_market

    for policy, intended in (
        (DeficitPolicy.DELEVERAGE, "INSURANCE_FUND_INSUFFICIENT"),
        (DeficitPolicy.SOCIALISE, None),
    ):
        params = with_market(example_genesis().params, "BTC-DEC", deficit_policy=policy)
        ledger = _run(
            example_genesis(params),
            Deposit("alice", "USDC", 3_000 * USD),
            Deposit("bob", "USDC", 100_000 * USD),
        )
        fill = Fill("BTC-DEC", "bob", "alice", Side.BUY, BTC, usd_price(60_000), 0, 0)
        ledger = _run(ledger, SettleTrades((fill,)))
        expiry = params.market_by_id["BTC-DEC"].expiry
        assert expiry is not None
        actions: list[Action] = [
            AdvanceTime(expiry + 1),
            signed_update("BTC-USD", [usd_price(45_000)] * 3, expiry + 1, 1),
            SettleExpiry("BTC-DEC", ("alice", "bob")),
        ]
        yield draft_from(
            f"boundary/expiry-deficit/{policy.value}",
            f"expiry settlement of a bankrupt long with an empty fund in a {policy.value} market",
            "boundary:expiry",
            ledger,
            actions,
            (None, None, intended),
            ("EXP-4", "INS-3"),
        )


def boundary_drafts() -> Iterator[Draft]:
    """Every boundary case."""
    yield from expiry_drafts()
    yield from amount_drafts()
    yield from margin_drafts()
    yield from oracle_drafts()
    yield from rounding_drafts()
    yield from theorem_drafts()
    yield from collateral_liquidation_drafts()
    from clearspec_tools.vectors.open_interest import open_interest_drafts  # it imports this package

    yield from open_interest_drafts()


__all__ = ["OracleUpdate", "boundary_drafts"]
