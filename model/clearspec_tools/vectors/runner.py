"""``clearspec vectors run``: the suite against an implementation (spec: vectors.md, VEC-6, VEC-7).

The runner reads the suite (``bundle.jsonl`` when the directory has one, else
``index.json`` and the case files), starts the implementation, sends it each
case over the runner protocol and compares each answer with the case's
expectation. It survives every misbehaviour: a crash, a hang (the per-case
timeout), garbage or a wrong-shaped answer end that case with verdict
``error`` and the kind, and the implementation is restarted for the next case.
The comparing is all here; the implementation only executes.
"""

from __future__ import annotations

import fnmatch
import json
import os
import shlex
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clearspec_tools.inputs import (
    MAX_SUITE_FILE_BYTES,
    InputError,
    decode_utf8,
    load_json,
    parse_json,
    read_bytes,
)
from clearspec_tools.vectors.case import FORMAT, SUITE_VERSION
from clearspec_tools.vectors.compare import Difference, check_shape, expected_answer, first_difference, show
from clearspec_tools.vectors.protocol import KINDS, Implementation, ProtocolFailure

INDEX_FORMAT = "clearspec-vectors/1"
DEFAULT_TIMEOUT = 10.0
DEFAULT_START_TIMEOUT = 60.0
MAX_START_FAILURES = 3  # in a row: then the implementation is hopeless and the run stops


class SuiteError(Exception):
    """The suite itself cannot be read: a missing file, bad JSON, a case without its fields."""


# --- the suite --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Suite:
    """The cases to run, in order, with the version they were generated from."""

    suite_version: str
    cases: list[dict[str, Any]]
    source: str


_CASE_REQUIRED = ("id", "params", "pre_state", "steps", "rules")


def _check_case(case: Any, where: str) -> dict[str, Any]:
    """The little the runner needs of a case; `clearspec vectors validate` checks the rest."""
    if not isinstance(case, dict):
        raise SuiteError(f"{where}: a case is a JSON object")
    missing = [name for name in _CASE_REQUIRED if name not in case]
    if missing:
        raise SuiteError(f"{where}: missing field(s) {missing}")
    if case.get("format", FORMAT) != FORMAT:
        raise SuiteError(f"{where}: format {case.get('format')!r}, this runner reads {FORMAT!r}")
    steps = case["steps"]
    if not isinstance(case["id"], str) or not isinstance(steps, list):
        raise SuiteError(f"{where}: id must be a string and steps a list")
    for i, step in enumerate(steps):
        if not isinstance(step, dict) or "action" not in step or not isinstance(step.get("expected"), dict):
            raise SuiteError(f"{where}: steps[{i}] needs an action and an expected object")
        expected = step["expected"]
        if expected.get("accepted") is True and not isinstance(expected.get("post_state"), dict):
            raise SuiteError(f"{where}: steps[{i}] is accepted without a post_state")
        if expected.get("accepted") is False and not isinstance(expected.get("error"), str):
            raise SuiteError(f"{where}: steps[{i}] is rejected without an error")
        if not isinstance(expected.get("accepted"), bool):
            raise SuiteError(f"{where}: steps[{i}].expected.accepted must be true or false")
    if "expected_error" in case and (steps or not isinstance(case["expected_error"], str)):
        raise SuiteError(f"{where}: a case with expected_error has no steps")
    if not isinstance(case.get("suite_version", ""), str):
        raise SuiteError(f"{where}: suite_version must be a string")
    return case


def _read_json(path: Path) -> Any:
    """A suite file: a regular file within the size limit, UTF-8, JSON nested at most
    ``MAX_JSON_DEPTH`` levels (clearspec_tools.inputs)."""
    try:
        return load_json(path, "suite file", MAX_SUITE_FILE_BYTES)
    except InputError as error:
        raise SuiteError(str(error)) from None


def _read_lines(path: Path) -> Iterator[tuple[int, Any]]:
    try:
        data = read_bytes(path, "suite file", MAX_SUITE_FILE_BYTES)
    except InputError as error:
        raise SuiteError(str(error)) from None
    for number, line in enumerate(data.splitlines(), 1):
        if line.strip():
            where = f"{path}:{number}"
            try:
                yield number, parse_json(decode_utf8(line, where), where)
            except InputError as error:
                raise SuiteError(str(error)) from None


