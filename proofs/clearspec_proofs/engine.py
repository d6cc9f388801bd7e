"""Running obligations: trace a transition once, then ask Z3 about each goal.

For one transition the engine builds the symbolic world, runs the model's
``apply`` on it inside ``kernel.tracing()``, and collects the goal kinds of
obligations (every kind, with its rule and the slice it runs in, is in
``kinds.KINDS``; see ``spec/proofs.md``):

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
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any

import z3
from immutables import Map

from clearspec import kernel as k
from clearspec.errors import ClearingError, SymbolicBranchError
from clearspec.invariants import local_conditions
from clearspec.params import ProtocolParams
from clearspec.state import Ledger
from clearspec.transition import apply, touched_accounts
from clearspec_proofs import solver
from clearspec_proofs.counterexample import Counterexample, Obligation, record
from clearspec_proofs.fields_read import Read
from clearspec_proofs.hypotheses import FREE_SHARE, Hypotheses, as_bool, witness_constraints
from clearspec_proofs.invariants import Invariant, all_invariants
from clearspec_proofs.kinds import KINDS, NEVER_ACCEPTED, relies_on_acceptance
from clearspec_proofs.status import Status
from clearspec_proofs.symbolic import World, build_world
from clearspec_proofs.transitions import TransitionCase, fixed_order_oracle

DEFAULT_RLIMIT = 4_000_000
# A query that is only a shortcut (the weak hypotheses before the strong ones, a
# whole conjunction before its conjuncts) gets this fraction of the limit.
SHORTCUT_SHARE = 16


@dataclass
class Result:
    """The outcome of one obligation."""

    id: str
    rule: str
    transition: str
    invariant: str
    kind: str
    status: Status
    seconds: float
    detail: str = ""
    counterexample: Counterexample | None = None
    # PRF-1 across slices: proved under hypotheses another slice's acceptance
    # obligation shows satisfiable (runner.withdraw_unsupported reads this).
    relies_on_acceptance: bool = False

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
    """The concrete clock of a case's world (the expiry shapes' clock is symbolic:
    this value only has to be past every expiry)."""
    if case.expiry:
        return max((m.expiry for m in params.markets if m.expiry is not None), default=0) + 10
    return 1_000_000


def not_applicable_result(case: TransitionCase, reason: str) -> Result:
    """The one row of a case the parameter set cannot form: its acceptance
    obligation, ``not applicable``, with the reason."""
    return Result(
        f"{case.name}/acceptance/can be accepted",
        case.rules,
        case.name,
        "can be accepted",
        "acceptance",
        Status.NOT_APPLICABLE,
        0.0,
        reason,
    )


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


def goals_for(
    case: TransitionCase, world: World, after: Ledger, trace: k.Trace, params: ProtocolParams
) -> list[Goal]:
    """Every obligation of one traced transition."""
    goals = [
        Goal("inductive", inv.name, inv.rule, as_bool(inv.holds(after)), checker=inv)
        for inv in all_invariants(params)
    ]
    touched = world.touched
    goals.append(
        Goal(
            "delta-sum",
            "local conservation and zero-sum",
            "INV-1",
            z3.And(*[as_bool(c) for c in local_conditions(world.ledger, after, touched)]),
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
    goals += effect_goals(case, world, after)
    by_label: dict[str, list[Any]] = defaultdict(list)
    for condition, label in trace.obligations:
        by_label[label].append(condition)
    for label, conditions in by_label.items():
        goals.append(Goal("contract", label, _rule_of(label, case.rules), z3.And(*conditions)))
    return goals


def effect_goals(case: TransitionCase, world: World, after: Ledger) -> list[Goal]:
    """The spec's effect statements for the traced action (``effects.TABLE``):
    the model's result agrees with the ledger the spec text describes. The
    helpers the statements call record their own contract conditions, already
    obligations of the transition's trace: they are not collected twice."""
    from clearspec_proofs import effects

    with _oracle_context(case), k.tracing():
        stated = effects.conditions(world.ledger, world.action, after)
    return [
        Goal("effect", label, _rule_of(label, case.rules), effects.as_z3(condition))
        for label, condition in stated
    ]


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
    with _oracle_context(case), k.tracing() as trace:
        after = apply(world.ledger, action)
    # After apply: an action the model refuses concretely (a self-transfer) is
    # rejected before touched_accounts' "each account once" contract sees it.
    world.touched = touched_accounts(action)
    return world, after, trace


