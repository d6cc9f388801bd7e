"""The spec's effect statements per action type, as obligations (``effect`` kind).

An action that preserves every invariant can still do the wrong thing: settle
an account the spec does not settle, credit a fee to the wrong party of the
same pool, fix the wrong final price. The invariants cannot see that; these
obligations do. For each action type, :data:`TABLE` lists the action's effects
as the spec states them, each a named step that rewrites the ledger the way the
spec text says (``COL-5: the source is settled (FND-3)``, ``TRD-5: the fee
pool is credited with the batch's fees``, ...). Folding the steps over the
pre-state gives the ledger the spec expects; each step's obligation is that the
model's result agrees with it on every field the step writes, and one more,
``nothing else changes``, that every other field keeps its value.

The arithmetic of each effect is restated here from the spec text with the
kernel's helpers (fees, notional, clamps, the gate, the sweep), never taken from
the model's transition code, so a mutant of that code disagrees with this table.
Two model helpers are used as definitions, since each is a rule of its own with
its own contracts and lemmas: ``settle_account`` (FND-3: what settling one
account means; the effect states *which* accounts are settled and when) and
``account_risk`` (MRG-1: an account's NC, read by the INS-4/INS-6 effects).
More are definitions of one rule each: ``bankruptcy_quote`` (LIQ-2, with its
own lemmas), ``tiered_requirement`` (MRG-2), ``update_allowed`` (MRG-4, whose
restatement in the precondition table checks it on every risk-changing action;
restating it here too would leave the solver to prove two formulations equal
inside each later offset's arithmetic) and ``choose_ledger`` (ADL-3's
"the offset, or the ledger as it was": a field-wise choice between two
ledgers, with its own contract); ADL-3's order, ``taken``, the side, the
positions' requirement and the validity of a counterparty are restated here.

Action types whose effects are not all restated yet list the fields they may
write in ``FREE`` with the rule that states them elsewhere (for example
LIQ-4's fund delta, a contract of ``liquidate``): the ``nothing else changes``
obligation still covers every other field, so no account or market outside the
action's reach can move unnoticed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields, replace
from functools import partial
from typing import Any

import z3
from immutables import Map

from clearspec import kernel as k
from clearspec import oracle
from clearspec.actions import (
    Action,
    AdvanceTime,
    ApplyFunding,
    CoverBadDebt,
    Deleverage,
    Deposit,
    FundInsurance,
    Liquidate,
    LiquidateCollateral,
    OracleUpdate,
    PremiumSample,
    ReportNegativeCollateral,
    SettleExpiry,
    SettleTrades,
    Side,
    Transfer,
    Withdraw,
)
from clearspec.deleveraging import choose_ledger
from clearspec.liquidation import bankruptcy_quote
from clearspec.margin import account_risk, mark_price, tiered_requirement, update_allowed
from clearspec.params import PPM
from clearspec.positions import LOSS_SCALE, position_size, settle_account
from clearspec.state import Ledger, LiquidationUsage, OraclePrice, Position, with_balance
from clearspec_proofs.invariants import Invariant

Path = tuple[str, ...]


@dataclass(frozen=True)
class Effect:
    """One effect of an action: ``rewrite`` turns the expected ledger so far into
    the expected ledger after this effect."""

    label: str
    rewrite: Callable[[Ledger], Ledger]


Statement = Callable[[Ledger, Any], Iterator[Effect]]


# --- the ledger as a flat map of fields ----------------------------------------------------


def fields_of(ledger: Ledger) -> dict[Path, Any]:
    """Every field of the ledger a transition may change, by path. Maps are
    walked in sorted key order, so the paths do not depend on insertion order."""
    found: dict[Path, Any] = {("now",): ledger.now, ("gate_until",): ledger.gate_until}
    for name in sorted(ledger.accounts):
        account = ledger.accounts[name]
        for asset in sorted(account.balances):
            found["accounts", name, "balance", asset] = account.balances[asset]
        for market in sorted(account.positions):
            position = account.positions[market]
            for part in ("size", "quote", "funding_index", "loss_index"):
                found["accounts", name, "position", market, part] = getattr(position, part)
    for feed in sorted(ledger.prices):
        price = ledger.prices[feed]
        for part in ("price", "round", "updated_at"):
            found["prices", feed, part] = getattr(price, part)
    for pool_name in ("fee_pool", "insurance_fund", "net_deposits"):
        pool = getattr(ledger, pool_name)
        for asset in sorted(pool):
            found[pool_name, asset] = pool[asset]
    for market in sorted(ledger.markets):
        state = ledger.markets[market]
        for field in fields(state):
            found["markets", market, field.name] = getattr(state, field.name)
    for name in sorted(ledger.liquidation_usage):
        usage = ledger.liquidation_usage[name]
        for part in ("at", "notional", "insurance_lost"):
            found["usage", name, part] = getattr(usage, part)
        for market in sorted(usage.positions):
            initial, done = usage.positions[market]
            found["usage", name, "position", market, "initial"] = initial
            found["usage", name, "position", market, "done"] = done
    return found


def _absent(path: Path) -> Any:
    """The value a missing field stands for: a balance never held and a position
    never opened (or closed, the entry dropped) are zero; other fields have no
    default, and a missing one only equals a missing one."""
    if path[0] == "accounts" and (path[2] == "balance" or path[-1] in ("size", "quote")):
        return 0
    return None


def _equal(path: Path, got: dict[Path, Any], expected: dict[Path, Any]) -> Any:
    """The condition that the field at ``path`` agrees (a Z3 term or a bool)."""
    if path[0] == "accounts" and path[2] == "position" and path[-1] in ("funding_index", "loss_index"):
        # A position's snapshots mean nothing once it is closed (size zero).
        size_path = (*path[:-1], "size")
        if path not in got or path not in expected:
            size = expected.get(size_path, got.get(size_path, 0))
            return k.not_(size != 0) if k.is_symbolic(size) else size == 0
        return k.implies(expected.get(size_path, 0) != 0, got[path] == expected[path])
    left, right = got.get(path, _absent(path)), expected.get(path, _absent(path))
    if left is None or right is None:
        return left is None and right is None
    return left == right


@dataclass(frozen=True)
class Stated:
    """An effect statement evaluated on one pre-state: per effect the fields it
    writes, the expected ledger, and the fields the action may write unstated."""

    effects: list[tuple[str, list[Path]]]
    expected: Ledger
    free: list[Path]


def state_effects(ledger: Ledger, action: Action) -> Stated:
    """Fold the action's effects over ``ledger``, remembering which fields each
    one writes (a field written twice belongs to the last effect that writes it).
    Identity, not equality, tells a written field: comparing Z3 terms with
    ``==`` in Python would ask for syntactic identity anyway, and a rewrite that
    recomputes a field to the same value is harmless (its obligation holds)."""
    owner: dict[Path, str] = {}
    order: list[str] = []
    current = ledger
    for effect in TABLE[type(action)](ledger, action):
        previous = fields_of(current)
        current = effect.rewrite(current)
        written = fields_of(current)
        order.append(effect.label)
        for path in written.keys() | previous.keys():
            if path not in previous or path not in written or written[path] is not previous[path]:
                owner[path] = effect.label
    everything = fields_of(ledger).keys() | fields_of(current).keys()
    for path, label in list(owner.items()):
        # A position whose size an effect writes is that effect's whole: its
        # snapshots are compared with the expected ones (meaningless once closed).
        if path[0] == "accounts" and path[2] == "position" and path[-1] == "size":
            for snapshot in ("funding_index", "loss_index"):
                if (*path[:-1], snapshot) in everything:
                    owner.setdefault((*path[:-1], snapshot), label)
    free = [path for path in everything if _is_free(action, path)]
    by_label = [(label, sorted(p for p, o in owner.items() if o == label)) for label in order]
    return Stated([(label, paths) for label, paths in by_label if paths], current, sorted(free))


def conditions(ledger: Ledger, action: Action, after: Ledger) -> list[tuple[str, Any]]:
    """``(label, condition)`` per effect, then ``nothing else changes``: the
    model's result ``after`` against the spec's expected ledger."""
    stated = state_effects(ledger, action)
    got, expected = fields_of(after), fields_of(stated.expected)
    free = set(stated.free)
    found = [
        (label, k.and_(*[_equal(path, got, expected) for path in stated_paths]))
        for label, paths in stated.effects
        if (stated_paths := [path for path in paths if path not in free])
    ]
    written = {path for _, paths in stated.effects for path in paths} | set(stated.free)
    before = fields_of(ledger)
    rest = sorted((got.keys() | before.keys()) - written)
    found.append(("nothing else changes", k.and_(*[_equal(path, got, before) for path in rest])))
    return found


def as_z3(condition: Any) -> Any:
    return z3.BoolVal(condition) if isinstance(condition, bool) else condition


def replay_checker(label: str, rule: str, ledger: Ledger, action: Action) -> Invariant:
    """The effect ``label`` on a concrete pre-state, as a check of the concrete
    result (counterexample replay: ``counterexample.confirm``)."""

    def holds(after: Ledger) -> bool:
        return all(bool(c) for name, c in conditions(ledger, action, after) if name == label)

    return Invariant(label, rule, holds)


# --- rewriting steps, each restated from the spec ------------------------------------------


def _credit(ledger: Ledger, name: str, asset: str, amount: int) -> Ledger:
    account = ledger.account(name)
    updated = with_balance(account, asset, account.balance(asset) + amount)
    return replace(ledger, accounts=ledger.accounts.set(name, updated))


def _add(ledger: Ledger, pool_name: str, asset: str, amount: int) -> Ledger:
    pool = getattr(ledger, pool_name)
    return replace(ledger, **{pool_name: pool.set(asset, pool.get(asset, 0) + amount)})


def _settle(name: str, rule: str) -> Effect:
    return Effect(f"{rule}: {name} is settled (FND-3)", lambda ledger: settle_account(ledger, name))


def _gate(ledger: Ledger, nc: int) -> Ledger:
    """INS-6: ``if NC < 0: gate_until = max(gate_until, now + withdrawal_gate_seconds)``."""
    opened = k.max_(ledger.gate_until, ledger.now + ledger.params.liquidation.withdrawal_gate_seconds)
    return replace(ledger, gate_until=k.ite(nc < 0, opened, ledger.gate_until))


def _nc(ledger: Ledger, name: str) -> int:
    return account_risk(ledger, ledger.accounts[name]).nc


def _scale(ledger: Ledger, market: str) -> int:
    return ledger.params.feed_by_id[ledger.params.market_by_id[market].feed].scale


def _market(ledger: Ledger, market: str, **changes: Any) -> Ledger:
    return replace(ledger, markets=ledger.markets.set(market, replace(ledger.markets[market], **changes)))


def _apply_to_position(ledger: Ledger, name: str, market: str, delta: int, cost: int, fee: int) -> Ledger:
    """TRD-4, as the spec writes it: ``size₁ = size₀ + δ``, ``quote₁ = quote₀ - c``;
    at size zero the quote is realised (``balance += quote₁ - fee``) and the
    position closes, else ``balance -= fee``; open interest follows the longs."""
    state = ledger.markets[market]
    account = ledger.accounts[name]
    old = account.positions.get(market, Position(0, 0, state.funding_index, state.loss_index))
    size = old.size + delta
    quote = old.quote - cost
    closed = size == 0
    quote_asset = ledger.params.quote_asset
    balance = account.balance(quote_asset) + k.ite(closed, quote, 0) - fee
    position = replace(old, size=size, quote=k.ite(closed, 0, quote))
    positions = account.positions.set(market, position)
    updated = replace(with_balance(account, quote_asset, balance), positions=positions)
    interest = state.open_interest + k.ite(size > 0, size, 0) - k.ite(old.size > 0, old.size, 0)
    ledger = replace(ledger, accounts=ledger.accounts.set(name, updated))
    return _market(ledger, market, open_interest=interest)


def _fill_side(ledger: Ledger, name: str, market: str, delta: int, cost: int, fee: int) -> Ledger:
    return _apply_to_position(ledger, name, market, delta, cost, fee)


def _sweep(ledger: Ledger, market: str) -> Ledger:
    """FND-4: ``if open_interest == 0: insurance_fund += pool; pool = 0``."""
    state = ledger.markets[market]
    empty = state.open_interest == 0
    quote_asset = ledger.params.quote_asset
    ledger = _add(ledger, "insurance_fund", quote_asset, k.ite(empty, state.pool, 0))
    return _market(ledger, market, pool=k.ite(empty, 0, state.pool))


# --- the table -----------------------------------------------------------------------------


def _deposit(ledger: Ledger, a: Deposit) -> Iterator[Effect]:
    yield Effect("COL-3: the balance rises by the amount", lambda s: _credit(s, a.account, a.asset, a.amount))
    yield Effect(
        "COL-3: net deposits rise by the amount", lambda s: _add(s, "net_deposits", a.asset, a.amount)
    )


def _withdraw(ledger: Ledger, a: Withdraw) -> Iterator[Effect]:
    yield _settle(a.account, "COL-4")
    yield Effect(
        "COL-4: the balance falls by the amount", lambda s: _credit(s, a.account, a.asset, -a.amount)
    )
    yield Effect(
        "COL-4: net deposits fall by the amount", lambda s: _add(s, "net_deposits", a.asset, -a.amount)
    )


def _transfer(ledger: Ledger, a: Transfer) -> Iterator[Effect]:
    yield _settle(a.source, "COL-5")
    yield Effect("COL-5: the source pays the amount", lambda s: _credit(s, a.source, a.asset, -a.amount))
    yield Effect(
        "COL-5: the destination receives the amount (not settled)",
        lambda s: _credit(s, a.destination, a.asset, a.amount),
    )


def _fund_insurance(ledger: Ledger, a: FundInsurance) -> Iterator[Effect]:
    quote = ledger.params.quote_asset
    yield _settle(a.account, "INS-1")
    yield Effect("INS-1: the account pays the amount", lambda s: _credit(s, a.account, quote, -a.amount))
    yield Effect("INS-1: the fund receives the amount", lambda s: _add(s, "insurance_fund", quote, a.amount))


def _report_negative(ledger: Ledger, a: ReportNegativeCollateral) -> Iterator[Effect]:
    yield _settle(a.account, "INS-6")
    yield Effect("INS-6: negative NC gates withdrawals", lambda s: _gate(s, _nc(s, a.account)))


def _cover_bad_debt(ledger: Ledger, a: CoverBadDebt) -> Iterator[Effect]:
    quote = ledger.params.quote_asset
    nc = _nc(ledger, a.account)
    paid = k.min_(ledger.insurance_fund[quote], -nc)
    yield Effect("INS-4: the fund pays min(fund, -NC)", lambda s: _add(s, "insurance_fund", quote, -paid))
    yield Effect("INS-4: the account receives it", lambda s: _credit(s, a.account, quote, paid))
    yield Effect("INS-4: the negative NC gates withdrawals (INS-6)", lambda s: _gate(s, nc))


def _advance_time(ledger: Ledger, a: AdvanceTime) -> Iterator[Effect]:
    yield Effect("CLK-1: the clock is set", lambda s: replace(s, now=a.now))


def _premium_sample(ledger: Ledger, a: PremiumSample) -> Iterator[Effect]:
    market = ledger.params.market_by_id[a.market]
    tier = market.tiers[0]
    bound = k.mul_div_floor(market.premium_clamp_factor_ppm, tier.initial_ppm - tier.maintenance_ppm, PPM)
    sample = k.min_(k.max_(a.premium_ppm, -bound), bound)
    state = ledger.markets[a.market]
    yield Effect(
        "FND-1: the clamped sample is added and counted",
        lambda s: _market(
            s, a.market, premium_sum=state.premium_sum + sample, premium_count=state.premium_count + 1
        ),
    )


def _apply_funding(ledger: Ledger, a: ApplyFunding) -> Iterator[Effect]:
    market = ledger.params.market_by_id[a.market]
    state = ledger.markets[a.market]
    tier = market.tiers[0]
    # FND-2: the interval's share of factor * spread per 8 hours (28,800 s), rounded down.
    per_8_hours = market.funding_clamp_factor_ppm * (tier.initial_ppm - tier.maintenance_ppm)
    bound = k.mul_div_floor(per_8_hours, market.funding_interval, PPM * 28_800)
    average = k.div_floor(state.premium_sum, k.max_(state.premium_count, 1))
    rate = k.min_(k.max_(average + market.funding_interest_ppm, -bound), bound)
    index = state.funding_index + rate * ledger.prices[market.feed].price
    yield Effect(
        "FND-2: the index moves by rate * P; the samples restart; the interval closes now",
        lambda s: _market(
            s, a.market, funding_index=index, premium_sum=0, premium_count=0, last_funding_at=s.now
        ),
    )


def _touched_by_fills(action: SettleTrades) -> list[str]:
    """STA-3: for each fill in order its maker then its taker, each once."""
    return list(dict.fromkeys(name for fill in action.fills for name in (fill.maker, fill.taker)))


def _settle_trades(ledger: Ledger, a: SettleTrades) -> Iterator[Effect]:
    for name in _touched_by_fills(a):
        yield _settle(name, "TRD-1")
    fees: list[int] = []
    for number, fill in enumerate(a.fills, start=1):
        notional = k.mul_div_floor(fill.size, fill.price, _scale(ledger, fill.market))
        sign = 1 if fill.taker_side is Side.BUY else -1
        taker_fee = k.div_ceil(notional * fill.taker_fee_ppm, PPM)
        maker_fee = k.div_ceil(notional * fill.maker_fee_ppm, PPM)
        fees += [taker_fee, maker_fee]
        yield Effect(
            f"TRD-4: fill {number} moves the taker's position, TRD-5: the taker pays its fee",
            partial(
                _fill_side,
                name=fill.taker,
                market=fill.market,
                delta=sign * fill.size,
                cost=sign * notional,
                fee=taker_fee,
            ),
        )
        yield Effect(
            f"TRD-4: fill {number} moves the maker's position, TRD-5: the maker pays its fee",
            partial(
                _fill_side,
                name=fill.maker,
                market=fill.market,
                delta=-sign * fill.size,
                cost=-sign * notional,
                fee=maker_fee,
            ),
        )
    quote = ledger.params.quote_asset
    yield Effect(
        "TRD-5: the fee pool is credited with the batch's fees",
        lambda s: _add(s, "fee_pool", quote, k.sum_(fees)),
    )
    for market in dict.fromkeys(fill.market for fill in a.fills):
        yield Effect(
            f"FND-4: {market}'s pool is swept if no position is left", partial(_sweep, market=market)
        )


def _oracle_update(ledger: Ledger, a: OracleUpdate) -> Iterator[Effect]:
    median = oracle.lower_median([report.price for report in a.reports])
    before = ledger.prices[a.feed]
    interval = ledger.params.oracle.breaker_interval
    # ORA-10: the interval holding now begins at floor(now / I) * I; when the
    # feed's interval began earlier, the new one's reference is the last price.
    begun = k.div_floor(ledger.now, interval) * interval
    same = before.reference_at >= begun
    reference = k.ite(same, before.reference, before.price)
    reference_at = k.ite(same, before.reference_at, begun)
    yield Effect(
        "ORA-7, ORA-10: the feed takes the lower median, the round, the clock and its interval's reference",
        lambda s: replace(
            s,
            prices=s.prices.set(
                a.feed, OraclePrice(median, a.reports[0].round, s.now, reference, reference_at)
            ),
        ),
    )


def _settle_expiry(ledger: Ledger, a: SettleExpiry) -> Iterator[Effect]:
    market = ledger.params.market_by_id[a.market]
    state = ledger.markets[a.market]
    fixed = state.settlement_price
    final = ledger.prices[market.feed].price if fixed is None else fixed
    yield Effect(
        "EXP-1: the final price is the one fixed, else the feed's price now",
        lambda s: _market(s, a.market, settlement_price=final),
    )
    for name in a.accounts:
        yield _settle(name, "EXP-2")
        yield Effect(
            f"EXP-2: {name}'s position closes at the final price",
            partial(_close, action=a, name=name, final=final),
        )
        yield Effect(f"EXP-4: {name}'s deficit", partial(_expiry_deficit, market=a.market, name=name))
    yield Effect(f"FND-4: {a.market}'s pool is swept if no position is left", lambda s: _sweep(s, a.market))


def _close(ledger: Ledger, action: SettleExpiry, name: str, final: int) -> Ledger:
    """EXP-2 step 4: ``value = floor(size * F / S)``; the position closes with
    quote ``value`` (TRD-4) and the pool pays ``value``."""
    size = ledger.accounts[name].positions[action.market].size
    value = k.mul_div_floor(size, final, _scale(ledger, action.market))
    closed = _apply_to_position(ledger, name, action.market, -size, -value, 0)
    return _market(closed, action.market, pool=closed.markets[action.market].pool - value)


def _expiry_deficit(ledger: Ledger, market: str, name: str) -> Ledger:
    """EXP-4: with no position left, the fund pays the deficit as far as it goes;
    negative NC gates withdrawals (INS-6)."""
    account = ledger.accounts[name]
    nc = _nc(ledger, name)
    open_positions = k.or_(*[p.size != 0 for p in account.positions.values()])
    quote = ledger.params.quote_asset
    fund = ledger.insurance_fund[quote]
    paid = k.ite(open_positions, 0, k.min_(k.max_(-nc, 0), fund))
    ledger = _add(_credit(ledger, name, quote, paid), "insurance_fund", quote, -paid)
    return _gate(ledger, nc)


def _liquidate(ledger: Ledger, a: Liquidate) -> Iterator[Effect]:
    """LIQ-1..LIQ-5, ADL-6, FND-4, INS-6 as spec/liquidation.md's LIQ-4 lists the
    fill's application. The bankruptcy quote is LIQ-2's (its own lemma)."""
    quote = ledger.params.quote_asset
    yield _settle(a.liquidated, "LIQ-1")
    yield _settle(a.counterparty, "LIQ-1")
    settled = settle_account(settle_account(ledger, a.liquidated), a.counterparty)
    risk = account_risk(settled, settled.accounts[a.liquidated])
    size = settled.accounts[a.liquidated].positions[a.market].size
    closing = k.ite(size > 0, -1, 1)
    delta = closing * a.size
    amount = k.mul_div_floor(a.size, a.price, _scale(ledger, a.market))
    received = -closing * amount
    bankrupt = bankruptcy_quote(settled, a.liquidated, a.market, delta, risk.nc, risk.mmr)
    surplus = received - bankrupt
    cap = k.mul_div_floor(amount, ledger.params.liquidation.max_liquidation_fee_ppm, PPM)
    fund_delta = k.ite(surplus <= 0, surplus, k.min_(cap, surplus))
    fund = ledger.insurance_fund[quote]
    owed = k.max_(-fund_delta, 0)
    paid = k.min_(owed, fund)
    fee = k.div_ceil(amount * a.counterparty_fee_ppm, PPM)
    yield Effect(
        "LIQ-4: the liquidated position moves by (delta, received) (TRD-4)",
        partial(_fill_side, name=a.liquidated, market=a.market, delta=delta, cost=-received, fee=0),
    )
    yield Effect(
        "LIQ-4: the counterparty's by (-delta, -received), and it pays its fee",
        partial(_fill_side, name=a.counterparty, market=a.market, delta=-delta, cost=received, fee=fee),
    )
    yield Effect(
        "LIQ-4: the liquidated account pays the fund delta",
        lambda s: _credit(s, a.liquidated, quote, -fund_delta),
    )
    yield Effect(
        "LIQ-4: the fee pool receives the counterparty's fee", lambda s: _add(s, "fee_pool", quote, fee)
    )
    yield Effect(
        "LIQ-4: the fund gains max(delta, 0) and pays what it can",
        lambda s: _add(s, "insurance_fund", quote, k.max_(fund_delta, 0) - paid),
    )
    yield Effect(
        "ADL-6: a shortfall is charged to the open positions",
        partial(_socialise, market=a.market, shortfall=owed - paid),
    )
    yield Effect(
        f"FND-4: {a.market}'s pool is swept if no position is left", partial(_sweep, market=a.market)
    )
    yield Effect(
        "LIQ-5: the block's usage is recorded",
        partial(
            _record_usage,
            name=a.liquidated,
            market=a.market,
            size=a.size,
            amount=amount,
            paid=paid,
            initial=k.abs_(size),
        ),
    )
    yield Effect("INS-6: a negative NC before the fill gates withdrawals", lambda s: _gate(s, risk.nc))


def _socialise(ledger: Ledger, market: str, shortfall: int) -> Ledger:
    """ADL-6: ``loss_index += ceil(shortfall * LOSS_SCALE / (2 * open_interest))``;
    ``pool -= shortfall`` (nothing when there is no shortfall)."""
    state = ledger.markets[market]
    total = 2 * state.open_interest
    increase = k.div_ceil(shortfall * LOSS_SCALE, k.max_(total, 1))
    return _market(
        ledger,
        market,
        loss_index=state.loss_index + k.ite(shortfall == 0, 0, increase),
        pool=state.pool - shortfall,
    )


def _record_usage(
    ledger: Ledger, name: str, market: str, size: int, amount: int, paid: int, initial: int
) -> Ledger:
    """LIQ-5: the account's usage within this block (clock value): a usage from an
    earlier block starts afresh; a market's pair is (|size| at the block's first
    liquidation, size liquidated so far)."""
    usage = ledger.liquidation_usage.get(name)
    if usage is None or _earlier_block(usage.at, ledger.now):
        usage = LiquidationUsage(ledger.now, 0, 0, Map())
    first, done = usage.positions.get(market, (initial, 0))
    recorded = LiquidationUsage(
        ledger.now,
        usage.notional + amount,
        usage.insurance_lost + paid,
        usage.positions.set(market, (first, done + size)),
    )
    return replace(ledger, liquidation_usage=ledger.liquidation_usage.set(name, recorded))


def _earlier_block(at: int, now: int) -> bool:
    """Whether a usage is from an earlier block. The symbolic world keeps the clock
    and a usage's block concrete (symbolic.Shape.usage), so this is decided here."""
    if k.is_symbolic(at) or k.is_symbolic(now):
        raise ValueError("LIQ-5's block comparison needs a concrete clock")
    return at != now


