"""PRF-4 end to end: a model that branches in Python on a symbolic value is
refused, and the branches it used to hide are in the proofs now.

A copy of the model gets a planted tuple comparison in COL-1's amount check.
Concretely it is the same check; traced, Python answers ``amount == 0`` by
syntactic identity, so without the guard the trace would quietly hold the
check it happens to produce. ``clearspec prove`` on the copy must not prove
it: the obligation is not proved, the exit status is 1, and the message names
the planted file and line, with no traceback.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from clearspec import deleveraging
from clearspec import kernel as k
from clearspec.actions import Deposit
from clearspec_proofs import mutation
from clearspec_proofs.engine import check_case
from clearspec_proofs.mutants import Mutant
from clearspec_proofs.transitions import CASES
from clearspec_tools.examples import example_params

SOURCE = mutation.find_source(Path(__file__))
CHECK = "k.require(amount > 0, ErrorCode.NON_POSITIVE_AMOUNT, str(amount))"
PLANTED = Mutant(
    "T01-tuple-comparison",
    "collateral.py",
    CHECK,
    "k.require((amount, 0) > (0, 0), ErrorCode.NON_POSITIVE_AMOUNT, str(amount))",
    "tracing",
    ("deposit-quote",),
    "a tuple comparison on a symbolic amount decides its first element in Python",
)


def test_prf4_a_planted_tuple_comparison_is_refused_with_its_line(tmp_path: Path) -> None:
    target = mutation.make_copy(PLANTED, SOURCE, tmp_path)
    line = next(n for n, text in enumerate(target.read_text().splitlines(), 1) if PLANTED.replacement in text)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path / "model"), str(tmp_path / "proofs")]))
    command = ["prove", "--only", "deposit-quote", "--workers", "1", "--quiet"]
    done = subprocess.run(
        [sys.executable, "-m", "clearspec_tools.cli", *command],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    refused = [row for row in done.stdout.splitlines() if "refused" in row]
    assert len(refused) == 1, done.stdout
    assert f"clearspec/collateral.py:{line} (in _check_amount)" in refused[0]
    assert "UNKNOWN: deposit-quote/acceptance/can be accepted (PRF-4)" in done.stdout
    assert "0 of 1 proved" in done.stdout  # nothing of the refused trace stands


def _ranking_failures(case_name: str) -> list[tuple[str, str, str]]:
    case = next(c for c in CASES if c.name == case_name)
    results = check_case(case, example_params(), goal_filter=f"{case_name}/precondition")
    assert results
    return [(r.id, r.status, r.detail) for r in results if r.status != "proved"]


def _tie_break_dropped(previous: tuple[int, str], current: tuple[int, str]) -> bool:
    return previous[0] >= current[0]  # what the tuple comparison used to trace


def _tie_break_flipped(previous: tuple[int, str], current: tuple[int, str]) -> bool:
    return k.or_(previous[0] > current[0], k.and_(previous[0] == current[0], previous[1] >= current[1]))


@pytest.mark.parametrize(
    ("case_name", "broken"),
    [("deleverage-two-reversed", _tie_break_dropped), ("deleverage-two", _tie_break_flipped)],
)
def test_adl2_the_id_tie_break_is_proved_and_breaking_it_is_refuted(
    case_name: str, broken: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _ranking_failures(case_name) == []
    monkeypatch.setattr(deleveraging, "ranked_after", broken)
    failures = _ranking_failures(case_name)
    assert failures and all(status == "counterexample" for _, status, _ in failures), failures
    assert any("ADL_RANKING_VIOLATED" in f"{ident} {detail}" for ident, _, detail in failures), failures


def test_prf4_a_lemma_or_the_spec_table_that_branches_in_python_is_not_proved(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from clearspec_proofs import lemmas, preconditions
    from clearspec_proofs.engine import REFUSED, check_lemmas

    def branching_lemma(_: object) -> tuple[list[object], object]:
        a = k.symbolic_int("a")
        return [], (a if a > 0 else -a) >= 0  # a Python branch on a symbolic amount

    def branching_table(ledger: object, action: Deposit, after: object) -> list[object | None]:
        return [] if action.amount > 0 else [None]

    monkeypatch.setattr(
        lemmas, "lemmas", lambda params: [lemmas.Lemma("ARI-1/planted", "ARI-1", branching_lemma)]
    )
    [lemma] = check_lemmas(example_params())
    assert (lemma.status, lemma.detail.startswith(REFUSED)) == ("unknown", True)
    assert "tests/test_tracing_prove.py" in lemma.detail and "(in branching_lemma)" in lemma.detail
    monkeypatch.setattr(preconditions, "spec_checks", branching_table)
    deposit = next(c for c in CASES if c.name == "deposit-quote")
    [table] = check_case(deposit, example_params(), goal_filter="deposit-quote/precondition")
    assert (table.id, table.status) == ("deposit-quote/precondition/spec table", "unknown")
    assert "(in branching_table)" in table.detail


def test_exp4_no_position_left_is_decided_on_sizes_and_the_old_entry_test_is_refuted() -> None:
    # EXP-4 once asked Python whether the account had position entries; a symbolic
    # run keeps a zero-size entry, so one branch was traced and the concrete model
    # disagreed with the spec on a state where the other market's size is zero.
    entries_test = Mutant(
        "T02-expiry-entries-test",
        "expiry.py",
        "    flat = k.and_(*[position.size == 0 for position in account.positions.values()])\n"
        "    deficit = k.ite(flat, k.max_(-nc, 0), 0)\n",
        "    if account.positions:\n"
        "        return gate_if_negative(after, nc)\n"
        "    deficit = k.max_(-nc, 0)\n",
        "tracing",
        ("settle-expiry-keeps-perp",),
        "an account with a zero-size entry left counts as still holding a position",
    )
    record = mutation.run_mutant(entries_test, SOURCE, base=example_params(), escalate=False, timeout=300)
    assert record["status"] == "killed", record
    assert record["kill"]["kind"] == "counterexample-confirmed"
    # The effect obligations (EXP-4's deficit) run before the spec's order of checks.
    assert record["kill"]["obligation"].startswith(
        ("settle-expiry-keeps-perp/effect/EXP-4", "settle-expiry-keeps-perp/precondition/")
    )


def test_adl3_the_skip_and_the_leftover_are_traced() -> None:
    """ADL-3: a skipped counterparty is a choice between two ledgers, not a caught
    error, so the trace of ``deleverage-leftover`` (a0 long one step against a1 then
    a2, short one step each) holds every path: a1 closes a0 and a2 is not used, a1
    is skipped and a2 takes it; both skipped is refused (ADL_NO_VALID_COUNTERPARTY)."""
    import z3

    from clearspec.invariants import all_global_invariants
    from clearspec.positions import position_size
    from clearspec_proofs.engine import trace_case
    from clearspec_proofs.roles import Role

    case = next(c for c in CASES if c.name == "deleverage-leftover")
    world, after, trace = trace_case(case, example_params())
    assert not trace.skippable  # no guard stands for a skip
    market = world.role(Role.DELEVERAGE)
    step = example_params().market_by_id[market].step_size
    with k.tracing():
        invariants = all_global_invariants(world.ledger)

    def reachable(a1: int, a2: int) -> z3.CheckSatResult:
        solver = z3.Solver()
        solver.set("rlimit", 50_000_000)
        sizes = [position_size(after.accounts[n], market) for n in ("a1", "a2")]
        solver.add(*world.assumptions, invariants, trace.accepted(), sizes[0] == a1, sizes[1] == a2)
        return solver.check()

    assert reachable(0, -step) == z3.sat  # a1 offset, a2 left over
    assert reachable(-step, 0) == z3.sat  # a1 skipped, a2 offset
    assert reachable(-step, -step) == z3.unsat  # nothing offset: not accepted
