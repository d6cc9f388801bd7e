"""The crash replay: price paths through a population, driven by the model's own transitions.

Every change to the ledger is an action of :mod:`clearspec.actions` passed to
:func:`clearspec.transition.step`, so the simulation is the model: deposits and
opening trades (COL-3, TRD-*), signed oracle rounds (ORA-*), premium samples
and funding (FND-*), liquidations (LIQ-*), deleveraging (ADL-*) and the
insurance fund (INS-*), collateral liquidations of accounts that borrowed
quote against a coin (CLQ-*). What the simulation adds is only what the protocol
leaves to its operators: when to send which action (a liquidation engine and a
backstop liquidator, the counterparty of last resort), and bookkeeping for the
report. See guides/simulate.md for the choices made and why.

Per oracle update the engine re-examines only the accounts the health index
(:mod:`clearspec_tools.simulate.index`) says can have become liquidatable, plus the
accounts each accepted action names (STA-3). ``SimConfig.use_index=False``
examines every account with a position instead: the brute-force reference the
tests compare against.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import icontract
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from clearspec import invariants
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
    SettleTrades,
    Side,
)
from clearspec.collateral_liquidation import max_repay, max_seize
from clearspec.deleveraging import adl_score
from clearspec.errors import ErrorCode
from clearspec.liquidation import bankruptcy_quote, fillable_price_allows, insurance_fund_delta
from clearspec.margin import account_risk, notional, position_risk
from clearspec.oracle import breaker_reference
from clearspec.params import PPM, DeficitPolicy, MarketParams, ProtocolParams
from clearspec.positions import settle_account
from clearspec.render import describe
from clearspec.state import Ledger, genesis
from clearspec.transition import step, touched_accounts
from clearspec_tools.examples import example_genesis, reporter_keys, signed_update
from clearspec_tools.simulate.index import Coordinate, HealthIndex, derive, settled_risk
from clearspec_tools.simulate.paths import PricePath
from clearspec_tools.simulate.population import Population, tick_floor, tradable_markets

TREASURY = "treasury"
TOTALS = (
    "liquidations",
    "liquidated_notional",
    "liquidation_fees",
    "fund_paid_liquidations",
    "fund_paid_cover",
    "socialised",
    "deleverages",
    "deleveraged_notional",
    "passed_on",
    "breaker_splits",
    "interval_caps",
    "stuck",
    "setup_refused",
    "setup_actions",
    "collateral_liquidations",
    "collateral_repaid",
    "collateral_liquidation_fees",
    "collateral_stuck",
    "loans",
)
LENDER = "lender"
BACKSTOP = "backstop-{:02d}"
# Actions that make up the replay itself; a refusal of one means the replay did
# not happen as described (liquidations and deleveraging may be refused by design).
REPLAY_KINDS = frozenset({"setup", "clock", "oracle", "premium", "funding"})


class SimulationError(ValueError):
    """A replay cannot be set up: parameters, paths and population do not fit together."""


def _violation(error: icontract.ViolationError) -> str:
    """The violated contract's description and the parts of it that were false."""
    lines = str(error).splitlines()
    description = lines[1].split(": ")[0] if len(lines) > 1 else lines[0]
    false = [line for line in lines if line.endswith(" was False")]
    return f"contract violated: {description}" + (f" ({'; '.join(false)})" if false else "")


class _Abort(Exception):
    """A contract of the model failed: the ledger after it cannot be trusted."""


@dataclass(frozen=True)
class SimConfig:
    """How the replay drives the protocol (amounts in quote base units, rates in ppm)."""

    check_every: int = 60  # bars between global invariant checks (and at the end)
    premium_ppm: int = 13  # FND-1 sample per bar: 0.01 % per 8 h, Binance's default rate
    report_spread_ppm: int = 100  # reporters' disagreement around the bar price (ORA-7 median)
    insurance_fund: int | None = None  # INS-1 seed; None: 20 quote units (e.g. USD) per account
    liquidation_price_ppm: int = PPM  # 0: fill at the oracle price; PPM: at the fillable price (LIQ-3)
    liquidation_chunk_ppm: int = PPM  # part of a position closed per liquidation fill
    liquidator_fee_ppm: int = 0  # the backstop's fee as counterparty (LIQ-1)
    quote_decimals: int = 6
    base_decimals: int = 8
    use_index: bool = True  # False: examine every account after every update (reference)
    max_bar_move: int = 10  # a bar may move at most this factor (0: unbounded; paths.DEFAULT_MAX_MOVE)
    tolerate_refusals: bool = False  # True: refused set-up or path actions degrade the run, not fail it
    collateral_liquidation: bool = True  # False: borrowers below maintenance are left alone (no CLQ-1)


@dataclass(frozen=True)
class Check:
    """A global invariant checked at the configured interval and at the end."""

    name: str
    rule: str
    holds: Callable[[Ledger], bool]


def _asset_check(name: str, rule: str, test: Callable[[Ledger, str], bool], key: str) -> Check:
    return Check(f"{name}[{key}]", rule, lambda ledger: test(ledger, key))


