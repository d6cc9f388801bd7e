"""Changing positions (spec: trading.md TRD-4, TRD-6, TRD-8; funding.md FND-3).

Every path that moves a position — trades, liquidations, deleveraging, expiry —
goes through these helpers, so opening snapshots, realisation on close, open
interest and the market pool are kept the same way everywhere.
"""

from __future__ import annotations

from dataclasses import replace

import icontract

from clearspec import kernel as k
from clearspec.errors import ErrorCode
from clearspec.params import PPM
from clearspec.state import Account, Ledger, MarketState, Position, with_balance

# ADL-6: precision of the socialised-loss index (quote base units per base unit).
LOSS_SCALE = 10**18


def _scale(ledger: Ledger, market: str) -> int:
    return ledger.params.feed_by_id[ledger.params.market_by_id[market].feed].scale


@icontract.ensure(
    lambda position, state, result: k.holds(
        k.implies(state.funding_index == position.funding_index, result == 0)
    ),
    enabled=k.SLOW_CONTRACTS,
)
def funding_owed(position: Position, state: MarketState, scale: int) -> int:
    """FND-3: what the position owes its market's pool for funding since it last
    settled (negative: it is owed), rounded up, i.e. against the account."""
    return k.mul_div_ceil(position.size, state.funding_index - position.funding_index, PPM * scale)


@icontract.ensure(
    lambda position, state, result: k.holds(k.implies(state.loss_index >= position.loss_index, result >= 0)),
    enabled=k.SLOW_CONTRACTS,
)
def loss_owed(position: Position, state: MarketState) -> int:
    """ADL-6: the position's share of socialised losses since it last settled,
    pro rata to its size whatever its side, rounded up."""
    return k.mul_div_ceil(k.abs_(position.size), state.loss_index - position.loss_index, LOSS_SCALE)


@icontract.ensure(
    lambda ledger, name, result: k.holds(
        k.and_(
            *[
                k.and_(p.funding_index == state.funding_index, p.loss_index == state.loss_index)
                for m, p in result.accounts[name].positions.items()
                for state in [result.markets[m]]
            ]
        )
    ),
    "every position is settled to its market's indices",
    enabled=k.SLOW_CONTRACTS,
)
def settle_account(ledger: Ledger, name: str) -> Ledger:
    """FND-3: settle funding and socialised losses of every position of the
    account. What each owes moves from the quote balance into its market's pool;
    the snapshots advance to the current indices. Costs O(its positions)."""
    account = ledger.accounts[name]
    if not account.positions:
        return ledger
    quote_asset = ledger.params.quote_asset
    balance = account.balance(quote_asset)
    markets = ledger.markets
    positions = account.positions
    for market_id, position in account.positions.items():
        state = markets[market_id]
        owed = funding_owed(position, state, _scale(ledger, market_id)) + loss_owed(position, state)
        balance = balance - owed
        markets = markets.set(market_id, replace(state, pool=state.pool + owed))
        positions = positions.set(
            market_id, replace(position, funding_index=state.funding_index, loss_index=state.loss_index)
        )
    settled = replace(with_balance(account, quote_asset, balance), positions=positions)
    return replace(ledger, accounts=ledger.accounts.set(name, settled), markets=markets)


@icontract.ensure(
    lambda ledger, name, amount, result: k.holds(
        result.accounts[name].balance(ledger.params.quote_asset)
        == ledger.accounts[name].balance(ledger.params.quote_asset) + amount
    ),
    enabled=k.SLOW_CONTRACTS,
)
def credit_quote(ledger: Ledger, name: str, amount: int) -> Ledger:
    """Add ``amount`` (negative: a debit) to the account's quote balance; the
    caller moves the opposite amount elsewhere, so value is conserved."""
    account = ledger.accounts[name]
    quote_asset = ledger.params.quote_asset
    updated = with_balance(account, quote_asset, account.balance(quote_asset) + amount)
    return replace(ledger, accounts=ledger.accounts.set(name, updated))


@icontract.ensure(
    lambda account, market, result: market in account.positions or result == 0, enabled=k.SLOW_CONTRACTS
)
def position_size(account: Account, market: str) -> int:
    """The signed size of the account's position in ``market`` (0 when none)."""
    position = account.positions.get(market)
    return 0 if position is None else position.size