def load_suite(path: Path) -> Suite:
    """VEC-1: a suite directory, a ``bundle.jsonl`` or one case file."""
    # os.path's tests, not Path's: a name over 255 bytes is "not there", not an OSError.
    if os.path.isdir(path):
        bundle, index = path / "bundle.jsonl", path / "index.json"
        if os.path.isfile(bundle):
            cases = [_check_case(c, f"{bundle}:{n}") for n, c in _read_lines(bundle)]
        elif os.path.isfile(index):
            data = _read_json(index)
            entries = data.get("cases") if isinstance(data, dict) else None
            if not isinstance(entries, list):
                raise SuiteError(f"{index}: expected {{'format': {INDEX_FORMAT!r}, 'cases': [...]}}")
            cases = []
            for i, entry in enumerate(entries):
                if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
                    raise SuiteError(f"{index}: cases[{i}] has no path")
                relative = Path(entry["path"])
                if relative.is_absolute() or ".." in relative.parts:
                    raise SuiteError(f"{index}: cases[{i}].path {entry['path']!r} leaves the suite folder")
                case_path = path / entry["path"]
                cases.append(_check_case(_read_json(case_path), str(case_path)))
        else:
            raise SuiteError(
                f"{path}: no bundle.jsonl or index.json (generate one with `clearspec vectors generate`)"
            )
    elif path.suffix == ".jsonl":
        cases = [_check_case(c, f"{path}:{n}") for n, c in _read_lines(path)]
    elif os.path.exists(path):  # a device or FIFO is named as such by the input boundary
        cases = [_check_case(_read_json(path), str(path))]
    else:
        raise SuiteError(f"{path}: no such file or directory")
    versions = {c.get("suite_version", SUITE_VERSION) for c in cases}
    version = versions.pop() if len(versions) == 1 else SUITE_VERSION
    return Suite(suite_version=str(version), cases=cases, source=str(path))


def select(cases: list[dict[str, Any]], pattern: str | None) -> list[dict[str, Any]]:
    """``--only``: a glob on case ids if it has a wildcard, else a substring of the id."""
    if pattern is None:
        return cases
    if any(c in pattern for c in "*?["):
        return [c for c in cases if fnmatch.fnmatchcase(c["id"], pattern)]
    return [c for c in cases if pattern in c["id"]]


# --- running ----------------------------------------------------------------------------------


@dataclass
class CaseResult:
    """VEC-7: one case's verdict and, if it did not pass, why."""

    id: str
    verdict: str  # passed | failed | skipped | error
    rules: list[str] = field(default_factory=list)
    description: str = ""
    difference: Difference | None = None
    action: str | None = None  # the type of the step that differs
    kind: str | None = None  # for errors: start | crash | hang | garbage | bad-shape
    detail: str | None = None
    stderr: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "verdict": self.verdict,
            "rules": self.rules,
            "description": self.description,
        }
        if self.difference is not None:
            d = self.difference
            data.update(
                {
                    "step": d.step,
                    "action": self.action,
                    "path": d.path,
                    "expected": _bounded(d.expected),
                    "actual": _bounded(d.actual),
                }
            )
            if d.expected_digest is not None:
                data["expected_digest"] = d.expected_digest
                data["actual_digest"] = d.actual_digest
            if d.detail is not None:
                data["detail"] = d.detail
        if self.kind is not None:
            data["kind"] = self.kind
        if self.detail is not None:
            data["detail"] = self.detail
        if self.stderr:
            data["stderr"] = self.stderr
        return data


def _bounded(value: Any, limit: int = 4000) -> Any:
    """A value small enough for the JSON report (a whole garbage state is not)."""
    text = json.dumps(value, separators=(",", ":"), default=str)
    return value if len(text) <= limit else text[:limit] + "..."


@dataclass
class Report:
    """The run's outcome; ``summary()`` is the ``--json`` output."""

    suite_version: str
    command: str
    results: list[CaseResult] = field(default_factory=list)
    not_run: int = 0
    seconds: float = 0.0
    implementation: dict[str, Any] = field(default_factory=dict)
    starts: int = 0
    aborted: str | None = None

    def count(self, verdict: str) -> int:
        return sum(1 for r in self.results if r.verdict == verdict)

    @property
    def total(self) -> int:
        return len(self.results) + self.not_run

    @property
    def ok(self) -> bool:
        """Exit status 0 only when every case passed (VEC-7)."""
        return self.total > 0 and self.count("passed") == self.total

    def summary(self) -> dict[str, Any]:
        kinds = Counter(r.kind for r in self.results if r.verdict == "error")
        done = len(self.results)
        return {
            "passed": self.count("passed"),
            "failed": self.count("failed"),
            "skipped": self.count("skipped"),
            "errors": self.count("error"),
            "not_run": self.not_run,
            "total": self.total,
            "error_kinds": {kind: kinds[kind] for kind in KINDS if kinds[kind]},
            "seconds": round(self.seconds, 3),
            "cases_per_second": round(done / self.seconds, 1) if self.seconds > 0 else None,
            "suite_version": self.suite_version,
            "command": self.command,
            "implementation": self.implementation,
            "restarts": max(self.starts - 1, 0),
            "aborted": self.aborted,
            "failures": [r.to_json() for r in self.results if r.verdict != "passed"],
        }


