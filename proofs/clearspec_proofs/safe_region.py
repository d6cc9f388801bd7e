"""Safe parameter regions (PAR-5 on a concrete parameter set).

The lemma ``PAR-5/maintenance-covers-gap`` proves the theorem for symbolic
parameters; it does not say whether a *given* set meets its premise. This module
decides, with Z3, the safety property itself on a concrete set:

    an account at or above maintenance before one accepted oracle update is not
    left with negative net collateral after it.

The query runs the model's own ``account_risk`` (so ``tiered_requirement`` on
the set's actual tiers, every size bracket included, ``notional`` and
``asset_risk`` with the set's maintenance weights) on a ledger whose feed price
``P`` and moved price ``P'`` are free, with ``within_ppm(P', P,
max_deviation_ppm)`` (the circuit breaker, ORA-9) as the only link between them.
The account's quote balance, position quotes and sizes (whole steps, within
``max_position``) and its collateral balances are free.

**Components.** MRG-1 makes NC and MMR sums over an account's collateral assets
and positions, and one update moves one feed. The property is decided for each
*component* with a free quote balance: a position in one market
(``position[M]``) or a balance of one collateral asset (``collateral[A]``); a
failing component is itself a counterexample account. When they are all safe,
:func:`decide_account` proves the account holding quote, the market's position
and every asset its feed prices, by composition: each part's loss is at most
its own MMR (proved), hence the sum's (DESIGN: "prove per-market lemmas once,
then compose them"; the direct query is too non-linear for Z3).

**Counterexamples** are minimised (smallest size or balance at a reference price
and the largest move the breaker accepts), set exactly at maintenance, rebuilt
as a concrete two-account ledger (the account and a counterparty holding the
opposite position, so INV-1..INV-6 hold), and confirmed by applying an
``OracleUpdate`` of signed reports (the caller's reporter keys, else
:func:`replay_keys`, stand in for the set's: who signs does not enter the
property) through ``apply`` with
every contract on, then ``account_risk`` showing ``NC < 0``.

**Searches.** :func:`minimal_safe` bisects one parameter with the others fixed,
relying on monotonicity (each stated in :data:`PARAMETERS`) and checking it at
the boundary: safe at the value found, a confirmed counterexample one step
beyond. The first pivot is the value PAR-5's premise predicts; a wrong guess
only narrows the interval. Z3 runs under a deterministic resource limit,
escalated on ``unknown``; ``unknown`` is never counted as safe.
"""

from __future__ import annotations

import hashlib
import itertools
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import icontract
import z3
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from immutables import Map

from clearspec import kernel as k
from clearspec.actions import OracleUpdate
from clearspec.errors import ClearingError
from clearspec.invariants import all_global_invariants, set_slow_checks, slow_checks
from clearspec.margin import Risk, account_risk, notional
from clearspec.oracle import sign_report, within_ppm
from clearspec.params import MAX_AMOUNT, PPM, MarginTier, MarketParams, ProtocolParams, revise, with_market
from clearspec.render import describe
from clearspec.state import Account, Ledger, MarketState, Position, genesis
from clearspec.transition import apply
from clearspec_proofs import solver
from clearspec_proofs.engine import DEFAULT_RLIMIT
from clearspec_proofs.roles import witness_price

SAFE, UNSAFE, UNKNOWN = "safe", "unsafe", "unknown"
SUBJECT, COUNTERPARTY = "account", "counterparty"


class SafeRegionError(ValueError):
    """A request the safe-region tools cannot answer: an unknown parameter name,
    market or asset, or a parameter that needs a market or an asset. The command
    line prints it and exits with status 2."""


# --- the parameters a search can move -------------------------------------------------


@dataclass(frozen=True)
class Parameter:
    """One parameter :func:`minimal_safe` can search, and why the search may bisect."""

    name: str
    safe_side: str  # "minimal": safe values are closed upwards; "maximal": downwards
    low: int
    high: int
    monotone: str


PARAMETERS: dict[str, Parameter] = {
    "maintenance": Parameter(
        "maintenance",
        "minimal",
        1,
        PPM,
        "the first tier's maintenance_ppm is v; a higher tier below v is raised to v and an initial "
        "fraction below its tier's maintenance is raised to it (PAR-2 keeps fractions non-decreasing). "
        "Every tier's maintenance fraction is non-decreasing in v and tiered_requirement is "
        "non-decreasing in each fraction, so raising v only strengthens 'at or above maintenance "
        "before' and leaves 'NC after' unchanged: the safe values are closed upwards.",
    ),
    "max_deviation": Parameter(
        "max_deviation",
        "maximal",
        0,
        PPM,
        "the oracle's max_deviation_ppm is v. Lowering v only removes accepted moves "
        "(within_ppm is monotone in its band): the safe values are closed downwards.",
    ),
    "maintenance_weight": Parameter(
        "maintenance_weight",
        "maximal",
        0,
        PPM,
        "the asset's maintenance_weight_ppm is v (its initial weight is lowered to v where it "
        "exceeds it, PAR-2). The asset's MMR, value - floor(value * v), does not fall as v falls and "
        "its value does not change: the safe values are closed downwards.",
    ),
}
ALIASES = {
    "maintenance_ppm": "maintenance",
    "max_deviation_ppm": "max_deviation",
    "maintenance_weight_ppm": "maintenance_weight",
}


def parameter(name: str) -> Parameter:
    """The parameter called ``name`` (or one of its ``*_ppm`` aliases)."""
    found = PARAMETERS.get(ALIASES.get(name, name))
    if found is None:
        raise SafeRegionError(f"unknown parameter {name!r}; choose one of {', '.join(PARAMETERS)}")
    return found


def _market(params: ProtocolParams, market_id: str | None) -> MarketParams:
    if market_id is None or market_id not in params.market_by_id:
        raise SafeRegionError(f"unknown market {market_id!r}; the set lists {', '.join(params.market_by_id)}")
    return params.market_by_id[market_id]


def _asset(params: ProtocolParams, asset_id: str | None) -> str:
    listed = [a.asset_id for a in params.assets if a.feed is not None]
    if asset_id not in listed:
        quote = (
            " (the quote asset has no feed: nothing moves its value)"
            if asset_id == params.quote_asset
            else ""
        )
        raise SafeRegionError(
            f"unknown collateral asset {asset_id!r}{quote}; the set lists {', '.join(listed)}"
        )
    assert asset_id is not None
    return asset_id


