"""Mutation testing of the proofs (``clearspec mutate``): the catalogue and the harness.

CI-sized: the full campaign (every mutant) is ``clearspec mutate``; here the
catalogue is checked against the current source, and the harness is shown to
tell a killed mutant from an unchanged model, in a copy of the tree.
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from clearspec_proofs import mutation
from clearspec_proofs.kinds import KINDS, Placement
from clearspec_proofs.mutants import CATEGORIES, IDENTITY, MUTANTS, PARAMS_VARIANTS, by_id
from clearspec_proofs.mutation_cli import add_commands
from clearspec_proofs.transitions import CASES
from clearspec_tools.examples import example_params

SOURCE = mutation.find_source()
# The parameter set the command line gives the harness (clearspec mutate).
PARAMS = example_params()


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_catalogue_has_enough_well_formed_mutants() -> None:
    assert len(MUTANTS) >= 40
    ids = [m.id for m in MUTANTS]
    assert len(ids) == len(set(ids))
    names = {c.name for c in CASES} | {"lemma"}
    for m in MUTANTS:
        assert m.category in CATEGORIES and m.category != "identity", m.id
        assert m.cases and set(m.cases) <= names, m.id
        assert m.params in PARAMS_VARIANTS, m.id
        assert m.original != m.replacement, m.id
        assert not (m.equivalent and m.missing), m.id  # one reason, not two
    # The kinds of bug the issue names are all there.
    assert {"rounding", "fee", "fund", "threshold", "comparison", "precondition"} <= {
        m.category for m in MUTANTS
    }
    # Most of the model's protocol modules are mutated.
    assert len({m.file for m in MUTANTS}) >= 10


def test_every_snippet_occurs_exactly_once_in_the_current_source() -> None:
    for m in MUTANTS:
        text = mutation.mutated_text(m, SOURCE)
        assert m.replacement in text, m.id
        original = (SOURCE / "model" / "clearspec" / m.file).read_text()
        assert len(text) - len(original) == len(m.replacement) - len(m.original), m.id


def test_a_snippet_that_does_not_match_is_a_harness_error() -> None:
    broken = replace(by_id("C01-deposit-not-counted"), original="no such text in the model")
    with pytest.raises(mutation.MutationError, match="0 times"):
        mutation.mutated_text(broken, SOURCE)
    with pytest.raises(mutation.MutationError, match="no mutant matches"):
        mutation.select(["NO-SUCH-MUTANT"])


def test_applying_a_mutant_changes_only_the_copy(tmp_path: Path) -> None:
    mutant = by_id("L07-fund-payment-not-debited")
    original = SOURCE / "model" / "clearspec" / mutant.file
    before = _digest(original)
    target = mutation.make_copy(mutant, SOURCE, tmp_path)
    assert _digest(original) == before  # the working tree is untouched
    assert tmp_path in target.parents
    text = target.read_text()
    assert mutant.replacement in text and mutant.original not in text
    # Every other file of the copy is the working tree's.
    for name in ("kernel.py", "margin.py", "transition.py"):
        assert _digest(tmp_path / "model" / "clearspec" / name) == _digest(
            SOURCE / "model" / "clearspec" / name
        )
    assert (tmp_path / "proofs" / "clearspec_proofs" / "engine.py").is_file()


def test_a_dropped_deposit_count_is_killed_by_a_confirmed_counterexample() -> None:
    before = _digest(SOURCE / "model" / "clearspec" / "collateral.py")
    record = mutation.run_mutant(
        by_id("C01-deposit-not-counted"), SOURCE, base=PARAMS, escalate=False, timeout=300
    )
    assert record["status"] == "killed", record
    assert record["kill"]["kind"] == "counterexample-confirmed"
    assert record["kill"]["obligation"].startswith("deposit-quote/")
    assert 0 < record["first_counterexample_s"] <= record["seconds"]
    assert "conservation" in record["kill"]["obligation"] or "delta-sum" in record["kill"]["obligation"]
    # The child proved the copy, not the working tree.
    assert record["model"] == f"{mutation.COPY}/model/clearspec/__init__.py"  # the copy's, not SOURCE's
    assert _digest(SOURCE / "model" / "clearspec" / "collateral.py") == before


def test_a_dropped_interval_breaker_is_killed_by_the_spec_order_of_checks() -> None:
    # ORA-10: without the per-interval check a staircase passes; the precondition
    # table, restated from spec/errors.md, expects ORACLE_INTERVAL_BREAKER.
    record = mutation.run_mutant(
        by_id("O07-interval-breaker-dropped"), SOURCE, base=PARAMS, escalate=False, timeout=300
    )
    assert record["status"] == "killed", record
    assert record["kill"]["kind"] == "counterexample-confirmed"
    assert record["kill"]["obligation"].startswith("oracle-update/precondition/")
    assert "ORACLE_INTERVAL_BREAKER" in record["kill"]["obligation"]


def test_a_reference_that_moves_with_every_update_is_killed_by_the_interval_lemma() -> None:
    record = mutation.run_mutant(
        by_id("O08-interval-rolls-every-update"), SOURCE, base=PARAMS, escalate=False, timeout=300
    )
    assert record["status"] == "killed", record
    assert record["kill"]["obligation"].startswith("lemma/ORA-10/interval-bound-")


def test_a_list_that_skips_the_top_ranked_account_is_killed() -> None:
    # ADL-2: with the completeness check loosened, a list that leaves out a holder
    # of the opposite side (a2, free to hold a1's side and to rank above it) is
    # accepted where the spec's order of checks refuses it.
    record = mutation.run_mutant(
        by_id("D07-list-skips-top-ranked"), SOURCE, base=PARAMS, escalate=False, timeout=300
    )
    assert record["status"] == "killed", record
    assert record["kill"]["kind"] == "counterexample-confirmed", record["kill"]
    assert record["kill"]["obligation"].startswith("deleverage/"), record["kill"]


def test_the_unchanged_model_is_not_killed() -> None:
    record = mutation.run_mutant(IDENTITY, SOURCE, base=PARAMS, escalate=False, timeout=300)
    assert record["status"] == "survived", record
    assert record["first_counterexample_s"] is None
    assert record["obligations_checked"] >= 20
    assert all(u["not_proved"] == 0 for u in record["units"])
    assert record["model"] == f"{mutation.COPY}/model/clearspec/__init__.py"  # the copy's, not SOURCE's


def test_a_model_that_no_longer_imports_is_killed() -> None:
    planted = replace(
        IDENTITY,
        id="PLANTED-IMPORT",
        original="import z3\n",
        replacement="import z3\n\nraise ImportError('planted')\n",
        equivalent="",
    )
    record = mutation.run_mutant(planted, SOURCE, base=PARAMS, escalate=False, timeout=300)
    assert record["status"] == "killed" and record["kill"]["kind"] == "import"
    assert "planted" in record["kill"]["detail"]


def test_the_child_refuses_a_model_that_is_not_the_copy(tmp_path: Path) -> None:
    # In this process clearspec resolves to the working tree, not to tmp_path.
    wrong = mutation._verify_origin(tmp_path)
    assert wrong is not None and "not to the copy" in wrong


def test_unknown_kills_are_counted_apart() -> None:
    def record(ident: str, status: str, kind: str | None = None, **extra: str) -> dict[str, Any]:
        kill = {"kind": kind, "obligation": "x/y/z"} if kind else None
        return {
            "id": ident,
            "category": "fee",
            "bug": "",
            "status": status,
            "kill": kill,
            "expected": "killed",
            **extra,
        }

    records = [
        record("a", "killed", "counterexample-confirmed"),
        record("b", "killed", "unknown"),
        record("c", "survived", equivalent="same value", expected="survive"),
        record("d", "survived"),
    ]
    summary = mutation.summarise(records)
    assert (summary["killed"], summary["killed_firm"], summary["killed_unknown_only"]) == (2, 1, 1)
    assert summary["kill_rate"] == 0.5 and summary["firm_kill_rate"] == 0.25
    assert summary["firm_score_without_equivalent"] == round(1 / 3, 4)
    assert summary["unexpected_survivors"] == ["d"]
    assert [entry["id"] for entry in summary["unknown_only"]] == ["b"]


def test_the_command_line() -> None:
    parser = argparse.ArgumentParser(prog="clearspec")
    add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["mutate", "--only", "C01,T02", "--workers", "2", "--json"])
    assert args.only == ["C01,T02"] and args.workers == 2 and args.json
    listed = subprocess.run(
        [sys.executable, "-m", "clearspec_proofs.mutation", "--list"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert listed.returncode == 0
    assert f"{len(MUTANTS)} mutants" in listed.stdout
    unknown = subprocess.run(
        [sys.executable, "-m", "clearspec_proofs.mutation", "--only", "NOPE"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert unknown.returncode == 2 and "no mutant matches" in unknown.stderr


def test_the_phases_cover_every_kind_of_obligation() -> None:
    # The harness proves a transition one kind at a time; a kind the engine
    # reports but the phases miss would never be run on a mutant.
    from clearspec_proofs.engine import check_case

    case = next(c for c in CASES if c.name == "deposit-quote")
    kinds = {r.kind for r in check_case(case, PARAMS)}
    assert kinds <= set(mutation.PHASES), kinds - set(mutation.PHASES)
    # Every kind of a transition in the table (kinds.KINDS), not only those
    # this case has, is a phase.
    of_a_transition = {name for name, kind in KINDS.items() if kind.placement is not Placement.OWN}
    assert of_a_transition == set(mutation.PHASES)


def test_coverage_selects_the_transitions_that_run_a_mutant() -> None:
    record = mutation.run_mutant(
        IDENTITY,
        SOURCE,
        base=PARAMS,
        cases=["deposit-quote", "lemma"],
        exhaustive=True,
        coverage=True,
        timeout=300,
    )
    assert record["status"] == "survived" and record["cases_run"] == ["deposit-quote", "lemma"]
    coverage = record["coverage"]
    assert mutation.reached_by(by_id("C01-deposit-not-counted"), SOURCE, coverage) == ["deposit-quote"]
    assert mutation.reached_by(by_id("T01-fee-rounds-down"), SOURCE, coverage) == ["lemma"]
    assert mutation.reached_by(by_id("L07-fund-payment-not-debited"), SOURCE, coverage) == []
    first, last = mutation.snippet_span(by_id("C03-withdraw-no-balance-check"), SOURCE)
    assert last - first >= 4  # the whole k.require(...) statement, not just the snippet's lines


def test_relabel_takes_reasons_from_the_catalogue() -> None:
    equivalent = by_id("K08-min-strict")
    stale = {
        "mutants": [
            {
                "id": equivalent.id,
                "category": "comparison",
                "bug": "",
                "status": "survived",
                "kill": None,
                "expected": "killed",
            },
        ]
    }
    report = mutation.relabel(stale)
    assert report["mutants"][0]["expected"] == "survive"
    assert report["mutants"][0]["equivalent"] == equivalent.equivalent
    assert report["summary"]["unexpected_survivors"] == [] and report["summary"]["equivalent"] == 1