def _request_bytes(seq: int, case: dict[str, Any]) -> bytes:
    message = {
        "cmd": "run",
        "seq": seq,
        "case": {
            "id": case["id"],
            "params": case["params"],
            "pre_state": case["pre_state"],
            "actions": [step["action"] for step in case["steps"]],
        },
    }
    return json.dumps(message, separators=(",", ":")).encode("utf-8") + b"\n"


def _action_type(case: dict[str, Any], step: int | None) -> str | None:
    if step is None:
        return None
    action = case["steps"][step]["action"]
    kind = action.get("type") if isinstance(action, dict) else None
    return kind if isinstance(kind, str) else None


def run_case(impl: Implementation, seq: int, case: dict[str, Any], timeout: float) -> CaseResult:
    """One case through a running implementation. Raises ``ProtocolFailure``
    when the answer is not an answer (the caller restarts the implementation)."""
    base = {
        "id": case["id"],
        "rules": list(case.get("rules", [])),
        "description": case.get("description", ""),
    }
    message = impl.request_bytes(_request_bytes(seq, case), timeout)
    got = message.get("seq")
    if type(got) is int and got != seq and got in impl.answered:
        # An earlier request answered again: that case is to blame, not this one.
        raise ProtocolFailure("duplicate", f"a second answer to request {got}: {_clip_message(message)}", got)
    answer = check_shape(message, seq, len(case["steps"]))
    impl.answered.add(seq)
    if answer.skipped is not None:
        return CaseResult(verdict="skipped", detail=answer.skipped, **base)
    difference = first_difference(expected_answer(case), answer)
    if difference is None:
        return CaseResult(verdict="passed", **base)
    return CaseResult(
        verdict="failed", difference=difference, action=_action_type(case, difference.step), **base
    )


def _clip_message(message: dict[str, Any], limit: int = 200) -> str:
    text = json.dumps(message, separators=(",", ":"), default=str)
    return text if len(text) <= limit else text[:limit] + "..."


def run_suite(
    suite: Suite,
    argv: list[str],
    *,
    timeout: float = DEFAULT_TIMEOUT,
    start_timeout: float = DEFAULT_START_TIMEOUT,
    max_failures: int | None = None,
    jobs: int = 1,
    progress: Callable[[int, int, int], None] | None = None,
    cwd: str | None = None,
    env: dict[str, str] | None = None,
) -> Report:
    """VEC-6, VEC-7: every case of ``suite`` through the implementation ``argv``.

    ``jobs`` instances of the implementation run side by side, each fed by its
    own thread (the threads mostly wait on pipes), taking the next case as
    they finish one; results keep the suite's order either way. After a
    failure of any kind an instance is restarted before its next case; after
    ``MAX_START_FAILURES`` failed starts in a row, or ``max_failures`` cases
    that did not pass, the remaining cases are counted as not run.
    ``progress(done, total, not_passed)`` is called every two seconds or so.
    """
    cases = suite.cases
    report = Report(suite_version=suite.suite_version, command=shlex.join(argv))
    results: list[CaseResult | None] = [None] * len(cases)
    lock = threading.Lock()
    stop = threading.Event()
    state = {"next": 0, "done": 0, "bad": 0}

    instances: list[Implementation] = []

    def blame(index: int, detail: str) -> None:
        """Case ``index`` was answered more than once: an error, whatever it passed as."""
        case = cases[index]
        with lock:
            old = results[index]
            results[index] = CaseResult(
                id=case["id"],
                verdict="error",
                rules=list(case.get("rules", [])),
                description=case.get("description", ""),
                kind="duplicate",
                detail=detail,
            )
            if old is not None and old.verdict == "passed":
                state["bad"] += 1

    def worker() -> None:
        impl = Implementation(argv, cwd=cwd, env=env)
        with lock:
            instances.append(impl)
        start_failures = 0
        last: int | None = None  # the last case this instance answered, still running
        try:
            while not stop.is_set():
                with lock:
                    index = state["next"]
                    state["next"] += 1
                if index >= len(cases):
                    return
                if last is not None and impl.running:
                    extra = impl.unsolicited()
                    if extra:
                        blame(last, f"more output after its answer: {extra[:200]!r}")
                        impl.kill()
                try:
                    result = _one(impl, index, cases[index], suite.suite_version, timeout, start_timeout)
                except _EarlierDuplicate as earlier:
                    blame(earlier.seq, earlier.detail)
                    # This case met a stream out of step: it runs again on a fresh start.
                    result = _one(impl, index, cases[index], suite.suite_version, timeout, start_timeout)
                last = index if impl.running else None
                start_failures = start_failures + 1 if result.kind == "start" else 0
                with lock:
                    results[index] = result
                    state["done"] += 1
                    if not report.implementation and impl.info:
                        report.implementation = impl.info
                    if result.verdict != "passed":
                        state["bad"] += 1
                    if max_failures is not None and state["bad"] >= max_failures and not stop.is_set():
                        report.aborted = (
                            f"stopped after {state['bad']} cases that did not pass (--max-failures)"
                        )
                        stop.set()
                    if start_failures >= MAX_START_FAILURES and not stop.is_set():
                        report.aborted = f"the implementation failed to start {start_failures} times in a row"
                        stop.set()
        finally:
            extra = impl.stop()
            if extra and last is not None:
                blame(last, f"more output after its answer: {extra[:200]!r}")
            with lock:
                report.starts += impl.starts

    began = time.perf_counter()
    threads = [threading.Thread(target=worker, daemon=True) for _ in range(max(1, min(jobs, len(cases))))]
    for thread in threads:
        thread.start()
    shown = -1
    try:
        for thread in threads:
            while thread.is_alive():
                thread.join(2.0)
                if progress is not None and state["done"] != shown:
                    shown = state["done"]
                    progress(shown, len(cases), state["bad"])
    except BaseException:
        # Ctrl-C: the instances run in their own sessions, so no signal reaches them.
        stop.set()
        for impl in list(instances):
            impl.kill()
        raise
    report.seconds = time.perf_counter() - began
    report.results = [r for r in results if r is not None]
    report.not_run = len(cases) - len(report.results)
    if progress is not None and state["done"] != shown:
        progress(state["done"], len(cases), state["bad"])
    return report


