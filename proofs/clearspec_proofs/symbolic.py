"""Symbolic ledgers: the model's own state with Z3 integers in place of amounts.

A symbolic world is a ledger of a few accounts (the whole ledger, so global
invariants are sums over them), with positions in one or two markets and
balances of the quote asset and at most one other collateral asset, whose
balances, positions, indices, pools and prices are Z3 variables. So are the
times the state remembers (when each price was accepted, when each market last
paid funding, until when withdrawals are gated), and, where a shape asks for
them, the clock itself, the liquidation usage of the current block and the
final price of a settled dated market. The parameters stay concrete (a
designer's parameter set); the prover runs the model's own transition
functions on this ledger. A shape names its markets and assets by role
(``clearspec_proofs.roles``), resolved from the parameter set.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, cast

import z3
from immutables import Map

from clearspec import kernel as k
from clearspec.params import MAX_AMOUNT, ProtocolParams
from clearspec.state import (
    Account,
    Ledger,
    LiquidationUsage,
    MarketState,
    OraclePrice,
    Position,
    genesis,
)
from clearspec_proofs.roles import Role, Roles, resolve


@dataclass(frozen=True)
class Shape:
    """Which accounts, markets and assets a symbolic world has. Markets and assets
    are ids or roles (:class:`Role`); ``build_world`` resolves the roles, and the
    world's own shape lists ids only."""

    accounts: tuple[str, ...] = ("a0", "a1", "a2")
    markets: tuple[str, ...] = (Role.PERPETUALS,)
    collateral: tuple[str, ...] = (Role.COLLATERAL,)
    flat: tuple[str, ...] = ()  # accounts with collateral only, no positions
    # LIQ-5: accounts already liquidated in the current block (symbolic usage).
    usage: tuple[str, ...] = ()
    # EXP-1: dated markets whose final price is fixed (the clock is then past expiry).
    settled: tuple[str, ...] = ()
    # The clock as a variable (else the ``now`` given to build_world); only
    # where no code compares it in Python (LIQ-5's block test does: no usage).
    symbolic_now: bool = False
    # Accounts whose position sizes are fixed, in steps of each market's step
    # size (account, steps): quotes, balances and prices stay symbolic. A case
    # with such a shape applies only where the sizes are within the limits.
    steps: tuple[tuple[str, int], ...] = ()


@dataclass
class World:
    """A symbolic ledger and what is assumed of it."""

    ledger: Ledger
    shape: Shape
    roles: Roles
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

    def role(self, role: Role) -> str:
        """The id of the market or asset playing ``role`` in this world's parameter set."""
        return self.roles.of(role)

    def resolve(self, shape: Shape) -> Shape:
        """``shape`` with its roles replaced by this parameter set's ids."""
        return replace(
            shape,
            markets=self.roles.expand(shape.markets),
            collateral=self.roles.expand(shape.collateral),
            settled=self.roles.expand(shape.settled),
        )


