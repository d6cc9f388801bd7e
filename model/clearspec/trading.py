"""Trade settlement (spec: trading.md, rules TRD-*).

The off-chain matching engine sends batches of fills; the ledger checks each
fill, applies the whole batch, then checks every account the batch touched.
Any failure rejects the batch whole (TRD-1).
"""

from __future__ import annotations

from dataclasses import replace

import icontract

from clearspec import kernel as k
from clearspec.actions import Fill, SettleTrades, Side
from clearspec.errors import ErrorCode
from clearspec.margin import account_risk, notional, update_allowed
from clearspec.oracle import within_ppm
from clearspec.params import MAX_AMOUNT, PPM, MarketKind, MarketParams
from clearspec.positions import (
    check_position_rules,
    credit_quote,
    move_position,
    position_size,
    settle_account,
    sweep_if_closed,
)
from clearspec.state import Account, Ledger


@icontract.ensure(
    lambda notional_amount, rate_ppm, result: k.holds(
        k.and_(result * PPM >= notional_amount * rate_ppm, result * PPM - notional_amount * rate_ppm < PPM)
    ),
    "rounded up, by less than one unit",
    enabled=k.SLOW_CONTRACTS,
)
def fill_fee(notional_amount: int, rate_ppm: int) -> int:
    """TRD-5: the fee on a notional, rounded up (a rebate, negative, rounds toward
    zero); either way the rounding favours the fee pool."""
    return k.mul_div_ceil(notional_amount, rate_ppm, PPM)


@icontract.ensure(lambda market_id, result: result.market_id == market_id, enabled=k.SLOW_CONTRACTS)
def check_parties(ledger: Ledger, market_id: str, first: str, second: str) -> MarketParams:
    """TRD-2, LIQ-1: the market is listed, both accounts exist and differ, and a
    dated market has not expired — in that order."""
    params = ledger.params
    k.require(market_id in params.market_by_id, ErrorCode.UNKNOWN_MARKET, market_id)
    market = params.market_by_id[market_id]
    k.require(first in ledger.accounts, ErrorCode.UNKNOWN_ACCOUNT, first)
    k.require(second in ledger.accounts, ErrorCode.UNKNOWN_ACCOUNT, second)
    k.require(first != second, ErrorCode.TRADE_SELF_MATCH, first)
    if market.kind is MarketKind.DATED:
        assert market.expiry is not None
        k.require(ledger.now < market.expiry, ErrorCode.MARKET_EXPIRED, market_id)
    return market


@icontract.require(lambda market: market.tick_size > 0, enabled=k.SLOW_CONTRACTS)
def check_price(market: MarketParams, price: int) -> None:
    """TRD-2, LIQ-1: a fill price is positive, at most MAX_AMOUNT and on a tick."""
    k.require(price > 0, ErrorCode.TRADE_NON_POSITIVE_PRICE, str(price))
    k.require(price <= MAX_AMOUNT, ErrorCode.AMOUNT_TOO_LARGE, str(price))
    k.require(k.divides(market.tick_size, price), ErrorCode.TRADE_PRICE_NOT_TICK, str(price))


def _check_fill(ledger: Ledger, fill: Fill) -> MarketParams:
    """TRD-2: the per-fill checks, in the order the spec fixes."""
    market = check_parties(ledger, fill.market, fill.maker, fill.taker)
    k.require(fill.size > 0, ErrorCode.TRADE_NON_POSITIVE_SIZE, str(fill.size))
    k.require(fill.size <= market.max_position, ErrorCode.POSITION_LIMIT_EXCEEDED, str(fill.size))
    k.require(k.divides(market.step_size, fill.size), ErrorCode.TRADE_SIZE_NOT_STEP, str(fill.size))
    check_price(market, fill.price)
    oracle_price = ledger.price(market.feed)
    k.require(
        within_ppm(fill.price, oracle_price, market.price_band_ppm),
        ErrorCode.TRADE_PRICE_OUT_OF_BAND,
        f"{fill.price} vs oracle {oracle_price}",
    )
    k.require(
        k.and_(
            fill.maker_fee_ppm + fill.taker_fee_ppm >= 0,
            k.abs_(fill.maker_fee_ppm) <= market.max_fee_ppm,
            k.abs_(fill.taker_fee_ppm) <= market.max_fee_ppm,
        ),
        ErrorCode.TRADE_FEE_INVALID,
        f"maker {fill.maker_fee_ppm} taker {fill.taker_fee_ppm} ppm",
    )
    return market


