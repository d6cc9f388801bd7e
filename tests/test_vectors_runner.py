"""The conformance runner (spec: vectors.md, VEC-6, VEC-7; implementers.md).

The reference passes a small suite through the runner protocol; fake
implementations (small Python scripts in tmp_path that wrap the reference and
misbehave on one case) crash, hang, print garbage, answer the wrong seq, a
wrong state or a wrong code, and each is reported with its verdict, kind and
first differing path while the run goes on with the next case.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]

from clearspec_tools.cli import main
from clearspec_tools.vectors import schemas
from clearspec_tools.vectors.adapter import respond
from clearspec_tools.vectors.case import ParamsCache
from clearspec_tools.vectors.cli import reference_command
from clearspec_tools.vectors.codec import digest
from clearspec_tools.vectors.compare import (
    MISSING,
    Answer,
    check_shape,
    expected_answer,
    first_difference,
    json_difference,
)
from clearspec_tools.vectors.protocol import Implementation, ProtocolFailure, split_command
from clearspec_tools.vectors.runner import (
    Report,
    Suite,
    SuiteError,
    load_suite,
    run_suite,
    select,
    text_report,
)
from clearspec_tools.vectors.samples import sample_cases, write_bundle
from clearspec_tools.vectors.validate import validate_suite

DEPOSIT = "sample/basic/00-deposit"  # alice deposits 10,000 USDC: accepted
REFUSED_WITHDRAWAL = "sample/basic/08-withdraw"  # MARGIN_INSUFFICIENT
WHOLE = "sample/basic/whole"


@pytest.fixture(scope="module")
def cases() -> list[dict[str, Any]]:
    """The basic scenario's cases and the wire cases: small and fast."""
    return [c for c in sample_cases() if c["id"].startswith(("sample/basic/", "sample/wire/"))]