def _liquidate_collateral(ledger: Ledger, a: LiquidateCollateral) -> Iterator[Effect]:
    """CLQ-7, as spec/collateral-liquidation.md lists the effect; the fee is CLQ-6's
    ``ceil(max(seize * P - repay * S, 0) * fee_ppm / (S * PPM))``."""
    quote = ledger.params.quote_asset
    asset = ledger.params.asset_by_id[a.asset]
    assert asset.feed is not None
    price, scale = ledger.price(asset.feed), ledger.params.feed_by_id[asset.feed].scale
    bonus = k.max_(a.seize * price - a.repay * scale, 0)
    fee = k.div_ceil(bonus * asset.liquidation_protocol_fee_ppm, scale * PPM)
    nc = _nc(ledger, a.account)
    yield _settle(a.liquidator, "CLQ-7")
    yield Effect("CLQ-7: the account's debt falls by repay", lambda s: _credit(s, a.account, quote, a.repay))
    yield Effect("CLQ-7: the account gives up seize", lambda s: _credit(s, a.account, a.asset, -a.seize))
    yield Effect(
        "CLQ-7: the liquidator pays repay + fee", lambda s: _credit(s, a.liquidator, quote, -a.repay - fee)
    )
    yield Effect("CLQ-7: the liquidator receives seize", lambda s: _credit(s, a.liquidator, a.asset, a.seize))
    yield Effect("CLQ-6: the fund receives the fee", lambda s: _add(s, "insurance_fund", quote, fee))
    yield Effect("INS-6: a negative NC before the liquidation gates withdrawals", lambda s: _gate(s, nc))