def with_maintenance(params: ProtocolParams, market_id: str, value: int) -> ProtocolParams:
    """``params`` with ``market_id``'s first-tier maintenance fraction set to ``value``
    (see ``PARAMETERS["maintenance"]``), validated again (PAR-2)."""
    market = _market(params, market_id)
    tiers = []
    for i, tier in enumerate(market.tiers):
        maintenance = value if i == 0 else max(tier.maintenance_ppm, value)
        tiers.append(MarginTier(tier.up_to_size, max(tier.initial_ppm, maintenance), maintenance))
    return with_market(params, market_id, tiers=tuple(tiers))


def with_max_deviation(params: ProtocolParams, value: int) -> ProtocolParams:
    """``params`` with the circuit breaker's ``max_deviation_ppm`` set to ``value``."""
    return revise(params, oracle=replace(params.oracle, max_deviation_ppm=value))


def with_maintenance_weight(params: ProtocolParams, asset_id: str, value: int) -> ProtocolParams:
    """``params`` with ``asset_id``'s maintenance weight set to ``value``."""
    _asset(params, asset_id)
    assets = tuple(
        replace(a, maintenance_weight_ppm=value, initial_weight_ppm=min(a.initial_weight_ppm, value))
        if a.asset_id == asset_id
        else a
        for a in params.assets
    )
    return revise(params, assets=assets)


# --- what is checked ------------------------------------------------------------------


@dataclass(frozen=True)
class Component:
    """What an account holds that one feed's price moves: positions in some of
    the feed's markets and balances of some of its collateral assets."""

    feed: str
    markets: tuple[str, ...] = ()
    assets: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        parts = [f"position[{m}]" for m in self.markets] + [f"collateral[{a}]" for a in self.assets]
        return " + ".join(parts)


def position_component(params: ProtocolParams, market_id: str) -> Component:
    """A position in one market, with a free quote balance."""
    return Component(_market(params, market_id).feed, markets=(market_id,))


def collateral_component(params: ProtocolParams, asset_id: str) -> Component:
    """A balance of one collateral asset, with a free quote balance."""
    feed = params.asset_by_id[_asset(params, asset_id)].feed
    assert feed is not None
    return Component(feed, assets=(asset_id,))


def feed_assets(params: ProtocolParams, feed: str) -> tuple[str, ...]:
    """The collateral assets priced by ``feed``."""
    return tuple(a.asset_id for a in params.assets if a.feed == feed)


@dataclass(frozen=True)
class Counterexample:
    """An account exactly at maintenance and one accepted price move that leaves
    it with negative net collateral, and what replaying it showed."""

    feed: str
    price_before: int
    price_after: int
    quote_balance: int
    positions: tuple[tuple[str, int, int], ...]  # (market, size, quote)
    collateral: tuple[tuple[str, int], ...]  # (asset, balance)
    before: Risk
    after: Risk
    confirmed: bool
    how: str
    update: str = ""

    def as_json(self) -> dict[str, Any]:
        """JSON-ready; integers as decimal strings (as in vectors)."""
        return {
            "feed": self.feed,
            "price_before": str(self.price_before),
            "price_after": str(self.price_after),
            "quote_balance": str(self.quote_balance),
            "positions": [{"market": m, "size": str(s), "quote": str(q)} for m, s, q in self.positions],
            "collateral": [{"asset": a, "balance": str(b)} for a, b in self.collateral],
            "before": _risk_json(self.before),
            "after": _risk_json(self.after),
            "update": self.update,
            "confirmed": self.confirmed,
            "how": self.how,
        }


def _risk_json(risk: Risk) -> dict[str, str]:
    return {"nc": str(risk.nc), "imr": str(risk.imr), "mmr": str(risk.mmr)}


@dataclass(frozen=True)
class Verdict:
    """Z3's answer for one component (or a combined account) on one parameter set."""

    subject: str
    status: str  # safe | unsafe | unknown (unknown is never counted as safe)
    detail: str
    seconds: float
    counterexample: Counterexample | None = None

    @property
    def safe(self) -> bool:
        return self.status == SAFE

    def as_json(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "status": self.status,
            "detail": self.detail,
            "seconds": round(self.seconds, 4),
            "counterexample": None if self.counterexample is None else self.counterexample.as_json(),
        }


# --- the query ------------------------------------------------------------------------


@dataclass
class _Query:
    """The safety property of one component, traced through the model."""

    price: Any
    moved: Any
    balance: Any
    steps: dict[str, Any]
    quotes: dict[str, Any]
    holdings: dict[str, Any]
    hypotheses: list[Any]
    goal: Any
    before: Risk
    after: Risk
    base: list[Any]  # the hypotheses without "at or above maintenance before"
    loss: Any  # "NC falls by at most MMR": the form that composes over components
    obligations: list[tuple[Any, str]] = field(default_factory=list)


def _account(
    params: ProtocolParams, balance: Any, holdings: dict[str, Any], positions: dict[str, Position]
) -> Account:
    return Account(Map({params.quote_asset: balance, **holdings}), Map(positions))


def _query(params: ProtocolParams, component: Component) -> _Query:
    price, moved, balance = z3.Int("price"), z3.Int("moved"), z3.Int("quote_balance")
    steps = {m: z3.Int(f"steps[{m}]") for m in component.markets}
    quotes = {m: z3.Int(f"quote[{m}]") for m in component.markets}
    holdings = {a: z3.Int(f"balance[{a}]") for a in component.assets}
    hypotheses: list[Any] = [price >= 1, price <= MAX_AMOUNT, moved >= 1, moved <= MAX_AMOUNT]
    positions = {}
    for m in component.markets:
        market = params.market_by_id[m]
        # TRD-2: whole steps, within the position limit. No minimum size: the
        # property is then claimed for more accounts than TRD-8 lets trades make.
        size = steps[m] * market.step_size
        hypotheses += [size <= market.max_position, size >= -market.max_position]
        positions[m] = Position(size, quotes[m])
    hypotheses += [b >= 0 for b in holdings.values()]
    with k.tracing() as trace:
        # Every other feed at one quote unit per base unit: the account holds nothing it prices.
        prices = {f.feed_id: price if f.feed_id == component.feed else f.scale for f in params.feeds}
        ledger = genesis(params, prices)
        account = _account(params, balance, holdings, positions)
        before = account_risk(ledger, account)
        moved_price = replace(ledger.prices[component.feed], price=moved)
        after_ledger = replace(ledger, prices=ledger.prices.set(component.feed, moved_price))
        after = account_risk(after_ledger, account)
        accepted = within_ppm(moved, price, params.oracle.max_deviation_ppm)  # ORA-9
    base = [*hypotheses, accepted, *[g for g, _, _ in trace.guards]]
    return _Query(
        price,
        moved,
        balance,
        steps,
        quotes,
        holdings,
        [*base, before.nc >= before.mmr],
        after.nc >= 0,
        before,
        after,
        base,
        before.nc - after.nc <= before.mmr,
        trace.obligations,
    )