@pytest.fixture(scope="module")
def bundle(cases: list[dict[str, Any]], tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_bundle(tmp_path_factory.mktemp("suite") / "bundle.jsonl", cases)


def by_id(report: Report) -> dict[str, Any]:
    return {r.id: r for r in report.results}


# A fake implementation: the reference, except on one case (argv[2]) where it
# misbehaves as argv[1] says.
FAKE = r"""
import json, sys, time
from clearspec_tools.vectors.adapter import respond
from clearspec_tools.vectors.case import ParamsCache

mode, target = sys.argv[1], sys.argv[2]
cache = ParamsCache()
for line in sys.stdin:
    message = json.loads(line)
    reply = respond(message, cache)
    if reply is None:
        break
    if (message.get("case") or {}).get("id") == target:
        if mode == "crash":
            print("fake: about to fall over", file=sys.stderr, flush=True)
            sys.exit(3)
        if mode == "hang":
            time.sleep(600)
        if mode == "chatty":  # more than a pipe holds: the runner must drain stderr
            print("x" * 300_000, file=sys.stderr, flush=True)
        if mode == "garbage":
            print("this is not JSON", flush=True)
            continue
        if mode == "wrong-seq":
            reply["seq"] += 1
        if mode == "too-few-results":
            reply["results"] = reply["results"][:-1]
        if mode == "wrong-state":
            reply["results"][0]["post_state"]["accounts"]["alice"]["balances"]["USDC"] = "9999999999"
            del reply["results"][0]["post_digest"]
        if mode == "wrong-digest":
            reply["results"][0]["post_digest"] = "0" * 64
        if mode == "wrong-error":
            reply["results"][0]["error"] = "INSUFFICIENT_BALANCE"
        if mode == "accepts":
            reply["results"][0] = {"accepted": True, "post_state": {}, "detail": "looked fine to me"}
        if mode == "skip":
            reply = {"seq": message["seq"], "skipped": "no withdrawals yet"}
    print(json.dumps(reply), flush=True)
"""


def fake(tmp_path: Path, mode: str, target: str) -> list[str]:
    script = tmp_path / "fake_impl.py"
    script.write_text(FAKE)
    return [sys.executable, str(script), mode, target]


def run_fake(
    tmp_path: Path, bundle: Path, mode: str, target: str, timeout: float = 10.0
) -> tuple[Report, dict[str, Any]]:
    report = run_suite(load_suite(bundle), fake(tmp_path, mode, target), timeout=timeout)
    return report, by_id(report)


def assert_others_passed(report: Report, target: str) -> None:
    """The runner survived: every other case was run, and passed."""
    others = [r for r in report.results if r.id != target]
    assert others and all(r.verdict == "passed" for r in others), [r.to_json() for r in others]
    assert report.not_run == 0


# --- the reference ----------------------------------------------------------------------------


def test_vec6_reference_passes_every_case(bundle: Path, cases: list[dict[str, Any]]) -> None:
    report = run_suite(load_suite(bundle), reference_command())
    assert [r.verdict for r in report.results] == ["passed"] * len(cases)
    assert report.ok and report.starts == 1
    assert report.implementation["name"] == "clearspec-reference"
    summary = report.summary()
    assert summary["passed"] == summary["total"] == len(cases)
    assert summary["cases_per_second"] > 0


def test_vec7_cli_reference_json_summary_and_exit_code(
    bundle: Path, cases: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["vectors", "run", "--reference", str(bundle), "--json"]) == 0
    captured = capsys.readouterr()
    summary = json.loads(captured.out)
    assert summary["passed"] == len(cases) and summary["failed"] == summary["errors"] == 0
    assert summary["failures"] == []
    assert "[vectors]" in captured.err  # progress on stderr


def test_cli_only_selects_cases(bundle: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["vectors", "run", "--reference", str(bundle), "--only", "sample/wire/*", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["total"] == 4
    assert main(["vectors", "run", "--reference", str(bundle), "--only", "no-such-case"]) == 2


# --- misbehaving implementations ----------------------------------------------------------------


def test_vec7_crash_is_an_error_with_stderr_and_the_run_goes_on(tmp_path: Path, bundle: Path) -> None:
    report, results = run_fake(tmp_path, bundle, "crash", DEPOSIT)
    crashed = results[DEPOSIT]
    assert (crashed.verdict, crashed.kind) == ("error", "crash")
    assert "status 3" in (crashed.detail or "")
    assert "fake: about to fall over" in crashed.stderr
    assert crashed.rules == ["COL-3", "STA-1"]
    assert_others_passed(report, DEPOSIT)
    assert report.starts == 2  # restarted once
    assert not report.ok


def test_vec7_hang_is_killed_after_the_timeout(tmp_path: Path, bundle: Path) -> None:
    report, results = run_fake(tmp_path, bundle, "hang", DEPOSIT, timeout=1.0)
    hung = results[DEPOSIT]
    assert (hung.verdict, hung.kind) == ("error", "hang")
    assert "1 s" in (hung.detail or "")
    assert_others_passed(report, DEPOSIT)


def test_vec6_a_chatty_stderr_does_not_stall_the_exchange(tmp_path: Path, bundle: Path) -> None:
    report, _ = run_fake(tmp_path, bundle, "chatty", DEPOSIT, timeout=20.0)
    assert report.ok


def test_vec7_garbage_is_an_error(tmp_path: Path, bundle: Path) -> None:
    report, results = run_fake(tmp_path, bundle, "garbage", DEPOSIT)
    assert (results[DEPOSIT].verdict, results[DEPOSIT].kind) == ("error", "garbage")
    assert "this is not JSON" in (results[DEPOSIT].detail or "")
    assert_others_passed(report, DEPOSIT)


@pytest.mark.parametrize(
    ("mode", "words"), [("wrong-seq", "seq"), ("too-few-results", "results for")], ids=["seq", "count"]
)
def test_vec7_wrong_shape_is_an_error(tmp_path: Path, bundle: Path, mode: str, words: str) -> None:
    report, results = run_fake(tmp_path, bundle, mode, WHOLE)
    assert (results[WHOLE].verdict, results[WHOLE].kind) == ("error", "bad-shape")
    assert words in (results[WHOLE].detail or "")
    assert_others_passed(report, WHOLE)


def test_vec7_wrong_state_names_the_first_differing_path(tmp_path: Path, bundle: Path) -> None:
    report, results = run_fake(tmp_path, bundle, "wrong-state", DEPOSIT)
    failed = results[DEPOSIT].to_json()
    assert failed["verdict"] == "failed"
    assert failed["path"] == "results[0].post_state.accounts.alice.balances.USDC"
    assert (failed["expected"], failed["actual"]) == (str(10_000 * 10**6), "9999999999")
    assert (failed["step"], failed["action"]) == (0, "deposit")
    assert failed["expected_digest"] != failed["actual_digest"]
    assert failed["rules"] == ["COL-3", "STA-1"]
    assert_others_passed(report, DEPOSIT)
    text = text_report(report)
    assert f"FAIL {DEPOSIT} [COL-3, STA-1]" in text
    assert "step 0 (deposit): results[0].post_state.accounts.alice.balances.USDC" in text


def test_vec2_right_state_with_a_wrong_digest_fails_on_the_digest(tmp_path: Path, bundle: Path) -> None:
    _, results = run_fake(tmp_path, bundle, "wrong-digest", DEPOSIT)
    failed = results[DEPOSIT].to_json()
    assert (failed["verdict"], failed["path"], failed["actual"]) == (
        "failed",
        "results[0].post_digest",
        "0" * 64,
    )


def test_vec7_wrong_error_code_is_a_failure(tmp_path: Path, bundle: Path) -> None:
    report, results = run_fake(tmp_path, bundle, "wrong-error", REFUSED_WITHDRAWAL)
    failed = results[REFUSED_WITHDRAWAL].to_json()
    assert (failed["path"], failed["expected"], failed["actual"]) == (
        "results[0].error",
        "MARGIN_INSUFFICIENT",
        "INSUFFICIENT_BALANCE",
    )
    assert_others_passed(report, REFUSED_WITHDRAWAL)


def test_vec7_accepting_what_must_be_rejected_is_a_failure_with_the_detail(
    tmp_path: Path, bundle: Path
) -> None:
    _, results = run_fake(tmp_path, bundle, "accepts", REFUSED_WITHDRAWAL)
    failed = results[REFUSED_WITHDRAWAL].to_json()
    assert (failed["path"], failed["expected"], failed["actual"]) == (
        "results[0].accepted",
        "rejected MARGIN_INSUFFICIENT",
        "accepted",
    )
    assert failed["detail"] == "looked fine to me"


def test_vec7_skipped_is_counted_and_fails_the_exit_status(
    tmp_path: Path, bundle: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    command = " ".join(fake(tmp_path, "skip", REFUSED_WITHDRAWAL))
    assert main(["vectors", "run", "--impl", command, str(bundle), "--json", "--quiet"]) == 1
    summary = json.loads(capsys.readouterr().out)
    assert (summary["skipped"], summary["failed"], summary["errors"]) == (1, 0, 0)
    assert summary["failures"][0]["detail"] == "no withdrawals yet"


def test_cli_exit_1_on_failure_with_text_report(
    tmp_path: Path, bundle: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    command = " ".join(fake(tmp_path, "wrong-error", REFUSED_WITHDRAWAL))
    assert main(["vectors", "run", "--impl", command, str(bundle), "--quiet"]) == 1
    out = capsys.readouterr().out
    assert f"FAIL {REFUSED_WITHDRAWAL}" in out and "1 failed" in out


def test_max_failures_stops_the_run(tmp_path: Path, bundle: Path) -> None:
    suite = load_suite(bundle)
    report = run_suite(suite, fake(tmp_path, "crash", suite.cases[0]["id"]), max_failures=1)
    assert len(report.results) == 1 and report.not_run == len(suite.cases) - 1
    assert report.aborted and "max-failures" in report.aborted


def test_an_implementation_that_never_starts_is_exit_2(
    tmp_path: Path, bundle: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "no-such-binary"
    assert main(["vectors", "run", "--impl", str(missing), str(bundle), "--json", "--quiet"]) == 2
    summary = json.loads(capsys.readouterr().out)
    assert summary["error_kinds"] == {"start": 3} and summary["aborted"]
    assert summary["not_run"] == summary["total"] - 3


def test_a_bad_hello_is_a_start_error(tmp_path: Path, bundle: Path) -> None:
    script = tmp_path / "rude.py"
    script.write_text("import sys\nsys.stdin.readline()\nprint('{\"hello\": false}', flush=True)\n")
    report = run_suite(load_suite(bundle), [sys.executable, str(script)])
    assert [r.kind for r in report.results] == ["start"] * 3
    assert "hello" in (report.results[0].detail or "")


def test_a_missing_suite_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["vectors", "run", "--reference", str(tmp_path / "nowhere")]) == 2
    assert "no such file" in capsys.readouterr().err


# --- the protocol and the comparison, piece by piece ------------------------------------------


def test_split_command_refuses_bad_quoting() -> None:
    assert split_command("node 'my adapter.js' --fast") == ["node", "my adapter.js", "--fast"]
    with pytest.raises(ValueError, match="cannot split"):
        split_command("node 'unclosed")
    with pytest.raises(ValueError, match="empty"):
        split_command("   ")


def test_implementation_answers_and_detects_a_closed_output(tmp_path: Path) -> None:
    script = tmp_path / "once.py"
    script.write_text(
        "import sys\nsys.stdin.readline()\n"
        'print(\'{"hello": true, "protocol": 1, "implementation": {"name": "once"}}\', flush=True)\n'
        "sys.stdin.readline()\nsys.stdout.close()\nimport time\ntime.sleep(0.2)\n"
    )
    impl = Implementation([sys.executable, str(script)])
    assert impl.start("0", 30)["implementation"]["name"] == "once"
    with pytest.raises(ProtocolFailure) as failure:
        impl.request({"cmd": "run", "seq": 0, "case": {}}, 10)
    assert failure.value.kind == "crash"
    impl.stop()
    assert not impl.running


def test_check_shape_refuses_what_is_not_an_answer() -> None:
    good = {"seq": 4, "results": [{"accepted": False, "error": "X"}]}
    assert check_shape(good, 4, 1).results == good["results"]
    bad: list[dict[str, Any]] = [
        {"seq": "4", "results": []},
        {"seq": 4, "results": [], "error": "X"},
        {"seq": 4},
        {"seq": 4, "results": [{"accepted": "yes"}]},
        {"seq": 4, "results": [{"accepted": True}]},
        {"seq": 4, "results": [{"accepted": False}]},
        {"seq": 4, "results": [{"accepted": False, "error": "X", "extra": 1}]},
        {"seq": 4, "results": [{"accepted": False, "error": "X"}], "extra": 1},
        {"seq": 4, "error": 7},
        {"seq": True, "error": "X"},
    ]
    for message in bad:
        with pytest.raises(ProtocolFailure) as failure:
            check_shape(message, 4, 1)
        assert failure.value.kind == "bad-shape", message


def test_json_difference_finds_the_first_path_in_key_order() -> None:
    expected = {"a": {"x": "1", "y": ["1", "2"]}, "b": "3", "c.d": "4"}
    assert json_difference(expected, {**expected, "b": "4"}, "$") == ("$.b", "3", "4")
    assert json_difference(expected, {**expected, "a": {"x": "1", "y": ["1"]}}, "$") == (
        "$.a.y[1]",
        "2",
        MISSING,
    )
    assert json_difference(expected, {"a": expected["a"], "b": "3"}, "$") == ('$["c.d"]', "4", MISSING)
    assert json_difference(expected, {**expected, "e": "5"}, "$") == ("$.e", MISSING, "5")
    assert json_difference({"a": "1"}, {"a": 1}, "$") == ("$.a", "1", 1)  # a JSON number is not a string


def test_case_level_refusal_is_compared_as_the_error(cases: list[dict[str, Any]]) -> None:
    refused = next(c for c in cases if "expected_error" in c)
    want = expected_answer(refused)
    assert first_difference(want, Answer(error=refused["expected_error"])) is None
    difference = first_difference(want, Answer(results=[]))
    assert difference is not None and difference.path == "error"
    assert difference.expected == f"refused {refused['expected_error']}"


# --- suites, schemas and the adapter ----------------------------------------------------------


def test_load_suite_reports_a_broken_case(tmp_path: Path) -> None:
    broken = tmp_path / "bundle.jsonl"
    broken.write_text('{"id": "x"}\n')
    with pytest.raises(SuiteError, match="missing field"):
        load_suite(broken)
    broken.write_text("{not json\n")
    with pytest.raises(SuiteError, match="not JSON"):
        load_suite(broken)
    with pytest.raises(SuiteError, match=r"no bundle\.jsonl or index\.json"):
        load_suite(tmp_path / "..")


def test_select_by_glob_or_substring(cases: list[dict[str, Any]]) -> None:
    assert {c["id"] for c in select(cases, "sample/wire/*")} == {
        c["id"] for c in cases if "/wire/" in c["id"]
    }
    assert [c["id"] for c in select(cases, "08-with")] == [REFUSED_WITHDRAWAL]


def test_vec1_shipped_schemas_are_current_and_valid() -> None:
    for name, build in schemas.BUILDERS.items():
        assert schemas.shipped_text(name) == schemas.render(build()), (
            "run python -m clearspec_tools.vectors.schemas"
        )
        Draft202012Validator.check_schema(schemas.load(name))


def test_vec1_sample_cases_validate_and_a_json_number_does_not(cases: list[dict[str, Any]]) -> None:
    validator = Draft202012Validator(schemas.load(schemas.CASE_SCHEMA))
    for case in cases:
        assert not list(validator.iter_errors(case)), case["id"]
    broken = json.loads(json.dumps(next(c for c in cases if c["id"] == DEPOSIT)))
    broken["steps"][0]["action"]["amount"] = 5
    assert list(validator.iter_errors(broken))
    refused = json.loads(json.dumps(next(c for c in cases if "expected_error" in c)))
    refused["steps"] = [broken["steps"][0]]  # a refused case has no steps
    assert list(validator.iter_errors(refused))


def test_vec6_adapter_messages_fit_the_protocol_schema(cases: list[dict[str, Any]]) -> None:
    validator = Draft202012Validator(schemas.load(schemas.PROTOCOL_SCHEMA))
    cache = ParamsCache()
    hello = respond({"cmd": "hello", "protocol": 1, "suite_version": "0"}, cache)
    assert hello is not None and not list(validator.iter_errors(hello))
    for seq, case in enumerate(cases):
        request = {
            "cmd": "run",
            "seq": seq,
            "case": {
                "id": case["id"],
                "params": case["params"],
                "pre_state": case["pre_state"],
                "actions": [s["action"] for s in case["steps"]],
            },
        }
        assert not list(validator.iter_errors(request))
        reply = respond(request, cache)
        assert reply is not None and not list(validator.iter_errors(reply)), case["id"]
    assert respond({"cmd": "stop"}, cache) is None
    assert respond({"cmd": "dance", "seq": 1}, cache) == {
        "seq": 1,
        "error": "MALFORMED_INPUT",
        "detail": "unknown cmd 'dance'",
    }


def test_adapter_process_answers_garbage_requests_and_goes_on() -> None:
    import subprocess

    lines = ["not json", json.dumps({"cmd": "run", "seq": 3, "case": 5}), json.dumps({"cmd": "stop"})]
    done = subprocess.run(
        reference_command(), input="\n".join(lines) + "\n", capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    answers = [json.loads(line) for line in done.stdout.splitlines()]
    assert answers == [
        {"seq": None, "error": "MALFORMED_INPUT", "detail": "a request line is one JSON object"},
        {"seq": 3, "error": "MALFORMED_INPUT"},
    ]


def _served(data: bytes) -> tuple[int, list[dict[str, Any]]]:
    import io

    from clearspec_tools.vectors.adapter import serve

    out = io.BytesIO()
    status = serve(io.BytesIO(data), out)
    return status, [json.loads(line) for line in out.getvalue().splitlines()]


def test_adapter_refuses_a_request_line_over_the_runners_line_limit_and_stops() -> None:
    from clearspec_tools.vectors.protocol import MAX_LINE

    hello = json.dumps({"cmd": "hello", "protocol": 1}).encode() + b"\n"
    # One byte over the limit before the newline: refused, and the hello after it never read.
    status, answers = _served(b"[" * (MAX_LINE + 1) + b"\n" + hello)
    assert status == 2
    assert answers == [
        {"seq": None, "error": "MALFORMED_INPUT", "detail": f"a request line longer than {MAX_LINE} bytes"}
    ]
    # At the limit: read whole (not JSON, so refused as such), and the exchange goes on.
    status, answers = _served(b" " * MAX_LINE + b"\n" + hello)
    assert status == 0
    assert answers[0]["detail"] == "a request line is one JSON object"
    assert answers[1]["hello"] is True


def test_adapter_process_exits_2_on_an_endless_request_line() -> None:
    import subprocess

    from clearspec_tools.vectors.protocol import MAX_LINE

    done = subprocess.run(reference_command(), input=b"x" * (MAX_LINE + 10), capture_output=True, timeout=60)
    assert done.returncode == 2
    assert json.loads(done.stdout)["error"] == "MALFORMED_INPUT"
    assert b"request line longer than" in done.stderr and b"Traceback" not in done.stderr


def _write_suite_dir(folder: Path, cases: list[dict[str, Any]]) -> None:
    """The VEC-1 layout, as the generator writes it."""
    entries = []
    for case in cases:
        data = (json.dumps(case, sort_keys=True, indent=1) + "\n").encode("ascii")
        relative = f"cases/{case['id']}.json"
        (folder / relative).parent.mkdir(parents=True, exist_ok=True)
        (folder / relative).write_bytes(data)
        entries.append(
            {
                "id": case["id"],
                "path": relative,
                "rules": case["rules"],
                "description": case["description"],
                "source": case["source"],
                "sha256": hashlib.sha256(data).hexdigest(),
            }
        )
    index = {"format": "clearspec-vectors/1", "suite_version": cases[0]["suite_version"], "count": len(cases)}
    (folder / "index.json").write_text(json.dumps({**index, "cases": entries}, indent=1))
    write_bundle(folder / "bundle.jsonl", cases)
    (folder / "schema").mkdir()
    (folder / "schema" / schemas.CASE_SCHEMA).write_text(schemas.shipped_text(schemas.CASE_SCHEMA))


def test_vec1_validate_accepts_a_suite_and_finds_a_tampered_file(
    tmp_path: Path, cases: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    _write_suite_dir(tmp_path, cases)
    assert validate_suite(tmp_path) == ([], len(cases))
    assert main(["vectors", "validate", str(tmp_path), "--quiet"]) == 0
    # Directory layout without the bundle: the runner reads index.json and the case files.
    shutil.copy(tmp_path / "bundle.jsonl", tmp_path / "bundle.keep")
    (tmp_path / "bundle.jsonl").unlink()
    assert len(load_suite(tmp_path).cases) == len(cases)
    shutil.move(tmp_path / "bundle.keep", tmp_path / "bundle.jsonl")
    target = tmp_path / f"cases/{DEPOSIT}.json"
    case = json.loads(target.read_text())
    case["steps"][0]["expected"]["post_state"]["now"] = "1"
    target.write_text(json.dumps(case, sort_keys=True, indent=1) + "\n")
    problems, _ = validate_suite(tmp_path)
    joined = "\n".join(problems)
    assert "SHA-256" in joined and "post_digest is not the digest" in joined and "bundle.jsonl:" in joined
    assert main(["vectors", "validate", str(tmp_path), "--quiet"]) == 1
    assert "problems" in capsys.readouterr().out


def test_vec2_sample_digests_are_the_digests_of_the_states(cases: list[dict[str, Any]]) -> None:
    for case in cases:
        for s in case["steps"]:
            if s["expected"]["accepted"]:
                assert s["expected"]["post_digest"] == digest(s["expected"]["post_state"])


def test_suite_dataclass_keeps_the_version(bundle: Path) -> None:
    suite = load_suite(bundle)
    assert isinstance(suite, Suite) and suite.suite_version == suite.cases[0]["suite_version"]


def test_jobs_run_side_by_side_and_keep_the_suite_order(tmp_path: Path, bundle: Path) -> None:
    suite = load_suite(bundle)
    report = run_suite(suite, fake(tmp_path, "wrong-error", REFUSED_WITHDRAWAL), jobs=3)
    assert [r.id for r in report.results] == [c["id"] for c in suite.cases]
    assert [r.id for r in report.results if r.verdict != "passed"] == [REFUSED_WITHDRAWAL]
    assert report.starts == 3


def test_implementers_guide_python_adapter_passes(tmp_path: Path, bundle: Path) -> None:
    """The guide's minimal adapter (spec/implementers.md) runs as printed and passes."""
    guide = (Path(__file__).resolve().parent.parent / "spec" / "implementers.md").read_text()
    section = guide.split("### A minimal adapter in Python", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    script = tmp_path / "adapter.py"
    script.write_text(code)
    report = run_suite(load_suite(bundle), [sys.executable, str(script)])
    assert report.ok, [r.to_json() for r in report.results if r.verdict != "passed"]
    assert report.implementation["name"] == "my-clearing"