def default_checks(params: ProtocolParams) -> list[Check]:
    """The model's global invariants (clearspec.invariants), one check per asset or market.
    The functions are looked up when they run, so a patched invariant is the one checked."""
    checks = []
    for asset in params.asset_by_id:
        checks.append(
            _asset_check("conserved", "INV-1", lambda ledger, x: invariants.conserved(ledger, x), asset)
        )
    for market in params.market_by_id:
        checks += [
            _asset_check("zero_sum", "INV-2", lambda ledger, x: invariants.zero_sum(ledger, x), market),
            _asset_check(
                "open_interest",
                "INV-6",
                lambda ledger, x: invariants.open_interest_matches(ledger, x),
                market,
            ),
            _asset_check(
                "pool_covers_claims",
                "FND-5",
                lambda ledger, x: invariants.pool_covers_claims(ledger, x),
                market,
            ),
            _asset_check(
                "positions_well_formed",
                "TRD-4",
                lambda ledger, x: invariants.positions_well_formed(ledger, x),
                market,
            ),
        ]
    for asset in params.asset_by_id:
        checks += [
            _asset_check("fee_pool_not_negative", "INV-3", lambda ledger, x: ledger.fee_pool[x] >= 0, asset),
            _asset_check(
                "insurance_fund_not_negative", "INS-3", lambda ledger, x: ledger.insurance_fund[x] >= 0, asset
            ),
        ]
    return checks


def reporter_signers(params: ProtocolParams) -> list[tuple[str, Ed25519PrivateKey]]:
    """Signing keys for the parameter set's reporters: the deterministic example keys
    (``clearspec_tools.examples.reporter_keys``) whose public keys it lists, in its order."""
    derived = {}
    for _, key in reporter_keys(64):
        derived[key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)] = key
    signers = [(name, derived[public]) for name, public in params.oracle.reporters if public in derived]
    if len(signers) < params.oracle.quorum:
        raise SimulationError(
            f"the parameter set lists {len(signers)} reporter(s) with example keys, its quorum is "
            f"{params.oracle.quorum}: the replay signs with clearspec_tools.examples.reporter_keys"
        )
    return signers


def initial_prices(params: ProtocolParams, paths: Sequence[PricePath]) -> dict[str, int]:
    """Each feed's first open; a feed without a path keeps the example genesis price,
    or, a feed the example does not have, a price on the tick of every market it
    prices (the prover's witness price, clearspec_proofs.roles)."""
    from clearspec_proofs.roles import witness_price

    prices = {p.feed: p.bars[0].open for p in paths}
    example = example_genesis().prices
    for feed in params.feed_by_id:
        if feed not in prices:
            prices[feed] = example[feed].price if feed in example else witness_price(params, feed)
    return prices


def initial_ledger(params: ProtocolParams, paths: Sequence[PricePath]) -> Ledger:
    """The genesis ledger of a replay: clock 0 at the first bar, the first prices."""
    unknown = [p.feed for p in paths if p.feed not in params.feed_by_id]
    if unknown:
        raise SimulationError(f"price path for unknown feed(s) {unknown}")
    return genesis(params, initial_prices(params, paths), now=0)


@dataclass
class Event:
    """A liquidation, deleveraging or bad-debt cover, for the report and the plots."""

    time: int  # seconds since the first bar
    kind: str
    account: str
    market: str
    size: int  # base units closed (signed: the account's side)
    price: int  # fill price (deleveraging: 0)
    oracle: int
    notional: int
    fund_delta: int  # what the insurance fund gained (negative: paid)
    socialised: int = 0
    passed_on: int = 0  # deficit borne by deleveraging counterparties
    detail: str = ""


@dataclass
class Series:
    """One row per bar for the plots."""

    time: list[int] = field(default_factory=list)
    prices: dict[str, list[int]] = field(default_factory=dict)
    fund: list[int] = field(default_factory=list)
    open_interest: dict[str, list[int]] = field(default_factory=dict)
    liquidations: list[int] = field(default_factory=list)
    deleverages: list[int] = field(default_factory=list)
    bad_debt: list[int] = field(default_factory=list)
    examined: list[int] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)  # wall clock per bar
    cpu: list[float] = field(default_factory=list)  # this process's CPU time per bar


@dataclass
class CheckTally:
    """How often each global check ran and passed, and the first failures."""

    runs: Counter[str] = field(default_factory=Counter)
    passed: Counter[str] = field(default_factory=Counter)
    rules: dict[str, str] = field(default_factory=dict)
    failures: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class SimResult:
    """Everything a replay produced; :mod:`clearspec_tools.simulate.report` turns it into files."""

    label: str
    params: ProtocolParams
    config: SimConfig
    paths: list[PricePath]
    population: Population
    start_time: int
    bars: int
    events: list[Event]
    series: Series
    checks: CheckTally
    fast_checks: int
    actions: Counter[str]
    rejections: Counter[str]
    totals: dict[str, int]
    initial_fund: int
    fund_min: tuple[int, int]  # (lowest insurance fund after any action of the replay, when)
    final_ledger: Ledger
    initial_nc: dict[str, int]
    final_nc: dict[str, int]
    examined: int
    updates: int
    setup_seconds: float
    replay_seconds: float
    aborted: str | None = None
    pending: list[str] = field(default_factory=list)
    liquidated_accounts: set[str] = field(default_factory=set)
    bankrupt_accounts: set[str] = field(default_factory=set)

    @property
    def refused(self) -> dict[str, int]:
        """Set-up and path actions the model refused, by ``kind:ERROR_CODE``: each one
        is a part of the replay that did not happen (a deposit, a price, a sample)."""
        return {key: n for key, n in sorted(self.rejections.items()) if key.split(":")[0] in REPLAY_KINDS}

    @property
    def degraded(self) -> bool:
        """The replay ran without some of its set-up or path actions."""
        return bool(self.refused)

    @property
    def passed(self) -> bool:
        """No check failed, no contract of the model was violated, and the whole
        replay happened (or the user asked to tolerate refusals: then it is degraded)."""
        complete = not self.degraded or self.config.tolerate_refusals
        return self.aborted is None and not self.checks.failures and complete