def _ask(rlimit: int, *conditions: Any, model: bool = False) -> solver.Outcome:
    """Are ``conditions`` satisfiable? The prover's solver policy
    (clearspec_proofs.solver): its answer depends on the query and the limit
    alone, escalated along the policy's ladder on unknown."""
    return solver.check(conditions, limit=rlimit, escalation=solver.Escalation(), want_model=model)


def decide(
    params: ProtocolParams, component: Component, rlimit: int = DEFAULT_RLIMIT, explain: str = "minimal"
) -> Verdict:
    """PAR-5 on a concrete set: is ``component`` safe across one accepted update?

    ``safe`` only when the hypotheses are satisfiable (an account at maintenance
    and an accepted move exist, PRF-1), ``NC after < 0`` is unsatisfiable under
    them, and so is the failure of any model contract evaluated on the way.
    ``unsafe`` only with a counterexample the concrete model confirms (PRF-2):
    ``explain="minimal"`` minimises it first, ``"raw"`` replays the solver's own
    model (faster, for searches and grids).
    """
    started = time.perf_counter()
    query = _query(params, component)

    def verdict(status: str, detail: str, example: Counterexample | None = None) -> Verdict:
        return Verdict(component.name, status, detail, time.perf_counter() - started, example)

    vacuity = _ask(rlimit, *query.hypotheses).answer
    if vacuity != z3.sat:
        return verdict(UNKNOWN, f"the hypotheses are {vacuity} (treated as not safe)")
    outcome = _ask(rlimit, *query.hypotheses, z3.Not(query.goal), model=True)
    answer = outcome.answer
    if answer == z3.sat and outcome.model is not None:
        model = outcome.model
        if explain == "minimal":
            example = _minimised(params, component, query, model, rlimit)
        else:
            example = _normalised(params, component, query, model)
        if not example.confirmed:
            return verdict(UNKNOWN, f"solver counterexample not confirmed: {example.how} (not safe)", example)
        return verdict(
            UNSAFE, "one accepted update leaves an account that met maintenance with NC < 0", example
        )
    if answer == z3.unknown:
        return verdict(UNKNOWN, f"solver: {outcome.reason} (unknown, treated as not safe)")
    contracts = [condition for condition, _ in query.obligations]
    if contracts and _ask(rlimit, *query.hypotheses, z3.Not(z3.And(*contracts))).answer != z3.unsat:
        for condition, label in query.obligations:  # one by one, to name the contract
            broken = _ask(rlimit, *query.hypotheses, z3.Not(condition)).answer
            if broken != z3.unsat:
                state = "broken" if broken == z3.sat else "unproved"
                return verdict(UNKNOWN, f"model contract {label!r} is {state} (treated as not safe)")
        return verdict(UNKNOWN, "the model's contracts could not be proved together (treated as not safe)")
    return verdict(SAFE, "proved (non-vacuous)")


def decide_account(params: ProtocolParams, market_id: str, rlimit: int = DEFAULT_RLIMIT) -> Verdict:
    """The property for an account holding quote, a position in ``market_id`` and
    every collateral asset its feed prices, all at once.

    Proved by composition, as DESIGN advises for non-linear sums: first, for each
    part on its own, ``NC before - NC after <= MMR before`` (its loss is covered
    by its own requirement); then the whole account's property with those facts,
    over the very same terms, as hypotheses. Z3 alone does not finish the direct
    query within any limit tried (it is non-linear in several products at once).
    Model contracts are checked by the component queries of :func:`decide`.
    """
    started = time.perf_counter()
    market = _market(params, market_id)
    parts = [position_component(params, market_id)]
    parts += [collateral_component(params, a) for a in feed_assets(params, market.feed)]
    whole = Component(market.feed, (market_id,), feed_assets(params, market.feed))
    lemmas = []
    for part in parts:
        query = _query(params, part)
        answer = _ask(rlimit, *query.base, z3.Not(query.loss)).answer
        if answer != z3.unsat:
            detail = f"{part.name}: 'NC falls by at most MMR' is {answer} (treated as not safe)"
            return Verdict(whole.name, UNKNOWN, detail, time.perf_counter() - started)
        lemmas.append(query.loss)
    query = _query(params, whole)
    if _ask(rlimit, *query.hypotheses).answer != z3.sat:
        detail = "the hypotheses could not be shown satisfiable (treated as not safe)"
        return Verdict(whole.name, UNKNOWN, detail, time.perf_counter() - started)
    outcome = _ask(rlimit, *query.hypotheses, *lemmas, z3.Not(query.goal), model=True)
    answer = outcome.answer
    if answer == z3.unsat:
        detail = f"proved (non-vacuous) from {len(parts)} part lemma(s), each proved"
        return Verdict(whole.name, SAFE, detail, time.perf_counter() - started)
    if answer == z3.sat and outcome.model is not None:
        example = _normalised(params, whole, query, outcome.model)
        status = UNSAFE if example.confirmed else UNKNOWN
        return Verdict(whole.name, status, example.how, time.perf_counter() - started, example)
    detail = f"solver: {outcome.reason} (unknown, treated as not safe)"
    return Verdict(whole.name, UNKNOWN, detail, time.perf_counter() - started)


