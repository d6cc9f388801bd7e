"""The conformance runner is bounded (spec: vectors.md, VEC-6, VEC-7).

Hostile implementations: one forks a child that keeps the pipes open and exits,
one floods standard error, one writes an endless line, and some answer a case
twice: the last, an earlier one, or twice in one write. Each ends its case with
its own verdict, the right case is blamed, the runner returns well within the
timeout and keeps only a bounded tail of what it read.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from clearspec_tools.vectors.protocol import MAX_LINE, STDERR_TAIL, Implementation
from clearspec_tools.vectors.runner import Report, load_suite, run_suite
from clearspec_tools.vectors.samples import sample_cases, write_bundle

FIRST = "sample/basic/00-deposit"
SECOND = "sample/basic/01-deposit"


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cases = [c for c in sample_cases() if c["id"].startswith("sample/basic/0")][:4]
    assert [c["id"] for c in cases][:2] == [FIRST, SECOND]
    return write_bundle(tmp_path_factory.mktemp("suite") / "bundle.jsonl", cases)


# The reference, except on the case argv[2], where it misbehaves as argv[1] says.
HOSTILE = r"""
import json, os, sys, time
from clearspec_tools.vectors.adapter import respond
from clearspec_tools.vectors.case import ParamsCache

mode, target = sys.argv[1], sys.argv[2]
cache = ParamsCache()
out = sys.stdout
for line in sys.stdin:
    message = json.loads(line)
    reply = respond(message, cache)
    if reply is None:
        if mode == "twice-at-stop":
            print(json.dumps(last), flush=True)
        break
    text = json.dumps(reply)
    if (message.get("case") or {}).get("id") == target:
        if mode == "fork-and-exit":
            child = os.fork()
            if child == 0:  # the child keeps stdout and stderr open, silent
                time.sleep(600)
                os._exit(0)
            with open(os.environ["CHILD_PID_FILE"], "w") as f:
                f.write(str(child))
            os._exit(0)
        if mode == "stderr-flood":
            chunk = "e" * 65536 + "\n"
            for _ in range(160):  # 10 MiB
                sys.stderr.write(chunk)
            sys.stderr.write("the last words\n")
            sys.stderr.flush()
        if mode == "endless-line":
            out.write("x" * (int(sys.argv[3]) + 10))
            out.flush()
            time.sleep(600)
        if mode == "twice-together":
            out.write(text + "\n" + text + "\n")
            out.flush()
            continue
        if mode == "twice-later":  # the copy arrives with the next answer
            pending = text
    elif mode == "twice-later" and "pending" in dir():
        out.write(pending + "\n")
        del pending
    last = reply
    print(text, flush=True)
"""


def hostile(tmp_path: Path, mode: str, target: str, *extra: str) -> list[str]:
    script = tmp_path / "hostile_impl.py"
    script.write_text(HOSTILE)
    return [sys.executable, str(script), mode, target, *extra]


def run(tmp_path: Path, bundle: Path, mode: str, target: str, *extra: str, timeout: float = 20.0) -> Report:
    env = {**os.environ, "CHILD_PID_FILE": str(tmp_path / "child.pid")}
    return run_suite(load_suite(bundle), hostile(tmp_path, mode, target, *extra), timeout=timeout, env=env)


def verdicts(report: Report) -> dict[str, tuple[str, str | None]]:
    return {r.id: (r.verdict, r.kind) for r in report.results}


def others_passed(report: Report, *blamed: str) -> bool:
    return all(r.verdict == "passed" for r in report.results if r.id not in blamed) and report.not_run == 0


def test_a_forked_child_holding_the_pipes_is_a_crash_not_a_block(tmp_path: Path, bundle: Path) -> None:
    # The timeout is far beyond the test's life: "crash" rather than "hang" shows the
    # runner saw the adapter exit and did not wait on the pipes its child holds.
    report = run(tmp_path, bundle, "fork-and-exit", FIRST, timeout=3600.0)
    assert verdicts(report)[FIRST] == ("error", "crash")
    assert "exited" in (report.results[0].detail or "")
    assert others_passed(report, FIRST)
    assert not running(int((tmp_path / "child.pid").read_text()))  # the whole group was killed


def test_stderr_is_kept_as_a_bounded_tail(tmp_path: Path, bundle: Path) -> None:
    impl = Implementation(hostile(tmp_path, "stderr-flood", FIRST))
    try:
        impl.start("x", 60.0)
        case = next(c for c in load_suite(bundle).cases if c["id"] == FIRST)
        from clearspec_tools.vectors.runner import run_case

        result = run_case(impl, 0, case, 60.0)
        assert result.verdict == "passed"
        tail = impl.stderr_tail()
        assert tail[-1] == "the last words"
        assert len(impl._stderr) <= STDERR_TAIL  # 10 MiB written, 64 KiB kept
    finally:
        impl.stop()


def test_an_endless_line_is_oversize_not_a_hang(tmp_path: Path, bundle: Path) -> None:
    report = run(tmp_path, bundle, "endless-line", FIRST, str(MAX_LINE), timeout=300.0)
    assert verdicts(report)[FIRST] == ("error", "oversize")
    assert others_passed(report, FIRST)


@pytest.mark.parametrize("mode", ["twice-together", "twice-later"])
def test_a_case_answered_twice_is_blamed_not_the_next(tmp_path: Path, bundle: Path, mode: str) -> None:
    report = run(tmp_path, bundle, mode, FIRST)
    assert verdicts(report)[FIRST] == ("error", "duplicate")
    assert verdicts(report)[SECOND] == ("passed", None)  # the innocent next case
    assert others_passed(report, FIRST)
    assert not report.ok


def test_the_last_case_answered_twice_is_caught(tmp_path: Path, bundle: Path) -> None:
    report = run(tmp_path, bundle, "twice-at-stop", FIRST)
    last = report.results[-1]
    assert (last.verdict, last.kind) == ("error", "duplicate")
    assert others_passed(report, last.id)
    assert not report.ok


def running(pid: int) -> bool:
    """The process exists and is not a zombie waiting for its reaper."""
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


@pytest.mark.parametrize("version", [[], {}, 1, None])
def test_a_case_whose_suite_version_is_not_text_is_refused_by_line(
    tmp_path: Path, bundle: Path, version: object
) -> None:
    from clearspec_tools.vectors.runner import SuiteError

    case = json.loads(bundle.read_text().splitlines()[0])
    case["suite_version"] = version
    broken = tmp_path / "bundle.jsonl"
    broken.write_text(json.dumps(case) + "\n")
    with pytest.raises(SuiteError, match=r"bundle.jsonl:1: suite_version must be a string"):
        load_suite(broken)


def test_a_suite_path_over_255_bytes_is_not_there(tmp_path: Path) -> None:
    from clearspec_tools.vectors.runner import SuiteError

    with pytest.raises(SuiteError, match="no such file or directory"):
        load_suite(tmp_path / ("x" * 300))