def _one(
    impl: Implementation,
    seq: int,
    case: dict[str, Any],
    suite_version: str,
    timeout: float,
    start_timeout: float,
) -> CaseResult:
    base = {
        "id": case["id"],
        "rules": list(case.get("rules", [])),
        "description": case.get("description", ""),
    }
    try:
        if not impl.running:
            impl.start(suite_version, start_timeout)
        return run_case(impl, seq, case, timeout)
    except ProtocolFailure as failure:
        stderr = impl.stderr_tail()
        impl.kill()  # out of step after any failure: the next case starts afresh
        if failure.seq is not None and failure.seq != seq:
            raise _EarlierDuplicate(failure.seq, failure.detail) from None
        return CaseResult(verdict="error", kind=failure.kind, detail=failure.detail, stderr=stderr, **base)


class _EarlierDuplicate(Exception):
    """An answer to an earlier request arrived while a later one was awaited."""

    def __init__(self, seq: int, detail: str) -> None:
        super().__init__(detail)
        self.seq = seq
        self.detail = detail


# --- the report -------------------------------------------------------------------------------


def text_report(report: Report, limit: int = 50) -> str:
    """The human-readable report: each case that did not pass, then a summary line."""
    lines: list[str] = []
    shown = 0
    for result in report.results:
        if result.verdict == "passed":
            continue
        shown += 1
        if shown > limit:
            continue
        rules = ", ".join(result.rules)
        head = {"failed": "FAIL", "error": "ERROR", "skipped": "SKIP"}[result.verdict]
        lines.append(f"{head} {result.id} [{rules}]")
        if result.description:
            lines.append(f"     {result.description}")
        if result.difference is not None:
            d = result.difference
            where = f"step {d.step} ({result.action}): " if d.step is not None else ""
            lines.append(f"     {where}{d.summary()}")
            if d.detail:
                lines.append(f"     implementation says: {show(d.detail)}")
        elif result.verdict == "error":
            lines.append(f"     {result.kind}: {result.detail} (implementation restarted)")
            lines.extend(f"     stderr| {line}" for line in result.stderr[-5:])
        elif result.verdict == "skipped":
            lines.append(f"     skipped: {result.detail}")
    if shown > limit:
        lines.append(f"... and {shown - limit} more (use --json for all)")
    s = report.summary()
    kinds = ", ".join(f"{k} {n}" for k, n in s["error_kinds"].items())
    rate = f", {s['cases_per_second']:.0f} cases/s" if s["cases_per_second"] else ""
    errors = f"{s['errors']} errors" + (f" ({kinds})" if kinds else "")
    not_run = f", {s['not_run']} not run" if s["not_run"] else ""
    lines.append(
        f"{s['total']} cases: {s['passed']} passed, {s['failed']} failed, {s['skipped']} skipped, "
        f"{errors}{not_run} in {s['seconds']:.2f} s{rate}"
    )
    if report.aborted:
        lines.append(f"aborted: {report.aborted}")
    name = report.implementation.get("name")
    if name:
        lines.append(f"implementation: {name} {report.implementation.get('version', '')}".rstrip())
    return "\n".join(lines)


def stderr_progress(done: int, total: int, not_passed: int) -> None:
    """Progress lines on standard error."""
    print(f"[vectors] {done}/{total} cases, {not_passed} not passed", file=sys.stderr, flush=True)
