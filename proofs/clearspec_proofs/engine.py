"""Running obligations: trace a transition once, then ask Z3 about each goal.

For one transition the engine builds the symbolic world, runs the model's
``apply`` on it inside ``kernel.tracing()``, and collects four kinds of
obligations (see ``spec/proofs.md``):

* inductive — every invariant holds after, given all of them before;
* delta-sum — the local conservation and zero-sum conditions, which hold for a
  ledger of any size, not only the few symbolic accounts;
* frame — accounts the action does not name are unchanged;
* contract — every pre- and postcondition the run evaluated on symbolic values.

Each goal is checked under the world's assumptions, the invariants before and
the action's guards (it was accepted). Before any goal, the hypotheses must be
satisfiable, else every goal would hold vacuously. Z3 runs under a
deterministic resource limit; ``unknown`` is a failure.
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any

import icontract
import z3
from immutables import Map

from clearspec import kernel as k
from clearspec.errors import ClearingError
from clearspec.invariants import local_conditions
from clearspec.params import ProtocolParams
from clearspec.state import Ledger
from clearspec.transition import apply, touched_accounts
from clearspec_proofs.invariants import Invariant, all_invariants
from clearspec_proofs.symbolic import World, build_world
from clearspec_proofs.transitions import TransitionCase, fixed_order_oracle

DEFAULT_RLIMIT = 4_000_000
ESCALATION = (4, 16)  # a strong query that comes back unknown is retried with these multiples of the limit


@dataclass
class Result:
    """The outcome of one obligation."""

    id: str
    rule: str
    transition: str
    invariant: str
    kind: str
    status: str  # proved | counterexample | unknown
    seconds: float
    detail: str = ""
    counterexample: dict[str, Any] | None = None

    def as_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["seconds"] = round(self.seconds, 4)
        return data


@dataclass
class Goal:
    """One obligation before it is checked."""

    kind: str
    invariant: str
    rule: str
    condition: Any
    note: str = ""
    checker: Invariant | None = field(default=None, repr=False)


def _oracle_context(case: TransitionCase) -> AbstractContextManager[None]:
    return fixed_order_oracle() if case.fixed_order else nullcontext()


def _now_for(case: TransitionCase, params: ProtocolParams) -> int:
    if case.expiry:
        expiries = [m.expiry for m in params.markets if m.expiry is not None]
        return max(expiries) + 10
    return 1_000_000


def _frame_condition(before: Ledger, after: Ledger, untouched: list[str]) -> Any:
    equal: list[Any] = []
    for name in untouched:
        old, new = before.accounts[name], after.accounts[name]
        for asset, amount in old.balances.items():
            equal.append(new.balance(asset) == amount)
        for market, position in old.positions.items():
            moved = new.positions.get(market)
            if moved is None:
                return z3.BoolVal(False)
            equal += [
                moved.size == position.size,
                moved.quote == position.quote,
                moved.funding_index == position.funding_index,
                moved.loss_index == position.loss_index,
            ]
        equal.append(z3.BoolVal(len(new.positions) == len(old.positions)))
    return z3.And(*[z3.BoolVal(c) if isinstance(c, bool) else c for c in equal])


def _as_bool(condition: Any) -> Any:
    return z3.BoolVal(condition) if isinstance(condition, bool) else condition


def goals_for(
    case: TransitionCase, world: World, after: Ledger, trace: k.Trace, params: ProtocolParams
) -> list[Goal]:
    """Every obligation of one traced transition."""
    goals = [
        Goal("inductive", inv.name, inv.rule, _as_bool(inv.holds(after)), checker=inv)
        for inv in all_invariants(params)
    ]
    touched = world.touched
    goals.append(
        Goal(
            "delta-sum",
            "local conservation and zero-sum",
            "INV-1",
            z3.And(*[_as_bool(c) for c in local_conditions(world.ledger, after, touched)]),
        )
    )
    untouched = [n for n in world.shape.accounts if n not in touched]
    if untouched:
        goals.append(
            Goal(
                "frame",
                "untouched accounts unchanged",
                "INV-5",
                _frame_condition(world.ledger, after, untouched),
            )
        )
    by_label: dict[str, list[Any]] = defaultdict(list)
    for condition, label in trace.obligations:
        by_label[label].append(condition)
    for label, conditions in by_label.items():
        goals.append(Goal("contract", label, _rule_of(label, case.rules), z3.And(*conditions)))
    return goals


_RULE_ID = re.compile(r"\b[A-Z]{3}-[0-9]+\b")


def _rule_of(label: str, default: str) -> str:
    """The first rule id a contract's label names (its description starts with
    one by convention), else the transition's rules."""
    found = _RULE_ID.search(label)
    return found.group(0) if found else default