def _settled(ledger: Ledger, name: str) -> tuple[Ledger, Account]:
    """The ledger with ``name``'s funding settled, and that account (for contracts)."""
    settled = settle_account(ledger, name)
    return settled, settled.accounts[name]


@icontract.ensure(
    lambda result: len(result) == len(set(result)), "each account once", enabled=k.SLOW_CONTRACTS
)
def touched_by_trades(action: SettleTrades) -> list[str]:
    """Makers and takers in order of first appearance (STA-3)."""
    return list(dict.fromkeys(name for fill in action.fills for name in (fill.maker, fill.taker)))


def _bought(action: SettleTrades, name: str, market_id: str) -> int:
    """TRD-4: the size ``name`` buys minus the size it sells in ``market_id`` over
    the batch. The buyer of a fill is its taker when the taker side is BUY, else
    its maker; the seller is the other party."""
    total = 0
    for fill in action.fills:
        if fill.market != market_id:
            continue
        buyer, seller = (fill.taker, fill.maker) if fill.taker_side is Side.BUY else (fill.maker, fill.taker)
        total = total + (fill.size if name == buyer else 0) - (fill.size if name == seller else 0)
    return total


@icontract.ensure(
    lambda ledger, result: k.holds(
        result.fee_pool[ledger.params.quote_asset] >= ledger.fee_pool[ledger.params.quote_asset]
    ),
    "TRD-5: the fee pool never pays out more than it takes in",
    enabled=k.SLOW_CONTRACTS,
)
@icontract.ensure(
    lambda ledger, action, result: k.all_hold(
        position_size(result.accounts[n], m) == position_size(ledger.accounts[n], m) + _bought(action, n, m)
        for n in touched_by_trades(action)
        for m in dict.fromkeys(fill.market for fill in action.fills)
    ),
    "TRD-4: each account's size in each traded market moves by what it bought minus what it sold",
    enabled=k.SLOW_CONTRACTS,
)
@icontract.ensure(
    lambda ledger, action, result: k.all_hold(
        update_allowed(account_risk(*_settled(ledger, n)), account_risk(result, result.accounts[n]))
        for n in touched_by_trades(action)
    ),
    "MRG-4: every touched account ends at initial margin or less risky",
    enabled=k.SLOW_CONTRACTS,
)
def settle_trades(ledger: Ledger, action: SettleTrades) -> Ledger:
    """TRD-1..TRD-8: settle a batch of fills atomically. Funding of every touched
    account is settled first (FND-3), so margin is checked on settled accounts."""
    quote_asset = ledger.params.quote_asset
    k.require(len(action.fills) > 0, ErrorCode.TRADE_EMPTY_BATCH)
    k.require(
        len(action.fills) <= ledger.params.max_batch_fills,
        ErrorCode.TRADE_BATCH_TOO_LARGE,
        f"{len(action.fills)} fills",
    )
    markets = [_check_fill(ledger, fill) for fill in action.fills]
    touched = touched_by_trades(action)
    settled = ledger
    for name in touched:
        settled = settle_account(settled, name)
    after = settled
    fees = 0
    for fill, market in zip(action.fills, markets, strict=True):
        amount = notional(fill.size, fill.price, ledger.params.feed_by_id[market.feed].scale)
        maker_fee = fill_fee(amount, fill.maker_fee_ppm)
        taker_fee = fill_fee(amount, fill.taker_fee_ppm)
        taker_sign = 1 if fill.taker_side is Side.BUY else -1
        after = move_position(after, fill.taker, fill.market, taker_sign * fill.size, -taker_sign * amount)
        after = move_position(after, fill.maker, fill.market, -taker_sign * fill.size, taker_sign * amount)
        after = credit_quote(credit_quote(after, fill.taker, -taker_fee), fill.maker, -maker_fee)
        fees = fees + maker_fee + taker_fee
    after = replace(after, fee_pool=after.fee_pool.set(quote_asset, after.fee_pool[quote_asset] + fees))
    traded = list(dict.fromkeys(fill.market for fill in action.fills))
    for market_id in traded:
        after = sweep_if_closed(after, market_id)
    for name in touched:
        check_position_rules(after, name, traded)
        k.require(
            update_allowed(
                account_risk(settled, settled.accounts[name]), account_risk(after, after.accounts[name])
            ),
            ErrorCode.MARGIN_INSUFFICIENT,
            f"{name} would fall below initial margin and is not reducing risk",
        )
    return after
