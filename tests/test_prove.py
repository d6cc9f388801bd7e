"""`clearspec prove`: every obligation proved and none vacuous, and the proofs can fail.

The full run is the issue's acceptance test; the others show that a broken model,
a false invariant or contradictory hypotheses are reported, not proved.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import z3

from clearspec import kernel as k
from clearspec import trading
from clearspec.params_file import params_to_json
from clearspec.state import Ledger
from clearspec_proofs.engine import SHOWN_BY_ACCEPTANCE, check_case, check_lemmas
from clearspec_proofs.invariants import register_invariant, unregister_invariant
from clearspec_proofs.lemmas import lemmas
from clearspec_proofs.runner import withdraw_unsupported
from clearspec_proofs.transitions import CASES
from clearspec_tools.examples import example_params

PARAMS = example_params()


def _case(name: str) -> Any:
    return next(c for c in CASES if c.name == name)


def _prove(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "clearspec_tools.cli", "prove", "--json", "--quiet", *args],
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_every_obligation_is_proved_and_none_is_vacuous(tmp_path: Path) -> None:
    # Every run is deterministic (clearspec_proofs.solver): a CI machine's load
    # cannot turn a proof into unknown. No cache (conftest): CI proves cold.
    done = _prove("--counterexamples", str(tmp_path))
    report = json.loads(done.stdout)
    failed = [(o["id"], o["status"], o["detail"]) for o in report["obligations"] if o["status"] != "proved"]
    assert done.returncode == 0 and not failed, failed
    obligations = report["obligations"]
    assert len(obligations) >= 600
    assert {o["status"] for o in obligations} == {"proved"}
    assert all(o["detail"].startswith("non-vacuous") for o in obligations if o["kind"] != "rejection")
    # ERR-1/STA-2: every check with a witness rejects with its code, ledger unchanged.
    rejections = [o for o in obligations if o["kind"] == "rejection"]
    assert len(rejections) >= 60 and all(o["detail"].startswith("rejected with") for o in rejections)
    assert {"inductive", "delta-sum", "frame", "contract", "lemma", "theorem", "precondition"} <= {
        o["kind"] for o in obligations
    }
    for key in ("id", "rule", "transition", "invariant", "status", "seconds"):
        assert all(key in o for o in obligations)
    covered = {o["transition"] for o in obligations}
    assert {c.name for c in CASES} | {"lemma"} == covered
    assert report["summary"]["proved"] == report["summary"]["total"] == len(obligations)


def test_only_and_params_file(tmp_path: Path) -> None:
    params_file = tmp_path / "params.json"
    params_file.write_text(json.dumps(params_to_json(PARAMS)))
    done = _prove("--only", "deposit-quote", "--params", str(params_file))
    assert done.returncode == 0, done.stderr
    ids = [o["id"] for o in json.loads(done.stdout)["obligations"]]
    assert ids and all(i.startswith("deposit-quote/") for i in ids)
    narrow = _prove("--only", "deposit-quote/inductive/conservation")
    assert [o["invariant"] for o in json.loads(narrow.stdout)["obligations"]] == [
        "conservation[BTC]",
        "conservation[ETH]",
        "conservation[USDC]",
    ]


def test_bad_params_file_is_a_clear_error(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('{"quote_asset": "USDC"}')
    done = _prove("--params", str(broken))
    assert done.returncode == 2
    assert "INVALID_PARAMS" in done.stderr and "params.assets: missing" in done.stderr


def test_a_broken_fee_yields_a_confirmed_counterexample(monkeypatch: pytest.MonkeyPatch) -> None:
    # Mutant: the fee's sign is flipped, so the pool pays the traders.
    def truncated(notional_amount: int, rate_ppm: int) -> int:
        return -k.mul_div_ceil(notional_amount, rate_ppm, 1_000_000)

    monkeypatch.setattr(trading, "fill_fee", truncated)
    # The obligations about fees (the fee pool's invariant and TRD-5's contracts):
    # the whole transition is proved by the test above, and a broken model can
    # make its other queries run to their limits.
    results = check_case(_case("trade-buy"), PARAMS, goal_filter="fee")
    assert {"inductive", "contract"} <= {r.kind for r in results}
    broken = [r for r in results if r.status == "counterexample"]
    assert broken, [r.id for r in results]
    assert any(r.counterexample and r.counterexample["confirmed"] for r in broken)
    example = next(r.counterexample for r in broken if r.counterexample and r.counterexample["confirmed"])
    assert example["before"] is not None and example["before"]["accounts"]
    assert example["action"].startswith("settle 1 fill")


def test_a_designers_invariant_is_checked_against_every_transition() -> None:
    register_invariant("usdc-fee-pool-stays-empty", "USER-1", lambda ledger: ledger.fee_pool["USDC"] == 0)
    try:
        trade = check_case(_case("trade-buy"), PARAMS, goal_filter="usdc-fee-pool-stays-empty")
        deposit = check_case(_case("deposit-quote"), PARAMS, goal_filter="usdc-fee-pool-stays-empty")
    finally:
        unregister_invariant("usdc-fee-pool-stays-empty")
    assert [r.status for r in deposit] == ["proved"]  # a deposit charges no fee
    assert [r.status for r in trade] == ["counterexample"]  # a trade does
    assert trade[0].counterexample is not None and trade[0].counterexample["confirmed"]


def test_contradictory_hypotheses_are_reported_as_vacuous() -> None:
    def never(ledger: Ledger) -> bool:
        return ledger.fee_pool["USDC"] < 0  # contradicts INV-3 as an induction hypothesis

    register_invariant("impossible", "USER-2", never)
    try:
        results = check_case(_case("deposit-quote"), PARAMS, goal_filter="conservation[USDC]")
    finally:
        unregister_invariant("impossible")
    assert results and all(r.status == "unknown" and "vacuous" in r.detail for r in results)


def test_lemmas_are_proved_and_the_parameter_theorem_needs_its_premise() -> None:
    assert {r.status for r in check_lemmas(PARAMS)} == {"proved"}
    # PAR-5 without "mmf >= deviation": a gap larger than maintenance leaves negative equity.
    theorem = next(lem for lem in lemmas(PARAMS) if lem.name.startswith("PAR-5") and "BTC-PERP" in lem.name)
    with k.tracing():
        hypotheses, goal = theorem.build(PARAMS)
    solver = z3.Solver()
    solver.add(*[h for h in hypotheses if "mmf" not in str(h) or "deviation" not in str(h)], z3.Not(goal))
    assert solver.check() == z3.sat


def test_a_designers_invariant_module_reaches_the_spawned_workers(tmp_path: Path) -> None:
    # The workers are fresh processes: --invariants makes each one register the
    # designer's invariants again, so a false one is refuted there.
    module = tmp_path / "my_rules.py"
    module.write_text(
        "from clearspec_proofs.invariants import register_invariant\n"
        "register_invariant('usdc-net-deposits-at-most-ten', 'USER-3',"
        " lambda ledger: ledger.net_deposits['USDC'] <= 10)\n"
    )
    done = _prove("--only", "deposit-quote/inductive/usdc-net", "--invariants", str(module), "--workers", "1")
    assert done.returncode == 1, done.stderr
    [obligation] = json.loads(done.stdout)["obligations"]
    assert obligation["id"] == "deposit-quote/inductive/usdc-net-deposits-at-most-ten"
    assert obligation["status"] == "counterexample" and obligation["counterexample"]["confirmed"]
    missing = _prove("--only", "deposit-quote", "--invariants", str(tmp_path / "absent.py"))
    assert missing.returncode == 2 and "absent.py: FileNotFoundError" in missing.stderr


def test_a_slice_proof_stands_only_with_its_acceptance_obligation() -> None:
    # PRF-1 across slices: proofs made in a slice that did not show the
    # hypotheses satisfiable are withdrawn when the acceptance obligation fails.
    def result(transition: str, kind: str, status: str, relies: bool) -> dict[str, Any]:
        return {
            "transition": transition,
            "kind": kind,
            "status": status,
            "detail": "non-vacuous (weak hypotheses)",
            "relies_on_acceptance": relies,
        }

    results = [
        result("t", "acceptance", "unknown", False),
        result("t", "inductive", "proved", True),
        result("t", "inductive", "proved", False),
        result("u", "acceptance", "proved", False),
        result("u", "contract", "proved", True),
    ]
    withdraw_unsupported(results)
    assert [r["status"] for r in results] == ["unknown", "unknown", "proved", "proved", "proved"]
    assert "t/acceptance/can be accepted is not proved" in results[1]["detail"]


def test_withdrawal_reads_the_reliance_field_not_the_detail_text() -> None:
    # The field decides: set without the marker text, the proof is withdrawn;
    # the marker text without the field withdraws nothing.
    failed = {"transition": "t", "kind": "acceptance", "status": "unknown", "detail": ""}
    by_field = {
        "transition": "t",
        "kind": "inductive",
        "status": "proved",
        "detail": "non-vacuous",
        "relies_on_acceptance": True,
    }
    by_text = {
        "transition": "t",
        "kind": "inductive",
        "status": "proved",
        "detail": f"non-vacuous (weak hypotheses{SHOWN_BY_ACCEPTANCE})",
        "relies_on_acceptance": False,
    }
    withdraw_unsupported([failed, by_field, by_text])
    assert by_field["status"] == "unknown" and by_text["status"] == "proved"


def test_a_later_slice_marks_its_proofs_as_relying_on_acceptance() -> None:
    # Derived in _check_case: the goals proved in the second slice rely on the
    # first slice's acceptance obligation; the first slice's, and the rejection
    # and precondition kinds' (their witness is their own), do not.
    case = _case("deposit-quote")
    first = check_case(case, PARAMS, part=(0, 2))
    second = check_case(case, PARAMS, part=(1, 2))
    assert any(r.kind == "acceptance" for r in first) and not any(r.kind == "acceptance" for r in second)
    assert not any(r.relies_on_acceptance for r in first)
    goals = [r for r in second if r.kind in ("inductive", "delta-sum", "frame", "effect", "contract")]
    assert goals and all(r.status == "proved" and r.relies_on_acceptance for r in goals)
    assert all(SHOWN_BY_ACCEPTANCE in r.detail for r in goals)  # the text for a person stays
    witnessed = [r for r in second if r.kind in ("rejection", "precondition")]
    assert witnessed and not any(r.relies_on_acceptance for r in witnessed)
    assert all(r.as_json()["relies_on_acceptance"] == r.relies_on_acceptance for r in second)