def trace_case(case: TransitionCase, params: ProtocolParams) -> tuple[World, Ledger, k.Trace]:
    """Run the model's ``apply`` on the case's symbolic world and action."""
    world = build_world(params, case.shape, now=_now_for(case, params))
    action = case.build(world)
    world.action = action
    world.touched = touched_accounts(action)
    with _oracle_context(case), k.tracing() as trace:
        after = apply(world.ledger, action)
    return world, after, trace


def is_nonlinear(expr: Any) -> bool:
    """True when the term multiplies two non-constant terms somewhere."""
    seen: set[int] = set()
    stack = [expr]
    while stack:
        node = stack.pop()
        if node.get_id() in seen:
            continue
        seen.add(node.get_id())
        if z3.is_mul(node) and sum(1 for c in node.children() if not z3.is_int_value(c)) > 1:
            return True
        if (z3.is_div(node) or z3.is_idiv(node) or z3.is_mod(node)) and not z3.is_int_value(
            node.children()[1]
        ):
            return True
        stack.extend(node.children())
    return False


def _witness_constraints(world: World, params: ProtocolParams) -> list[Any]:
    """Extra constraints that make products linear, used only to *find* a state
    that satisfies the hypotheses (a witness against vacuity), never in a proof."""
    fixed = []
    for name, variable in world.variables.items():
        if name.startswith("price["):
            fixed.append(variable == 600_000_000)
        elif "index[" in name:
            fixed.append(variable == 0)
    return fixed


class Hypotheses:
    """The hypotheses of one transition's obligations, in two strengths.

    ``weak``: the world's assumptions, the invariants before and the guards that
    are linear; ``strong``: also the non-linear guards (margin checks). A goal is
    first tried under ``weak`` (a proof under fewer hypotheses is still a proof,
    and non-linear premises slow the solver), then under ``strong``. Each
    strength is shown satisfiable before it is used.
    """

    def __init__(self, world: World, trace: k.Trace, params: ProtocolParams, rlimit: int) -> None:
        # "well-formed" is what the world assumes already; as a hypothesis it
        # would only repeat those assumptions (it is still proved as a goal).
        invariants_before = [
            _as_bool(inv.holds(world.ledger)) for inv in all_invariants(params) if inv.name != "well-formed"
        ]
        base = [*world.assumptions, *invariants_before]
        guards = [g for g, _, _ in trace.guards]
        linear = [g for g in guards if not is_nonlinear(g)]
        self.weak = base + linear
        self.strong = base + guards
        self.rlimit = rlimit
        self.witness = _witness_constraints(world, params)
        self._satisfiable: dict[str, Any] = {}

    def satisfiable(self, strength: str) -> Any:
        """sat, unsat or unknown for the hypotheses of that strength."""
        if strength not in self._satisfiable:
            hypotheses = self.weak if strength == "weak" else self.strong
            solver = _solver(self.rlimit)
            solver.add(*hypotheses)
            answer = solver.check()
            if answer == z3.unknown:
                solver.add(*self.witness)  # look for a witness where products are linear
                answer = solver.check()
                for factor in ESCALATION:
                    if answer != z3.unknown:
                        break
                    solver.set("rlimit", self.rlimit * factor)
                    answer = solver.check()
                answer = z3.sat if answer == z3.sat else z3.unknown
            self._satisfiable[strength] = answer
        return self._satisfiable[strength]