def build_world(params: ProtocolParams, shape: Shape = Shape(), now: int = 1_000_000) -> World:
    """A symbolic ledger over ``params`` (see the module docstring).

    Well-formedness assumed of every state (not the invariants, which each
    obligation assumes as its induction hypothesis): prices and the breaker's
    reference prices within 1..MAX, the breaker's interval the one that held
    the feed's last update,
    non-quote balances not negative, sizes within the position limit; and of
    the times, what a clock that never goes back makes true (CLK-1): every
    price was accepted and every funding paid at or before ``now`` (no lower
    bound: nothing compares them with a constant), and the INS-6 gate lies
    between 0 and one gate period after ``now``. A fixed final price (EXP-1)
    is within 1..MAX and implies ``now >= expiry``.
    """
    base = genesis(params, {f.feed_id: 1 for f in params.feeds}, now=0)
    world = World(base, shape, resolve(params))
    shape = world.shape = world.resolve(shape)
    clock: int = now
    if shape.symbolic_now:
        clock = world.var("ledger.now")  # not "now": AdvanceTime's field has that name
    quote = params.quote_asset
    prices = {}
    for feed in params.feeds:
        price = world.var(f"price[{feed.feed_id}]")
        updated_at = world.var(f"updated_at[{feed.feed_id}]")
        # ORA-10: the breaker's reference is a price; its interval is the one
        # that held the feed's last update.
        reference = world.var(f"reference[{feed.feed_id}]")
        reference_at = world.var(f"reference_at[{feed.feed_id}]")
        world.assume(price >= 1, price <= MAX_AMOUNT, updated_at <= clock)
        interval = params.oracle.breaker_interval
        # interval_start without its contracts (build_world runs outside a trace).
        begun = k.div_floor(updated_at, interval) * interval
        world.assume(reference >= 1, reference <= MAX_AMOUNT, reference_at == begun)
        round_ = world.var(f"round[{feed.feed_id}]")
        prices[feed.feed_id] = OraclePrice(price, round_, updated_at, reference, reference_at)
    markets = {}
    for market in params.markets:
        m = market.market_id
        settlement = None
        if m in shape.settled:
            # EXP-1: only settle_expiry fixes it, at or after the expiry, to a price
            # accepted then; the oracle may have moved on since (no relation assumed).
            assert market.expiry is not None, f"{m} is not dated"
            settlement = world.var(f"settlement_price[{m}]")
            world.assume(settlement >= 1, settlement <= MAX_AMOUNT, clock >= market.expiry)
        markets[m] = MarketState(
            funding_index=world.var(f"funding_index[{m}]"),
            loss_index=world.var(f"loss_index[{m}]"),
            premium_sum=world.var(f"premium_sum[{m}]"),
            premium_count=world.var(f"premium_count[{m}]"),
            last_funding_at=world.var(f"last_funding_at[{m}]"),
            pool=world.var(f"pool[{m}]"),
            open_interest=world.var(f"open_interest[{m}]"),
            settlement_price=settlement,
        )
        last_funding = markets[m].last_funding_at
        world.assume(markets[m].premium_count >= 0, last_funding <= clock)
    accounts = {}
    for name in shape.accounts:
        balances = {quote: world.var(f"{name}.balance[{quote}]")}
        for asset in shape.collateral:
            balances[asset] = world.var(f"{name}.balance[{asset}]")
            world.assume(balances[asset] >= 0)
        positions = {}
        fixed = dict(shape.steps)
        for m in () if name in shape.flat else shape.markets:
            limit = params.market_by_id[m].max_position
            if name in fixed:
                size = fixed[name] * params.market_by_id[m].step_size
                assert -limit <= size <= limit, f"{name}'s fixed size in {m} is beyond its limit"
            else:
                size = world.var(f"{name}.size[{m}]")
                world.assume(size >= -limit, size <= limit)
            positions[m] = Position(
                size,
                world.var(f"{name}.quote[{m}]"),
                world.var(f"{name}.funding_index[{m}]"),
                world.var(f"{name}.loss_index[{m}]"),
            )
        accounts[name] = Account(Map(balances), Map(positions))
    # INS-6: genesis opens it (0) and a negative NC seen at time t moves it to
    # max(gate, t + period), t <= now: so 0 <= gate_until <= now + period.
    gate_until = world.var("gate_until")
    world.assume(gate_until >= 0, gate_until <= clock + params.liquidation.withdrawal_gate_seconds)
    per_asset = {a.asset_id: a.asset_id for a in params.assets}
    ledger = replace(
        base,
        now=clock,
        accounts=Map(accounts),
        prices=Map(prices),
        markets=Map(markets),
        fee_pool=Map({a: world.var(f"fee_pool[{a}]") for a in per_asset}),
        insurance_fund=Map({a: world.var(f"insurance_fund[{a}]") for a in per_asset}),
        net_deposits=Map({a: world.var(f"net_deposits[{a}]") for a in per_asset}),
        gate_until=gate_until,
        liquidation_usage=Map({n: _usage(world, params, n, accounts[n], clock) for n in shape.usage}),
    )
    world.ledger = ledger
    return world


def _usage(world: World, params: ProtocolParams, name: str, account: Account, now: int) -> LiquidationUsage:
    """LIQ-5: what ``account`` was liquidated for earlier in this block, symbolic.

    Within the limits the liquidations were checked against; per market, the
    size at the block's first liquidation and the size liquidated since
    (``0 <= done <= initial <= max_position``). ``done = 0`` stands for "no
    liquidation in this market yet", so its initial size is then the current
    one: one entry covers both the fresh block and a later liquidation. The
    current size is otherwise free: trades may have moved it since.
    """
    liq = params.liquidation
    prefix = f"{name}.usage"
    notional = world.var(f"{prefix}.notional")
    lost = world.var(f"{prefix}.insurance_lost")
    world.assume(
        notional >= 0,
        notional <= liq.max_notional_per_block,
        lost >= 0,
        lost <= liq.max_insurance_lost_per_block,
    )
    positions: dict[str, tuple[int, int]] = {}
    for market, position in account.positions.items():
        initial = world.var(f"{prefix}.initial[{market}]")
        done = world.var(f"{prefix}.done[{market}]")
        limit = params.market_by_id[market].max_position
        world.assume(
            done >= 0,
            done <= initial,
            initial <= limit,
            k.implies(done == 0, initial == k.abs_(position.size)),
        )
        positions[market] = (initial, done)
    return LiquidationUsage(now, notional, lost, Map(positions))
