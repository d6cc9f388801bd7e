"""Auto-deleveraging (spec: deleveraging.md, rules ADL-*).

When an account's net collateral is negative and the insurance fund cannot cover
it, its position in a market whose deficit policy is ``deleverage`` is offset
against opposite-side accounts at its bankruptcy price, in ranking order.
"""

from __future__ import annotations

from dataclasses import fields, is_dataclass, replace
from typing import Any, cast

import icontract
from immutables import Map

from clearspec import kernel as k
from clearspec.actions import Deleverage
from clearspec.errors import ErrorCode
from clearspec.liquidation import bankruptcy_quote, gate_if_negative, positions_mmr
from clearspec.margin import account_risk, mark_price, notional, update_allowed
from clearspec.params import DeficitPolicy
from clearspec.positions import (
    move_position,
    position_size,
    settle_account,
    sweep_if_closed,
)
from clearspec.state import Ledger, Position


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
    """ADL-2: each listed counterparty exists once, holds the opposite side, the
    list is in ranking order, and it is the whole opposite side (so it starts at
    the top of the ranking and skips nobody): the sizes it lists add up to the
    market's open interest, which is the size of either side (INV-2, INV-6).
    Each counterparty costs O(log accounts), never a scan of the ledger."""
    previous: tuple[int, str] | None = None
    seen: set[str] = set()
    listed = 0
    for name in action.counterparties:
        k.require(
            name in ledger.accounts and name != action.account and name not in seen,
            ErrorCode.ADL_BAD_COUNTERPARTY,
            name,
        )
        seen.add(name)
        size = position_size(ledger.accounts[name], action.market)
        k.require(size * side < 0, ErrorCode.ADL_BAD_COUNTERPARTY, name)
        score = adl_score(ledger, name, action.market)
        if previous is not None:
            k.require(ranked_after(previous, (score, name)), ErrorCode.ADL_RANKING_VIOLATED, name)
        previous = (score, name)
        listed = listed + k.abs_(size)
    side_total = ledger.markets[action.market].open_interest
    k.require(
        listed == side_total,
        ErrorCode.ADL_RANKING_VIOLATED,
        f"the list holds {listed} of the opposite side's {side_total}: it skips a holder",
    )


def _heads_the_ranking(ledger: Ledger, action: Deleverage) -> bool:
    """ADL-2 over the whole ledger (O(accounts), slow mode and proofs only): if
    the listed sizes add up to the open interest (the action's check), every
    account holding the side opposite the bankrupt account's is listed, and no
    holder ranks above the first listed one. Scores as the action's check reads
    them, after the bankrupt account's settlement. That the check implies the
    whole ranking rests on INV-2 and INV-6, which the prover assumes before."""
    settled = settle_account(ledger, action.account)
    listed = k.sum_(k.abs_(position_size(settled.accounts[n], action.market)) for n in action.counterparties)
    complete = listed == settled.markets[action.market].open_interest
    side = k.ite(position_size(settled.accounts[action.account], action.market) > 0, 1, -1)
    first = action.counterparties[0] if action.counterparties else None
    top = None if first is None else (adl_score(settled, first, action.market), first)
    conditions: list[bool] = []
    for name in sorted(settled.accounts):
        if name == action.account:
            continue
        holds_opposite = position_size(settled.accounts[name], action.market) * side < 0
        if name not in action.counterparties:
            conditions.append(k.not_(holds_opposite))
        elif top is not None and name != first:
            score = adl_score(settled, name, action.market)
            conditions.append(k.implies(holds_opposite, ranked_after(top, (score, name))))
    return k.implies(complete, k.and_(*conditions))


@icontract.ensure(
    lambda previous, current, result: (
        k.is_symbolic(result) or result == ((-previous[0], previous[1]) <= (-current[0], current[1]))
    ),
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
    lambda ledger, action, result: k.holds(_heads_the_ranking(ledger, action)),
    "ADL-2: a list as large as the open interest names every holder of the opposite side, "
    "and its first is the top of the ranking",
    enabled=k.SLOW_CONTRACTS,
)
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
    offset_any: bool = False
    for name in action.counterparties:
        remaining = k.abs_(position_size(ledger.accounts[action.account], action.market))
        if k.definitely(remaining == 0):
            break  # ADL-3: the position is closed; the counterparties left are not used
        after, valid = _offset(ledger, action, name, side, remaining)
        # ADL-3: an offset is made while some position remains and the counterparty
        # stays valid; else it is skipped, its settlement discarded. Written as a
        # choice between two ledgers so that a trace follows both paths.
        made = k.and_(remaining != 0, valid)
        ledger = choose_ledger(made, after, ledger)
        offset_any = k.or_(offset_any, made)
    k.require(offset_any, ErrorCode.ADL_NO_VALID_COUNTERPARTY, action.market)
    ledger = sweep_if_closed(ledger, action.market)
    return gate_if_negative(ledger, risk.nc)  # ADL-5