def decide_all(
    params: ProtocolParams,
    components: Iterable[Component],
    rlimit: int = DEFAULT_RLIMIT,
    explain: str = "minimal",
) -> Verdict:
    """Every component safe, or the first that is not (later ones are not checked)."""
    started = time.perf_counter()
    names = []
    for component in components:
        verdict = decide(params, component, rlimit, explain)
        names.append(component.name)
        if not verdict.safe:
            return replace(verdict, seconds=time.perf_counter() - started)
    return Verdict(", ".join(names), SAFE, f"{len(names)} component(s) proved", time.perf_counter() - started)


# --- counterexamples --------------------------------------------------------------------


def reference_price(params: ProtocolParams, feed: str) -> list[int]:
    """Prices to try first for a readable counterexample: the feed's witness
    price (roles.witness_price: on the tick of every market it prices), then a
    few powers of ten at its decimals."""
    candidates = [witness_price(params, feed)]
    decimals = params.feed_by_id[feed].price_decimals
    candidates += [10 ** min(30, decimals + e) for e in (3, 6, 9)]
    return list(dict.fromkeys(candidates))


def _value(model: z3.ModelRef, term: Any) -> int:
    if isinstance(term, int):
        return term
    evaluated = model.eval(term, model_completion=True)
    return int(evaluated.as_long())


def _smallest(conditions: list[Any], magnitude: Any, rlimit: int) -> tuple[int, z3.ModelRef] | None:
    """The least ``magnitude`` of a model of ``conditions``, by bisection on a
    bound (each step a query under the resource limit; an ``unknown`` step
    only leaves the result less small). Z3's ``Optimize`` is not used: it was
    seen to run past its resource limit."""
    outcome = _ask(rlimit, *conditions, model=True)
    if outcome.answer != z3.sat or outcome.model is None:
        return None
    model = outcome.model
    low, high = 0, _value(model, magnitude)  # no model at or below low; one at high
    while high - low > 1:
        middle = k.div_floor(low + high, 2)
        step = _ask(rlimit, *conditions, magnitude <= middle, model=True)
        if step.answer == z3.sat and step.model is not None:
            model = step.model
            high = _value(model, magnitude)
        else:
            low = middle
    return high, model


def _minimised(
    params: ProtocolParams, component: Component, query: _Query, model: z3.ModelRef, rlimit: int
) -> Counterexample:
    """The smallest holding (steps of each position plus each collateral balance)
    that fails at a reference price and the largest accepted move down or up,
    else the solver's own model."""
    deviation = params.oracle.max_deviation_ppm
    magnitude = z3.Sum(
        *[z3.If(n >= 0, n, -n) for n in query.steps.values()], *query.holdings.values(), z3.IntVal(0)
    )
    best: tuple[int, z3.ModelRef] | None = None
    for price in reference_price(params, component.feed):
        gap = k.div_floor(price * deviation, PPM)
        for moved in (price - gap, price + gap):
            if moved < 1 or moved > MAX_AMOUNT or moved == price:
                continue
            fixed = [query.price == price, query.moved == moved]
            found = _smallest([*query.hypotheses, z3.Not(query.goal), *fixed], magnitude, rlimit)
            if found is not None and (best is None or found[0] < best[0]):
                best = found
        if best is not None:
            break
    chosen = model if best is None else best[1]
    return _normalised(params, component, query, chosen)


def _normalised(
    params: ProtocolParams, component: Component, query: _Query, model: z3.ModelRef
) -> Counterexample:
    """Concrete values from ``model``, shown as positions opened at the price
    before (quote = what the trade paid) and a quote balance that puts the
    account exactly at maintenance (neither change raises NC after, so it stays
    negative), then replayed."""
    price, moved = _value(model, query.price), _value(model, query.moved)
    scale = params.feed_by_id[component.feed].scale
    nc_before, mmr_before = _value(model, query.before.nc), _value(model, query.before.mmr)
    balance = _value(model, query.balance) - (nc_before - mmr_before)
    positions = []
    for m in component.markets:
        size = _value(model, query.steps[m]) * params.market_by_id[m].step_size
        quote = _value(model, query.quotes[m])
        if size == 0:
            balance += quote  # an empty position's quote is plain quote value
            continue
        opened = -k.sign(size) * notional(abs(size), price, scale)
        balance += quote - opened
        positions.append((m, size, opened))
    holdings = tuple((a, _value(model, b)) for a, b in query.holdings.items() if _value(model, b) != 0)
    draft = Counterexample(
        component.feed,
        price,
        moved,
        balance,
        tuple(positions),
        holdings,
        Risk(0, 0, 0),
        Risk(0, 0, 0),
        False,
        "",
    )
    return replay(params, draft)


def _public(key: Any) -> bytes:
    return bytes(key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))


def replay_keys(count: int) -> list[Ed25519PrivateKey]:
    """``count`` private keys for the replay's reports, derived from a fixed seed
    (deterministic; they sign only the replay's own update, never a real one)."""
    seeds = (
        hashlib.sha256(f"clearspec safe-region replay reporter {i}".encode()).digest() for i in range(count)
    )
    return [Ed25519PrivateKey.from_private_bytes(seed) for seed in seeds]


def _signing_keys(
    params: ProtocolParams, keys: Sequence[Ed25519PrivateKey] | None = None
) -> list[tuple[str, Ed25519PrivateKey]]:
    """The set's reporter ids, each with one of ``keys`` (default: :func:`replay_keys`)."""
    chosen = list(keys) if keys is not None else replay_keys(len(params.oracle.reporters))
    return [(name, key) for (name, _), key in zip(params.oracle.reporters, chosen, strict=True)]


def replay_params(params: ProtocolParams, keys: Sequence[Ed25519PrivateKey] | None = None) -> ProtocolParams:
    """``params`` with the public halves of ``keys`` (the caller's, one per
    reporter; default: :func:`replay_keys`) in place of its reporters' keys (same
    number, ids and quorum), so that the replay can sign reports."""
    reporters = tuple((name, _public(key)) for name, key in _signing_keys(params, keys))
    if reporters == params.oracle.reporters:
        return params
    return revise(params, oracle=replace(params.oracle, reporters=reporters))


