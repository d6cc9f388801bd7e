"""Symbolic ledgers: the model's own state with Z3 integers in place of amounts.

A symbolic world is a ledger of a few accounts (the whole ledger, so global
invariants are sums over them), two markets and two collateral assets, whose
balances, positions, indices, pools and prices are Z3 variables. The parameters
stay concrete (a designer's parameter set); the prover runs the model's own
transition functions on this ledger.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, cast

import z3
from immutables import Map

from clearspec.params import MAX_AMOUNT, ProtocolParams
from clearspec.state import Account, Ledger, MarketState, OraclePrice, Position, genesis


@dataclass(frozen=True)
class Shape:
    """Which accounts, markets and assets a symbolic world has."""

    accounts: tuple[str, ...] = ("a0", "a1", "a2")
    markets: tuple[str, ...] = ("BTC-PERP", "ETH-PERP")
    collateral: tuple[str, ...] = ("BTC",)
    flat: tuple[str, ...] = ()  # accounts with collateral only, no positions


@dataclass
class World:
    """A symbolic ledger and what is assumed of it."""

    ledger: Ledger
    shape: Shape
    assumptions: list[Any] = field(default_factory=list)
    variables: dict[str, Any] = field(default_factory=dict)
    action: Any = None  # the symbolic action, once built
    touched: list[str] = field(default_factory=list)

    def var(self, name: str) -> int:
        """A fresh symbolic integer, remembered for counterexamples."""
        if name not in self.variables:
            self.variables[name] = z3.Int(name)
        return cast(int, self.variables[name])  # typed as int so the model accepts it

    def assume(self, *conditions: Any) -> None:
        self.assumptions.extend(conditions)


def build_world(params: ProtocolParams, shape: Shape = Shape(), now: int = 1_000_000) -> World:
    """A symbolic ledger over ``params`` (see the module docstring).

    Well-formedness assumed of every state (not the invariants, which each
    obligation assumes as its induction hypothesis): prices within 1..MAX,
    non-quote balances not negative, sizes within the position limit.
    """
    base = genesis(params, {f.feed_id: 1 for f in params.feeds}, now=now)
    world = World(base, shape)
    quote = params.quote_asset
    prices = {}
    for feed in params.feeds:
        price = world.var(f"price[{feed.feed_id}]")
        world.assume(price >= 1, price <= MAX_AMOUNT)
        prices[feed.feed_id] = OraclePrice(price, world.var(f"round[{feed.feed_id}]"), now - 1)
    markets = {}
    for market in params.markets:
        m = market.market_id
        markets[m] = MarketState(
            funding_index=world.var(f"funding_index[{m}]"),
            loss_index=world.var(f"loss_index[{m}]"),
            premium_sum=world.var(f"premium_sum[{m}]"),
            premium_count=world.var(f"premium_count[{m}]"),
            last_funding_at=0,
            pool=world.var(f"pool[{m}]"),
            open_interest=world.var(f"open_interest[{m}]"),
            settlement_price=None,
        )
        world.assume(markets[m].premium_count >= 0)
    accounts = {}
    for name in shape.accounts:
        balances = {quote: world.var(f"{name}.balance[{quote}]")}
        for asset in shape.collateral:
            balances[asset] = world.var(f"{name}.balance[{asset}]")
            world.assume(balances[asset] >= 0)
        positions = {}
        for m in () if name in shape.flat else shape.markets:
            size = world.var(f"{name}.size[{m}]")
            limit = params.market_by_id[m].max_position
            world.assume(size >= -limit, size <= limit)
            positions[m] = Position(
                size,
                world.var(f"{name}.quote[{m}]"),
                world.var(f"{name}.funding_index[{m}]"),
                world.var(f"{name}.loss_index[{m}]"),
            )
        accounts[name] = Account(Map(balances), Map(positions))
    per_asset = {a.asset_id: a.asset_id for a in params.assets}
    ledger = replace(
        base,
        accounts=Map(accounts),
        prices=Map(prices),
        markets=Map(markets),
        fee_pool=Map({a: world.var(f"fee_pool[{a}]") for a in per_asset}),
        insurance_fund=Map({a: world.var(f"insurance_fund[{a}]") for a in per_asset}),
        net_deposits=Map({a: world.var(f"net_deposits[{a}]") for a in per_asset}),
    )
    world.ledger = ledger
    return world
