"""Expiry settlement of dated futures (spec: expiry.md, rules EXP-*)."""

from __future__ import annotations

from dataclasses import replace

import icontract

from clearspec import kernel as k
from clearspec.actions import SettleExpiry
from clearspec.errors import ErrorCode
from clearspec.liquidation import gate_if_negative
from clearspec.margin import account_risk, notional
from clearspec.params import DeficitPolicy, MarketKind
from clearspec.positions import credit_quote, move_position, position_size, settle_account, sweep_if_closed
from clearspec.state import Ledger


@icontract.ensure(
    lambda action, result: all(action.market not in result.accounts[n].positions for n in action.accounts),
    "EXP-2: every listed position is closed",
    enabled=k.SLOW_CONTRACTS,
)
def settle_expiry(ledger: Ledger, action: SettleExpiry) -> Ledger:
    """EXP-1..EXP-4: close the listed accounts' positions at the final price."""
    k.require(action.market in ledger.params.market_by_id, ErrorCode.UNKNOWN_MARKET, action.market)
    market = ledger.params.market_by_id[action.market]
    k.require(market.kind is MarketKind.DATED, ErrorCode.MARKET_NOT_DATED, action.market)
    assert market.expiry is not None
    k.require(ledger.now >= market.expiry, ErrorCode.EXPIRY_NOT_REACHED, f"expiry at {market.expiry}")
    oracle = ledger.prices[market.feed]
    state = ledger.markets[action.market]
    # EXP-1: the first accepted settlement fixes the final price: the feed's
    # price at that moment, which must have been accepted at or after expiry.
    k.require(
        state.settlement_price is not None or oracle.updated_at >= market.expiry,
        ErrorCode.EXPIRY_PRICE_NOT_FINAL,
        f"last price accepted at {oracle.updated_at}",
    )
    final = oracle.price if state.settlement_price is None else state.settlement_price
    ledger = replace(
        ledger, markets=ledger.markets.set(action.market, replace(state, settlement_price=final))
    )
    scale = ledger.params.feed_by_id[market.feed].scale
    net = 0
    for name in action.accounts:
        k.require(name in ledger.accounts, ErrorCode.UNKNOWN_ACCOUNT, name)
        size = position_size(ledger.accounts[name], action.market)
        k.require(size != 0, ErrorCode.NO_POSITION, f"{name} in {action.market}")
        net = net + size
        ledger = _settle_one(ledger, action.market, name, notional(size, final, scale))
    # EXP-2: a batch closes as much long as short, so the market stays zero-sum
    # (INV-2) and open interest reaches zero only when every position is closed.
    k.require(net == 0, ErrorCode.EXPIRY_UNBALANCED, f"listed positions sum to {net}")
    return sweep_if_closed(ledger, action.market)


def _settle_one(ledger: Ledger, market: str, name: str, value: int) -> Ledger:
    """EXP-2, EXP-3: the position is closed with quote ``value`` (its size times
    the final price, rounded down) paid from the market pool, so the rounding
    remainders stay in the pool and reach the fund when the market is empty.
    EXP-4: an account left with no position and negative NC is topped up by the
    fund; in a deleverage market the fund must be able to (otherwise deleverage
    the account first), in a socialise market it pays what it has."""
    settled = settle_account(ledger, name)
    size = position_size(settled.accounts[name], market)
    after = move_position(settled, name, market, -size, value)
    state = after.markets[market]
    after = replace(after, markets=after.markets.set(market, replace(state, pool=state.pool - value)))
    account = after.accounts[name]
    nc = account_risk(after, account).nc
    # "No position left" is a condition on the sizes, not on which entries the
    # ledger keeps: a symbolic run keeps an entry whose size may be zero, and a
    # Python test of the entries would trace one branch only (PRF-4).
    flat = k.and_(*[position.size == 0 for position in account.positions.values()])
    deficit = k.ite(flat, k.max_(-nc, 0), 0)
    fund = after.insurance_fund[after.params.quote_asset]
    if after.params.market_by_id[market].deficit_policy is DeficitPolicy.DELEVERAGE:
        k.require(
            deficit <= fund, ErrorCode.INSURANCE_FUND_INSUFFICIENT, f"{name} needs {deficit}, fund has {fund}"
        )
    # INS-2: the fund pays the deficit; in a socialise market, as far as it goes
    # (the rest stays visible as the account's negative NC, as with INS-4).
    paid = k.min_(deficit, fund)
    quote_asset = after.params.quote_asset
    after = credit_quote(after, name, paid)
    after = replace(after, insurance_fund=after.insurance_fund.set(quote_asset, fund - paid))
    return gate_if_negative(after, nc)
