"""PRF-2: every kind of counterexample is one record, saved, printed and replayed,
minimised to small values, with the fields its broken condition reads.

Each kind gets a planted bug (a monkeypatched model function, or a designer's
invariant) on a cheap transition, narrowed with ``goal_filter``, so each test
takes seconds. The saved file of a counterexample that has a state is also a
conformance case: the generator loads it and the reference answers it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import icontract
import pytest

from clearspec import collateral, transition
from clearspec import kernel as k
from clearspec.actions import Deposit, Transfer
from clearspec.errors import ErrorCode
from clearspec.invariants import set_slow_checks, slow_checks
from clearspec.state import Ledger
from clearspec_proofs import lemmas
from clearspec_proofs.counterexample import (
    VECTOR_CODEC_ENV,
    Counterexample,
    Obligation,
    record,
    run_model,
    vector_input,
)
from clearspec_proofs.engine import Result, check_case, check_lemmas
from clearspec_proofs.invariants import register_invariant, unregister_invariant
from clearspec_proofs.minimise import MINIMISE_ENV
from clearspec_proofs.report import print_table, save_counterexamples
from clearspec_proofs.transitions import CASES
from clearspec_tools.examples import example_genesis, example_params
from clearspec_tools.vectors.case import answer
from clearspec_tools.vectors.codec import encode_action
from clearspec_tools.vectors.counterexample import CODEC_NAME
from clearspec_tools.vectors.generate import counterexample_drafts

PARAMS = example_params()
RECORD_KEYS = set(Counterexample.__annotations__)


def _case(name: str) -> Any:
    return next(c for c in CASES if c.name == name)


def _failed(results: list[Result]) -> dict[str, Result]:
    return {r.id: r for r in results if r.status == "counterexample"}


def _shown(results: list[Result], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    """Save, print (table and JSON) and return the table; every counterexample
    must be a complete record and its file written."""
    as_json = [r.as_json() for r in results]
    saved = save_counterexamples(as_json, tmp_path)
    failed = [r for r in results if r.counterexample is not None]
    assert failed and len(saved) == len(failed)
    for result in failed:
        assert result.counterexample is not None and set(result.counterexample) == RECORD_KEYS
        assert (
            result.counterexample["obligation"] == result.id and result.counterexample["kind"] == result.kind
        )
    for path in saved:
        content = json.loads(path.read_text())
        assert {"obligation", "rule", "kind", "confirmed", "how", "action", "fields"} <= set(content)
    json.dumps(as_json)  # what `clearspec prove --json` prints
    summary = {
        "proved": sum(r.status == "proved" for r in results),
        "total": len(results),
        "counterexample": len(failed),
        "unknown": 0,
        "seconds": 0.0,
        "counterexample_files": [str(p) for p in saved],
    }
    capsys.readouterr()
    print_table(as_json, summary)
    table = capsys.readouterr().out
    for result in failed:
        assert f"COUNTEREXAMPLE: {result.id}" in table
    return table


def _replayed(folder: Path, ident: str) -> dict[str, Any]:
    """The saved file as the vector generator loads it, answered by the reference."""
    drafts = {d.source: d for d in counterexample_drafts(folder)}
    draft = drafts[f"counterexample:{ident}"]
    case = {
        "id": draft.id,
        "params": draft.params,
        "pre_state": draft.pre_state,
        "actions": list(draft.actions),
    }
    reply = answer(case)
    assert "results" in reply, reply
    return reply


def test_goal_kinds_inductive_delta_sum_and_contract(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Planted bug: a deposit credits the account but does not count the net deposit.
    monkeypatch.setattr(collateral, "add_to", lambda totals, key, delta: totals)
    results = check_case(_case("deposit-quote"), PARAMS, goal_filter="deposit-quote/")
    failed = _failed(results)
    kinds = {r.kind for r in failed.values()}
    assert {"inductive", "delta-sum", "contract"} <= kinds
    table = _shown(results, tmp_path, capsys)
    conservation = failed["deposit-quote/inductive/conservation[USDC]"].counterexample
    assert conservation is not None and conservation["confirmed"]
    assert conservation["minimised"] and conservation["action"] == "deposit 1 USDC to a0"
    own = {f["field"] for f in conservation["fields"] if f["in_condition"]}
    assert {"net_deposits[USDC]", "a0.balance[USDC]", "amount"} <= own
    assert "confirmed by replay: a contract failed" in table
    monkeypatch.undo()
    # The real deposit is accepted on the saved state: a regression vector.
    reply = _replayed(tmp_path, "deposit-quote/inductive/conservation[USDC]")
    assert [r["accepted"] for r in reply["results"]] == [True]


def test_frame_kind(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Planted bug: a deposit to a0 also credits a2, an account it does not name.
    # Traced with the slow checks off (else apply's global frame contract stops
    # the trace), so the frame obligation must catch it; the replay runs with
    # every check on and confirms it.
    real = collateral.deposit

    def leaking(ledger: Ledger, action: Deposit) -> Ledger:
        after = real(ledger, action)
        a2 = after.accounts["a2"]
        moved = replace(a2, balances=a2.balances.set(action.asset, a2.balance(action.asset) + 1))
        return replace(after, accounts=after.accounts.set("a2", moved))

    monkeypatch.setattr(transition, "deposit", leaking)
    previous = slow_checks()
    set_slow_checks(False)
    try:
        results = check_case(_case("deposit-quote"), PARAMS, goal_filter="deposit-quote/frame")
    finally:
        set_slow_checks(previous)
    [frame] = results
    assert frame.kind == "frame" and frame.status == "counterexample"
    example = frame.counterexample
    assert example is not None and example["confirmed"] and example["how"] == "a contract failed"
    assert "a2.balance[USDC]" in {f["field"] for f in example["fields"] if f["in_condition"]}
    _shown(results, tmp_path, capsys)
    monkeypatch.undo()
    reply = _replayed(tmp_path, frame.id)
    assert reply["results"][0]["accepted"] is True


def test_rejection_kind(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Planted bug (STA-2): a rejected action still moves the withdrawal gate.
    real = transition.step

    def leaky(ledger: Ledger, action: Any) -> transition.Outcome:
        outcome = real(ledger, action)
        if outcome.error is None:
            return outcome
        return transition.Outcome(replace(ledger, gate_until=ledger.gate_until + 1), outcome.error)

    monkeypatch.setattr(transition, "step", leaky)
    results = check_case(_case("deposit-quote"), PARAMS, goal_filter="deposit-quote/rejection")
    failed = _failed(results)
    ident = "deposit-quote/rejection/check 1 NON_POSITIVE_AMOUNT"
    example = failed[ident].counterexample
    assert example is not None and example["confirmed"]
    assert example["expected"] == example["got"] == "NON_POSITIVE_AMOUNT"
    assert example["diff"] == ["gate_until: 0 -> 1"]
    assert [f["field"] for f in example["fields"] if f["in_condition"]] == ["amount"]
    assert example["action"] == "deposit 0 USDC to a0"  # minimised: the largest amount that fails is 0
    table = _shown(results, tmp_path, capsys)
    assert "expected: NON_POSITIVE_AMOUNT; got: NON_POSITIVE_AMOUNT" in table
    monkeypatch.undo()
    reply = _replayed(tmp_path, ident)
    assert reply["results"] == [{"accepted": False, "error": "NON_POSITIVE_AMOUNT"}]


def test_always_rejected_kind_without_a_state(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Planted bug: a self-transfer is refused with the wrong code, decided while
    # tracing: a counterexample with no state, so no vector (it used to crash
    # the saving of counterexamples).
    real = collateral.transfer

    def wrong_code(ledger: Ledger, action: Transfer) -> Ledger:
        k.require(action.source != action.destination, ErrorCode.UNKNOWN_ACCOUNT, action.source)
        return real(ledger, action)

    monkeypatch.setattr(transition, "transfer", wrong_code)
    results = check_case(_case("transfer-self"), PARAMS, goal_filter="transfer-self/rejection/always")
    [result] = results
    example = result.counterexample
    assert result.status == "counterexample" and example is not None
    assert example["vector"] is None and example["confirmed"] is False
    assert (example["expected"], example["got"]) == ("SELF_TRANSFER", "UNKNOWN_ACCOUNT")
    table = _shown(results, tmp_path, capsys)
    assert "NOT confirmed by replay: expected SELF_TRANSFER, traced UNKNOWN_ACCOUNT" in table
    [path] = tmp_path.glob("*.json")
    assert "pre_state" not in json.loads(path.read_text())
    assert list(counterexample_drafts(tmp_path)) == []  # not a conformance case, and no crash


def test_never_accepted_kind(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Planted bug: a self-transfer is accepted (and touches its account once).
    monkeypatch.setattr(transition, "transfer", lambda ledger, action: ledger)
    each_once = lambda a: list(dict.fromkeys([a.source, a.destination]))  # noqa: E731
    monkeypatch.setattr(transition, "touched_accounts", each_once)
    from clearspec_proofs import engine

    monkeypatch.setattr(engine, "touched_accounts", each_once)
    results = check_case(_case("transfer-self"), PARAMS, goal_filter="transfer-self/rejection/always")
    [result] = results
    example = result.counterexample
    assert result.status == "counterexample" and example is not None and example["confirmed"]
    assert example["got"] == "acceptance" and example["vector"] is not None
    assert example["action"] == "transfer 0 USDC a0 -> a0"  # minimised
    _shown(results, tmp_path, capsys)
    monkeypatch.undo()
    reply = _replayed(tmp_path, result.id)
    assert reply["results"] == [{"accepted": False, "error": "SELF_TRANSFER"}]


def test_precondition_kind(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Planted bug: a deposit of zero is accepted.
    def loose(ledger: Ledger, asset: str, amount: int) -> None:
        k.require(asset in ledger.params.asset_by_id, ErrorCode.UNKNOWN_ASSET, asset)
        k.require(amount >= 0, ErrorCode.NON_POSITIVE_AMOUNT, str(amount))  # was > 0

    monkeypatch.setattr(collateral, "_check_amount", loose)
    results = check_case(_case("deposit-quote"), PARAMS, goal_filter="deposit-quote/precondition")
    ident = "deposit-quote/precondition/2 NON_POSITIVE_AMOUNT"
    example = _failed(results)[ident].counterexample
    assert example is not None and example["confirmed"]
    assert (example["expected"], example["got"], example["action"]) == (
        "NON_POSITIVE_AMOUNT",
        "acceptance",
        "deposit 0 USDC to a0",
    )
    assert "amount" in {f["field"] for f in example["fields"] if f["in_condition"]}
    _shown(results, tmp_path, capsys)
    monkeypatch.undo()
    reply = _replayed(tmp_path, ident)
    assert reply["results"] == [{"accepted": False, "error": "NON_POSITIVE_AMOUNT"}]


def test_lemma_kind(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Planted bug: the fee is rounded down, not up (TRD-5).
    monkeypatch.setattr(lemmas, "fill_fee", lambda n, rate: k.mul_div_floor(n, rate, 1_000_000))
    results = check_lemmas(PARAMS, pattern="lemma/TRD-5/fee-rounds-up")
    [result] = results
    example = result.counterexample
    assert result.status == "counterexample" and example is not None
    assert example["vector"] is None and example["before"] is None
    assert example["fields"] and all(f["after"] == "" for f in example["fields"])
    values = [int(f["before"]) for f in example["fields"] if f["before"].lstrip("-").isdigit()]
    assert values and max(abs(v) for v in values) < 10**7
    assert result.detail == "; ".join(f"{f['field']}={f['before']}" for f in example["fields"])
    table = _shown(results, tmp_path, capsys)
    assert "NOT confirmed by replay: a lemma has no concrete replay" in table


def _fund_within_deposits(ledger: Ledger) -> bool:
    return ledger.insurance_fund["USDC"] <= ledger.net_deposits["USDC"]


def test_minimising_shrinks_the_solvers_values(monkeypatch: pytest.MonkeyPatch) -> None:
    def shown(minimise: str) -> Counterexample:
        monkeypatch.setenv(MINIMISE_ENV, minimise)
        [result] = check_case(_case("withdraw-quote"), PARAMS, goal_filter="fund-within-deposits")
        assert result.counterexample is not None and result.counterexample["confirmed"]
        return result.counterexample

    def largest(example: Counterexample) -> int:
        values = [f[side] for f in example["fields"] for side in ("before", "after")]
        return max(abs(int(v)) for v in values if v)

    register_invariant("fund-within-deposits", "USER-1", _fund_within_deposits)
    try:
        unminimised, minimised, repeated = shown("0"), shown("1"), shown("1")
    finally:
        unregister_invariant("fund-within-deposits")
    assert unminimised["minimised"] == "" and minimised["minimised"]
    assert largest(minimised) < largest(unminimised) and largest(minimised) <= 10
    # The solver's first model differs from run to run in one process; the
    # minimised counterexample does not.
    assert {**repeated, "minimised": ""} == {**minimised, "minimised": ""}


def test_a_designers_invariant_shows_the_fund_and_both_accounts(tmp_path: Path) -> None:
    # The example of spec/proofs.md: the insurance fund within the net
    # deposits, broken by a withdrawal because another account owes the fund's
    # share. The printed counterexample must name the fund and both accounts,
    # with small numbers.
    module = tmp_path / "fund_rule.py"
    module.write_text(
        "from clearspec_proofs.invariants import register_invariant\n"
        "register_invariant('fund-within-deposits', 'USER-1',"
        " lambda ledger: ledger.insurance_fund['USDC'] <= ledger.net_deposits['USDC'])\n"
    )
    out = tmp_path / "out"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "clearspec_tools.cli",
            "prove",
            "--quiet",
            "--workers",
            "1",
            "--only",
            "withdraw-quote/inductive/fund-within-deposits",
            "--invariants",
            str(module),
            "--counterexamples",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 1, done.stderr
    table = done.stdout
    assert "confirmed by replay: fund-within-deposits is false after the action" in table
    rows = {
        m.group(1): (int(m.group(2)), m.group(3).strip())
        for m in re.finditer(r"^\s+\*?\s*(\S+\[\S+\])\s+(-?\d+)\s*(-?\d*)\s*$", table, re.MULTILINE)
    }
    assert {"insurance_fund[USDC]", "net_deposits[USDC]", "a0.balance[USDC]"} <= set(rows)
    debtors = [
        name
        for name, (before, _) in rows.items()
        if re.fullmatch(r"a[12]\.balance\[USDC\]", name) and before < 0
    ]
    assert debtors, table  # the other account whose debt makes the state possible
    printed = [value for before, after in rows.values() for value in (before, int(after or 0))]
    assert max(abs(n) for n in printed) < 10**12  # unminimised, the solver's values reach 10**32
    [saved] = out.glob("*.json")
    record = json.loads(saved.read_text())
    assert record["minimised"] and {f["field"] for f in record["fields"]} >= set(rows)


def test_the_committed_corpus_still_loads() -> None:
    drafts = list(counterexample_drafts())
    assert len(drafts) >= 5 and all(d.pre_state and d.actions for d in drafts)
    assert all("PRF-2" in d.extra_rules for d in drafts)


def test_the_vector_comes_from_the_codec_the_caller_names(monkeypatch: pytest.MonkeyPatch) -> None:
    # The prover knows no wire format: without a codec named, a counterexample
    # has no vector; with the command line's, it has the case's inputs (VEC-1).
    ledger = example_genesis(example_params())
    action = Deposit("alice", "USDC", 5)
    assert os.environ[VECTOR_CODEC_ENV] == CODEC_NAME  # as `clearspec prove` sets it
    given = vector_input(ledger, action)
    assert given is not None and given["actions"] == [encode_action(action)]
    monkeypatch.delenv(VECTOR_CODEC_ENV)
    assert vector_input(ledger, action) is None
    where = Obligation("x/inductive/y", "INV-1", "inductive", "x", "y")
    assert record(where, confirmed=False, how="", action=action, ledger=ledger)["vector"] is None


def test_a_broken_contracts_message_names_its_file_the_same_on_every_machine(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A saved counterexample's message names ``package/module.py``, not the
    folder this checkout happens to live in."""
    ledger = example_genesis()
    monkeypatch.setattr(transition, "step", _broken_step)
    violation = run_model(ledger, Deposit("alice", "USDC", 1), "step").violation
    assert violation.startswith("File tests/test_counterexamples.py, line "), violation
    assert os.sep + "tests" + os.sep not in violation


@icontract.ensure(lambda result: result is None, "planted: always broken")
def _broken_step(ledger: Ledger, action: Any) -> Any:
    return ledger
