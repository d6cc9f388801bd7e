"""Auto-deleveraging (spec: deleveraging.md, rules ADL-*).

When an account's net collateral is negative and the insurance fund cannot cover
it, its position in a market whose deficit policy is ``deleverage`` is offset
against opposite-side accounts at its bankruptcy price, in ranking order.
"""

from __future__ import annotations

import icontract

from clearspec import kernel as k
from clearspec.actions import Deleverage
from clearspec.errors import ClearingError, ErrorCode
from clearspec.liquidation import bankruptcy_quote, gate_if_negative, positions_mmr
from clearspec.margin import account_risk, mark_price, notional, update_allowed
from clearspec.params import DeficitPolicy
from clearspec.positions import (
    check_position_rules,
    move_position,
    position_size,
    settle_account,
    sweep_if_closed,
)
from clearspec.state import Ledger


@icontract.require(
    lambda ledger, name, market_id: market_id in ledger.accounts[name].positions, enabled=k.SLOW_CONTRACTS
)
def adl_score(ledger: Ledger, name: str, market_id: str) -> int:
    """ADL-2: profit times leverage, ``upnl * |notional| / max(NC, 1)``, rounded
    down, at oracle prices. The most profitable, most leveraged go first."""
    account = ledger.accounts[name]
    market = ledger.params.market_by_id[market_id]
    position = account.positions[market_id]
    price = mark_price(ledger, market)
    scale = ledger.params.feed_by_id[market.feed].scale
    value = notional(position.size, price, scale)
    upnl = value + position.quote
    nc = account_risk(ledger, account).nc
    return k.div_floor(upnl * k.abs_(value), k.max_(nc, 1))


@icontract.ensure(
    lambda ledger, market_id, side, result: all(
        position_size(ledger.accounts[n], market_id) * side > 0 for n in result
    ),
    enabled=k.SLOW_CONTRACTS,
)
def adl_ranking(ledger: Ledger, market_id: str, side: int) -> list[str]:
    """ADL-2: every account holding ``side`` (+1 long, -1 short) in the market,
    highest score first, ties by account id. Costs O(accounts): deleveraging is
    rare, and a sequencer computes it off the ledger to build the action."""
    holders = [
        name for name, account in ledger.accounts.items() if position_size(account, market_id) * side > 0
    ]
    return sorted(holders, key=lambda n: (-adl_score(ledger, n, market_id), n))


def _no_position_left(ledger: Ledger, name: str) -> bool:
    """True when every position of the account is zero (closed)."""
    return k.and_(*[position.size == 0 for position in ledger.accounts[name].positions.values()])


def _nc_without_positions(ledger: Ledger, name: str) -> int:
    """MRG-1's NC of an account whose positions are all zero: its balances at
    oracle prices plus the quote of any zero-size entry (symbolic runs keep a
    closed position's entry, with quote zero). Written without the margin
    helpers so that the contract using it adds no obligation of theirs."""
    params = ledger.params
    account = ledger.accounts[name]
    total = k.sum_(position.quote for position in account.positions.values())
    for asset_id, balance in account.balances.items():
        asset = params.asset_by_id[asset_id]
        if asset.feed is None:
            total = total + balance
        else:
            total = total + k.mul_div_floor(
                balance, ledger.price(asset.feed), params.feed_by_id[asset.feed].scale
            )
    return total


def _check_counterparties(ledger: Ledger, action: Deleverage, side: int) -> None:
    """ADL-2: each listed counterparty exists once, holds the opposite side, and
    the list is in ranking order."""
    previous: tuple[int, str] | None = None
    seen: set[str] = set()
    for name in action.counterparties:
        k.require(
            name in ledger.accounts and name != action.account and name not in seen,
            ErrorCode.ADL_BAD_COUNTERPARTY,
            name,
        )
        seen.add(name)
        k.require(
            position_size(ledger.accounts[name], action.market) * side < 0,
            ErrorCode.ADL_BAD_COUNTERPARTY,
            name,
        )
        score = adl_score(ledger, name, action.market)
        if previous is not None:
            k.require(ranked_after(previous, (score, name)), ErrorCode.ADL_RANKING_VIOLATED, name)
        previous = (score, name)