def _offset(ledger: Ledger, action: Deleverage, name: str, side: int, remaining: int) -> tuple[Ledger, bool]:
    """ADL-3: move ``min(remaining, |counterparty size|)`` at the bankruptcy quote,
    computed with the positions-only requirement so that closing every position
    leaves the bankrupt account at NC >= 0. Returns the ledger after the offset
    and whether the counterparty is still valid (TRD-6, TRD-8, MRG-4)."""
    settled = settle_account(ledger, name)
    taken = k.min_(remaining, k.abs_(position_size(settled.accounts[name], action.market)))
    delta = -side * taken
    bankrupt_risk = account_risk(settled, settled.accounts[action.account])
    # Nothing taken (only on a path where the position is already closed): the
    # quote is zero whatever the divisor, and 1 keeps the division defined.
    requirement = k.ite(taken == 0, 1, positions_mmr(settled, action.account))
    quote = bankruptcy_quote(settled, action.account, action.market, delta, bankrupt_risk.nc, requirement)
    after = move_position(settled, action.account, action.market, delta, quote)
    after = move_position(after, name, action.market, -delta, -quote)
    valid = k.and_(
        _within_position_rules(after, name, action.market),
        update_allowed(
            account_risk(settled, settled.accounts[name]), account_risk(after, after.accounts[name])
        ),
    )
    return after, valid


def _within_position_rules(ledger: Ledger, name: str, market_id: str) -> bool:
    """TRD-6 and TRD-8 as a condition (``check_position_rules`` rejects instead):
    within the position limit, and zero or at least the minimum size."""
    market = ledger.params.market_by_id[market_id]
    size = k.abs_(position_size(ledger.accounts[name], market_id))
    minimum = k.max_(market.min_position_size, market.step_size)
    return k.and_(size <= market.max_position, k.or_(size == 0, size >= minimum))


@icontract.ensure(
    lambda cond, then, other, result: k.is_symbolic(cond) or result is (then if cond else other),
    "on a concrete condition, the chosen ledger itself",
)
def choose_ledger(cond: bool, then: Ledger, other: Ledger) -> Ledger:
    """ADL-3: ``then if cond else other`` for two ledgers that differ only in
    amounts (balances, positions, market states): on a symbolic condition,
    every field that differs becomes ``ite(cond, then, other)``. A position one
    side lacks stands for a closed one (size and quote zero)."""
    known = k.definitely(cond)
    if known or k.definitely(k.not_(cond)):
        return then if known else other
    return cast(Ledger, _choose(cond, then, other))


def _choose(cond: bool, then: Any, other: Any) -> Any:
    """``choose_ledger`` field by field: shared parts kept as they are, maps
    key by key, records field by field, amounts by ``ite``."""
    if then is other:
        return then
    if isinstance(then, Map) and isinstance(other, Map):
        keys = sorted(set(then.keys()) | set(other.keys()))
        return Map({key: _choose(cond, *_entries(then, other, key)) for key in keys})
    if is_dataclass(then) and not isinstance(then, type) and type(then) is type(other):
        changes = {f.name: _choose(cond, getattr(then, f.name), getattr(other, f.name)) for f in fields(then)}
        return replace(then, **changes)
    return k.ite(cond, then, other)  # amounts; anything else is refused by z3


def _entries(then: Map[str, Any], other: Map[str, Any], key: str) -> tuple[Any, Any]:
    """The two sides' entries under ``key``, a missing one by its stand-in."""
    present = then[key] if key in then else other[key]
    return (
        then[key] if key in then else _closed_like(present),
        other[key] if key in other else _closed_like(present),
    )


def _closed_like(present: Any) -> Any:
    """What a missing map entry stands for, shaped like the entry the other side
    has: a closed position (its snapshots kept), else a zero balance. Offsets
    add and remove no account, so no other kind of entry goes missing."""
    return Position(0, 0, present.funding_index, present.loss_index) if isinstance(present, Position) else 0