def replay_ledger(params: ProtocolParams, example: Counterexample) -> Ledger:
    """The counterexample as a concrete ledger: the account, and a counterparty
    holding the opposite positions with enough quote to stay at initial margin
    at both prices, so every global invariant (INV-1..INV-6) holds."""
    quote = params.quote_asset
    prices = {f.feed_id: example.price_before if f.feed_id == example.feed else f.scale for f in params.feeds}
    ledger = genesis(params, prices)
    mine = Account(
        Map({quote: example.quote_balance, **dict(example.collateral)}),
        Map({m: Position(size, q) for m, size, q in example.positions}),
    )
    theirs = Account(Map({quote: 0}), Map({m: Position(-size, -q) for m, size, q in example.positions}))
    after_price = replace(ledger.prices[example.feed], price=example.price_after)
    moved = replace(ledger, prices=ledger.prices.set(example.feed, after_price))
    needed = [r.imr - r.nc for r in (account_risk(ledger, theirs), account_risk(moved, theirs))]
    theirs = Account(Map({quote: max(0, *needed)}), theirs.positions)
    deposits = dict(ledger.net_deposits.items())
    deposits[quote] = example.quote_balance + theirs.balance(quote)
    for asset, amount in example.collateral:
        deposits[asset] = deposits[asset] + amount
    markets = dict(ledger.markets.items())
    for m, size, _ in example.positions:
        markets[m] = MarketState(open_interest=abs(size))
    return replace(
        ledger,
        accounts=Map({SUBJECT: mine, COUNTERPARTY: theirs}),
        net_deposits=Map(deposits),
        markets=Map(markets),
    )


def replay_update(
    params: ProtocolParams,
    feed: str,
    price: int,
    now: int,
    keys: Sequence[Ed25519PrivateKey] | None = None,
) -> OracleUpdate:
    """The replay's update: ``quorum`` reports of ``price`` at ``now``, round 1,
    signed by the first reporters of :func:`replay_params`."""
    signers = _signing_keys(params, keys)[: params.oracle.quorum]
    deployment, decimals = params.deployment_id, params.feed_by_id[feed].price_decimals
    return OracleUpdate(
        feed,
        tuple(sign_report(key, name, deployment, feed, decimals, price, now, 1) for name, key in signers),
    )


@icontract.ensure(
    lambda result: not result.confirmed or result.after.nc < 0 <= result.before.nc - result.before.mmr
)
def replay(
    params: ProtocolParams, example: Counterexample, keys: Sequence[Ed25519PrivateKey] | None = None
) -> Counterexample:
    """PRF-2: rebuild the counterexample as a ledger, apply an ``OracleUpdate`` of
    ``quorum`` reports at the moved price, signed with ``keys`` (see
    :func:`replay_params`), through ``apply`` with every contract on, and
    confirm with ``account_risk`` that the account met maintenance before and
    has ``NC < 0`` after."""
    signing = replay_params(params, keys)
    ledger = replay_ledger(signing, example)
    before = account_risk(ledger, ledger.accounts[SUBJECT])
    update = replay_update(params, example.feed, example.price_after, ledger.now, keys)
    shown = replace(
        example,
        before=before,
        after=before,
        update=f"{describe(update)} at {example.price_after}",
        confirmed=False,
        how="",
    )
    if not all_global_invariants(ledger):
        return replace(shown, how="the rebuilt ledger breaks a global invariant")
    previous = slow_checks()
    set_slow_checks(True)
    try:
        after_ledger = apply(ledger, update)
    except ClearingError as error:
        return replace(shown, how=f"the concrete model rejected the update: {error}")
    except icontract.ViolationError as violation:
        return replace(shown, how=f"a contract failed: {str(violation).splitlines()[0]}")
    finally:
        set_slow_checks(previous)
    after = account_risk(after_ledger, after_ledger.accounts[SUBJECT])
    shown = replace(shown, after=after)
    if before.nc < before.mmr:
        return replace(shown, how="the rebuilt account is below maintenance before the update")
    if after.nc >= 0:
        return replace(shown, how="the replay shows no negative NC")
    return replace(shown, confirmed=True, how="replayed: accepted update, NC >= MMR before, NC < 0 after")


def counterexample_table(example: Counterexample, quote_asset: str) -> str:
    """A before/after table of the counterexample (integers in base units)."""
    rows: list[tuple[str, int, int]] = [(f"price {example.feed}", example.price_before, example.price_after)]
    rows.append((f"balance {quote_asset}", example.quote_balance, example.quote_balance))
    rows += [(f"balance {a}", b, b) for a, b in example.collateral]
    for m, size, q in example.positions:
        rows += [(f"position {m} size", size, size), (f"position {m} quote", q, q)]
    rows += [
        ("net collateral (NC)", example.before.nc, example.after.nc),
        ("maintenance (MMR)", example.before.mmr, example.after.mmr),
        ("NC - MMR", example.before.nc - example.before.mmr, example.after.nc - example.after.mmr),
    ]
    width = max(len(r[0]) for r in rows)
    digits = max(len(f"{v:,}") for r in rows for v in r[1:] if isinstance(v, int))
    lines = [f"  {'':<{width}}  {'before':>{digits}}  {'after':>{digits}}"]
    lines += [f"  {name:<{width}}  {b:>{digits},}  {a:>{digits},}" for name, b, a in rows]
    verdict = "confirmed" if example.confirmed else "NOT confirmed"
    lines.append(f"  {verdict}: {example.how}; update: {example.update}")
    return "\n".join(lines)


# --- per market ---------------------------------------------------------------------


@dataclass(frozen=True)
class Probe:
    """One value of a searched parameter and Z3's verdict there."""

    value: int
    verdict: Verdict

    def as_json(self) -> dict[str, Any]:
        return {"value": self.value, **self.verdict.as_json()}


