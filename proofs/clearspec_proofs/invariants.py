"""The invariants every transition must preserve, and the designer's extension point.

Each invariant is a function of a ledger returning a condition; the prover
evaluates it on the symbolic ledger before (as the induction hypothesis) and
after a transition (as the goal). The built-in ones are the model's own global
invariant functions, so the proof checks the very predicates the run-time
contracts check.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from clearspec import invariants as inv
from clearspec import kernel as k
from clearspec.params import MAX_AMOUNT, ProtocolParams
from clearspec.state import Ledger

Condition = Callable[[Ledger], bool]


@dataclass(frozen=True)
class Invariant:
    """A named condition on a ledger and the rule it states."""

    name: str
    rule: str
    holds: Condition


_REGISTERED: list[Invariant] = []


def register_invariant(name: str, rule: str, holds: Condition) -> None:
    """Extension point: add a designer's own invariant; ``clearspec prove`` then
    checks it against every transition, as an induction hypothesis and a goal.

    ``holds`` receives a ledger whose amounts may be Z3 terms: write it with
    ``clearspec.kernel`` helpers (``k.and_``, ``k.sum_``, ...), never ``if``.
    """
    if any(i.name == name for i in _REGISTERED):
        raise ValueError(f"invariant {name!r} is already registered")
    _REGISTERED.append(Invariant(name, rule, _guarded(name, holds)))


class InvariantModuleError(Exception):
    """A designer's invariant module could not be loaded, or one of its conditions
    raised, exited or returned something other than a condition (the CLI exits 2)."""


def _guarded(name: str, holds: Condition) -> Condition:
    """``holds`` as the prover may call it: whatever the designer's code raises
    (an ``if`` on a symbolic amount included) or exits with, and any result that is
    neither a ``bool`` nor a Z3 condition, becomes an :class:`InvariantModuleError`
    naming the invariant, never a traceback, a worker's death or a vacuous proof."""

    def condition(ledger: Ledger) -> bool:
        try:
            value = holds(ledger)
        except (Exception, SystemExit) as error:
            raise InvariantModuleError(
                f"invariant {name!r}: its condition raised {type(error).__name__}: {error}"
            ) from None
        if isinstance(value, bool) or k.is_condition(value):
            return value
        raise InvariantModuleError(
            f"invariant {name!r}: its condition returned {type(value).__name__}, "
            "expected a bool or a kernel condition (k.and_, a comparison, ...)"
        )

    return condition


def check_invariants(params: ProtocolParams, before: Callable[[Invariant], None] | None = None) -> None:
    """Try every registered condition on the prover's symbolic ledger for ``params``,
    so a designer's broken invariant is reported before any proof starts
    (``before`` is told of each one first: invariant_guard reports progress)."""
    if not _REGISTERED:
        return
    from clearspec_proofs.symbolic import build_world

    ledger = build_world(params).ledger
    with k.tracing():
        for invariant in _REGISTERED:
            if before is not None:
                before(invariant)
            invariant.holds(ledger)


def load_invariant_modules(specs: Sequence[str]) -> list[str]:
    """Import designers' modules that call :func:`register_invariant` (each a
    dotted module name or a path to a ``.py`` file), once per process; return
    the names of the invariants they added."""
    before = {i.name for i in _REGISTERED}
    for spec in specs:
        if spec in _LOADED:
            continue
        try:
            _import(spec)
        except (Exception, SystemExit) as error:  # whatever the designer's module raises or exits with
            raise InvariantModuleError(f"invariant module {spec}: {type(error).__name__}: {error}") from error
        _LOADED.add(spec)
    return [i.name for i in _REGISTERED if i.name not in before]


def _import(spec: str) -> None:
    if not spec.endswith(".py"):
        importlib.import_module(spec)
        return
    path = Path(spec)
    if not path.is_file():
        raise FileNotFoundError("no such file")
    name = "clearspec_user_invariants_" + "".join(c if c.isalnum() else "_" for c in path.stem)
    loader_spec = importlib.util.spec_from_file_location(name, path)
    if loader_spec is None or loader_spec.loader is None:
        raise ImportError("cannot be loaded")
    module = importlib.util.module_from_spec(loader_spec)
    sys.modules[name] = module
    loader_spec.loader.exec_module(module)


_LOADED: set[str] = set()


def unregister_invariant(name: str) -> None:
    """Remove a registered invariant (tests use it)."""
    _REGISTERED[:] = [i for i in _REGISTERED if i.name != name]