# The detail of a proof whose hypotheses another slice showed satisfiable.
SHOWN_BY_ACCEPTANCE = "; satisfiable as the acceptance obligation shows"


def _conjuncts(condition: Any) -> list[Any]:
    """The conjuncts of a (nested) conjunction, else the condition itself, in
    the canonical order of their text (solver.canonical_order)."""
    if not z3.is_and(condition):
        return [condition]
    parts = [part for child in condition.children() for part in _conjuncts(child)]
    return solver.canonical_order(parts)


def _check_goal(hypotheses: Hypotheses, goal: Goal) -> tuple[str, Any, str]:
    """(status, model or None, detail) for one goal. PRF-1: "proved" only when
    the negated goal is unsatisfiable under hypotheses shown satisfiable.

    The whole goal is tried under the weak hypotheses, then the strong ones
    (with the escalation, if it is not a conjunction). If neither decides a
    conjunction, each conjunct is proved on its own (weak, then strong with the
    escalation): a conjunct that needs the non-linear guards then does not drag
    the others into that harder query, and one that fails gives the
    counterexample. A goal holds exactly when all its conjuncts do. The whole
    conjunction under the strong hypotheses is only a shortcut, so it gets a
    ``SHORTCUT_SHARE`` of the limit: a hard one costs little before it is split."""
    parts = _conjuncts(goal.condition)
    single = len(parts) == 1
    shortcut = None if single else max(hypotheses.rlimit // SHORTCUT_SHARE, 1)
    status, model, detail = _check_condition(
        hypotheses, goal.condition, ("weak", "strong"), escalate=single, strong_limit=shortcut
    )
    if status != "unknown" or detail.startswith("vacuous") or single:
        return status, model, detail
    strongest = "weak"
    for index, part in enumerate(parts):
        status, model, detail = _check_condition(hypotheses, part, ("weak", "strong"))
        if status != "proved":
            where = f" (conjunct {index + 1} of {len(parts)})"
            return status, model, detail + where if detail else where.strip()
        if "strong" in detail:
            strongest = "strong"
    where = SHOWN_BY_ACCEPTANCE if hypotheses.shown_elsewhere else ""
    return "proved", None, f"non-vacuous ({strongest} hypotheses{where}; {len(parts)} conjuncts)"


def _check_condition(
    hypotheses: Hypotheses,
    condition: Any,
    strengths: tuple[str, ...],
    escalate: bool = True,
    strong_limit: int | None = None,
) -> tuple[str, Any, str]:
    """:func:`_check_goal` for one condition, under each strength in turn (the
    strong one with the escalation unless ``escalate`` is false, at
    ``strong_limit`` if given, else the base limit). The weak query, when the
    strong one follows, is a shortcut: ``SHORTCUT_SHARE`` of the limit."""
    last = "unknown"
    shortcut = max(hypotheses.rlimit // SHORTCUT_SHARE, 1) if "strong" in strengths else hypotheses.rlimit
    negated = [z3.Not(condition)]
    fixed_tried = False
    for strength in strengths:
        base = hypotheses.weak if strength == "weak" else hypotheses.strong
        strong = strength == "strong"
        searching = strong and escalate
        if searching and last == "refuted under the weak hypotheses":
            # Early counterexample: the goal fails under the weak hypotheses, so
            # first look in the witness search's linear layers (prices fixed),
            # which is cheap; any model found there is a real counterexample.
            found, fixed_tried = hypotheses.find(base, negated)[1], True
            if found is not None:
                return "counterexample", found, "found with prices fixed"
        outcome = solver.check(
            base,
            negated,
            limit=(strong_limit or hypotheses.rlimit) if strong else shortcut,
            want_model=strong,
        )
        if searching and outcome.answer == z3.unknown:
            if not fixed_tried:
                found, fixed_tried = hypotheses.find(base, negated)[1], True
                if found is not None:
                    return "counterexample", found, "found with prices fixed"
            outcome = solver.climb(
                base,
                negated,
                outcome,
                limit=hypotheses.rlimit,
                escalation=hypotheses.escalation,
                want_model=True,
            )
        answer = outcome.answer
        if answer == z3.unsat:
            vacuity = hypotheses.satisfiable(strength)
            if vacuity == z3.sat:
                where = SHOWN_BY_ACCEPTANCE if hypotheses.shown_elsewhere else ""
                return "proved", None, f"non-vacuous ({strength} hypotheses{where})"
            if vacuity == z3.unsat:
                return "unknown", None, f"vacuous: the {strength} hypotheses are unsatisfiable"
            last = f"the {strength} hypotheses could not be shown satisfiable"
            continue
        if answer == z3.sat and strong:
            return "counterexample", outcome.model, ""
        if answer == z3.sat:
            last = "refuted under the weak hypotheses"
        if answer == z3.unknown:
            last = f"solver: {outcome.reason} ({strength}{hypotheses.escalation.note(searching)})"
    return "unknown", None, last


# The detail of a result whose trace the kernel refused (PRF-4).
REFUSED = "refused, the trace branches in Python on a symbolic value: "


def refused(case: TransitionCase, error: SymbolicBranchError, seconds: float) -> Result:
    """PRF-4: the one result of a transition whose trace was refused; nothing
    else of the trace is reported, whatever the filter."""
    ident = f"{case.name}/acceptance/can be accepted"
    detail = f"{REFUSED}{error}"
    return Result(ident, "PRF-4", case.name, "can be accepted", "acceptance", Status.UNKNOWN, seconds, detail)


def check_case(
    case: TransitionCase,
    params: ProtocolParams,
    rlimit: int = DEFAULT_RLIMIT,
    part: tuple[int, int] = (0, 1),
    goal_filter: str | None = None,
    report: Callable[[Result], None] | None = None,
) -> list[Result]:
    """The obligations of one transition (the ``part``-th slice of them, those
    whose id contains ``goal_filter``), each proved, refuted or unknown. A
    refused trace (PRF-4) is one ``unknown`` result, in the first slice.
    ``report`` sees each result of the goal loop as soon as it is decided, and
    the others as their kind finishes (a counterexample is shown early)."""
    return _check_case(case, params, rlimit, part, goal_filter, report or (lambda result: None))


def _check_case(
    case: TransitionCase,
    params: ProtocolParams,
    rlimit: int,
    part: tuple[int, int],
    goal_filter: str | None,
    report: Callable[[Result], None],
) -> list[Result]:
    started = time.perf_counter()
    reason = case.not_applicable(params)
    if reason is not None:
        return [not_applicable_result(case, reason)] if part[0] == 0 else []
    try:
        world, after, trace = trace_case(case, params)
    except ClearingError as error:
        if case.rejects is not None:
            return check_always_rejected(case, params, error, rlimit, goal_filter) if part[0] == 0 else []
        # The action is rejected for every value: nothing it could break.
        ident = f"{case.name}/acceptance/can be accepted"
        detail = f"vacuous: always rejected with {error.code.value}"
        return [
            Result(ident, case.rules, case.name, "can be accepted", "acceptance", Status.UNKNOWN, 0.0, detail)
        ]
    except SymbolicBranchError as error:
        return [refused(case, error, time.perf_counter() - started)] if part[0] == 0 else []
    index, parts = part
    # A slice without the acceptance obligation takes its hypotheses as satisfiable.
    elsewhere = not KINDS["acceptance"].placement.runs_in(index, parts)
    hypotheses = Hypotheses(world, trace, params, rlimit, shown_elsewhere=elsewhere)
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
        found, model, detail = _check_goal(hypotheses, goal)
        status = Status(found)
        counterexample = None
        if model is not None:
            from clearspec_proofs.replays import goal_counterexample

            counterexample = goal_counterexample(case, world, model, goal, hypotheses)
            # The unit has failed: its other queries need no escalation (solver.Escalation).
            hypotheses.escalation.refuted |= bool(counterexample.get("confirmed"))
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
                relies_on_acceptance(goal.kind, status == Status.PROVED, hypotheses.shown_elsewhere),
            )
        )
        report(results[-1])
    later: list[Result] = []
    if KINDS["rejection"].placement.runs_in(index, parts):
        later += check_rejections(case, params, world, trace, hypotheses, goal_filter)
    if NEVER_ACCEPTED.runs_in(index, parts) and case.rejects is not None:
        later += check_never_accepted(case, world, hypotheses, goal_filter)
    for result in later:
        report(result)
        hypotheses.escalation.refuted |= result.status == Status.COUNTEREXAMPLE
    if KINDS["precondition"].placement.runs_in(index, parts):
        later += _reported(check_preconditions(case, world, after, trace, hypotheses, goal_filter), report)
    for result in later:
        result.relies_on_acceptance = relies_on_acceptance(
            result.kind, result.status == Status.PROVED, hypotheses.shown_elsewhere
        )
    results += later
    acceptance_here = KINDS["acceptance"].placement.runs_in(index, parts)
    if acceptance_here and (goal_filter is None or goal_filter in f"{case.name}/acceptance"):
        # PRF-1: the action passes every check, margin included, for some state:
        # the proofs above are about actions that can happen.
        t0 = time.perf_counter()
        accepted = hypotheses.satisfiable("strong")
        status = Status.PROVED if accepted == z3.sat else Status.UNKNOWN
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