@dataclass(frozen=True)
class Boundary:
    """The minimal (or maximal) safe value of one parameter, the others fixed."""

    parameter: str
    subject: str
    direction: str  # minimal | maximal
    current: int
    low: int
    high: int
    value: int | None  # None: no value in low..high is safe
    safe: Probe | None  # the verdict at ``value``
    unsafe: Probe | None  # the verdict one step beyond (None: every value is safe)
    probes: int
    seconds: float
    monotone: str
    guess: int | None = None  # the first pivot (PAR-5's premise), if any

    @property
    def established(self) -> bool:
        """Safe at the value and a confirmed counterexample one step beyond (or the
        whole range safe): the boundary holds without appeal to monotonicity
        except between probes."""
        if self.value is None or self.safe is None or not self.safe.verdict.safe:
            return False
        if self.unsafe is None:
            return True
        example = self.unsafe.verdict.counterexample
        return example is not None and example.confirmed

    def as_json(self) -> dict[str, Any]:
        return {
            "parameter": self.parameter,
            "subject": self.subject,
            "direction": self.direction,
            "current": self.current,
            "range": [self.low, self.high],
            "value": self.value,
            "established": self.established,
            "safe": None if self.safe is None else self.safe.as_json(),
            "first_unsafe": None if self.unsafe is None else self.unsafe.as_json(),
            "probes": self.probes,
            "first_pivot": self.guess,
            "seconds": round(self.seconds, 3),
            "monotonicity": self.monotone,
        }


def _search(
    kind: Parameter,
    subject: str,
    current: int,
    probe: Callable[[int, str], Verdict],
    guess: int | None = None,
) -> Boundary:
    """Bisection over ``kind.low..kind.high``: the safe values are an interval
    ending at ``high`` (minimal) or starting at ``low`` (maximal).

    ``guess`` (PAR-5's premise, when the caller has one) is probed first, with
    its neighbour on the unsafe side: when it is safe and the neighbour is not,
    that is the boundary, by monotonicity, after two probes; otherwise both
    results narrow the interval and bisection goes on from there. Probes replay
    the solver's own counterexamples; the one at the first unsafe value is
    minimised again for the report.
    """
    started = time.perf_counter()
    seen: dict[int, Probe] = {}

    def at(value: int) -> Probe:
        if value not in seen:
            seen[value] = Probe(value, probe(value, "raw"))
        return seen[value]

    def explained(found: Probe) -> Probe:
        if found.verdict.status != UNSAFE:
            return found
        return Probe(found.value, probe(found.value, "minimal"))

    def result(value: int | None, safe: Probe | None, unsafe: Probe | None) -> Boundary:
        return Boundary(
            kind.name, subject, kind.safe_side, current, kind.low, kind.high, value, safe, unsafe,
            len(seen), time.perf_counter() - started, kind.monotone, guess,
        )  # fmt: skip

    # good_end: the end of the range safe whenever anything is; towards: the step to the other end.
    good_end, bad_end, towards = (
        (kind.high, kind.low, -1) if kind.safe_side == "minimal" else (kind.low, kind.high, 1)
    )
    good: int | None = None  # a value shown safe
    bad: int | None = None  # a value shown not safe
    if guess is not None and kind.low <= guess <= kind.high:
        if at(guess).verdict.safe:
            good = guess
            if guess != bad_end:
                bad = None if at(guess + towards).verdict.safe else guess + towards
                good = guess + towards if bad is None else good
        else:
            bad = guess
    if good is None:
        if not at(good_end).verdict.safe:
            return result(None, None, explained(at(good_end)))
        good = good_end
    if bad is None:
        if at(bad_end).verdict.safe:
            return result(bad_end, at(bad_end), None)
        bad = bad_end
    while abs(good - bad) > 1:
        middle = k.div_floor(good + bad, 2)
        if at(middle).verdict.safe:
            good = middle
        else:
            bad = middle
    return result(good, at(good), explained(at(bad)))


def minimal_safe(
    params: ProtocolParams,
    name: str,
    market: str | None = None,
    asset: str | None = None,
    rlimit: int = DEFAULT_RLIMIT,
    guess: bool = True,
) -> Boundary:
    """The minimal safe ``maintenance`` of a market (its position component), the
    maximal safe ``max_deviation`` (every market's position and every
    collateral asset; with ``market``, that market's position and its feed's
    assets; with ``asset``, that asset) or the maximal safe
    ``maintenance_weight`` of an asset, the other parameters fixed. Found by
    bisection on the monotonicity stated in ``PARAMETERS``, first probing what
    PAR-5's premise predicts unless ``guess`` is false (:func:`_search`);
    :attr:`Boundary.established` checks it at the boundary."""
    kind = parameter(name)
    deviation = params.oracle.max_deviation_ppm
    if kind.name == "maintenance":
        if market is None:
            raise SafeRegionError("parameter maintenance needs a market (--market)")
        component = position_component(params, market)
        return _search(
            kind,
            market,
            params.market_by_id[market].tiers[0].maintenance_ppm,
            lambda v, how: decide(with_maintenance(params, market, v), component, rlimit, how),
            max(1, deviation) if guess else None,
        )
    if kind.name == "maintenance_weight":
        if asset is None:
            raise SafeRegionError("parameter maintenance_weight needs an asset (--asset)")
        component = collateral_component(params, asset)
        return _search(
            kind,
            asset,
            params.asset_by_id[asset].maintenance_weight_ppm,
            lambda v, how: decide(with_maintenance_weight(params, asset, v), component, rlimit, how),
            PPM - deviation if guess else None,
        )
    if asset is not None:
        components = [collateral_component(params, asset)]
        subject = asset
    elif market is not None:
        feed = _market(params, market).feed
        components = [position_component(params, market)]
        components += [collateral_component(params, a) for a in feed_assets(params, feed)]
        subject = market
    else:
        components = [position_component(params, m) for m in params.market_by_id]
        components += [collateral_component(params, a.asset_id) for a in params.assets if a.feed is not None]
        subject = "all markets and assets"
    # PAR-5's premise: the breaker may go up to the smallest maintenance fraction and haircut.
    covers = [
        min(t.maintenance_ppm for t in params.market_by_id[c.markets[0]].tiers)
        for c in components
        if c.markets
    ]
    covers += [PPM - params.asset_by_id[c.assets[0]].maintenance_weight_ppm for c in components if c.assets]
    return _search(
        kind,
        subject,
        deviation,
        lambda v, how: decide_all(with_max_deviation(params, v), components, rlimit, how),
        min(covers) if guess else None,
    )