@icontract.ensure(
    lambda previous, current, result: k.is_symbolic(result)
    or result == ((-previous[0], previous[1]) <= (-current[0], current[1])),
    "ADL-2: on concrete values, the order of the key (-score, id)",
    enabled=k.SLOW_CONTRACTS,
)
def ranked_after(previous: tuple[int, str], current: tuple[int, str]) -> bool:
    """ADL-2: ``current`` (score, account id) may follow ``previous`` in the
    ranking: a lower score, or an equal one and an id not before it. Written
    with the kernel's operators, not as a tuple comparison, which on a symbolic
    score would decide the tie in Python and drop the id from the proof (PRF-4)."""
    (previous_score, previous_name), (score, name) = previous, current
    return k.or_(previous_score > score, k.and_(previous_score == score, previous_name <= name))


@icontract.ensure(
    lambda ledger, action, result: k.holds(
        k.implies(
            _no_position_left(result, action.account),
            _nc_without_positions(result, action.account) >= 0,
        )
    ),
    "ADL-3: deleveraging the last position leaves the bankrupt account with no debt (NC >= 0)",
    enabled=k.SLOW_CONTRACTS,
)
@icontract.ensure(
    lambda ledger, action, result: k.holds(
        k.abs_(position_size(result.accounts[action.account], action.market))
        < k.abs_(position_size(ledger.accounts[action.account], action.market))
    ),
    "ADL-4: the bankrupt position shrinks",
    enabled=k.SLOW_CONTRACTS,
)
def deleverage(ledger: Ledger, action: Deleverage) -> Ledger:
    """ADL-1..ADL-5: offset a bankrupt account's position against ranked
    counterparties at its bankruptcy price; skip a counterparty the offset would
    leave invalid; reject if none can take any of it."""
    k.require(action.market in ledger.params.market_by_id, ErrorCode.UNKNOWN_MARKET, action.market)
    k.require(action.account in ledger.accounts, ErrorCode.UNKNOWN_ACCOUNT, action.account)
    market = ledger.params.market_by_id[action.market]
    k.require(
        market.deficit_policy is DeficitPolicy.DELEVERAGE, ErrorCode.DELEVERAGING_DISABLED, action.market
    )
    ledger = settle_account(ledger, action.account)
    risk = account_risk(ledger, ledger.accounts[action.account])
    k.require(risk.nc < 0, ErrorCode.NOT_BANKRUPT, f"{action.account} NC {risk.nc}")
    fund = ledger.insurance_fund[ledger.params.quote_asset]
    k.require(fund < -risk.nc, ErrorCode.FUND_CAN_COVER, f"fund {fund} covers {-risk.nc}")
    size = position_size(ledger.accounts[action.account], action.market)
    k.require(size != 0, ErrorCode.NO_POSITION, f"{action.account} in {action.market}")
    side = k.ite(size > 0, 1, -1)
    _check_counterparties(ledger, action, side)
    offset_any = False
    for name in action.counterparties:
        remaining = k.abs_(position_size(ledger.accounts[action.account], action.market))
        if k.definitely(remaining == 0):
            break
        try:
            with k.skippable():
                ledger = _offset(ledger, action, name, side, remaining)
            offset_any = True
        except ClearingError:
            continue  # ADL-3: a counterparty the offset would leave invalid is skipped
    k.require(offset_any, ErrorCode.ADL_NO_VALID_COUNTERPARTY, action.market)
    ledger = sweep_if_closed(ledger, action.market)
    return gate_if_negative(ledger, risk.nc)  # ADL-5


def _offset(ledger: Ledger, action: Deleverage, name: str, side: int, remaining: int) -> Ledger:
    """ADL-3: move ``min(remaining, |counterparty size|)`` at the bankruptcy quote,
    computed with the positions-only requirement so that closing every position
    leaves the bankrupt account at NC >= 0."""
    settled = settle_account(ledger, name)
    taken = k.min_(remaining, k.abs_(position_size(settled.accounts[name], action.market)))
    delta = -side * taken
    bankrupt_risk = account_risk(settled, settled.accounts[action.account])
    quote = bankruptcy_quote(
        settled,
        action.account,
        action.market,
        delta,
        bankrupt_risk.nc,
        positions_mmr(settled, action.account),
    )
    after = move_position(settled, action.account, action.market, delta, quote)
    after = move_position(after, name, action.market, -delta, -quote)
    check_position_rules(after, name, [action.market])
    k.require(
        update_allowed(
            account_risk(settled, settled.accounts[name]), account_risk(after, after.accounts[name])
        ),
        ErrorCode.MARGIN_INSUFFICIENT,
        name,
    )
    return after