def _reported(results: list[Result], report: Callable[[Result], None]) -> list[Result]:
    for result in results:
        report(result)
    return results


def _always_rejected_id(case: TransitionCase) -> str:
    assert case.rejects is not None
    return f"{case.name}/rejection/always {case.rejects.value}"


def _always_rejected_result(
    case: TransitionCase, started: float, status: Status, detail: str, counterexample: Counterexample | None
) -> Result:
    """The one ``CASE/rejection/always CODE`` obligation of a case the spec refuses."""
    assert case.rejects is not None
    check = f"always {case.rejects.value}"
    seconds = time.perf_counter() - started
    ident = _always_rejected_id(case)
    return Result(ident, "ERR-1", case.name, check, "rejection", status, seconds, detail, counterexample)


def _witness_state(world: World, hypotheses: list[Any], rlimit: int) -> Any:
    """A model of ``hypotheses``, looked for first with prices fixed (linear), or None."""
    for extra in (witness_constraints(world), []):
        outcome = solver.check(hypotheses, extra, limit=rlimit, want_model=True)
        if outcome.answer == z3.sat:
            return outcome.model
    return None


def check_always_rejected(
    case: TransitionCase,
    params: ProtocolParams,
    error: ClearingError,
    rlimit: int = DEFAULT_RLIMIT,
    goal_filter: str | None = None,
) -> list[Result]:
    """ERR-1 for an action the spec refuses in every state (``case.rejects``):
    tracing raised, so a check decided without the solver refuses it. Proved
    when that check names the expected code and a witness state (the world's
    assumptions and the invariants, shown satisfiable) replays to that very
    rejection with the ledger unchanged (STA-2)."""
    assert case.rejects is not None
    ident = _always_rejected_id(case)
    if goal_filter is not None and goal_filter not in ident:
        return []
    t0 = time.perf_counter()
    world = build_world(params, case.shape, now=_now_for(case, params))
    world.action = case.build(world)
    invariants = [as_bool(inv.holds(world.ledger)) for inv in all_invariants(params)]
    counterexample: Counterexample | None
    hypotheses = [*world.assumptions, *invariants]
    model = _witness_state(world, hypotheses, rlimit)
    counterexample = None
    where = Obligation(ident, "ERR-1", "rejection", case.name, f"always {case.rejects.value}")
    if error.code is not case.rejects:
        # Traced with no state to replay: the check that refused names another code.
        status, detail = Status.COUNTEREXAMPLE, f"expected {case.rejects.value}, traced {error.code.value}"
        counterexample = record(
            where,
            confirmed=False,
            how=detail,
            action=str(world.action),
            expected=case.rejects.value,
            got=error.code.value,
        )
    elif model is None:
        status, detail = Status.UNKNOWN, "no state satisfies the world's assumptions and the invariants"
    else:
        # No condition: the check that refuses is decided without the solver.
        from clearspec_proofs.replays import minimised, rejection_replay

        replay = rejection_replay(case, world, where, case.rejects.value, None, hypotheses)
        first = replay(model)
        if not first["confirmed"]:
            status = Status.PROVED
            detail = f"rejected with {case.rejects.value} in every state, ledger unchanged (witness replayed)"
        else:
            status, detail = Status.COUNTEREXAMPLE, first["how"]
            counterexample = minimised(world, model, hypotheses, replay)
    return [_always_rejected_result(case, t0, status, detail, counterexample)]