def _per_asset(check: Callable[[Ledger, str], bool], asset: str) -> Condition:
    return lambda ledger: check(ledger, asset)


def _fee_pool(ledger: Ledger, asset: str) -> bool:
    return ledger.fee_pool[asset] >= 0


def _insurance_fund(ledger: Ledger, asset: str) -> bool:
    return ledger.insurance_fund[asset] >= 0


def _well_formed(ledger: Ledger) -> bool:
    """What the symbolic world assumes of every state, proved preserved too:
    prices and the breaker's reference prices within 1..MAX_AMOUNT, the
    breaker's interval the one that held the feed's last update (ORA-10),
    non-quote balances not negative, sizes within
    the position limit, premium counts not negative; and of the times and
    counters the state remembers: prices accepted and funding paid at or before
    ``now`` (CLK-1), the INS-6 gate at most ``withdrawal_gate_seconds`` ahead,
    the block's LIQ-5 usage within its limits, and a final price fixed only
    from expiry on (EXP-1)."""
    quote = ledger.params.quote_asset
    liq = ledger.params.liquidation
    now = ledger.now
    conditions: list[bool] = [ledger.gate_until >= 0, ledger.gate_until <= now + liq.withdrawal_gate_seconds]
    for price in ledger.prices.values():
        conditions += [price.price >= 1, price.price <= MAX_AMOUNT, price.updated_at <= now]
        # ORA-10: the breaker's reference is a price; its interval is the one
        # that held the feed's last update.
        # (state.interval_start restated: invariants are evaluated outside a trace too)
        interval = ledger.params.oracle.breaker_interval
        begun = k.div_floor(price.updated_at, interval) * interval
        conditions += [price.reference >= 1, price.reference <= MAX_AMOUNT, price.reference_at == begun]
    for market_id, state in ledger.markets.items():
        conditions.append(state.last_funding_at <= now)
        if state.settlement_price is not None:
            expiry = ledger.params.market_by_id[market_id].expiry
            conditions += [state.settlement_price >= 1, state.settlement_price <= MAX_AMOUNT]
            conditions.append(expiry is not None and now >= expiry)
    for usage in ledger.liquidation_usage.values():
        conditions += [
            usage.notional >= 0,
            usage.notional <= liq.max_notional_per_block,
            usage.insurance_lost >= 0,
            usage.insurance_lost <= liq.max_insurance_lost_per_block,
        ]
        conditions += [k.and_(done >= 0, done <= initial) for initial, done in usage.positions.values()]
    for account in ledger.accounts.values():
        conditions += [b >= 0 for a, b in account.balances.items() if a != quote]
        for market, position in account.positions.items():
            limit = ledger.params.market_by_id[market].max_position
            conditions += [position.size >= -limit, position.size <= limit]
    conditions += [state.premium_count >= 0 for state in ledger.markets.values()]
    return k.and_(*conditions)


def builtin_invariants(params: ProtocolParams) -> list[Invariant]:
    """INV-1, INV-2, INV-3, INV-6, FND-5 and TRD-4 well-formedness for every asset and market."""
    found: list[Invariant] = [Invariant("well-formed", "STA-1", _well_formed)]
    for asset in params.asset_by_id:
        found.append(Invariant(f"conservation[{asset}]", "INV-1", _per_asset(inv.conserved, asset)))
        found.append(Invariant(f"fee-pool[{asset}]>=0", "INV-3", _per_asset(_fee_pool, asset)))
        found.append(Invariant(f"insurance-fund[{asset}]>=0", "INS-3", _per_asset(_insurance_fund, asset)))
    for market in params.market_by_id:
        found.append(Invariant(f"zero-sum[{market}]", "INV-2", _per_asset(inv.zero_sum, market)))
        found.append(
            Invariant(f"open-interest[{market}]", "INV-6", _per_asset(inv.open_interest_matches, market))
        )
        found.append(Invariant(f"pool-covers[{market}]", "FND-5", _per_asset(inv.pool_covers_claims, market)))
        found.append(
            Invariant(
                f"positions-well-formed[{market}]", "TRD-4", _per_asset(inv.positions_well_formed, market)
            )
        )
    return found


def all_invariants(params: ProtocolParams) -> list[Invariant]:
    """The built-in invariants followed by the registered ones."""
    return builtin_invariants(params) + list(_REGISTERED)