def _solver(rlimit: int) -> z3.Solver:
    """Z3's default solver under a deterministic resource limit. Its non-linear
    strategy also tries some tactics for a bounded wall-clock time, so on a
    loaded machine a hard query can come back ``unknown`` where an idle machine
    proves it; :func:`_check_goal` then retries with a larger limit."""
    solver = z3.Solver()
    solver.set("rlimit", rlimit)
    return solver


def _check_goal(hypotheses: Hypotheses, goal: Goal) -> tuple[str, Any, str]:
    """(status, model or None, detail) for one goal. PRF-1: "proved" only when
    the negated goal is unsatisfiable under hypotheses shown satisfiable."""
    last = "unknown"
    for strength in ("weak", "strong"):
        solver = _solver(hypotheses.rlimit)
        solver.add(*(hypotheses.weak if strength == "weak" else hypotheses.strong))
        solver.add(z3.Not(goal.condition))
        answer = solver.check()
        for factor in ESCALATION if strength == "strong" else ():
            if answer != z3.unknown:
                break
            solver.set("rlimit", hypotheses.rlimit * factor)
            answer = solver.check()
        if answer == z3.unsat:
            vacuity = hypotheses.satisfiable(strength)
            if vacuity == z3.sat:
                return "proved", None, f"non-vacuous ({strength} hypotheses)"
            if vacuity == z3.unsat:
                return "unknown", None, f"vacuous: the {strength} hypotheses are unsatisfiable"
            last = f"the {strength} hypotheses could not be shown satisfiable"
            continue
        if answer == z3.sat and strength == "strong":
            return "counterexample", solver.model(), ""
        if answer == z3.unknown:
            last = f"solver: {solver.reason_unknown()} ({strength})"
            if strength == "strong":
                # Look for a counterexample where products are linear: any model
                # found there is a real counterexample.
                solver.add(*hypotheses.witness)
                if solver.check() == z3.sat:
                    return "counterexample", solver.model(), "found with prices fixed"
    return "unknown", None, last


def check_case(
    case: TransitionCase,
    params: ProtocolParams,
    rlimit: int = DEFAULT_RLIMIT,
    part: tuple[int, int] = (0, 1),
    goal_filter: str | None = None,
) -> list[Result]:
    """The obligations of one transition (the ``part``-th slice of them, those
    whose id contains ``goal_filter``), each proved, refuted or unknown."""
    started = time.perf_counter()
    try:
        world, after, trace = trace_case(case, params)
    except ClearingError as error:
        # The action is rejected for every value: nothing it could break.
        ident = f"{case.name}/acceptance/can be accepted"
        detail = f"vacuous: always rejected with {error.code.value}"
        return [Result(ident, case.rules, case.name, "can be accepted", "acceptance", "unknown", 0.0, detail)]
    hypotheses = Hypotheses(world, trace, params, rlimit)
    index, parts = part
    goals = [
        goal
        for position, goal in enumerate(goals_for(case, world, after, trace, params))
        if position % parts == index
        and (goal_filter is None or goal_filter in f"{case.name}/{goal.kind}/{goal.invariant}")
    ]
    overhead = time.perf_counter() - started
    results = []
    for position, goal in enumerate(goals):
        t0 = time.perf_counter()
        status, model, detail = _check_goal(hypotheses, goal)
        counterexample = None
        if model is not None:
            counterexample = _counterexample(case, params, world, model, goal)
        seconds = time.perf_counter() - t0 + (overhead if position == 0 else 0.0)
        ident = f"{case.name}/{goal.kind}/{goal.invariant}"
        results.append(
            Result(
                ident,
                goal.rule,
                case.name,
                goal.invariant,
                goal.kind,
                status,
                seconds,
                detail,
                counterexample,
            )
        )
    if index == 0:
        results += check_rejections(case, params, world, trace, hypotheses, goal_filter)
    if index == 0 and (goal_filter is None or goal_filter in f"{case.name}/acceptance"):
        # PRF-1: the action passes every check, margin included, for some state:
        # the proofs above are about actions that can happen.
        t0 = time.perf_counter()
        accepted = hypotheses.satisfiable("strong")
        status = "proved" if accepted == z3.sat else "unknown"
        if accepted == z3.sat:
            detail = "non-vacuous: some state accepts the action"
        elif accepted == z3.unsat:
            detail = "vacuous: the strong hypotheses are unsatisfiable"
        else:
            detail = "the strong hypotheses could not be shown satisfiable"
        results.append(
            Result(
                f"{case.name}/acceptance/can be accepted",
                case.rules,
                case.name,
                "can be accepted",
                "acceptance",
                status,
                time.perf_counter() - t0,
                detail,
            )
        )
    return results


