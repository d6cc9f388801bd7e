"""The ledger state (spec: state.md): immutable, persistent, O(log n) to update (STA-4).

Every map is an ``immutables.Map`` (a hash array mapped trie), so a transition
copies only the path to what it changes: its cost does not grow with the number
of accounts, and the old state stays valid, which makes atomicity structural.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import icontract
from immutables import Map

from clearspec import kernel as k
from clearspec.params import MAX_AMOUNT, ProtocolParams


@dataclass(frozen=True, slots=True)
class Position:
    """An open position in one market (TRD-4).

    ``size`` is signed base units (long > 0). ``quote`` is the signed quote
    amount the position has paid or received (its cost basis plus every trade
    since it opened); its unrealised PnL is ``size * price + quote``.
    """

    size: int
    quote: int
    # FND-3 / ADL-6: the market's indices when this position last settled.
    funding_index: int = 0
    loss_index: int = 0


@dataclass(frozen=True, slots=True)
class MarketState:
    """What a market accumulates (FND-*, ADL-6, EXP-*).

    ``pool`` holds the market's unsettled flows in quote base units: funding and
    socialised losses paid in by positions before others are paid out, and
    expiry settlement remainders. It may be negative while payments are still
    owed to it, and is swept into the insurance fund when no position is left.
    """

    funding_index: int = 0
    loss_index: int = 0
    premium_sum: int = 0
    premium_count: int = 0
    last_funding_at: int = 0
    pool: int = 0
    open_interest: int = 0
    settlement_price: int | None = None


@dataclass(frozen=True, slots=True)
class LiquidationUsage:
    """LIQ-5: what one account has been liquidated for within one block (one clock value)."""

    at: int
    notional: int
    insurance_lost: int
    # Per market: (|size| at the block's first liquidation, size liquidated so far).
    positions: Map[str, tuple[int, int]]


@dataclass(frozen=True, slots=True)
class Account:
    """Collateral balances by asset and positions by market.

    Non-quote balances are never negative; the quote balance may be (a debt
    covered by other collateral, COL-2).
    """

    balances: Map[str, int]
    positions: Map[str, Position]

    def balance(self, asset: str) -> int:
        """The balance of ``asset`` (0 when never held)."""
        return self.balances.get(asset, 0)


EMPTY_ACCOUNT = Account(Map(), Map())


@dataclass(frozen=True, slots=True)
class OraclePrice:
    """The accepted price of a feed, its round and when it was accepted; and the
    circuit breaker's interval (ORA-10): ``reference`` is the price that was in
    force when the interval starting at ``reference_at`` began."""

    price: int
    round: int
    updated_at: int
    reference: int
    reference_at: int


@dataclass(frozen=True)
class Ledger:
    """The whole protocol state. Create with :func:`genesis`."""

    params: ProtocolParams
    now: int
    accounts: Map[str, Account]
    prices: Map[str, OraclePrice]
    fee_pool: Map[str, int]
    insurance_fund: Map[str, int]
    net_deposits: Map[str, int]
    markets: Map[str, MarketState] = field(default_factory=Map)
    # INS-6: withdrawals and transfers are refused while now < gate_until.
    gate_until: int = 0
    liquidation_usage: Map[str, LiquidationUsage] = field(default_factory=Map)

    def account(self, account_id: str) -> Account:
        """The account, or an empty one if it does not exist."""
        return self.accounts.get(account_id, EMPTY_ACCOUNT)

    def market(self, market_id: str) -> MarketState:
        """The accumulated state of a market; genesis creates one per market."""
        return self.markets[market_id]

    def price(self, feed: str) -> int:
        """The accepted price of a feed; genesis sets every feed."""
        return self.prices[feed].price


@icontract.require(lambda interval: k.holds(interval > 0), enabled=k.SLOW_CONTRACTS)
@icontract.ensure(
    lambda now, interval, result: k.holds(k.and_(result <= now, now < result + interval)),
    enabled=k.SLOW_CONTRACTS,
)
def interval_start(now: int, interval: int) -> int:
    """ORA-10: the start of the breaker interval holding ``now``, a multiple of ``interval``."""
    return k.div_floor(now, interval) * interval


def _zero_per_asset(params: ProtocolParams) -> Map[str, int]:
    return Map({a.asset_id: 0 for a in params.assets})


@icontract.require(
    lambda params, initial_prices: set(initial_prices) == set(params.feed_by_id),
    "every feed needs an initial price",
)
@icontract.require(
    lambda initial_prices: all(k.holds(k.and_(p > 0, p <= MAX_AMOUNT)) for p in initial_prices.values()),
    "initial prices are within 1..MAX_AMOUNT",
)
@icontract.ensure(lambda result: len(result.accounts) == 0)
def genesis(params: ProtocolParams, initial_prices: Mapping[str, int], now: int = 0) -> Ledger:
    """An empty ledger: no accounts, empty fund and fee pool, a price for every feed."""
    return Ledger(
        params=params,
        now=now,
        accounts=Map(),
        prices=Map(
            {
                f: OraclePrice(p, 0, now, p, interval_start(now, params.oracle.breaker_interval))
                for f, p in initial_prices.items()
            }
        ),
        fee_pool=_zero_per_asset(params),
        insurance_fund=_zero_per_asset(params),
        net_deposits=_zero_per_asset(params),
        markets=Map({m.market_id: MarketState(last_funding_at=now) for m in params.markets}),
    )


@icontract.ensure(
    lambda asset, amount, result: k.holds(result.balance(asset) == amount), enabled=k.SLOW_CONTRACTS
)
@icontract.ensure(lambda account, result: result.positions is account.positions, enabled=k.SLOW_CONTRACTS)
def with_balance(account: Account, asset: str, amount: int) -> Account:
    """The account with ``asset``'s balance set to ``amount``."""
    return replace(account, balances=account.balances.set(asset, amount))


@icontract.ensure(lambda totals, result: set(result) >= set(totals), enabled=k.SLOW_CONTRACTS)
@icontract.ensure(
    lambda totals, key, delta, result: k.holds(result[key] == totals.get(key, 0) + delta),
    enabled=k.SLOW_CONTRACTS,
)
def add_to(totals: Map[str, int], key: str, delta: int) -> Map[str, int]:
    """A per-asset total with ``delta`` added to ``key``."""
    return totals.set(key, totals.get(key, 0) + delta)
