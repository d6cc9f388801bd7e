"""PRF-1 and PRF-2, cheaply: an obligation is proved only when it is proved
non-vacuously, anything else fails the run; a counterexample is replayed on the
concrete model, which confirms it or says that it does not.

The full run is tests/test_prove.py's; these use the small ``deposit-quote``
transition in-process (seconds, not minutes)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from immutables import Map

from clearspec import collateral
from clearspec import kernel as k
from clearspec.actions import Deposit
from clearspec.state import Ledger
from clearspec_proofs.counterexample import confirm
from clearspec_proofs.engine import Result, check_case, check_lemmas, trace_case
from clearspec_proofs.invariants import Invariant, all_invariants, register_invariant, unregister_invariant
from clearspec_proofs.kinds import KINDS, Placement
from clearspec_proofs.report import save_counterexamples
from clearspec_proofs.status import Status
from clearspec_proofs.transitions import CASES, TransitionCase
from clearspec_tools.examples import example_genesis, example_params
from clearspec_tools.vectors.case import answer

ROOT = Path(__file__).resolve().parent.parent
PARAMS = example_params()


def _case(name: str) -> TransitionCase:
    return next(c for c in CASES if c.name == name)


def _with_invariant(name: str, holds: Any, case: str, goal_filter: str | None = None) -> list[Result]:
    register_invariant(name, "USER-1", holds)
    try:
        return check_case(_case(case), PARAMS, goal_filter=goal_filter)
    finally:
        unregister_invariant(name)


# --- PRF-1 ------------------------------------------------------------------------


def test_prf1_deposit_is_proved_and_every_proof_is_non_vacuous() -> None:
    results = check_case(_case("deposit-quote"), PARAMS)
    assert [r.status for r in results] == ["proved"] * len(results)
    assert all(r.detail.startswith("non-vacuous") for r in results if r.kind != "rejection")
    # ERR-1/STA-2: each check is the first to fail on some state, and the
    # concrete model then rejects with its code and returns the same ledger.
    rejections = [r for r in results if r.kind == "rejection"]
    assert [r.invariant for r in rejections] == ["check 1 NON_POSITIVE_AMOUNT", "check 2 AMOUNT_TOO_LARGE"]
    assert all(r.detail.startswith("rejected with") for r in rejections)
    kinds = [r.kind for r in results]
    assert kinds.count("inductive") == len(all_invariants(PARAMS))
    assert {"delta-sum", "frame", "contract", "acceptance"} <= set(
        kinds
    )  # contracts: slow mode (tests/conftest.py)
    assert all(r.id == f"deposit-quote/{r.kind}/{r.invariant}" for r in results)
    assert [r.invariant for r in results if r.kind == "acceptance"] == ["can be accepted"]


def test_prf1_contradictory_hypotheses_prove_nothing() -> None:
    def contradiction(ledger: Ledger) -> bool:
        fee, fund = ledger.fee_pool["USDC"], ledger.insurance_fund["USDC"]
        return k.and_(fee > fund, fund > fee)

    results = _with_invariant("contradiction", contradiction, "deposit-quote")
    assert results
    assert {r.status for r in results} == {"unknown"}
    assert all(r.detail.startswith("vacuous: the") for r in results)


def test_prf1_an_invariant_the_step_breaks_is_not_proved() -> None:
    # As a hypothesis it is satisfiable; as a goal after a deposit it is false.
    results = _with_invariant(
        "no-usdc-deposits", lambda ledger: ledger.net_deposits["USDC"] == 0, "deposit-quote", "no-usdc"
    )
    assert [(r.kind, r.status) for r in results] == [("inductive", "counterexample")]


def test_prf1_unknown_is_a_failure_not_a_proof() -> None:
    # A resource limit too small for any query: every obligation is unknown, even
    # after escalation, and none is reported proved.
    # (Rejection obligations confirm a witness on the concrete model; they claim
    # no proof, so a witness Z3 finds within any limit still counts.)
    results = [r for r in check_case(_case("deposit-quote"), PARAMS, rlimit=1) if r.kind != "rejection"]
    assert results and {r.status for r in results} == {"unknown"}
    assert all(r.detail for r in results)


def test_prf1_exit_status_is_zero_only_when_everything_is_proved(tmp_path: Path) -> None:
    def prove(*extra: str) -> tuple[int, dict[str, Any]]:
        command = [sys.executable, "-m", "clearspec_tools.cli", "prove", "--only", "deposit-quote", "--json"]
        done = subprocess.run(
            [*command, "--quiet", "--counterexamples", str(tmp_path), *extra],
            capture_output=True,
            text=True,
            timeout=300,
        )
        report: dict[str, Any] = json.loads(done.stdout)
        return done.returncode, report["summary"]

    status, summary = prove()
    assert status == 0 and summary["proved"] == summary["total"] > 0
    status, summary = prove("--rlimit", "1")
    # Every proof is unknown; only rejection witnesses (no proof claimed) may pass.
    assert status == 1 and summary["unknown"] > 0 and summary["counterexample"] == 0
    assert summary["proved"] <= 2 and summary["unknown"] + summary["proved"] == summary["total"]


def test_prf1_lemmas_and_theorems_are_proved_non_vacuously() -> None:
    results = check_lemmas(PARAMS)
    assert {r.status for r in results} == {"proved"}
    assert {r.detail for r in results} == {"non-vacuous"}
    theorems = {r.id for r in results if r.kind == "theorem"}
    assert {"lemma/ORA-8/median-3", "lemma/ORA-8/median-4", "lemma/ORA-8/median-5"} <= theorems
    assert {f"lemma/PAR-5/maintenance-covers-gap[{m.market_id}]" for m in PARAMS.markets} <= theorems


def test_prf1_coverage_table_cites_functions_that_have_contracts() -> None:
    # spec/proofs.md cites contract obligations by the function they belong to
    # ("[module.function]", the suffix of the kernel's label); each must name a
    # model function that carries icontract conditions with a k.holds.
    text = (ROOT / "spec" / "proofs.md").read_text(encoding="utf-8")
    cited = set(re.findall(r"\[([a-z_]+)\.([A-Za-z_][\w.]*)\]", text)) - {("module", "function")}
    assert len(cited) >= 15
    missing = []
    for module, qualname in sorted(cited):
        path = ROOT / "model" / "clearspec" / f"{module}.py"
        source = path.read_text(encoding="utf-8") if path.is_file() else ""
        found = re.search(rf"^def {re.escape(qualname)}\(", source, re.MULTILINE)
        decorators = source[: found.start()].rsplit("\n\n\n", 1)[-1] if found else ""
        if not re.search(r"@icontract\.(require|ensure)", decorators) or not re.search(
            r"k\.(holds|all_hold)\(", decorators
        ):
            missing.append(f"{module}.{qualname}")
    assert missing == []


def test_prf1_contract_labels_name_the_contract_not_a_line() -> None:
    # A contract obligation's id names the contract's description (or its
    # condition's text) and its function, so ids survive edits elsewhere.
    _, _, trace = trace_case(_case("trade-buy"), PARAMS)
    labels = {label for _, label in trace.obligations}
    assert "TRD-5: the fee pool never pays out more than it takes in [trading.settle_trades]" in labels
    assert "result.nc >= 0 [margin.asset_risk]" in labels
    assert not [label for label in labels if "contract at" in label]


# --- PRF-2 ------------------------------------------------------------------------


def test_prf2_a_mutant_deposit_gives_confirmed_counterexamples(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Mutant: a deposit credits the account but does not count the net deposit.
    def not_counted(totals: Map[str, int], key: str, delta: int) -> Map[str, int]:
        return totals

    monkeypatch.setattr(collateral, "add_to", not_counted)
    results = check_case(_case("deposit-quote"), PARAMS)
    broken = {r.id: r for r in results if r.status != "proved"}
    assert "deposit-quote/inductive/conservation[USDC]" in broken
    assert "deposit-quote/delta-sum/local conservation and zero-sum" in broken
    assert {r.status for r in broken.values()} == {"counterexample"}
    for result in broken.values():
        example = result.counterexample
        assert example is not None and example["confirmed"] is True, result.id
        assert example["how"] == "a contract failed"
        assert example["action"].startswith("deposit ") and example["action"].endswith(" USDC to a0")

    saved = save_counterexamples([r.as_json() for r in results], tmp_path)
    assert len(saved) == len(broken)
    path = tmp_path / "deposit-quote__inductive__conservation_USDC_.json"
    assert path in saved
    data = json.loads(path.read_text())
    assert data["obligation"] == "deposit-quote/inductive/conservation[USDC]"
    assert data["rule"] == "INV-1" and data["kind"] == "inductive" and data["confirmed"] is True
    assert set(data["before"]["accounts"]) == {"a0", "a1", "a2"}
    # Saved as a conformance-case input (VEC-1): the reference answers it (the
    # real deposit is accepted), which makes it a regression vector.
    monkeypatch.undo()
    assert data["source"] == "counterexample:deposit-quote/inductive/conservation[USDC]"
    reply = answer(
        {"id": "x", "params": data["params"], "pre_state": data["pre_state"], "actions": data["actions"]}
    )
    assert [r["accepted"] for r in reply["results"]] == [True]


def test_prf2_a_completed_replay_shows_the_broken_invariant_and_the_diff() -> None:
    def fee_pool_tracks_deposits(ledger: Ledger) -> bool:
        return ledger.net_deposits["USDC"] == ledger.fee_pool["USDC"]

    [result] = _with_invariant(
        "fee-pool-tracks-deposits", fee_pool_tracks_deposits, "deposit-quote", "tracks"
    )
    example = result.counterexample
    assert result.status == "counterexample" and example is not None
    assert example["confirmed"] is True
    assert example["how"] == "fee-pool-tracks-deposits is false after the action"
    changed = {line.split(":")[0] for line in example["diff"]}
    assert {"net_deposits.USDC", "accounts.a0.balances.USDC"} <= changed
    before, after = example["before"], example["after"]
    assert before is not None and after is not None
    assert after["net_deposits"]["USDC"] != before["net_deposits"]["USDC"]


def test_prf2_a_replay_the_model_does_not_reproduce_is_not_confirmed(tmp_path: Path) -> None:
    case = _case("deposit-quote")
    ledger = example_genesis()
    holds = Invariant("conservation[USDC]", "INV-1", lambda ledger: ledger.net_deposits["USDC"] >= 0)

    rejected = confirm(case, holds.name, holds.rule, "inductive", ledger, Deposit("a0", "USDC", 0), holds)
    assert rejected["confirmed"] is False
    assert rejected["how"] == "the concrete model rejected the action: NON_POSITIVE_AMOUNT"

    quiet = confirm(case, holds.name, holds.rule, "inductive", ledger, Deposit("a0", "USDC", 5), holds)
    assert quiet["confirmed"] is False and quiet["how"] == "the replay shows no violation"
    assert "net_deposits.USDC: 0 -> 5" in quiet["diff"]

    # Saved all the same, marked as not confirmed.
    result = Result(
        "deposit-quote/inductive/x", "INV-1", "deposit-quote", "x", "inductive", Status.COUNTEREXAMPLE, 0.0
    )
    result.counterexample = quiet
    [path] = save_counterexamples([result.as_json()], tmp_path)
    assert json.loads(path.read_text())["confirmed"] is False


def test_err1_a_contract_failing_on_a_rejection_witness_is_a_counterexample(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A model whose contract fails on the witness must yield a failed obligation,
    # not a traceback out of `clearspec prove`.
    import icontract

    from clearspec import transition

    def broken_step(ledger: Ledger, action: object) -> transition.Outcome:
        raise icontract.ViolationError("COL-3: a planted contract failure")

    monkeypatch.setattr(transition, "step", broken_step)
    results = check_case(_case("deposit-quote"), PARAMS, goal_filter="/rejection/")
    assert [r.status for r in results] == ["counterexample", "counterexample"]
    assert all("a contract failed: COL-3" in r.detail for r in results)


_KIND_ROW = re.compile(
    r"^\| `([a-z-]+)` \| \{ref\}`([A-Z]{3}-[0-9]+) <\2>` \| ([^|]+) \| (yes|no) \| ([^|]+) \|$"
)


def test_the_kinds_table_and_the_spec_name_the_same_kinds() -> None:
    # spec/proofs.md, "The kinds of obligation", is the table kinds.KINDS holds:
    # the same kinds, rules, placements, reliance and meanings, in order.
    text = (Path(__file__).parent.parent / "spec" / "proofs.md").read_text()
    section = text.split("### The kinds of obligation", 1)[1].split("\n## ", 1)[0]
    rows = [m.groups() for line in section.splitlines() if (m := _KIND_ROW.match(line))]
    expected = [
        (k.name, k.rule, k.placement.value, "yes" if k.relies_on_acceptance else "no", k.meaning)
        for k in KINDS.values()
    ]
    assert rows == expected


def test_each_slice_runs_the_kinds_the_table_places_there() -> None:
    # _check_case reads the placement from kinds.KINDS: with three slices the
    # acceptance obligation is in the first, the rejections in the second, the
    # preconditions in the last, and no slice runs a kind placed elsewhere.
    case = next(c for c in CASES if c.name == "deposit-quote")
    parts = 3
    for index in range(parts):
        kinds = {r.kind for r in check_case(case, PARAMS, part=(index, parts))}
        placed = {name for name, kind in KINDS.items() if kind.placement is not Placement.SPREAD}
        assert {name for name in placed if KINDS[name].placement.runs_in(index, parts)} == kinds & placed
