"""Counterexamples of every kind (PRF-2): how each is replayed, then minimised.

For each kind of obligation the engine hands over the solver's model, the
constraints it satisfies and a replay: a function from a model to the
counterexample record (``counterexample.record``), run on the concrete state
the model describes. ``minimised`` shrinks the model (``minimise``) and keeps
only smaller models whose replay shows the same violation; the record also
carries the fields the broken condition reads (``fields_read``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import z3

from clearspec.actions import Action
from clearspec.state import Ledger
from clearspec_proofs.counterexample import (
    Counterexample,
    Obligation,
    Ran,
    confirm,
    record,
    run_model,
    same_violation,
)
from clearspec_proofs.engine import Goal, _oracle_context, concretize
from clearspec_proofs.fields_read import FieldReader, Read, constants_of, model_values
from clearspec_proofs.hypotheses import Hypotheses, as_bool, witness_constraints
from clearspec_proofs.minimise import minimise
from clearspec_proofs.symbolic import World
from clearspec_proofs.transitions import TransitionCase

Replay = Callable[[z3.ModelRef], Counterexample]


@dataclass(frozen=True)
class Concrete:
    """One concrete replay: the state a solver's model describes, and what the
    model did with it (``ran``)."""

    ledger: Ledger
    action: Action
    result: Ledger | None  # the traced result, concretized, when asked for
    ran: Ran


def run_concrete(
    case: TransitionCase, world: World, candidate: z3.ModelRef, run: str, after: Ledger | None = None
) -> Concrete:
    """The one concrete replay every kind shares: the world's ledger and action
    (and the traced result ``after``, when given) at ``candidate``'s values, run
    through ``step`` or ``apply`` (``run``) under the case's oracle, with every
    contract on; a broken contract comes back as the violation."""
    ledger = concretize(world.ledger, candidate)
    action = concretize(world.action, candidate)
    result = None if after is None else concretize(after, candidate)
    with _oracle_context(case):
        ran = run_model(ledger, action, run)
    return Concrete(ledger, action, result, ran)


def minimised(world: World, model: z3.ModelRef, constraints: list[Any], replay: Replay) -> Counterexample:
    """PRF-2: the counterexample ``model`` shows, shrunk to the smallest values
    of the world's variables that still break the rule the same way (every
    smaller model found is replayed again)."""
    variables = [world.variables[name] for name in sorted(world.variables)]
    # The variables whose values, fixed, make every product linear (those the
    # witness search fixes, and the fill's price).
    linear = [
        v
        for name, v in world.variables.items()
        if name.startswith("price[") or "index[" in name or name == "fill.price"
    ]
    # Held first where the witness search holds them (a fill at the oracle's
    # price): values that do not depend on the solver's first model.
    witness = witness_constraints(world)
    fill_price = world.roles.fill_witness_price()
    if fill_price is not None:
        witness += [v == fill_price for name, v in world.variables.items() if name == "fill.price"]
    found = minimise(constraints, variables, model, replay, same_violation, linear, witness)
    shown = found.replayed
    shown["minimised"] = found.note
    return shown


def goal_counterexample(
    case: TransitionCase, world: World, model: z3.ModelRef, goal: Goal, hypotheses: Hypotheses
) -> Counterexample:
    """A goal's counterexample (inductive, delta-sum, frame, contract and any
    goal kind): replayed by ``confirm``, minimised, with the fields it reads."""
    reads = (FieldReader.of(world.ledger, world.action), Read.of(goal.condition, hypotheses.strong))

    def replay(candidate: z3.ModelRef) -> Counterexample:
        concrete = run_concrete(case, world, candidate, "apply")
        ledger, action = concrete.ledger, concrete.action
        checker = goal.checker
        if goal.kind == "effect":
            # An effect compares the result with the pre-state: checked on this one.
            from clearspec_proofs.effects import replay_checker

            checker = replay_checker(goal.invariant, goal.rule, ledger, action)
        with _oracle_context(case):
            return confirm(
                case, goal.invariant, goal.rule, goal.kind, ledger, action, checker, reads, concrete.ran
            )

    return minimised(world, model, [*hypotheses.strong, z3.Not(goal.condition)], replay)


def rejection_replay(
    case: TransitionCase,
    world: World,
    where: Obligation,
    expected: str,
    condition: Any | None,
    hypotheses: list[Any],
) -> Replay:
    """ERR-1/STA-2 on a concrete state: ``step`` must reject with ``expected``
    and return the very same ledger. The record is confirmed (a counterexample)
    when it does not; ``condition`` is the failing check whose fields are shown
    (None: a check decided without the solver, so the action and the ledger)."""
    reader = FieldReader.of(world.ledger, world.action)
    read = Read.whole(reader) if condition is None else Read.of(condition, hypotheses)

    def replay(candidate: z3.ModelRef) -> Counterexample:
        concrete = run_concrete(case, world, candidate, "step")
        ledger, action, outcome = concrete.ledger, concrete.action, concrete.ran.outcome
        if outcome is None:
            # The model broke one of its own contracts on the witness: that is a
            # failed obligation to report, not a crash of the prover.
            message = concrete.ran.violation
            how = f"expected {expected}, a contract failed: {message}"
            fields = reader.values(read, ledger, action, None)
            return record(
                where,
                confirmed=True,
                how=how,
                action=action,
                ledger=ledger,
                message=message,
                expected=expected,
                got="a contract failed",
                fields=fields,
            )
        same = outcome.ledger is ledger
        got = outcome.error.value if outcome.error else "acceptance"
        confirmed = outcome.error is None or outcome.error.value != expected or not same
        how = f"expected {expected} and the same ledger, got {got} (same ledger: {same})"
        after = None if same else outcome.ledger
        fields = reader.values(read, ledger, action, after)
        return record(
            where,
            confirmed=confirmed,
            how=how,
            action=action,
            ledger=ledger,
            after=after,
            expected=expected,
            got=got,
            fields=fields,
        )

    return replay


def never_accepted_replay(case: TransitionCase, world: World, where: Obligation) -> Replay:
    """A state that passes every check, replayed: confirmed when the concrete
    model accepts what the spec always refuses."""
    assert case.rejects is not None
    expected = case.rejects.value
    reader = FieldReader.of(world.ledger, world.action)
    read = Read.whole(reader)

    def replay(candidate: z3.ModelRef) -> Counterexample:
        concrete = run_concrete(case, world, candidate, "step")
        ledger, action, outcome = concrete.ledger, concrete.action, concrete.ran.outcome
        after: Ledger | None = None
        message = concrete.ran.violation
        if outcome is None:
            # Accepted, and the model then broke its own postcondition.
            accepted, got = True, f"acceptance, then a contract failed: {message}"
        else:
            accepted = outcome.error is None
            got = outcome.error.value if outcome.error else "acceptance"
            after = outcome.ledger if accepted else None
        how = f"expected {expected} in every state, got {got}"
        fields = reader.values(read, ledger, action, after)
        return record(
            where,
            confirmed=accepted,
            how=how,
            action=action,
            ledger=ledger,
            after=after,
            message=message,
            expected=expected,
            got=got,
            fields=fields,
        )

    return replay


def precondition_replay(
    case: TransitionCase, world: World, after: Ledger, where: Obligation, read: Read
) -> Replay:
    """Replay a precondition counterexample: the concrete ``step`` against the
    spec's table evaluated on the same concrete state (ERR-1); confirmed when
    they disagree."""
    from clearspec_proofs.preconditions import expected_code

    reader = FieldReader.of(world.ledger, world.action)

    def replay(candidate: z3.ModelRef) -> Counterexample:
        concrete = run_concrete(case, world, candidate, "step", after)
        ledger, action, outcome = concrete.ledger, concrete.action, concrete.ran.outcome
        assert concrete.result is not None
        fields = reader.values(read, ledger, action, None)
        with _oracle_context(case):
            try:
                expected = expected_code(ledger, action, concrete.result)
            except Exception as error:  # the table itself failed on this state
                how = f"the spec table could not be evaluated: {error!r}"
                return record(where, confirmed=False, how=how, action=action, ledger=ledger, fields=fields)
        message, accepted = concrete.ran.violation, None
        if outcome is not None:
            got_text = outcome.error.value if outcome.error else "acceptance"
            accepted = outcome.ledger if outcome.error is None else None
        else:
            got_text = f"a contract failed: {message}"
        expected_text = expected.value if expected else "acceptance"
        how = f"expected {expected_text} (spec order of checks), got {got_text} (model)"
        return record(
            where,
            confirmed=got_text != expected_text,
            how=how,
            action=action,
            ledger=ledger,
            after=accepted,
            message=message,
            expected=expected_text,
            got=got_text,
            fields=fields if accepted is None else reader.values(read, ledger, action, accepted),
        )

    return replay


def _any_model(first: Counterexample, other: Counterexample) -> bool:
    return True  # every model of a lemma's refutation breaks it


def lemma_counterexample(
    where: Obligation, model: z3.ModelRef, refuted: list[Any], conditions: list[Any], hypotheses: list[Any]
) -> Counterexample:
    """A lemma's counterexample: the solver's values of the variables its goal
    reads, minimised. A lemma runs model functions on free integers, not a
    transition on a ledger, so there is no concrete replay: it is reported as
    not confirmed, and any model of ``refuted`` breaks the lemma."""
    read = Read.of(z3.And(*[as_bool(c) for c in conditions]), hypotheses)
    how = "a lemma has no concrete replay: the solver's values break it"

    def replay(candidate: z3.ModelRef) -> Counterexample:
        return record(where, confirmed=False, how=how, fields=model_values(read, candidate))

    constants = constants_of(refuted)
    variables = [constants[name] for name in sorted(constants)]
    found = minimise(refuted, variables, model, replay, _any_model)
    shown = found.replayed
    shown["minimised"] = found.note
    return shown