def _first_failing(hypotheses: Hypotheses, trace: k.Trace, position: int) -> tuple[Any, Any]:
    """(answer, model): a state where every check before ``position`` passes and
    that one fails; tried first with prices fixed (linear, fast), then free."""
    guards = [g for g, _, _ in trace.guards]
    base = [c for c in hypotheses.strong if not any(c is g for g in guards)]
    answer: Any = z3.unknown
    # Prices fixed first (products become linear, so this is quick); the free
    # query, non-linear, gets a quarter of the limit and no escalation: it only
    # decides whether one more witness exists, never a proof.
    for extra, rlimit in ((hypotheses.witness, hypotheses.rlimit), ([], hypotheses.rlimit // 4)):
        solver = _solver(rlimit)
        solver.add(*base, *guards[:position], z3.Not(guards[position]), *extra)
        answer = solver.check()
        if answer == z3.sat:
            return answer, solver.model()
    return answer, None


def check_rejections(
    case: TransitionCase,
    params: ProtocolParams,
    world: World,
    trace: k.Trace,
    hypotheses: Hypotheses,
    goal_filter: str | None = None,
) -> list[Result]:
    """ERR-1 and STA-2 for every check of the transition, in order.

    For the i-th check (a ``require`` the trace recorded), the solver looks for
    a state where the checks before it pass and it fails; the concrete model
    must reject that state with the check's code (the first failing check names
    the code) and return the very same ledger (nothing is half-applied). A
    check that can never be the first to fail is listed in no obligation (it is
    reported in the detail of the next one). The universal half of STA-2 is
    structural: ``apply`` builds a new immutable ledger or raises, and ``step``
    returns its input on a raise.
    """
    from clearspec.transition import step

    results: list[Result] = []
    subsumed: list[str] = []
    for position, (_, code, _) in enumerate(trace.guards):
        if position in trace.skippable:
            continue  # ADL-3: its failure skips a counterparty, it does not reject
        check = f"check {position + 1} {code.value}"
        ident = f"{case.name}/rejection/{check}"
        if goal_filter is not None and goal_filter not in ident:
            continue
        t0 = time.perf_counter()
        answer, model = _first_failing(hypotheses, trace, position)
        if model is None:
            # unsat: the check follows from the earlier ones; unknown: the solver
            # found no state within its limit. Either way there is no witness to
            # replay, so no obligation; the next one's detail names the check.
            verdict = "never first to fail" if answer == z3.unsat else "no witness found"
            subsumed.append(f"{position + 1} {code.value} ({verdict})")
            continue
        ledger = concretize(world.ledger, model)
        action = concretize(world.action, model)
        try:
            with _oracle_context(case):
                outcome = step(ledger, action)
        except icontract.ViolationError as violation:
            # The model broke one of its own contracts on the witness: that is a
            # failed obligation to report, not a crash of the prover.
            status = "counterexample"
            detail = f"expected {code.value}, a contract failed: {str(violation).splitlines()[0]}"
        else:
            same = outcome.ledger is ledger
            status = "proved" if outcome.error is code and same else "counterexample"
            detail = (
                f"rejected with {code.value}, ledger unchanged"
                if status == "proved"
                else f"expected {code.value} and the same ledger, got "
                f"{outcome.error.value if outcome.error else 'acceptance'} (same ledger: {same})"
            )
        if subsumed:
            detail += f"; checks without a witness before it: {', '.join(subsumed)}"
            subsumed = []
        counterexample = None
        if status == "counterexample":
            counterexample = {"confirmed": True, "how": detail, "action": str(action)}
        results.append(
            Result(
                ident,
                "ERR-1",
                case.name,
                check,
                "rejection",
                status,
                time.perf_counter() - t0,
                detail,
                counterexample,
            )
        )
    return results


def concretize(value: Any, model: z3.ModelRef) -> Any:
    """Replace every Z3 term inside ``value`` by its value in ``model``."""
    if isinstance(value, z3.ExprRef):
        evaluated = model.eval(value, model_completion=True)
        return evaluated.as_long() if z3.is_int_value(evaluated) else z3.is_true(evaluated)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {
            f.name: concretize(getattr(value, f.name), model) for f in dataclasses.fields(value) if f.init
        }
        return dataclasses.replace(value, **changes)
    if isinstance(value, Map):
        return Map({key: concretize(item, model) for key, item in value.items()})
    if isinstance(value, tuple):
        return tuple(concretize(item, model) for item in value)
    return value


def _counterexample(
    case: TransitionCase, params: ProtocolParams, world: World, model: z3.ModelRef, goal: Goal
) -> dict[str, Any]:
    from clearspec_proofs.counterexample import confirm

    ledger = concretize(world.ledger, model)
    action = concretize(world.action, model)
    with _oracle_context(case):
        return confirm(case, goal.invariant, goal.rule, goal.kind, ledger, action, goal.checker)


def iter_cases(cases: tuple[TransitionCase, ...], pattern: str | None) -> Iterator[TransitionCase]:
    """The cases whose name contains ``pattern`` (all when None)."""
    for case in cases:
        if pattern is None or pattern in case.name:
            yield case


def check_lemmas(
    params: ProtocolParams, rlimit: int = DEFAULT_RLIMIT, pattern: str | None = None
) -> list[Result]:
    """Every lemma of ``clearspec_proofs.lemmas``: the goal, and every contract
    condition the model functions evaluated while building it, under the lemma's
    hypotheses, which must be satisfiable."""
    from clearspec_proofs.lemmas import lemmas

    results = []
    for lemma in lemmas(params):
        ident = f"lemma/{lemma.name}"
        if pattern is not None and pattern not in ident:
            continue
        t0 = time.perf_counter()
        with k.tracing() as trace:
            hypotheses, goal = lemma.build(params)
        conditions = [goal, *[c for c, _ in trace.obligations]]
        solver = _solver(rlimit)
        solver.add(*hypotheses, *[g for g, _, _ in trace.guards])
        vacuity = solver.check()
        solver.add(z3.Not(z3.And(*[_as_bool(c) for c in conditions])))
        answer = solver.check() if vacuity == z3.sat else vacuity
        kind = "theorem" if lemma.rule in ("ORA-8", "PAR-5") else "lemma"
        if vacuity != z3.sat:
            status, detail = "unknown", f"vacuous: the hypotheses are {vacuity}"
        elif answer == z3.unsat:
            status, detail = "proved", "non-vacuous"
        elif answer == z3.sat:
            model = solver.model()
            values = {str(d): str(model[d]) for d in sorted(model.decls(), key=str)}
            status, detail = "counterexample", "; ".join(f"{n}={v}" for n, v in values.items())
        else:
            status, detail = "unknown", f"solver: {solver.reason_unknown()}"
        results.append(
            Result(ident, lemma.rule, "lemma", lemma.name, kind, status, time.perf_counter() - t0, detail)
        )
    return results