def check_never_accepted(
    case: TransitionCase, world: World, hypotheses: Hypotheses, goal_filter: str | None = None
) -> list[Result]:
    """ERR-1 for a case the spec always refuses but whose trace went through: a
    state that passes every check is an accepted action the spec forbids,
    confirmed by replaying it concretely."""
    assert case.rejects is not None
    ident = _always_rejected_id(case)
    if goal_filter is not None and goal_filter not in ident:
        return []
    t0 = time.perf_counter()
    model = hypotheses.find(hypotheses.strong, [], free_limit=hypotheses.rlimit)[1]
    counterexample: Counterexample | None = None
    if model is None:
        accepted = hypotheses.satisfiable("strong")
        status = Status.PROVED if accepted == z3.unsat else Status.UNKNOWN
        detail = (
            f"rejected with {case.rejects.value} or an earlier check in every state (none passes them all)"
            if accepted == z3.unsat
            else "no witness of acceptance found, none excluded"
        )
    else:
        where = Obligation(ident, "ERR-1", "rejection", case.name, f"always {case.rejects.value}")
        from clearspec_proofs.replays import minimised, never_accepted_replay

        replay = never_accepted_replay(case, world, where)
        counterexample = minimised(world, model, hypotheses.strong, replay)
        status, detail = Status.COUNTEREXAMPLE, counterexample["how"]
    return [_always_rejected_result(case, t0, status, detail, counterexample)]


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
        answer, model = hypotheses.first_failing(position)
        if model is None:
            # unsat: the check follows from the earlier ones; unknown: the solver
            # found no state within its limit. Either way there is no witness to
            # replay, so no obligation; the next one's detail names the check.
            verdict = "never first to fail" if answer == z3.unsat else "no witness found"
            subsumed.append(f"{position + 1} {code.value} ({verdict})")
            continue
        where = Obligation(ident, "ERR-1", "rejection", case.name, check)
        from clearspec_proofs.replays import minimised, rejection_replay

        replay = rejection_replay(
            case, world, where, code.value, trace.guards[position][0], hypotheses.strong
        )
        first = replay(model)
        status = Status.PROVED if not first["confirmed"] else Status.COUNTEREXAMPLE
        detail = f"rejected with {code.value}, ledger unchanged" if status == Status.PROVED else first["how"]
        if subsumed:
            detail += f"; checks without a witness before it: {', '.join(subsumed)}"
            subsumed = []
        counterexample = None
        if status == Status.COUNTEREXAMPLE:
            guards = hypotheses.guards
            constraints = [*hypotheses.unguarded, *guards[:position], z3.Not(guards[position])]
            counterexample = minimised(world, model, constraints, replay)
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
        counterexample: Counterexample | None = None
        kind = "theorem" if lemma.rule in ("ORA-8", "PAR-5") else "lemma"
        try:
            with k.tracing() as trace:
                hypotheses, goal = lemma.build(params)
        except SymbolicBranchError as error:  # PRF-4: no proof of a trace that decided in Python
            seconds = time.perf_counter() - t0
            results.append(
                Result(
                    ident, lemma.rule, "lemma", lemma.name, kind, Status.UNKNOWN, seconds, f"{REFUSED}{error}"
                )
            )
            continue
        conditions = [goal, *[c for c, _ in trace.obligations]]
        premises = [*hypotheses, *[g for g, _, _ in trace.guards]]
        vacuity = solver.check(premises, limit=rlimit).answer
        negated = z3.Not(z3.And(*[as_bool(c) for c in conditions]))
        outcome = solver.check(premises, [negated], limit=rlimit, want_model=True)
        answer = outcome.answer if vacuity == z3.sat else vacuity
        if vacuity != z3.sat:
            status, detail = Status.UNKNOWN, f"vacuous: the hypotheses are {vacuity}"
        elif answer == z3.unsat:
            status, detail = Status.PROVED, "non-vacuous"
        elif answer == z3.sat and outcome.model is not None:
            where = Obligation(ident, lemma.rule, kind, "lemma", lemma.name)
            from clearspec_proofs.replays import lemma_counterexample

            refuted = [*premises, negated]
            counterexample = lemma_counterexample(where, outcome.model, refuted, conditions, hypotheses)
            status = Status.COUNTEREXAMPLE
            detail = "; ".join(f"{f['field']}={f['before']}" for f in counterexample["fields"])
        else:
            status, detail = Status.UNKNOWN, f"solver: {outcome.reason}"
        results.append(
            Result(
                ident,
                lemma.rule,
                "lemma",
                lemma.name,
                kind,
                status,
                time.perf_counter() - t0,
                detail,
                counterexample,
            )
        )
    return results


