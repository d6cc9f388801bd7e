"""A seeded population of accounts: collateral, markets, directions, sizes and leverage.

Each account is drawn independently from the distributions of
:class:`PopulationConfig` (documented in guides/simulate.md) with Python's
``random.Random(seed)``, so a seed gives the same population on every machine:

* collateral (in quote currency): log-normal with median ``median_collateral``
  and log-standard deviation ``collateral_sigma``, clipped to
  ``[min_collateral, max_collateral]``; with probability ``coin_collateral_share``
  a uniform 30-70 % of it is held in a coin that has a price path instead
  (cross-margin across assets, COL-2);
* markets: both of two tradable perpetuals with probability
  ``two_markets_share``, else one, uniformly; the notional is split uniformly
  20-80 % between two;
* leverage (total position notional over collateral value): log-uniform in
  ``[leverage_min, leverage_max]``;
* direction per market: long with probability ``long_share``;
* ``borrowers`` more accounts (``borrow-NNNNN``, drawn after the others from a
  generator of their own, so the accounts above are the same with or without
  them) hold only a coin, collateral log-normal as above, and borrow quote
  against it: a debt of a uniform ``borrower_ltv_min``..``borrower_ltv_max`` of
  the coin's initial-weighted value (the most the coin lends, MRG-3), under
  the strictest parameter set replayed. They hold no position: only a
  collateral liquidation (CLQ-1) can close them.

Sizes are rounded down to the step. An account the parameter set would refuse
at initial margin (MRG-3, with the tiered fractions of MRG-2) is scaled down by
15 % until it is accepted, under every parameter set it will be replayed with,
so that a comparison or a sweep replays the very same positions. The check is
the model's own ``account_risk`` on the account as it will be after its trade.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field

from immutables import Map

from clearspec.margin import account_risk, meets_initial, notional
from clearspec.params import MarketKind, ProtocolParams
from clearspec.state import Account, Ledger, Position


@dataclass(frozen=True)
class PopulationConfig:
    """The distributions accounts are drawn from (amounts in quote currency)."""

    median_collateral: float = 3_000.0
    collateral_sigma: float = 1.2
    min_collateral: float = 50.0
    max_collateral: float = 2_000_000.0
    coin_collateral_share: float = 0.25
    two_markets_share: float = 0.4
    leverage_min: float = 1.5
    leverage_max: float = 20.0
    long_share: float = 0.6
    borrowers: int = 0
    borrower_ltv_min: float = 0.5
    borrower_ltv_max: float = 0.95


@dataclass(frozen=True, slots=True)
class AccountSpec:
    """One account: what it deposits (asset, base units) and the positions it
    opens at the start (market, signed size in base units)."""

    name: str
    deposits: tuple[tuple[str, int], ...]
    positions: tuple[tuple[str, int], ...]
    leverage: float
    debt: int = 0  # quote base units borrowed against the deposits (COL-2)


@dataclass(frozen=True)
class Population:
    """The accounts of one seed, and how they were drawn."""

    seed: int
    config: PopulationConfig
    accounts: tuple[AccountSpec, ...]
    scaled_down: int = 0
    markets: tuple[str, ...] = field(default=())

    def stats(self) -> dict[str, float | int]:
        """Counts and averages for the report."""
        sides = [s for a in self.accounts for _, s in a.positions]
        with_positions = [a for a in self.accounts if a.positions]
        return {
            "accounts": len(self.accounts),
            "with_positions": len(with_positions),
            "positions": len(sides),
            "long_positions": sum(1 for s in sides if s > 0),
            "short_positions": sum(1 for s in sides if s < 0),
            "coin_collateral": sum(1 for a in self.accounts if len(a.deposits) > 1),
            "mean_target_leverage": round(
                sum(a.leverage for a in with_positions) / max(len(with_positions), 1), 3
            ),
            "scaled_down_to_initial_margin": self.scaled_down,
            "borrowers": sum(1 for a in self.accounts if a.debt),
        }


def tick_floor(price: int, tick: int) -> int:
    """The largest multiple of ``tick`` at or below ``price``."""
    return price - price % tick


def _account(params: ProtocolParams, quote: str, spec: AccountSpec, ledger: Ledger) -> Account:
    """The account as it is after its deposits and its opening fills at the tick price."""
    balances = dict(spec.deposits)
    positions = {}
    for market_id, size in spec.positions:
        market = params.market_by_id[market_id]
        price = tick_floor(ledger.price(market.feed), market.tick_size)
        amount = notional(abs(size), price, params.feed_by_id[market.feed].scale)
        positions[market_id] = Position(size, -amount if size > 0 else amount)
    balances.setdefault(quote, 0)
    return Account(Map(balances), Map(positions))


def accepted(ledgers: Sequence[Ledger], spec: AccountSpec) -> bool:
    """The account meets initial margin after opening, under every parameter set."""
    for ledger in ledgers:
        params = ledger.params
        account = _account(params, params.quote_asset, spec, ledger)
        if not meets_initial(account_risk(ledger, account)):
            return False
        for market_id, size in spec.positions:
            market = params.market_by_id[market_id]
            if abs(size) > market.max_position or abs(size) < max(market.min_position_size, market.step_size):
                return False
    return True


def tradable_markets(params: ProtocolParams, feeds: Sequence[str]) -> list[str]:
    """The perpetual markets whose feed has a price path."""
    return [m.market_id for m in params.markets if m.kind is MarketKind.PERPETUAL and m.feed in feeds]


def generate(
    count: int,
    seed: int,
    ledgers: Sequence[Ledger],
    feeds: Sequence[str],
    config: PopulationConfig | None = None,
    quote_decimals: int = 6,
) -> Population:
    """``count`` accounts drawn with ``seed`` for the genesis ``ledgers`` (one per
    parameter set, all at the same prices), trading the perpetuals on ``feeds``."""
    config = config or PopulationConfig()
    params = ledgers[0].params
    ledger = ledgers[0]
    rng = random.Random(seed)
    markets = tradable_markets(params, feeds)
    coins = [a.asset_id for a in params.assets if a.feed in feeds]
    unit = 10**quote_decimals
    specs: list[AccountSpec] = []
    scaled_down = 0
    for i in range(count):
        collateral = math.exp(rng.gauss(math.log(config.median_collateral), config.collateral_sigma))
        collateral = min(max(collateral, config.min_collateral), config.max_collateral)
        deposits: list[tuple[str, int]] = []
        quote_part = collateral
        if coins and rng.random() < config.coin_collateral_share:
            coin = rng.choice(coins)
            feed = params.asset_by_id[coin].feed
            assert feed is not None
            share = rng.uniform(0.3, 0.7)
            # quote units per coin base unit = price / scale
            per_unit = ledger.price(feed) / params.feed_by_id[feed].scale
            amount = int(share * collateral * unit / per_unit)
            if amount > 0:
                deposits.append((coin, amount))
                quote_part = collateral * (1 - share)
        deposits.insert(0, (params.quote_asset, max(int(quote_part * unit), 1)))
        leverage = math.exp(rng.uniform(math.log(config.leverage_min), math.log(config.leverage_max)))
        chosen = list(markets)
        if len(markets) >= 2 and rng.random() < config.two_markets_share:
            chosen = rng.sample(markets, 2)
            first = rng.uniform(0.2, 0.8)
            weights = [first, 1 - first]
        elif markets:
            chosen = [rng.choice(markets)]
            weights = [1.0]
        else:
            chosen, weights = [], []
        directions = [1 if rng.random() < config.long_share else -1 for _ in chosen]
        sizes = []
        for market_id, weight in zip(chosen, weights, strict=True):
            market = params.market_by_id[market_id]
            per_unit = ledger.price(market.feed) / params.feed_by_id[market.feed].scale
            sizes.append(leverage * collateral * weight * unit / per_unit)
        spec = AccountSpec(f"acct-{i:05d}", tuple(deposits), (), leverage)
        for attempt in range(40):
            positions = []
            for market_id, size, direction in zip(chosen, sizes, directions, strict=True):
                step = params.market_by_id[market_id].step_size
                stepped = int(size * 0.85**attempt) // step * step
                if stepped > 0:
                    positions.append((market_id, direction * stepped))
            spec = AccountSpec(spec.name, spec.deposits, tuple(positions), leverage)
            if not positions or accepted(ledgers, spec):
                break
            scaled_down += attempt == 0
        else:
            spec = AccountSpec(spec.name, spec.deposits, (), leverage)
        specs.append(spec)
    specs += _borrowers(ledgers, coins, seed, config, unit)
    return Population(seed, config, tuple(specs), scaled_down, tuple(markets))


def _borrowers(
    ledgers: Sequence[Ledger], coins: Sequence[str], seed: int, config: PopulationConfig, unit: int
) -> list[AccountSpec]:
    """The borrowers of the module docstring: a coin and a quote debt, no position."""
    if not coins or config.borrowers <= 0:
        return []
    rng = random.Random(seed * 1_000_003 + 17)
    ledger = ledgers[0]
    params = ledger.params
    specs = []
    for i in range(config.borrowers):
        collateral = math.exp(rng.gauss(math.log(config.median_collateral), config.collateral_sigma))
        collateral = min(max(collateral, config.min_collateral), config.max_collateral)
        coin = rng.choice(list(coins))
        feed = params.asset_by_id[coin].feed
        assert feed is not None
        scale = params.feed_by_id[feed].scale
        amount = max(int(collateral * unit * scale / ledger.price(feed)), 1)
        weight = min(other.params.asset_by_id[coin].initial_weight_ppm for other in ledgers)
        lendable = amount * ledger.price(feed) * weight // (scale * 1_000_000)
        debt = int(lendable * rng.uniform(config.borrower_ltv_min, config.borrower_ltv_max))
        specs.append(AccountSpec(f"borrow-{i:05d}", ((coin, amount),), (), 0.0, debt))
    return specs
