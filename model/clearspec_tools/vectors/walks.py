"""Seeded random walks: multi-step cases through every transition (spec: vectors.md, VEC-1).

A walk starts from the example ledger (or a variant: socialised losses, a
market minimum size, a tight oracle) and draws each next action from the state
it is in, the way a busy venue would: deposits and withdrawals, trades near the
oracle price, oracle rounds that move the price (sometimes too far, sometimes
forged), funding, liquidations of the accounts that are liquidatable,
deleveraging in ranking order, bad debt, expiry. Roughly one action in five is
meant to be rejected, so walks carry rejections in the middle of a history too.
Everything derives from ``random.Random(seed)``: the same seed is the same walk.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import replace

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
    OracleUpdate,
    PremiumSample,
    ReportNegativeCollateral,
    SettleExpiry,
    SettleTrades,
    Side,
    Transfer,
    Withdraw,
)
from clearspec.deleveraging import adl_ranking
from clearspec.margin import account_risk, is_liquidatable
from clearspec.params import DeficitPolicy, MarketKind, ProtocolParams, revise, with_market
from clearspec.state import Ledger
from clearspec.transition import step
from clearspec_tools.examples import example_genesis, example_params, reporter_keys, signed_update

NAMES = ("amy", "ben", "cat", "dan", "eve", "fay")
USD = 10**6
_KEYS = reporter_keys()


def variants() -> dict[str, ProtocolParams]:
    """The parameter sets walks run under, by name."""
    base = example_params()
    socialise = base
    for market in ("BTC-PERP", "ETH-PERP", "BTC-DEC"):
        socialise = with_market(socialise, market, deficit_policy=DeficitPolicy.SOCIALISE)
    minimum = with_market(base, "BTC-PERP", min_position_size=50_000)
    tight = revise(base, oracle=replace(base.oracle, max_deviation_ppm=50_000, quorum=2))
    return {"example": base, "socialise": socialise, "minimum": minimum, "tight-oracle": tight}


class Walk:
    """One walk: the ledger so far and the actions drawn."""

    def __init__(self, seed: int, params: ProtocolParams) -> None:
        self.rng = random.Random(seed)
        self.ledger = example_genesis(params)
        self.actions: list[Action] = []

    # --- drawing helpers ------------------------------------------------------------------

    def _name(self, existing: bool = True) -> str:
        pool = sorted(self.ledger.accounts) if existing and self.ledger.accounts else list(NAMES)
        return self.rng.choice(pool)

    def _amount(self, scale: int) -> int:
        return self.rng.choice([1, 7, 99, 1_000, 25_000, 400_000, 3_000_000]) * scale // 1_000

    def _market(self) -> str:
        return self.rng.choice([m.market_id for m in self.ledger.params.markets])

    def _price_near(self, market_id: str, spread_ppm: int) -> int:
        market = self.ledger.params.market_by_id[market_id]
        oracle = self.ledger.price(market.feed)
        offset = self.rng.randint(-spread_ppm, spread_ppm)
        raw = oracle + oracle * offset // 1_000_000
        return max(market.tick_size, raw - raw % market.tick_size)

    # --- action makers (each returns one action drawn from the state) ---------------------

    def deposit(self) -> Action:
        asset = self.rng.choice(["USDC", "USDC", "BTC", "ETH"])
        scale = USD * 1_000 if asset == "USDC" else 10**6
        return Deposit(self._name(existing=False), asset, max(1, self._amount(scale)))

    def withdraw(self) -> Action:
        name = self._name()
        asset = self.rng.choice(["USDC", "BTC"])
        held = self.ledger.account(name).balance(asset)
        amount = self.rng.choice([held, held // 2, held + 1, self._amount(USD)])
        return Withdraw(name, asset, amount)

    def transfer(self) -> Action:
        source, destination = self._name(), self._name()
        return Transfer(source, destination, "USDC", self._amount(USD))

    def trade(self) -> Action:
        fills = []
        for _ in range(self.rng.choice([1, 1, 1, 2, 3])):
            market_id = self._market()
            market = self.ledger.params.market_by_id[market_id]
            maker = self._name()
            others = [n for n in sorted(self.ledger.accounts) if n != maker]
            taker = self.rng.choice(others) if others and self.rng.random() < 0.95 else maker
            size = market.step_size * self.rng.choice([1, 10, 100, 1_000, 10_000, 50_000])
            fee = market.max_fee_ppm
            fills.append(
                Fill(
                    market_id,
                    maker,
                    taker,
                    self.rng.choice([Side.BUY, Side.SELL]),
                    size,
                    self._price_near(market_id, self.rng.choice([0, 10_000, 60_000])),
                    self.rng.choice([-100, 0, 0, 200, fee]),
                    fee + 1 if self.rng.random() < 0.04 else self.rng.choice([0, 500, fee]),
                )
            )
        return SettleTrades(tuple(fills))

    def leveraged_trade(self) -> Action:
        """A fill near the taker's initial-margin limit (about 15x), so that a
        later price move can make it liquidatable."""
        market_id = self.rng.choice(["BTC-PERP", "ETH-PERP"])
        market = self.ledger.params.market_by_id[market_id]
        taker = self._name()
        makers = [n for n in sorted(self.ledger.accounts) if n != taker] or [taker]
        price = self._price_near(market_id, 0)
        scale = self.ledger.params.feed_by_id[market.feed].scale
        collateral = max(0, self.ledger.account(taker).balance("USDC"))
        size = collateral * 15 * scale // price
        size = max(market.step_size, size - size % market.step_size)
        side = self.rng.choice([Side.BUY, Side.SELL])
        return SettleTrades((Fill(market_id, self.rng.choice(makers), taker, side, size, price, 0, 0),))

    def clock(self) -> Action:
        jump = 86_400 * 31 if self.rng.random() < 0.05 else self.rng.choice([1, 30, 600, 3_600])
        return AdvanceTime(self.ledger.now + jump)

    def oracle(self) -> Action:
        feed = self.rng.choice(["BTC-USD", "ETH-USD"])
        last = self.ledger.prices[feed]
        move_ppm = self.rng.choice(
            [-300_000, -200_000, -120_000, -40_000, -5_000, 0, 5_000, 40_000, 120_000, 200_000]
        )
        target = max(1, last.price + last.price * move_ppm // 1_000_000)
        count = self.rng.choice([2, 3, 3, 4, 5])
        prices = [target + self.rng.randint(-3, 3) * (target // 500 + 1) for _ in range(count)]
        at = self.ledger.now - self.rng.choice([0, 0, 0, 1, 90])
        round_ = last.round + self.rng.choice([1, 1, 1, 2, 0])
        update = signed_update(feed, prices, at, round_, _KEYS)
        if self.rng.random() < 0.1:  # a forged report: the price changed after signing
            forged = replace(update.reports[0], price=update.reports[0].price + 1)
            update = OracleUpdate(feed, (forged, *update.reports[1:]))
        return update

    def funding(self) -> Action:
        market_id = self.rng.choice(["BTC-PERP", "ETH-PERP", "BTC-DEC"])
        if self.rng.random() < 0.6:
            return PremiumSample(market_id, self.rng.choice([-20_000, -300, 0, 150, 5_000, 90_000]))
        return ApplyFunding(market_id)

    def _liquidatable(self) -> list[str]:
        return [
            n
            for n, a in sorted(self.ledger.accounts.items())
            if is_liquidatable(account_risk(self.ledger, a))
        ]

    def liquidate(self) -> Action:
        candidates = self._liquidatable() or [self._name()]
        name = self.rng.choice(candidates)
        positions = self.ledger.account(name).positions
        market_id = self.rng.choice(sorted(positions)) if positions else self._market()
        size = abs(positions[market_id].size) if market_id in positions else 1_000
        size = self.rng.choice([size, max(1_000, size // 2 - size // 2 % 1_000), size + 1_000])
        counterparty = self._name()
        return Liquidate(market_id, name, counterparty, size, self._price_near(market_id, 20_000), 0)

    def deleverage(self) -> Action:
        name = self.rng.choice(self._liquidatable() or [self._name()])
        positions = self.ledger.account(name).positions
        market_id = self.rng.choice(sorted(positions)) if positions else "BTC-PERP"
        size = positions[market_id].size if market_id in positions else 1
        ranking = adl_ranking(self.ledger, market_id, -1 if size > 0 else 1)
        if self.rng.random() < 0.2:
            ranking = list(reversed(ranking))
        return Deleverage(market_id, name, tuple(ranking))

    def insurance(self) -> Action:
        name = self._name()
        kind = self.rng.choice([0, 1, 2])
        if kind == 0:
            return FundInsurance(name, self._amount(USD))
        return CoverBadDebt(name) if kind == 1 else ReportNegativeCollateral(name)

    def expiry(self) -> Action:
        dated = [m for m in self.ledger.params.markets if m.kind is MarketKind.DATED]
        market_id = dated[0].market_id
        holders = sorted(n for n, a in self.ledger.accounts.items() if market_id in a.positions)
        if holders and self.rng.random() < 0.2:
            holders = holders[1:]
        return SettleExpiry(market_id, tuple(holders))

    def draw(self) -> Action:
        """The next action: a weighted choice among the makers that make sense now."""
        makers: list[tuple[int, Callable[[], Action]]] = [
            (5, self.deposit),
            (3, self.oracle),
            (2, self.clock),
        ]
        if self.ledger.accounts:
            makers += [(2, self.withdraw), (1, self.transfer), (5, self.trade), (2, self.funding)]
            makers += [(3, self.leveraged_trade)]
            makers += [(1, self.insurance)]
        if self._liquidatable():
            makers += [(6, self.liquidate), (3, self.deleverage)]
        if self.ledger.now >= 86_400 * 30:
            makers += [(3, self.expiry)]
        total = sum(weight for weight, _ in makers)
        pick = self.rng.randrange(total)
        for weight, maker in makers:
            if pick < weight:
                return maker()
            pick -= weight
        raise AssertionError("unreachable")

    def advance(self, action: Action) -> None:
        self.actions.append(action)
        self.ledger = step(self.ledger, action).ledger


def walk(seed: int, params: ProtocolParams, warmup: int, length: int) -> tuple[Ledger, list[Action]]:
    """A walk: ``warmup`` actions build the pre-state, the next ``length`` are the case."""
    w = Walk(seed, params)
    for _ in range(warmup):
        w.advance(w.draw())
    pre = w.ledger
    w.actions = []
    for _ in range(length):
        w.advance(w.draw())
    return pre, w.actions