@dataclass(frozen=True)
class MarketReport:
    """PAR-5 for one market of a set: the theorem's premise and Z3's verdicts."""

    market: str
    feed: str
    max_deviation_ppm: int
    min_maintenance_ppm: int
    premise_met: bool  # every tier's maintenance fraction >= max_deviation_ppm
    collateral_premise_met: bool  # every feed asset's haircut >= max_deviation_ppm
    position: Verdict
    collateral: tuple[Verdict, ...]
    account: Verdict | None  # quote + position + the feed's assets, when the components are safe
    maintenance: Boundary

    @property
    def verdicts(self) -> list[Verdict]:
        return [self.position, *self.collateral, *([] if self.account is None else [self.account])]

    @property
    def safe(self) -> bool:
        return self.account is not None and all(v.safe for v in self.verdicts)

    @property
    def status(self) -> str:
        """safe, unsafe (some part has a confirmed counterexample) or unknown."""
        if self.safe:
            return SAFE
        return UNSAFE if any(v.status == UNSAFE for v in self.verdicts) else UNKNOWN

    def as_json(self) -> dict[str, Any]:
        return {
            "market": self.market,
            "feed": self.feed,
            "max_deviation_ppm": self.max_deviation_ppm,
            "min_maintenance_ppm": self.min_maintenance_ppm,
            "premise_met": self.premise_met,
            "collateral_premise_met": self.collateral_premise_met,
            "safe": self.safe,
            "status": self.status,
            "position": self.position.as_json(),
            "collateral": [v.as_json() for v in self.collateral],
            "account": None if self.account is None else self.account.as_json(),
            "minimal_safe_maintenance_ppm": self.maintenance.value,
            "maintenance_search": self.maintenance.as_json(),
        }


def check_market(params: ProtocolParams, market_id: str, rlimit: int = DEFAULT_RLIMIT) -> MarketReport:
    """PAR-5 on one market of a concrete set (see the module docstring)."""
    market = _market(params, market_id)
    deviation = params.oracle.max_deviation_ppm
    assets = feed_assets(params, market.feed)
    position = decide(params, position_component(params, market_id), rlimit)
    collateral = tuple(decide(params, collateral_component(params, a), rlimit) for a in assets)
    account = None
    if position.safe and all(v.safe for v in collateral):
        account = decide_account(params, market_id, rlimit)
    minimum = min(t.maintenance_ppm for t in market.tiers)
    return MarketReport(
        market_id,
        market.feed,
        deviation,
        minimum,
        minimum >= deviation,
        all(PPM - params.asset_by_id[a].maintenance_weight_ppm >= deviation for a in assets),
        position,
        collateral,
        account,
        minimal_safe(params, "maintenance", market=market_id, rlimit=rlimit),
    )


@dataclass(frozen=True)
class ParamsReport:
    """PAR-5 for every market and collateral asset of a set."""

    markets: tuple[MarketReport, ...]
    weights: tuple[Boundary, ...]  # per collateral asset: the maximal safe maintenance weight
    deviation: Boundary  # the maximal safe max_deviation_ppm over the whole set
    seconds: float

    @property
    def safe(self) -> bool:
        return all(m.safe for m in self.markets)

    def as_json(self) -> dict[str, Any]:
        return {
            "safe": self.safe,
            "max_deviation_ppm": self.deviation.current,
            "markets": [m.as_json() for m in self.markets],
            "assets": [
                {
                    "asset": b.subject,
                    "maintenance_weight_ppm": b.current,
                    "maximal_safe_maintenance_weight_ppm": b.value,
                    "search": b.as_json(),
                }
                for b in self.weights
            ],
            "maximal_safe_max_deviation_ppm": self.deviation.value,
            "deviation_search": self.deviation.as_json(),
            "seconds": round(self.seconds, 3),
        }


def check_params(params: ProtocolParams, rlimit: int = DEFAULT_RLIMIT) -> ParamsReport:
    """:func:`check_market` for every market, the maximal safe weight of every
    collateral asset and the maximal safe circuit breaker."""
    started = time.perf_counter()
    markets = tuple(check_market(params, m, rlimit) for m in params.market_by_id)
    weights = tuple(
        minimal_safe(params, "maintenance_weight", asset=a.asset_id, rlimit=rlimit)
        for a in params.assets
        if a.feed is not None
    )
    deviation = minimal_safe(params, "max_deviation", rlimit=rlimit)
    return ParamsReport(markets, weights, deviation, time.perf_counter() - started)


# --- the safe region: a grid and its plot ------------------------------------------------


@dataclass(frozen=True)
class Grid:
    """Verdicts over max_deviation (x) and a market's first-tier maintenance or
    an asset's maintenance weight (y). ``cells[j][i]`` is at ``(xs[i], ys[j])``:
    ``safe``, ``position`` / ``collateral`` / ``both`` (which part has a
    counterexample) or ``unknown``."""

    subject: str
    kind: str  # market | asset
    y_parameter: str
    xs: tuple[int, ...]
    ys: tuple[int, ...]
    cells: tuple[tuple[str, ...], ...]
    current: tuple[int, int]
    haircut: int | None  # market grids: the smallest haircut of the feed's assets
    seconds: float

    def as_json(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "x": "max_deviation_ppm",
            "y": self.y_parameter,
            "xs": list(self.xs),
            "ys": list(self.ys),
            "cells": [list(row) for row in self.cells],
            "current": list(self.current),
            "seconds": round(self.seconds, 3),
        }


def _axis(low: int, high: int, points: int) -> tuple[int, ...]:
    return tuple(dict.fromkeys(low + k.div_floor((high - low) * i, points - 1) for i in range(points)))


def stderr_progress(done: int, total: int, seconds: float) -> None:
    """Progress of a grid on standard error: about twenty lines per grid."""
    every = max(1, k.div_floor(total, 20))
    if done == total or (done % every == 0 and done + every <= total):
        print(f"safe region: {done}/{total} cells, {seconds:.1f} s", file=sys.stderr)