def _deleverage(ledger: Ledger, a: Deleverage) -> Iterator[Effect]:
    """ADL-3..ADL-5 as spec/deleveraging.md states them: the bankrupt account is
    settled; each listed counterparty in order takes its part of the position at
    the bankruptcy quote, or is skipped (nothing of it changes, not even its
    settlement); the pool is swept; the NC seen before gates withdrawals."""
    yield _settle(a.account, "ADL-4")
    settled = settle_account(ledger, a.account)
    size = position_size(settled.accounts[a.account], a.market) if a.account in settled.accounts else 0
    side = k.ite(size > 0, 1, -1)
    for name in a.counterparties:
        yield Effect(
            f"ADL-3: {name} takes its part at the bankruptcy quote (TRD-4), or is skipped",
            partial(_adl_offset, action=a, name=name, side=side),
        )
    yield Effect(
        f"FND-4: {a.market}'s pool is swept if no position is left", partial(_sweep, market=a.market)
    )
    nc = _nc(settled, a.account)
    yield Effect("ADL-5: the negative NC gates withdrawals (INS-6)", lambda s: _gate(s, nc))


def _move_by(ledger: Ledger, name: str, market: str, delta: int, quote: int) -> Ledger:
    """ADL-3 step 4 with TRD-4, as the spec writes it: the position moves by
    ``(δ, q)``: ``size₁ = size₀ + δ``, ``quote₁ = quote₀ + q``; at size zero the
    quote is realised into the balance and the position closes; no fee; open
    interest follows the longs (``max(size, 0)``)."""
    state = ledger.markets[market]
    account = ledger.accounts[name]
    old = account.positions.get(market, Position(0, 0, state.funding_index, state.loss_index))
    size = old.size + delta
    moved = old.quote + quote
    closed = size == 0
    quote_asset = ledger.params.quote_asset
    balance = account.balance(quote_asset) + k.ite(closed, moved, 0)
    position = replace(old, size=size, quote=k.ite(closed, 0, moved))
    updated = replace(
        with_balance(account, quote_asset, balance), positions=account.positions.set(market, position)
    )
    interest = state.open_interest + k.max_(size, 0) - k.max_(old.size, 0)
    ledger = replace(ledger, accounts=ledger.accounts.set(name, updated))
    return _market(ledger, market, open_interest=interest)