Progress = Callable[[int, int, dict[str, Any]], None]


@dataclass(frozen=True, slots=True)
class _Fill:
    """The liquidated account as the engine saw it, settled (FND-3), before a fill."""

    settled: Ledger
    name: str
    market: MarketParams
    held: int
    nc: int
    mmr: int


class Simulation:
    """One replay of ``paths`` (the first is the bar clock) through ``population``."""

    def __init__(
        self,
        params: ProtocolParams,
        paths: Sequence[PricePath],
        population: Population,
        config: SimConfig | None = None,
        *,
        checks: Sequence[Check] | None = None,
        progress: Progress | None = None,
        label: str = "",
    ) -> None:
        if not paths or not paths[0].bars:
            raise SimulationError("no bars to replay")
        self.params = params
        self.config = config or SimConfig()
        if self.config.check_every < 1:
            raise SimulationError("check_every must be at least 1")
        self.paths = list(paths)
        self.population = population
        self.label = label
        self.progress = progress
        self.checks = list(default_checks(params) if checks is None else checks)
        self.signers = reporter_signers(params)[: params.oracle.quorum]
        self.start = self.paths[0].bars[0].time
        self.ledger = initial_ledger(params, self.paths)
        self.markets = tradable_markets(params, [p.feed for p in self.paths])
        missing = {m for a in population.accounts for m, _ in a.positions} - set(self.markets)
        if missing:
            raise SimulationError(f"the population trades {sorted(missing)}, which has no price path here")
        self.index = HealthIndex()
        self.queue: set[str] = set()
        self.dirty: set[str] = set()
        self.pending: set[str] = set()
        self.debtors: set[str] = set()
        self.borrowers: set[str] = set()  # no position, a quote debt and a coin: re-examined on every price
        self.collateral_queue: set[str] = set()
        self.holders: dict[str, dict[str, int]] = {m.market_id: {} for m in params.markets}
        self.version: Counter[str] = Counter()
        self.price_epoch = 0
        self.scores: dict[tuple[str, str], tuple[int, int, int]] = {}
        self.backstops: list[str] = []
        self.events: list[Event] = []
        self.series = Series()
        self.tally = CheckTally()
        self.actions: Counter[str] = Counter()
        self.rejections: Counter[str] = Counter()
        self.totals: Counter[str] = Counter()
        self.fast_checks = 0
        self.examined = 0
        self.updates = 0
        self.aborted: str | None = None
        self.initial_fund = 0
        self.fund_min: tuple[int, int] | None = None  # tracked from the end of the set-up
        self.bankrupt: set[str] = set()
        self.liquidated: set[str] = set()

    # -- applying actions --------------------------------------------------------------

    def _apply(self, action: Action, kind: str) -> ErrorCode | None:
        """Apply one action through the model; track what it touched (STA-3)."""
        before = self.ledger
        try:
            outcome = step(before, action)
        except icontract.ViolationError as error:
            self.aborted = f"{describe(action)}: {_violation(error)}"
            self.tally.failures.append(
                {
                    "time": before.now,
                    "check": "transition contract",
                    "rule": "INV-1..INV-3",
                    "detail": self.aborted,
                }
            )
            raise _Abort from error
        if outcome.error is not None:
            self.rejections[f"{kind}:{outcome.error.value}"] += 1
            return outcome.error
        after = outcome.ledger
        # Contracts are off under python -O: the local checks run here instead.
        if not __debug__ and not invariants.local_invariants(before, after, touched_accounts(action)):
            self.aborted = f"{describe(action)}: local invariants INV-1..INV-3 fail"
            raise _Abort
        self.fast_checks += 1
        self.actions[kind] += 1
        self.ledger = after
        if self.fund_min is not None and after.insurance_fund is not before.insurance_fund:
            fund = after.insurance_fund[self.params.quote_asset]
            if fund < self.fund_min[0]:
                self.fund_min = (fund, after.now)
        for name in touched_accounts(action):
            self.version[name] += 1
            self.dirty.add(name)
            positions = after.accounts[name].positions
            for market_id, book in self.holders.items():
                position = positions.get(market_id)
                if position is None:
                    book.pop(name, None)
                else:
                    book[name] = position.size
        if after.prices is not before.prices:
            self.price_epoch += 1
            self.dirty.update(self.borrowers)
            for feed, price in after.prices.items():
                if price.price != before.prices[feed].price:
                    self._moved(("price", feed), price.price)
        if after.markets is not before.markets:
            for market_id, state in after.markets.items():
                old = before.markets[market_id]
                if state.funding_index != old.funding_index:
                    self._moved(("funding", market_id), state.funding_index)
                if state.loss_index != old.loss_index:
                    self._moved(("loss", market_id), state.loss_index)
        return None

    def _moved(self, coordinate: Coordinate, value: int) -> None:
        if self.config.use_index:
            self.dirty.update(self.index.move(coordinate, value))
        else:
            self.dirty.update(n for book in self.holders.values() for n in book)

    # -- examining accounts --------------------------------------------------------------

    def _examine(self, name: str) -> None:
        self.examined += 1
        health = derive(self.ledger, name)
        if health is None:
            self.index.forget(name)
            account = self.ledger.accounts[name]
            risk = account_risk(self.ledger, account)
            if risk.nc < 0:
                self.debtors.add(name)
            quote = self.params.quote_asset
            coins = any(b > 0 for a, b in account.balances.items() if a != quote)
            if coins and account.balance(quote) < 0:
                self.borrowers.add(name)
            else:
                self.borrowers.discard(name)
            if self.config.collateral_liquidation and risk.mmr > 0 and risk.nc < risk.mmr:
                self.collateral_queue.add(name)
            return
        if health.liquidatable:
            self.index.forget(name)
            if name not in self.pending:
                self.queue.add(name)
        else:
            self.pending.discard(name)
            if self.config.use_index:
                self.index.place(name, health)

    def _drain(self) -> None:
        """Examine what moved and liquidate what is liquidatable, until nothing is left."""
        while self.dirty or self.queue or self.collateral_queue:
            if self.dirty:
                names = sorted(self.dirty)
                self.dirty.clear()
                for name in names:
                    self._examine(name)
                continue
            if self.queue:
                name = min(self.queue)
                self.queue.discard(name)
                self._handle(name)
                continue
            name = min(self.collateral_queue)
            self.collateral_queue.discard(name)
            self._seize_collateral(name)
        if self.debtors and self.ledger.insurance_fund[self.params.quote_asset] > 0:
            self._cover_debts()

    # -- the liquidation engine ----------------------------------------------------------

    def _handle(self, name: str) -> None:
        """Liquidate (or deleverage) the account's positions, largest requirement
        first, until it is no longer liquidatable (MRG-6) or it is stuck."""
        for _ in range(256):
            settled = settle_account(self.ledger, name)
            nc, mmr = settled_risk(settled, name)
            account = settled.accounts[name]
            if not (mmr > 0 and nc < mmr) or not account.positions:
                break
            by_market = self.params.market_by_id
            market_id = max(
                account.positions,
                key=lambda m: (position_risk(settled, by_market[m], account.positions[m]).mmr, m),
            )
            if not self._liquidate(name, market_id, settled, nc, mmr):
                self.pending.add(name)
                self.totals["stuck"] += 1
                break
        self.dirty.add(name)

    def _seize_collateral(self, name: str) -> None:
        """CLQ-1..CLQ-7, the policy: a backstop repays as much of the debt as the
        close factor allows for the account's most valuable coin at the full bonus,
        the coin taken whole when that repayment buys all of it; until the account
        is above maintenance (MRG-6) or has no coin left."""
        quote = self.params.quote_asset
        backstop = self.backstops[0] if self.backstops else self._new_backstop()
        for _ in range(16):
            account = self.ledger.accounts[name]
            risk = account_risk(self.ledger, account)
            if account.positions or not (risk.mmr > 0 and risk.nc < risk.mmr):
                break
            coins = []
            for asset, balance in account.balances.items():
                feed = self.params.asset_by_id[asset].feed
                if asset != quote and balance > 0 and feed is not None:
                    scale = self.params.feed_by_id[feed].scale
                    coins.append((notional(balance, self.ledger.price(feed), scale), asset, balance, feed))
            if not coins:
                break
            value, asset, balance, feed = max(coins)
            price, scale = self.ledger.price(feed), self.params.feed_by_id[feed].scale
            bonus = self.params.asset_by_id[asset].liquidation_bonus_ppm
            limit = max_repay(self.ledger, risk, -account.balance(quote), value)
            # The repayment that buys the whole balance at the full bonus (CLQ-4).
            whole = -(-balance * price * PPM // ((PPM + bonus) * scale))
            repay = max(min(limit, whole), 1)
            seize = min(max_seize(repay, price, scale, bonus), balance)
            fund = self.ledger.insurance_fund[quote]
            action = LiquidateCollateral(name, backstop, asset, repay, max(seize, 1))
            if self._apply(action, "liquidate_collateral") is not None:
                self.totals["collateral_stuck"] += 1
                break
            fee = self.ledger.insurance_fund[quote] - fund
            self.totals["collateral_liquidations"] += 1
            self.totals["collateral_repaid"] += repay
            self.totals["collateral_liquidation_fees"] += fee
            self.liquidated.add(name)
            self.events.append(
                Event(self.ledger.now, "collateral_liquidation", name, asset, -seize, 0, price, repay, fee)
            )
        self.dirty.add(name)

    def _backstop(self, market: MarketParams, delta: int, avoid: set[str]) -> str:
        """A backstop account whose position in ``market`` can move by ``delta``
        within ``max_position`` (TRD-6); a new one is funded when none can."""
        for name in self.backstops:
            held = self.holders[market.market_id].get(name, 0)
            if name not in avoid and abs(held + delta) <= market.max_position:
                return name
        return self._new_backstop()

    def _new_backstop(self) -> str:
        name = BACKSTOP.format(len(self.backstops))
        # Enough for every tradable market's largest position at twice the first
        # price, so the backstop is never itself liquidatable (it is a
        # stand-in for the market's liquidity, not a participant under test).
        collateral = 0
        for market_id in self.markets:
            market = self.params.market_by_id[market_id]
            scale = self.params.feed_by_id[market.feed].scale
            collateral += 2 * notional(market.max_position, 2 * self.ledger.price(market.feed), scale)
        self._apply(Deposit(name, self.params.quote_asset, max(collateral, 1)), "setup")
        self.backstops.append(name)
        return name

    def _boundary(self, fill: _Fill) -> int:
        """LIQ-3: the worst tick price the fillable price allows (the lowest for a
        long, the highest for a short), by bisection on the model's own test."""
        market = fill.market
        tick = market.tick_size
        oracle = fill.settled.price(market.feed)

        def allowed(price: int) -> bool:
            return fillable_price_allows(fill.settled, fill.name, market.market_id, price, fill.nc, fill.mmr)

        if fill.held > 0:  # a long is sold at or above FP
            low, high = 0, -(-oracle // tick)  # in ticks; high is allowed (the oracle is)
            while high - low > 1:
                middle = (low + high) // 2
                if allowed(middle * tick):
                    high = middle
                else:
                    low = middle
            return high * tick
        low = oracle // tick  # a short is bought at or below FP; low is allowed
        high = 2 * low + 2
        while allowed(high * tick):
            high *= 2
        while high - low > 1:
            middle = (low + high) // 2
            if allowed(middle * tick):
                low = middle
            else:
                high = middle
        return low * tick

    def _prices(self, fill: _Fill) -> list[int]:
        """Fill prices to try, best for the backstop first: ``liquidation_price_ppm``
        of the way from the oracle price to the fillable price, then the oracle
        price, then prices better for the account (so the fund can afford it)."""
        tick = fill.market.tick_size
        oracle = fill.settled.price(fill.market.feed)
        long = fill.held > 0
        boundary = self._boundary(fill)
        near = tick_floor(oracle, tick) if long else -tick_floor(-oracle, tick)
        near = max(near, boundary) if long else min(near, boundary)
        reach = (near - boundary) if long else (boundary - near)
        kept = reach * (PPM - self.config.liquidation_price_ppm) // PPM // tick * tick
        target = boundary + kept if long else boundary - kept
        better = 1 if long else -1
        far = -tick_floor(-oracle, tick) if long else tick_floor(oracle, tick)
        prices = [target, near] + [far + better * k * tick for k in (0, 1, 2, 4, 8, 16, 32, 64)]
        return list(dict.fromkeys(p for p in prices if p > 0))

    def _liquidate(self, name: str, market_id: str, settled: Ledger, nc: int, mmr: int) -> bool:
        """Close the account's position in ``market_id`` (or a chunk of it) against a
        backstop; deleverage when the fund cannot pay (ADL-1). True on progress."""
        market = self.params.market_by_id[market_id]
        held = settled.accounts[name].positions[market_id].size
        step_size = market.step_size
        chunk = max(abs(held) * self.config.liquidation_chunk_ppm // PPM // step_size * step_size, step_size)
        if abs(held) - chunk < max(market.min_position_size, step_size):
            chunk = abs(held)
        fill = _Fill(settled, name, market, held, nc, mmr)
        counterparty = self._backstop(market, chunk if held > 0 else -chunk, set())
        for price in self._prices(fill):
            error, counterparty = self._fill(fill, chunk, price, counterparty)
            if error is None:
                return True
            if error is not ErrorCode.INSURANCE_FUND_INSUFFICIENT:
                return False
        fund = self.ledger.insurance_fund[self.params.quote_asset]
        if market.deficit_policy is DeficitPolicy.DELEVERAGE and nc < 0 and fund < -nc:
            return self._deleverage(name, market)
        return False

    def _fill(self, fill: _Fill, chunk: int, price: int, counterparty: str) -> tuple[ErrorCode | None, str]:
        """One liquidation fill at ``price``; a smaller size when the block limit
        refuses it (LIQ-5), a fresh backstop when the first cannot take it."""
        market = fill.market
        size = chunk
        fresh = False
        fund = self.ledger.insurance_fund[self.params.quote_asset]
        for _ in range(64):
            action = Liquidate(
                market.market_id, fill.name, counterparty, size, price, self.config.liquidator_fee_ppm
            )
            fund_delta = self._fund_delta(fill, size, price)
            error = self._apply(action, "liquidate")
            if error is None:
                self._record_liquidation(fill, size, price, fund_delta, fund)
                return None, counterparty
            if error is ErrorCode.LIQUIDATION_LIMIT_EXCEEDED and size > market.step_size:
                size = max(size // 2 // market.step_size * market.step_size, market.step_size)
                continue
            if error in (ErrorCode.POSITION_LIMIT_EXCEEDED, ErrorCode.MARGIN_INSUFFICIENT) and not fresh:
                counterparty, fresh = self._new_backstop(), True
                continue
            return error, counterparty
        return ErrorCode.LIQUIDATION_LIMIT_EXCEEDED, counterparty

    def _fund_delta(self, fill: _Fill, size: int, price: int) -> int:
        """LIQ-4: what the fill gives the fund (negative: what it costs), by the model's formulas."""
        scale = self.params.feed_by_id[fill.market.feed].scale
        amount = notional(size, price, scale)
        long = fill.held > 0
        received = amount if long else -amount
        bankrupt = bankruptcy_quote(
            fill.settled, fill.name, fill.market.market_id, -size if long else size, fill.nc, fill.mmr
        )
        return insurance_fund_delta(received, bankrupt, self.params.liquidation.max_liquidation_fee_ppm)

    def _record_liquidation(self, fill: _Fill, size: int, price: int, fund_delta: int, fund: int) -> None:
        market = fill.market
        amount = notional(size, price, self.params.feed_by_id[market.feed].scale)
        paid = min(max(-fund_delta, 0), fund)
        socialised = max(-fund_delta, 0) - paid
        fee = max(fund_delta, 0)
        self.totals["liquidations"] += 1
        self.totals["liquidated_notional"] += amount
        self.totals["liquidation_fees"] += fee
        self.totals["fund_paid_liquidations"] += paid
        self.totals["socialised"] += socialised
        if fill.nc < 0:
            self.bankrupt.add(fill.name)
        self.liquidated.add(fill.name)
        self.events.append(
            Event(
                self.ledger.now,
                "liquidation",
                fill.name,
                market.market_id,
                size if fill.held > 0 else -size,
                price,
                fill.settled.price(market.feed),
                amount,
                fee - paid,
                socialised,
            )
        )

    # -- deleveraging and bad debt -------------------------------------------------------

    def _score(self, name: str, market_id: str) -> int:
        key = (market_id, name)
        cached = self.scores.get(key)
        if cached is not None and cached[0] == self.price_epoch and cached[1] == self.version[name]:
            return cached[2]
        score = adl_score(self.ledger, name, market_id)
        self.scores[key] = (self.price_epoch, self.version[name], score)
        return score

    def ranking(self, market_id: str, side: int) -> list[str]:
        """ADL-2: the holders of ``side`` in the market, highest score first, ties by id:
        ``clearspec.deleveraging.adl_ranking`` over the holders the engine tracks, with
        the model's ``adl_score`` cached until a price or the account changes."""
        book = self.holders[market_id]
        holders = [n for n, size in book.items() if size * side > 0]
        return sorted(holders, key=lambda n: (-self._score(n, market_id), n))

    def _deleverage(self, name: str, market: MarketParams) -> bool:
        """ADL-1..ADL-5: offset the bankrupt position against the ranked opposite side."""
        progress = False
        market_id = market.market_id
        for _ in range(8):
            position = self.ledger.accounts[name].positions.get(market_id)
            if position is None:
                break
            nc, _ = settled_risk(self.ledger, name)
            if not (nc < 0 and self.ledger.insurance_fund[self.params.quote_asset] < -nc):
                break
            # ADL-2: the action lists the whole opposite side, in ranking order.
            chosen = self.ranking(market_id, -1 if position.size > 0 else 1)
            if not chosen:
                break
            before = {n: settled_risk(self.ledger, n)[0] for n in chosen}
            oracle = self.ledger.price(market.feed)
            error = self._apply(Deleverage(market_id, name, tuple(chosen)), "deleverage")
            if error is not None:
                break  # the same list on the same ledger would fail again
            self.bankrupt.add(name)
            after_size = self.ledger.accounts[name].positions.get(market_id)
            closed = abs(position.size) - (0 if after_size is None else abs(after_size.size))
            passed_on = sum(before[n] - settled_risk(self.ledger, n)[0] for n in chosen)
            scale = self.params.feed_by_id[market.feed].scale
            self.totals["deleverages"] += 1
            self.totals["deleveraged_notional"] += notional(closed, oracle, scale)
            self.totals["passed_on"] += passed_on
            self.events.append(
                Event(
                    self.ledger.now,
                    "deleverage",
                    name,
                    market_id,
                    closed if position.size > 0 else -closed,
                    0,
                    oracle,
                    notional(closed, oracle, scale),
                    0,
                    passed_on=passed_on,
                    detail=f"{len(chosen)} counterparties listed",
                )
            )
            progress = True
            if after_size is None:
                break
        return progress

    def _cover_debts(self) -> None:
        """INS-4: the fund tops up accounts left with no position and negative NC."""
        for name in sorted(self.debtors):
            fund = self.ledger.insurance_fund[self.params.quote_asset]
            if fund <= 0:
                return
            nc = account_risk(self.ledger, self.ledger.accounts[name]).nc
            if nc >= 0 or self.ledger.accounts[name].positions:
                self.debtors.discard(name)
                continue
            if self._apply(CoverBadDebt(name), "cover_bad_debt") is None:
                paid = min(fund, -nc)
                self.totals["fund_paid_cover"] += paid
                self.events.append(Event(self.ledger.now, "cover_bad_debt", name, "", 0, 0, 0, 0, -paid))
                if paid == -nc:
                    self.debtors.discard(name)

    # -- prices, funding and the clock ---------------------------------------------------

    def _advance(self, absolute: int) -> None:
        now = absolute - self.start
        if now > self.ledger.now:
            self._apply(AdvanceTime(now), "clock")

    def _round(self, feed: str, price: int) -> OracleUpdate:
        """ORA-2..ORA-7: one report per signer, spread around ``price`` so that the
        lower median is exactly ``price``."""
        count = len(self.signers)
        spread = min(self.config.report_spread_ppm, self.params.oracle.report_band_ppm)
        offset = price * spread // PPM
        lows = (count - 1) // 2
        prices = [price - offset] * lows + [price] + [price + offset] * (count - 1 - lows)
        round_ = self.ledger.prices[feed].round + 1
        decimals = self.params.feed_by_id[feed].price_decimals
        deployment = self.params.deployment_id
        return signed_update(
            feed, prices, self.ledger.now, round_, self.signers, deployment=deployment, decimals=decimals
        )

    def _price(self, feed: str, target: int) -> None:
        """Move a feed to ``target``: one update, or several when the move exceeds the
        circuit breaker (ORA-9), each at most 90 % of it. Within one breaker interval
        (ORA-10) the price goes no further than the interval's bound: the ledger's
        price then lags the path until the next interval."""
        oracle = self.params.oracle
        limit = oracle.max_deviation_ppm
        reference, _ = breaker_reference(self.ledger.prices[feed], self.ledger.now, oracle.breaker_interval)
        reach = reference * oracle.max_interval_move_ppm // PPM
        bounded = min(max(target, reference - reach, 1), reference + reach)
        if bounded != target:
            self.totals["interval_caps"] += 1
            target = bounded
        while True:
            current = self.ledger.price(feed)
            if current == target:
                return
            price = target
            if abs(target - current) * PPM > current * limit:
                move = max(current * limit * 9 // 10 // PPM, 1)
                price = current + move if target > current else current - move
                self.totals["breaker_splits"] += 1
            self.updates += 1
            if self._apply(self._round(feed, price), "oracle") is not None:
                return
            self._drain()

    def _funding(self) -> None:
        """FND-1, FND-2: a premium sample per bar, funding once per interval."""
        for market_id in self.markets:
            self._apply(PremiumSample(market_id, self.config.premium_ppm), "premium")
            market = self.params.market_by_id[market_id]
            if self.ledger.now >= self.ledger.markets[market_id].last_funding_at + market.funding_interval:
                self._apply(ApplyFunding(market_id), "funding")
        self._drain()

    # -- set-up ----------------------------------------------------------------------------

    def setup(self) -> None:
        """COL-3, INS-1, TRD-1: the population's deposits, the insurance fund's seed and
        the opening trades against the backstop, then every account examined."""
        quote = self.params.quote_asset
        for spec in self.population.accounts:
            for asset, amount in spec.deposits:
                self._apply(Deposit(spec.name, asset, amount), "setup")
        self._lend()
        fund = self.config.insurance_fund
        if fund is None:
            fund = 20 * 10**self.config.quote_decimals * len(self.population.accounts)
        if fund > 0:
            self._apply(Deposit(TREASURY, quote, fund), "setup")
            self._apply(FundInsurance(TREASURY, fund), "setup")
        self._new_backstop()
        for market_id in self.markets:
            market = self.params.market_by_id[market_id]
            price = tick_floor(self.ledger.price(market.feed), market.tick_size)
            fills: list[Fill] = []
            planned: Counter[str] = Counter()
            for spec in self.population.accounts:
                for held_market, size in spec.positions:
                    if held_market != market_id:
                        continue
                    maker = self._backstop_planned(market, -size, planned)
                    planned[maker] -= size
                    side = Side.BUY if size > 0 else Side.SELL
                    fills.append(Fill(market_id, maker, spec.name, side, abs(size), price, 0, 0))
            batch = self.params.max_batch_fills
            for i in range(0, len(fills), batch):
                chunk = tuple(fills[i : i + batch])
                if self._apply(SettleTrades(chunk), "setup") is not None:
                    for fill in chunk:  # find the refused fill: settle one by one
                        if self._apply(SettleTrades((fill,)), "setup") is not None:
                            self.totals["setup_refused"] += 1
        self.totals["setup_actions"] = sum(self.actions.values())
        for name in sorted(self.ledger.accounts):
            self._examine(name)
        self._drain()

    def _lend(self) -> None:
        """The borrowers' debts (COL-2): a quote debt arises only from a realised
        loss, so each borrower buys at the top of a market's price band from the
        lender (an account standing for the protocol's lenders) and sells back at
        the bottom, in one batch (TRD-1), for a loss of at least its debt."""
        borrowers = [spec for spec in self.population.accounts if spec.debt > 0]
        if not borrowers or not self.markets:
            return
        quote = self.params.quote_asset
        self._apply(Deposit(LENDER, quote, 1), "setup")
        for spec in borrowers:
            coin_feed = self.params.asset_by_id[spec.deposits[0][0]].feed
            market_id = next((m for m in self.markets if self.params.market_by_id[m].feed == coin_feed), None)
            market = self.params.market_by_id[market_id or self.markets[0]]
            price = self.ledger.price(market.feed)
            scale = self.params.feed_by_id[market.feed].scale
            tick, band = market.tick_size, price * market.price_band_ppm // PPM
            high = tick_floor(price + band, tick)
            low = -(-(price - band) // tick) * tick
            if high <= low:
                self.totals["setup_refused"] += 1
                continue
            # size * (high - low) / scale >= debt, in whole steps.
            size = -(-spec.debt * scale // (high - low))
            size = -(-size // market.step_size) * market.step_size
            fills = (
                Fill(market.market_id, LENDER, spec.name, Side.BUY, size, high, 0, 0),
                Fill(market.market_id, LENDER, spec.name, Side.SELL, size, low, 0, 0),
            )
            if self._apply(SettleTrades(fills), "setup") is None:
                self.totals["loans"] += 1
            else:
                self.totals["setup_refused"] += 1

    def _backstop_planned(self, market: MarketParams, delta: int, planned: Counter[str]) -> str:
        for name in self.backstops:
            if abs(planned[name] + delta) <= market.max_position:
                return name
        return self._new_backstop()

    # -- checks and records ----------------------------------------------------------------

    def _check(self) -> None:
        ledger = self.ledger
        for check in self.checks:
            self.tally.runs[check.name] += 1
            self.tally.rules[check.name] = check.rule
            if check.holds(ledger):
                self.tally.passed[check.name] += 1
            elif len(self.tally.failures) < 50:
                self.tally.failures.append(
                    {"time": ledger.now, "check": check.name, "rule": check.rule, "detail": "does not hold"}
                )
        # The engine's own promise (MRG-6): no account is liquidatable unnoticed. This
        # is what makes the index's shortcut safe to rely on; a brute-force scan.
        name = "no_liquidatable_account_left"
        self.tally.runs[name] += 1
        self.tally.rules[name] = "MRG-6"
        missed: set[str] = set()
        for holder in {n for book in self.holders.values() for n in book} - self.pending:
            nc, mmr = settled_risk(ledger, holder)
            if mmr > 0 and nc < mmr:
                missed.add(holder)
        if missed:
            self.tally.failures.append(
                {
                    "time": ledger.now,
                    "check": name,
                    "rule": "MRG-6",
                    "detail": f"missed {sorted(missed)[:10]}",
                }
            )
        else:
            self.tally.passed[name] += 1

    def _record(self, bar_time: int, examined: int, seconds: float, cpu: float) -> None:
        series = self.series
        series.time.append(bar_time)
        for feed, price in self.ledger.prices.items():
            series.prices.setdefault(feed, []).append(price.price)
        series.fund.append(self.ledger.insurance_fund[self.params.quote_asset])
        for market_id in self.markets:
            series.open_interest.setdefault(market_id, []).append(
                self.ledger.markets[market_id].open_interest
            )
        series.liquidations.append(self.totals["liquidations"])
        series.deleverages.append(self.totals["deleverages"])
        series.bad_debt.append(self._bad_debt_so_far())
        series.examined.append(examined)
        series.seconds.append(seconds)
        series.cpu.append(cpu)

    def _bad_debt_so_far(self) -> int:
        t = self.totals
        return t["fund_paid_liquidations"] + t["socialised"] + t["passed_on"] + t["fund_paid_cover"]

    def _uncovered(self) -> int:
        total = 0
        for name in self.debtors:
            account = self.ledger.accounts[name]
            if not account.positions:
                total += max(-account_risk(self.ledger, account).nc, 0)
        return total

    def _ncs(self) -> dict[str, int]:
        return {
            spec.name: settled_risk(self.ledger, spec.name)[0]
            for spec in self.population.accounts
            if spec.name in self.ledger.accounts
        }

    # -- the run ---------------------------------------------------------------------------

    def run(self) -> SimResult:
        """Set up, replay every bar, check, and return the result (a failed model
        contract stops the replay; the result then says where)."""
        started = time.perf_counter()
        initial_nc: dict[str, int] = {}
        primary = self.paths[0]
        bars = primary.bars
        steps: dict[int, list[tuple[str, int]]] = {}
        for path in self.paths:
            for bar in path.bars:
                for quarter, price in bar.steps():
                    steps.setdefault(bar.time + quarter * path.spacing // 4, []).append((path.feed, price))
        times = sorted(steps)
        cursor = 0
        replay_started = started
        try:
            self.setup()
            initial_nc = self._ncs()
            self.initial_fund = self.ledger.insurance_fund[self.params.quote_asset]
            self.fund_min = (self.initial_fund, 0)
            replay_started = time.perf_counter()
            for i, bar in enumerate(bars):
                bar_started, bar_cpu = time.perf_counter(), time.process_time()
                examined = self.examined
                end = bars[i + 1].time if i + 1 < len(bars) else bar.time + primary.spacing
                first = True
                while cursor < len(times) and times[cursor] < end:
                    self._advance(times[cursor])
                    for feed, price in steps[times[cursor]]:
                        self._price(feed, price)
                    if self.pending:
                        self.queue.update(self.pending)
                        self.pending.clear()
                        self._drain()
                    if first:
                        self._funding()
                        first = False
                    cursor += 1
                if (i + 1) % self.config.check_every == 0 and i + 1 < len(bars):
                    self._check()
                self._record(
                    bar.time,
                    self.examined - examined,
                    time.perf_counter() - bar_started,
                    time.process_time() - bar_cpu,
                )
                if self.progress is not None:
                    self.progress(i + 1, len(bars), self._progress_info())
            self._check()
        except _Abort:
            pass
        finished = time.perf_counter()
        totals = {key: 0 for key in TOTALS} | dict(self.totals)
        totals["uncovered_bad_debt"] = self._uncovered()
        totals["bad_debt"] = self._bad_debt_so_far() + totals["uncovered_bad_debt"]
        return SimResult(
            label=self.label,
            params=self.params,
            config=self.config,
            paths=self.paths,
            population=self.population,
            start_time=self.start,
            bars=len(self.series.time),
            events=self.events,
            series=self.series,
            checks=self.tally,
            fast_checks=self.fast_checks,
            actions=self.actions,
            rejections=self.rejections,
            totals=totals,
            initial_fund=self.initial_fund,
            fund_min=self.fund_min or (self.initial_fund, 0),
            final_ledger=self.ledger,
            initial_nc=initial_nc,
            final_nc=self._ncs() if self.aborted is None else {},
            examined=self.examined,
            updates=self.updates,
            setup_seconds=replay_started - started,
            replay_seconds=finished - replay_started,
            aborted=self.aborted,
            pending=sorted(self.pending),
            liquidated_accounts=self.liquidated,
            bankrupt_accounts=self.bankrupt,
        )

    def _progress_info(self) -> dict[str, Any]:
        fund = self.ledger.insurance_fund[self.params.quote_asset] / 10**self.config.quote_decimals
        return {
            "liquidations": self.totals["liquidations"],
            "deleverages": self.totals["deleverages"],
            "fund": f"{fund:,.0f}",
        }