@icontract.ensure(
    lambda account, result: k.is_symbolic(result)
    or result == all(position_size(account, market) == 0 for market in account.positions),
    "concrete: true exactly when every entry's size is zero",
)
def holds_no_position(account: Account) -> bool:
    """INS-4, CLQ-2: every position entry of ``account`` has size zero. An entry
    of size zero is no position (as for liquidate's NO_POSITION): it carries no
    quote and no requirement (TRD-4), so it changes no NC."""
    return k.and_(*[position.size == 0 for position in account.positions.values()])


@icontract.ensure(
    lambda ledger, name, market, size_delta, result: k.holds(
        position_size(result.accounts[name], market)
        == position_size(ledger.accounts[name], market) + size_delta
    ),
    enabled=k.SLOW_CONTRACTS,
)
def move_position(ledger: Ledger, name: str, market: str, size_delta: int, quote_delta: int) -> Ledger:
    """TRD-4: add ``size_delta`` and ``quote_delta`` to a settled account's position.

    A new position starts at the market's current indices. A position that
    reaches size zero realises its quote into the quote balance and closes. The
    market's open interest (the sum of long sizes, INV-6) follows.
    """
    account = ledger.accounts[name]
    state = ledger.markets[market]
    old = account.positions.get(market, Position(0, 0, state.funding_index, state.loss_index))
    new_size = old.size + size_delta
    new_quote = old.quote + quote_delta
    closed = new_size == 0
    quote_asset = ledger.params.quote_asset
    balance = account.balance(quote_asset) + k.ite(closed, new_quote, 0)
    if k.definitely(closed):
        # Concretely closed: drop the entry. Symbolically the entry stays, with
        # size and quote zero on the paths where it closed (same meaning).
        positions = account.positions.delete(market) if market in account.positions else account.positions
    else:
        positions = account.positions.set(
            market, replace(old, size=new_size, quote=k.ite(closed, 0, new_quote))
        )
    updated = replace(with_balance(account, quote_asset, balance), positions=positions)
    interest = state.open_interest + k.max_(new_size, 0) - k.max_(old.size, 0)
    return replace(
        ledger,
        accounts=ledger.accounts.set(name, updated),
        markets=ledger.markets.set(market, replace(state, open_interest=interest)),
    )


@icontract.ensure(
    lambda ledger, market, result: k.holds(
        result.insurance_fund[ledger.params.quote_asset] + result.markets[market].pool
        == ledger.insurance_fund[ledger.params.quote_asset] + ledger.markets[market].pool
    ),
    "the sweep moves value, it creates none",
    enabled=k.SLOW_CONTRACTS,
)
def sweep_if_closed(ledger: Ledger, market: str) -> Ledger:
    """FND-4: once a market has no open position, everything its pool holds is
    rounding remainders (every position settled when it closed): the pool goes
    to the insurance fund."""
    state = ledger.markets[market]
    swept = k.ite(state.open_interest == 0, state.pool, 0)
    quote_asset = ledger.params.quote_asset
    fund = ledger.insurance_fund.set(quote_asset, ledger.insurance_fund[quote_asset] + swept)
    return replace(
        ledger,
        insurance_fund=fund,
        markets=ledger.markets.set(market, replace(state, pool=state.pool - swept)),
    )


@icontract.require(lambda ledger, name: name in ledger.accounts, enabled=k.SLOW_CONTRACTS)
def check_position_rules(ledger: Ledger, name: str, markets: list[str]) -> None:
    """TRD-6 and TRD-8: in each market, the account's position is within the
    position limit, and if not zero, at least the market's minimum size (INS-5)."""
    account = ledger.accounts[name]
    for market_id in markets:
        params = ledger.params.market_by_id[market_id]
        size = k.abs_(position_size(account, market_id))
        k.require(size <= params.max_position, ErrorCode.POSITION_LIMIT_EXCEEDED, f"{name} in {market_id}")
        minimum = k.max_(params.min_position_size, params.step_size)
        k.require(
            k.or_(size == 0, size >= minimum),
            ErrorCode.POSITION_BELOW_MINIMUM,
            f"{name} in {market_id}: {size} < {minimum}",
        )
