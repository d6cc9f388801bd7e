"""Effect obligations (spec/proofs.md, "effect"): what an accepted action does,
as the spec states it, checked against the model's result.

The table is first checked on concrete runs (the built-in scenarios touch every
action type), then shown to catch what no invariant catches: wrong results that
keep every invariant, planted in a copy of the model and killed by an effect
obligation.
"""

from __future__ import annotations

import typing
from dataclasses import replace
from pathlib import Path

import pytest

from clearspec import kernel as k
from clearspec.actions import Action, Deposit, SettleTrades
from clearspec.state import Ledger, with_balance
from clearspec.transition import step
from clearspec_proofs import effects, mutation
from clearspec_proofs.engine import check_case
from clearspec_proofs.mutants import MUTANTS, by_id
from clearspec_proofs.transitions import CASES
from clearspec_tools.examples import crash_scenario, example_genesis, example_params, example_scenario
from clearspec_tools.vectors.codec import decode_action, decode_params, decode_state
from clearspec_tools.vectors.record import read_corpus

SOURCE = Path(__file__).resolve().parent.parent


def _accepted_steps() -> list[tuple[Ledger, Action, Ledger]]:
    """Every accepted step of the test situations recorded for the conformance
    vectors (every action type, many states) and of the built-in scenarios."""
    params_by_digest, cases = read_corpus()
    steps = []
    for case in cases:
        params = decode_params(params_by_digest[case["params"]])
        before, action = decode_state(case["pre_state"], params), decode_action(case["action"])
        outcome = step(before, action)
        if outcome.error is None:
            steps.append((before, action, outcome.ledger))
    for scenario in (example_scenario(), crash_scenario()):
        ledger = example_genesis()
        for action in scenario:
            outcome = step(ledger, action)
            if outcome.error is None:
                steps.append((ledger, action, outcome.ledger))
            ledger = outcome.ledger
    return steps


def test_every_action_type_has_an_effect_statement() -> None:
    assert set(effects.TABLE) == set(typing.get_args(Action))
    assert set(effects.STATED) == {t.__name__ for t in effects.TABLE}
    assert set(effects.STATED.values()) <= {"exact", "partial"}


def test_the_table_agrees_with_every_accepted_step_of_the_scenarios() -> None:
    steps = _accepted_steps()
    assert {type(action) for _, action, _ in steps} == set(effects.TABLE)
    for before, action, after in steps:
        wrong = [label for label, holds in effects.conditions(before, action, after) if not holds]
        assert not wrong, (action, wrong)


def test_a_wrong_result_breaks_the_effect_that_states_it() -> None:
    before = example_genesis()
    action = Deposit("alice", "USDC", 1_000)
    after = step(before, action).ledger
    # The deposit credited to another account: conservation still holds.
    alice, bob = after.accounts["alice"], before.account("bob")
    moved = replace(
        after,
        accounts=after.accounts.set("alice", with_balance(alice, "USDC", alice.balance("USDC") - 1_000)).set(
            "bob", with_balance(bob, "USDC", bob.balance("USDC") + 1_000)
        ),
    )
    verdicts = dict(effects.conditions(before, action, moved))
    assert verdicts["COL-3: the balance rises by the amount"] is False
    assert verdicts["nothing else changes"] is False
    assert verdicts["COL-3: net deposits rise by the amount"] is True


def test_paths_are_canonical() -> None:
    """The fields are walked in sorted order, so obligations do not depend on
    the order in which a ledger's maps were filled."""
    ledger = step(example_genesis(), Deposit("zed", "USDC", 5)).ledger
    ledger = step(ledger, Deposit("amy", "USDC", 5)).ledger
    paths = list(effects.fields_of(ledger))
    accounts = [p[1] for p in paths if p[0] == "accounts"]
    assert accounts == sorted(accounts)


@pytest.mark.parametrize("name", ["deposit-quote", "transfer", "fund-insurance"])
def test_the_effects_of_simple_transitions_are_proved(name: str) -> None:
    case = next(c for c in CASES if c.name == name)
    results = check_case(case, example_params(), goal_filter=f"{name}/effect/")
    assert len(results) >= 2
    assert all(r.status == "proved" for r in results), [(r.id, r.status, r.detail) for r in results]
    assert results[-1].invariant == "nothing else changes"


def test_the_trade_states_each_partys_fee() -> None:
    case = next(c for c in CASES if c.name == "trade-buy")
    with k.tracing():
        labels = [label for label, _ in effects.conditions(*_traced(case))]
    assert any("the taker pays its fee" in label for label in labels)
    assert any("the maker pays its fee" in label for label in labels)
    assert "TRD-5: the fee pool is credited with the batch's fees" in labels


def _traced(case: object) -> tuple[Ledger, SettleTrades, Ledger]:
    from clearspec_proofs.engine import trace_case

    world, after, _ = trace_case(case, example_params())  # type: ignore[arg-type]
    return world.ledger, world.action, after


@pytest.mark.parametrize("ident", ["F01-transfer-settles-destination"])
def test_an_invariant_preserving_wrong_result_is_killed_by_an_effect(ident: str) -> None:
    mutant = by_id(ident)
    assert mutant in MUTANTS and mutant.category == "effect"
    record = mutation.run_mutant(mutant, SOURCE, base=example_params(), escalate=False, timeout=300)
    assert record["status"] == "killed", record
    assert record["kill"]["kind"] == "counterexample-confirmed", record["kill"]
    assert "/effect/" in record["kill"]["obligation"], record["kill"]