def _positions_requirement(ledger: Ledger, name: str) -> int:
    """ADL-3: the maintenance requirement of the account's positions alone (MRG-2
    per position at the mark price, collateral left out)."""
    total = 0
    for market_id, position in ledger.accounts[name].positions.items():
        market = ledger.params.market_by_id[market_id]
        price = mark_price(ledger, market)
        total = total + tiered_requirement(market, k.abs_(position.size), price, _scale(ledger, market_id))[1]
    return total


def _adl_offset(ledger: Ledger, action: Deleverage, name: str, side: int) -> Ledger:
    """ADL-3 for one counterparty: settle it (FND-3); ``taken = min(remaining,
    |its size|)``, ``δ`` that much against the bankrupt side; the quote is the
    bankruptcy quote of ``δ`` with the positions' requirement; the bankrupt
    position moves by ``(δ, q)`` and the counterparty's by ``(-δ, -q)``, no fee.
    The offset stands if some position remained and the counterparty keeps
    TRD-6, TRD-8 and MRG-4; otherwise the ledger is left as it was."""
    remaining = k.abs_(position_size(ledger.accounts[action.account], action.market))
    if k.definitely(remaining == 0):
        return ledger  # a concrete position already closed: nothing is offset
    settled = settle_account(ledger, name)
    taken = k.min_(remaining, k.abs_(position_size(settled.accounts[name], action.market)))
    delta = -side * taken
    requirement = k.ite(taken == 0, 1, _positions_requirement(settled, action.account))
    nc = _nc(settled, action.account)
    quote = bankruptcy_quote(settled, action.account, action.market, delta, nc, requirement)
    moved = _move_by(settled, action.account, action.market, delta, quote)
    moved = _move_by(moved, name, action.market, -delta, -quote)
    market = ledger.params.market_by_id[action.market]
    after = k.abs_(position_size(moved.accounts[name], action.market))
    minimum = max(market.min_position_size, market.step_size)
    valid = k.and_(
        after <= market.max_position,
        k.or_(after == 0, after >= minimum),
        update_allowed(
            account_risk(settled, settled.accounts[name]), account_risk(moved, moved.accounts[name])
        ),
    )
    return choose_ledger(k.and_(remaining != 0, valid), moved, ledger)


TABLE: dict[type[Action], Statement] = {
    Deposit: _deposit,
    Withdraw: _withdraw,
    Transfer: _transfer,
    FundInsurance: _fund_insurance,
    ReportNegativeCollateral: _report_negative,
    CoverBadDebt: _cover_bad_debt,
    AdvanceTime: _advance_time,
    PremiumSample: _premium_sample,
    ApplyFunding: _apply_funding,
    SettleTrades: _settle_trades,
    OracleUpdate: _oracle_update,
    SettleExpiry: _settle_expiry,
    Liquidate: _liquidate,
    LiquidateCollateral: _liquidate_collateral,
    Deleverage: _deleverage,
}


def _is_free(action: Action, path: Path) -> bool:
    """Fields an action writes whose exact value is not restated here (see the
    module docstring). Every action type's effects are restated in full today."""
    return False


# How completely each action type's effects are stated: "exact" (every field
# the action writes), or "partial" (some fields stated elsewhere, see _is_free).
STATED = {action_type.__name__: "exact" for action_type in TABLE}