def check_preconditions(
    case: TransitionCase,
    world: World,
    after: Ledger,
    trace: k.Trace,
    hypotheses: Hypotheses,
    goal_filter: str | None = None,
) -> list[Result]:
    """ERR-1 against the spec's own list of checks (``preconditions.TABLE``).

    For the i-th check of spec/errors.md's list: if checks 1..i-1 pass and check
    i fails, the model rejects with check i's code; and if every check passes,
    every model guard holds (``accepts``). The hypotheses are the world's
    assumptions and the invariants before, not the guards. All obligations are
    first swept for a counterexample with prices fixed, then proved at once (one
    query); only if that fails is each one proved alone. Each obligation's premise must have a
    witness (else the check is never first to fail here and is listed in the
    next obligation's detail, as the rejection kind does). A counterexample is
    replayed through the concrete ``step`` and the table evaluated concretely.
    """
    from clearspec_proofs.preconditions import obligations, spec_checks

    try:
        with _oracle_context(case), k.tracing():
            checks = spec_checks(world.ledger, world.action, after)
    except SymbolicBranchError as error:  # PRF-4 holds for the spec's table too
        ident, detail = f"{case.name}/precondition/spec table", f"{REFUSED}{error}"
        return [Result(ident, "PRF-4", case.name, "spec table", "precondition", Status.UNKNOWN, 0.0, detail)]
    listed = obligations(case.name, checks, trace)
    if not any(o.premise is not None and (goal_filter is None or goal_filter in o.ident) for o in listed):
        return []
    base = hypotheses.unguarded
    rlimit = hypotheses.rlimit

    def ask(extra: list[Any], limit: int, escalate: bool, model: bool = False) -> tuple[Any, solver.Outcome]:
        escalation = hypotheses.escalation if escalate else None
        outcome = solver.check(base, extra, limit=limit, escalation=escalation, want_model=model)
        return outcome.answer, outcome

    t0 = time.perf_counter()
    found = [o for o in listed if o.premise is not None and (goal_filter is None or goal_filter in o.ident)]
    results: list[Result] = []
    pending: list[str] = []
    # First a sweep for counterexamples in the search's linear layers (quick: a
    # mutant is caught here); only if it finds none, one query proves them all at
    # once. Non-vacuity, below: a state where exactly this check is the first to
    # fail, looked for in the same layers, then free (FREE_SHARE of the limit).
    sweep: dict[int, Any] = {}
    for obligation in found:
        refuted = z3.Not(z3.Implies(obligation.premise, obligation.goal))
        sweep[id(obligation)] = hypotheses.find(base, [refuted])[1]
    refuted_somewhere = any(model is not None for model in sweep.values())
    combined: Any = z3.unknown
    if not refuted_somewhere:
        combined, _ = ask([z3.Not(z3.And(*[z3.Implies(o.premise, o.goal) for o in found]))], rlimit, True)
    shared = (time.perf_counter() - t0) / len(found)  # the combined query and the sweep
    for obligation in listed:
        if obligation.premise is None:
            pending.append(f"{obligation.check} (holds in this world)")
            continue
        if obligation not in found:
            continue
        t1 = time.perf_counter()
        status, detail = Status.PROVED, ""
        counterexample: Counterexample | None = None
        if combined != z3.unsat:
            # A counterexample found with prices fixed, else prove this one alone
            # (with the escalation only while no other check has a counterexample:
            # a mutant is then killed, and the rest need not cost minutes).
            model, reason, answer = sweep[id(obligation)], "", z3.sat
            if model is None:
                refuted = z3.Not(z3.Implies(obligation.premise, obligation.goal))
                answer, outcome = ask([refuted], rlimit, not refuted_somewhere, model=True)
                model, reason = outcome.model, outcome.reason
            if model is not None:
                claim = z3.Implies(obligation.premise, obligation.goal)
                where = Obligation(obligation.ident, "ERR-1", "precondition", case.name, obligation.check)
                from clearspec_proofs.replays import minimised, precondition_replay

                replay = precondition_replay(case, world, after, where, Read.of(claim, base))
                counterexample = minimised(world, model, [*base, z3.Not(claim)], replay)
                confirmed, how = counterexample["confirmed"], counterexample["how"]
                status = Status.COUNTEREXAMPLE if confirmed else Status.UNKNOWN
                detail = how if confirmed else f"unconfirmed: {how}"
            elif answer == z3.unknown:
                status, detail = Status.UNKNOWN, f"solver: {reason}"
        witness: Any = z3.unknown
        if status == Status.PROVED:
            # "accepts" has no later obligation to hand its check to: its free
            # query gets the whole limit and the escalation.
            accepts = obligation.code is None
            free = rlimit if accepts else max(rlimit // FREE_SHARE, 1)
            witness, _ = hypotheses.find(base, [obligation.premise], free_limit=free, escalate=accepts)
        if status == Status.PROVED:
            if witness != z3.sat and obligation.code is not None:
                verdict = "never first to fail" if witness == z3.unsat else "no witness found"
                pending.append(f"{obligation.check} ({verdict})")
                continue
            if witness != z3.sat:
                status = Status.UNKNOWN
                detail = (
                    "vacuous: the hypotheses and the spec checks are unsatisfiable together"
                    if witness == z3.unsat
                    else "no state passing every spec check was found"
                )
            else:
                detail = "non-vacuous: " + (
                    "every spec check passes and every guard holds"
                    if obligation.code is None
                    else f"rejected with {obligation.check.split(' ', 1)[1]}, as the spec orders"
                )
        if pending:
            detail += f"; checks without an obligation before it: {', '.join(pending)}"
            pending = []
        results.append(
            Result(
                obligation.ident,
                "ERR-1",
                case.name,
                obligation.check,
                "precondition",
                status,
                time.perf_counter() - t1 + shared,
                detail,
                counterexample,
            )
        )
    return results