def safe_grid(
    params: ProtocolParams,
    market: str | None = None,
    asset: str | None = None,
    points: int = 21,
    x_max: int = 500_000,
    y_max: int = 500_000,
    rlimit: int = DEFAULT_RLIMIT,
    progress: Callable[[int, int, float], None] | None = None,
) -> Grid:
    """A ``points`` x ``points`` grid of Z3 verdicts. For a market: its position
    at each (max_deviation, first-tier maintenance) and the collateral priced by
    its feed at each max_deviation. For an asset: its collateral at each
    (max_deviation, maintenance weight), the weight over ``0..PPM``."""
    if points < 2:
        raise SafeRegionError("a grid needs at least 2 points per axis")
    started = time.perf_counter()
    xs = _axis(0, min(x_max, PPM), points)
    if market is not None:
        feed = _market(params, market).feed
        assets = feed_assets(params, feed)
        ys = tuple(max(1, y) for y in _axis(0, min(y_max, PPM), points))
        current = (params.oracle.max_deviation_ppm, params.market_by_id[market].tiers[0].maintenance_ppm)
        haircut = min((PPM - params.asset_by_id[a].maintenance_weight_ppm for a in assets), default=None)
        subject, kind, y_parameter = market, "market", "maintenance_ppm (first tier)"
    elif asset is not None:
        _asset(params, asset)
        assets = ()
        ys = _axis(0, PPM, points)
        current = (params.oracle.max_deviation_ppm, params.asset_by_id[asset].maintenance_weight_ppm)
        haircut = None
        subject, kind, y_parameter = asset, "asset", "maintenance_weight_ppm"
    else:
        raise SafeRegionError("a safe-region grid needs a market or an asset")
    total = len(xs) * len(ys)
    collateral_at: dict[int, str] = {}
    rows = []
    done = 0
    for y in ys:
        row = []
        for x in xs:
            moved = with_max_deviation(params, x)
            if market is not None:
                if x not in collateral_at:
                    held = [collateral_component(moved, a) for a in assets]
                    collateral_at[x] = decide_all(moved, held, rlimit, "raw").status
                revised = with_maintenance(moved, market, y)
                position = decide(revised, position_component(moved, market), rlimit, "raw").status
                row.append(_cell(position, collateral_at[x]))
            else:
                assert asset is not None
                revised = with_maintenance_weight(moved, asset, y)
                verdict = decide(revised, collateral_component(moved, asset), rlimit, "raw")
                row.append(_cell(SAFE, verdict.status))
            done += 1
            if progress is not None:
                progress(done, total, time.perf_counter() - started)
        rows.append(tuple(row))
    return Grid(
        subject, kind, y_parameter, xs, ys, tuple(rows), current, haircut, time.perf_counter() - started
    )


def _cell(position: str, collateral: str) -> str:
    if UNKNOWN in (position, collateral) and UNSAFE not in (position, collateral):
        return UNKNOWN
    if position == UNSAFE and collateral == UNSAFE:
        return "both"
    if position == UNSAFE:
        return "position"
    if collateral == UNSAFE:
        return "collateral"
    return SAFE


CELL_COLOURS = {
    SAFE: "#4caf50",
    "position": "#e57373",
    "collateral": "#ffb74d",
    "both": "#b71c1c",
    UNKNOWN: "#9e9e9e",
}
CELL_LABELS = {
    SAFE: "safe (proved by Z3)",
    "position": "position: confirmed counterexample",
    "collateral": "collateral: confirmed counterexample",
    "both": "position and collateral",
    UNKNOWN: "unknown (not safe)",
}


def plot_grid(grid: Grid, path: str | Path, boundary: Boundary | None = None) -> Path:
    """The safe region as a PNG (matplotlib, Agg), with PAR-5's line and the set's own point."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    order = list(CELL_COLOURS)
    codes = [[order.index(cell) for cell in row] for row in grid.cells]
    percent = 100 / PPM

    def edges(values: tuple[int, ...]) -> list[float]:
        mids = [(a + b) / 2 for a, b in itertools.pairwise(values)]
        first, last = values[0] - (mids[0] - values[0]), values[-1] + (values[-1] - mids[-1])
        return [v * percent for v in (first, *mids, last)]

    figure, axes = plt.subplots(figsize=(7.5, 7.4))
    axes.pcolormesh(
        edges(grid.xs), edges(grid.ys), codes, cmap=ListedColormap([CELL_COLOURS[c] for c in order]),
        vmin=-0.5, vmax=len(order) - 0.5, edgecolors="white", linewidth=0.3,
    )  # fmt: skip
    line_x = [grid.xs[0] * percent, grid.xs[-1] * percent]
    handles: list[Any] = [
        Patch(color=CELL_COLOURS[c], label=CELL_LABELS[c]) for c in order if any(c in r for r in grid.cells)
    ]
    if grid.kind == "market":
        (theorem,) = axes.plot(line_x, line_x, "k-", linewidth=2, label="PAR-5: maintenance = max deviation")
        handles.append(theorem)
        if grid.haircut is not None:
            cut = axes.axvline(
                grid.haircut * percent,
                color="k",
                linestyle="--",
                label=f"smallest collateral haircut: {grid.haircut * percent:g} %",
            )
            handles.append(cut)
    else:
        (theorem,) = axes.plot(
            line_x, [100 - x for x in line_x], "k-", linewidth=2, label="PAR-5: haircut = max deviation"
        )
        handles.append(theorem)
    (own,) = axes.plot(
        grid.current[0] * percent, grid.current[1] * percent, "o", color="white", markeredgecolor="black",
        markersize=10, label="this parameter set", linestyle="none",
    )  # fmt: skip
    handles.append(own)
    if boundary is not None and boundary.value is not None:
        x, y = (
            (boundary.value, grid.current[1])
            if boundary.parameter == "max_deviation"
            else (grid.current[0], boundary.value)
        )
        (found,) = axes.plot(
            x * percent, y * percent, "*", color="gold", markeredgecolor="black", markersize=16,
            label=f"{boundary.direction} safe {boundary.parameter}: {boundary.value:,} ppm", linestyle="none",
        )  # fmt: skip
        handles.append(found)
    axes.set_xlim(edges(grid.xs)[0], edges(grid.xs)[-1])
    axes.set_ylim(edges(grid.ys)[0], edges(grid.ys)[-1])
    axes.set_xlabel("oracle circuit breaker max_deviation (%)")
    axes.set_ylabel(
        f"{grid.subject} first-tier maintenance (%)"
        if grid.kind == "market"
        else f"{grid.subject} maintenance weight (%)"
    )
    axes.set_title(
        f"PAR-5 safe region of {grid.subject}: one accepted oracle update\n(each cell decided by Z3)"
    )
    axes.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=2, fontsize=8)
    figure.tight_layout()
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(target, dpi=120)
    plt.close(figure)
    return target
