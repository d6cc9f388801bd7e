"""Run CrossHair over the harnesses of :mod:`clearspec_proofs.crosshair_targets` (PRF-3).

``python -m clearspec_proofs.crosshair_run [--per-condition-timeout S] [--budget S]
[--long] [--only PATTERN] [--false-claims] [--json] [--out FILE] [--quiet]``

The targets run in worker processes (this module with ``--worker``), each
checking a share of the targets in turn: CrossHair patches builtins while it
explores, a run that overstays can only be stopped by killing its process,
and the model must be imported with its own contracts off for a harness
(``CLEARSPEC_SLOW_CHECKS=0``, see the targets module) and on for a model
function whose own contracts are checked. A worker checks each postcondition
separately and prints one JSON line per condition as soon as it is decided;
the parent enforces a wall-clock allowance per condition and an overall
budget, restarts a killed worker on the next target, shows progress on
stderr, and writes every record to a JSON file.

The document lists under ``conditions`` one record per condition,
``{"target", "name", "area", "condition", "line", "status", "message",
"seconds"}``: ``target`` is the dotted name of the function CrossHair checked
(what the documentation links to), ``name`` the target's short name, and
``status`` one of

* ``confirmed``: CrossHair explored every path of the harness under its
  preconditions and the condition held on each; for the deterministic, pure
  code of the targets that is a proof, for inputs within the harness's bounds;
* ``counterexample``: an input on which the condition is false, or on which
  the code or the condition raised; the message names the call;
* ``unknown``: no counterexample within the time given, but not every path was
  explored (or the solver could not decide one);
* ``error``: the harness could not be checked at all (an import failure, a
  precondition no input satisfies, a worker that died).

Exit status: 1 if any condition has a counterexample, 3 if any is an error,
2 if nothing was selected, else 0 (unknowns do not fail a run). With
``--false-claims`` the deliberately wrong harnesses run instead, and the
status is 0 only if every one of them has a counterexample.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:  # the harnesses build example ledgers at import: loaded only to run
    from clearspec_proofs.crosshair_targets import Target

STATUSES = ("confirmed", "counterexample", "unknown", "error")
CI_PER_CONDITION = 2.0
CI_BUDGET = 300.0
LONG_PER_CONDITION = 120.0
LONG_BUDGET = 3 * 3600.0
# Wall-clock allowance per condition on top of CrossHair's own CPU-time limit:
# CrossHair checks its deadline between paths, and a loaded machine gives a
# process less CPU per wall second.
SLACK_FACTOR = 4.0
SLACK_SECONDS = 20.0
DEFAULT_OUT = "out/crosshair.json"


# --- the worker: one target, in its own process ------------------------------------


def _status(state: Any) -> str:
    from crosshair.statespace import MessageType

    if state == MessageType.CONFIRMED:
        return "confirmed"
    if state == MessageType.CANNOT_CONFIRM:
        return "unknown"
    if state in (MessageType.POST_FAIL, MessageType.EXEC_ERR, MessageType.POST_ERR):
        return "counterexample"
    return "error"  # PRE_UNSAT (vacuous), SYNTAX_ERR, IMPORT_ERR


def _message(status: str, state: Any, text: str, timeout: float) -> str:
    if status == "unknown":
        return f"no counterexample; not every path explored within {timeout:g} s of CPU"
    if status == "confirmed":
        return "confirmed over all paths"
    if getattr(state, "name", "") == "PRE_UNSAT":
        return f"vacuous: no input got past the preconditions ({text})"
    return text


def _descriptions(function: Callable[..., Any]) -> list[str]:
    """The postconditions in CrossHair's order: each one's icontract
    description, or its source text if it has none."""
    import icontract._checkers
    import icontract._represent

    checker = icontract._checkers.find_checker(func=function)
    if checker is None:
        return []
    texts = []
    for contract in checker.__postconditions__:  # type: ignore[attr-defined]
        source = icontract._represent.inspect_lambda_condition(condition=contract.condition)
        texts.append(contract.description or (" ".join(source.text.split()) if source else ""))
    return texts


def _unwrap_model_functions() -> int:
    """Replace every contract-wrapped function of the model, wherever a module
    of the model binds it, by the function without its contracts.

    For a target that checks a model function's own contracts: nested icontract
    wrappers send CrossHair into unbounded recursion (icontract's re-entrancy
    set grows on every symbolic call), so only the target keeps its contracts
    (the caller holds the wrapped object) and its callees run bare.
    """
    replaced = 0
    for name, module in list(sys.modules.items()):
        if module is None or not (name == "clearspec" or name.startswith("clearspec.")):
            continue
        for attribute, value in list(vars(module).items()):
            bare = value
            while (
                callable(bare)
                and hasattr(bare, "__wrapped__")
                and (hasattr(bare, "__preconditions__") or hasattr(bare, "__postconditions__"))
            ):
                bare = bare.__wrapped__
            if bare is not value:
                setattr(module, attribute, bare)
                replaced += 1
    return replaced


def _worker(qualnames: Sequence[str], timeout: float, out: IO[str], own_contracts: bool = False) -> int:
    """Check every postcondition of each harness in turn; one JSON line per
    target listing its conditions, then one per condition as it is decided."""
    import importlib

    from crosshair.auditwall import engage_auditwall
    from crosshair.core_and_libs import analyze_function
    from crosshair.options import AnalysisKind, AnalysisOptionSet

    def emit(record: dict[str, Any]) -> None:
        out.write(json.dumps(record) + "\n")
        out.flush()

    # Every target is looked up before the model's callees are unwrapped, so
    # that a model function under check keeps its own contracts.
    functions: list[Callable[..., Any] | str] = []
    for qualname in qualnames:
        module_name, _, name = qualname.partition(":")
        try:
            functions.append(getattr(importlib.import_module(module_name), name))
        except Exception as exc:  # an import failure is reported, not raised (PRF-3)
            functions.append(f"cannot import {qualname}: {exc!r}")
    if own_contracts:
        _unwrap_model_functions()
    # Like `crosshair check`: side effects (files, sockets, processes) in the
    # code under analysis are refused rather than performed.
    engage_auditwall([])
    options = AnalysisOptionSet(
        analysis_kind=[AnalysisKind.icontract],
        per_condition_timeout=timeout,
        report_all=True,
    )
    for t, function in enumerate(functions):
        if isinstance(function, str):
            emit({"target": t, "plan": []})
            emit({"target": t, "index": 0, "status": "error", "message": function, "seconds": 0})
            continue
        checkables = list(analyze_function(function, options))
        descriptions = _descriptions(function)
        plan = []
        for i, checkable in enumerate(checkables):
            post = getattr(checkable, "conditions", None)
            condition = post.post[0] if post is not None else None
            source = getattr(condition, "expr_source", "") or ""
            text = descriptions[i] if i < len(descriptions) and descriptions[i] else source
            plan.append({"condition": text, "line": getattr(condition, "line", 0)})
        emit({"target": t, "plan": plan})
        for i, checkable in enumerate(checkables):
            emit({"target": t, "index": i, **_check(checkable, timeout)})
    return 0


def _check(checkable: Any, timeout: float) -> dict[str, Any]:
    started = time.monotonic()
    try:
        messages = list(checkable.analyze())
    except Exception as exc:  # CrossHair itself failed on this condition
        return {"status": "error", "message": f"CrossHair failed: {exc!r}", "seconds": 0}
    seconds = round(time.monotonic() - started, 2)
    if not messages:
        return {"status": "error", "message": "CrossHair reported nothing", "seconds": seconds}
    worst = max(messages, key=lambda m: m.state)
    status = _status(worst.state)
    return {
        "status": status,
        "message": _message(status, worst.state, worst.message, timeout),
        "seconds": seconds,
    }


# --- the parent: every target, time-boxed ---------------------------------------------


@dataclass
class Settings:
    """How long CrossHair may look, per condition and in all."""

    per_condition_timeout: float = CI_PER_CONDITION
    budget: float = CI_BUDGET
    workers: int = 1


def _worker_env(own_contracts: bool) -> dict[str, str]:
    env = dict(os.environ)
    # The model's contracts are off for a harness (its own conditions are the
    # claims), and on for a model function whose own contracts are the claims.
    env["CLEARSPEC_SLOW_CHECKS"] = "1" if own_contracts else "0"
    env["PYTHONHASHSEED"] = "0"  # reproducible exploration order
    return env


def _kill(process: subprocess.Popen[str]) -> None:
    """Stop a worker and anything it started (its own process group)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


@dataclass
class _Batch:
    """What one worker process has reported so far, per target of its batch."""

    targets: list[Target]
    lines: dict[int, list[dict[str, Any]]]
    last_line: float


def _complete(lines: list[dict[str, Any]]) -> bool:
    plan = next((line["plan"] for line in lines if "plan" in line), None)
    if plan is None:
        return False
    return len({line["index"] for line in lines if "index" in line}) >= max(len(plan), 1)


def run_batch(
    targets: Sequence[Target],
    settings: Settings,
    deadline: float,
    done: Callable[[Target, list[dict[str, Any]]], None] | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """Run targets one after another in worker processes (one process for as
    many as it finishes); records for every condition, decided or not.

    A condition may take its CPU limit times SLACK_FACTOR plus SLACK_SECONDS
    of wall clock; a worker that overstays is killed, the condition it was on
    and the rest of its target are reported unknown, and a fresh worker takes
    the next target. At the budget's end every condition not decided is unknown.
    """
    results: dict[str, list[dict[str, Any]]] = {}

    def finish(target: Target, records: list[dict[str, Any]]) -> None:
        results[target.name] = records
        if done is not None:
            done(target, records)

    pending = list(targets)
    while pending:
        if time.monotonic() >= deadline:
            for target in pending:
                finish(target, _records(target, [], "not started: the overall budget is spent", "", None))
            break
        batch, stopped, stderr, returncode = _run_worker(pending, settings, deadline, finish)
        # The first target the worker did not complete: it was stopped on it,
        # died on it, or the target has nothing to check.
        current = next((i for i, t in enumerate(pending) if t.name not in results), None)
        if current is not None:
            waited = round(time.monotonic() - batch.last_line, 1) if stopped else 0.0
            lines = batch.lines.get(current, [])
            finish(pending[current], _records(pending[current], lines, stopped, stderr, returncode, waited))
        pending = [t for t in pending if t.name not in results]
    return results


def _run_worker(
    pending: list[Target],
    settings: Settings,
    deadline: float,
    finish: Callable[[Target, list[dict[str, Any]]], None],
) -> tuple[_Batch, str, str, int | None]:
    own = pending[0].own_contracts
    command = [
        sys.executable,
        "-m",
        "clearspec_proofs.crosshair_run",
        *(arg for t in pending for arg in ("--worker", t.qualname)),
        "--per-condition-timeout",
        str(settings.per_condition_timeout),
        *(["--own-contracts"] if own else []),
    ]
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_worker_env(own),
        start_new_session=True,
    )
    batch = _Batch(list(pending), {}, time.monotonic())
    lock = threading.Lock()
    stderr_tail: list[str] = []

    def read_stdout() -> None:
        assert process.stdout is not None
        for raw in process.stdout:
            try:
                line = json.loads(raw)
            except json.JSONDecodeError:
                stderr_tail.append(raw)
                continue
            with lock:
                t = int(line.get("target", 0))
                batch.lines.setdefault(t, []).append(line)
                batch.last_line = time.monotonic()
                if _complete(batch.lines[t]):
                    finish(pending[t], _records(pending[t], batch.lines[t], "", "", 0))

    def read_stderr() -> None:
        assert process.stderr is not None
        for raw in process.stderr:
            stderr_tail.append(raw)
            del stderr_tail[:-20]

    readers = [threading.Thread(target=read_stdout), threading.Thread(target=read_stderr)]
    for reader in readers:
        reader.start()
    allowed = settings.per_condition_timeout * SLACK_FACTOR + SLACK_SECONDS
    stopped = ""
    while process.poll() is None:
        now = time.monotonic()
        with lock:
            quiet = now - batch.last_line
        if now > deadline:
            stopped = "stopped: the overall budget is spent"
        elif quiet > allowed:
            stopped = f"stopped: a condition overstayed its {allowed:g} s of wall clock"
        if stopped:
            _kill(process)
            break
        time.sleep(0.1)
    for reader in readers:
        reader.join()
    return batch, stopped, "".join(stderr_tail), process.returncode


def _records(
    target: Target,
    lines: list[dict[str, Any]],
    stopped: str,
    stderr: str,
    returncode: int | None,
    waited: float = 0.0,
) -> list[dict[str, Any]]:
    """One record per condition of ``target`` from what its worker reported;
    the conditions it did not decide carry ``stopped`` (or the worker's
    exit), the one it was on also the seconds it had spent."""
    plan = next((line["plan"] for line in lines if "plan" in line), None)
    base = {"target": target.dotted, "name": target.name, "area": target.area}
    if plan is None:  # stopped or died before listing its conditions: list them here
        plan = [{"condition": text, "line": 0} for text in _descriptions(target.function)]
    decided = {line["index"]: line for line in lines if "index" in line}
    if not plan:
        if 0 in decided:  # an import failure
            result = _result(decided[0])
        elif stopped:  # stopped before the worker listed them (and this process cannot)
            result = {"status": "unknown", "message": stopped}
        else:
            result = {"status": "error", "message": "no postcondition to check"}
        return [{**base, "condition": "(every condition)", "line": 0, **result, "seconds": 0.0}]
    records = []
    for i, condition in enumerate(plan):
        if i in decided:
            result = _result(decided[i])
        elif stopped:
            result = {"status": "unknown", "message": stopped}
        else:
            tail = stderr.strip().splitlines()[-1:] if stderr.strip() else []
            result = {
                "status": "error",
                "message": "; ".join([f"the worker exited with status {returncode}", *tail]),
            }
        seconds = decided[i].get("seconds", 0.0) if i in decided else waited
        waited = 0.0  # only the condition the worker was on had run
        records.append(
            {
                **base,
                "condition": condition["condition"],
                "line": condition["line"],
                **result,
                "seconds": seconds,
            }
        )
    return records


def _result(line: dict[str, Any]) -> dict[str, Any]:
    return {"status": line["status"], "message": line["message"]}


def select(only: str | None, false_claims: bool = False) -> list[Target]:
    """The targets whose name or area contains ``only`` (every one if None)."""
    from clearspec_proofs.crosshair_targets import FALSE_CLAIMS, TARGETS

    pool = FALSE_CLAIMS if false_claims else TARGETS
    return [t for t in pool if only is None or only in t.name or only == t.area]


def run_all(
    targets: Sequence[Target], settings: Settings, progress: Callable[[str], None] | None = None
) -> dict[str, Any]:
    """Run every target within the budget; the document that ``--out`` writes."""
    from crosshair import __version__ as crosshair_version

    from clearspec import SPEC_VERSION

    started = time.monotonic()
    deadline = started + settings.budget
    count = 0
    lock = threading.Lock()

    def done(target: Target, found: list[dict[str, Any]]) -> None:
        nonlocal count
        with lock:
            count += 1
            if progress is not None:
                counts = ", ".join(f"{sum(r['status'] == s for r in found)} {s}" for s in STATUSES)
                seconds = sum(r["seconds"] for r in found)
                progress(f"[{count}/{len(targets)}] {target.name}: {counts} ({seconds:.1f} s)")

    # One batch per worker and kind of worker (harnesses, or the model's own
    # contracts), dealt round-robin so that each gets cheap and costly targets.
    batches: dict[tuple[bool, int], list[Target]] = {}
    for i, target in enumerate(targets):
        batches.setdefault((target.own_contracts, i % max(1, settings.workers)), []).append(target)
    results: dict[str, list[dict[str, Any]]] = {}
    # Threads only wait on worker processes; the workers do the computing.
    with ThreadPoolExecutor(max_workers=max(1, settings.workers)) as pool:
        for found in pool.map(lambda batch: run_batch(batch, settings, deadline, done), batches.values()):
            results.update(found)
    records = [r for target in targets for r in results[target.name]]
    summary = {s: sum(r["status"] == s for r in records) for s in STATUSES}
    return {
        "engine": "crosshair",
        "crosshair_version": crosshair_version,
        "spec_version": SPEC_VERSION,
        "per_condition_timeout": settings.per_condition_timeout,
        "budget": settings.budget,
        "workers": settings.workers,
        "seconds": round(time.monotonic() - started, 1),
        "summary": {"total": len(records), **summary},
        "conditions": records,
    }


def exit_status(document: dict[str, Any], false_claims: bool = False) -> int:
    """0, 1 (a counterexample), 3 (an error); for false claims, 0 only if each is refuted."""
    records = document["conditions"]
    if not records:
        return 2
    if false_claims:
        refuted = {r["name"] for r in records if r["status"] == "counterexample"}
        return 0 if refuted == {r["name"] for r in records} else 1
    if any(r["status"] == "counterexample" for r in records):
        return 1
    if any(r["status"] == "error" for r in records):
        return 3
    return 0


def _cell(text: str) -> str:
    """Text for a Markdown table cell: a bar would end the cell."""
    return text.replace("|", "\\|")


def confirmed_markdown(document: dict[str, Any]) -> str:
    """The conditions CrossHair confirmed over all paths, as a Markdown table
    for the proof report; the others are counted below it."""
    rows = [r for r in document["conditions"] if r["status"] == "confirmed"]
    lines = [
        "| target | condition | seconds |",
        "| --- | --- | --- |",
        *(f"| `{r['name']}` | {_cell(r['condition'])} | {r['seconds']} |" for r in rows),
        "",
    ]
    summary = document["summary"]
    lines.append(
        f"{summary['confirmed']} of {summary['total']} conditions confirmed over all paths, "
        f"{summary['unknown']} unknown, {summary['counterexample']} counterexample(s), "
        f"{summary['error']} error(s); CrossHair {document['crosshair_version']}, "
        f"{document['per_condition_timeout']:g} s of CPU per condition, {document['seconds']} s in all."
    )
    return "\n".join(lines) + "\n"


def print_table(document: dict[str, Any], out: IO[str] = sys.stdout) -> None:
    """One row per condition; messages of counterexamples and errors below."""
    records = document["conditions"]
    width = max([6, *(len(r["name"]) for r in records)])
    print(f"{'target':<{width}}  {'status':<14} {'seconds':>8}  condition", file=out)
    for r in records:
        print(f"{r['name']:<{width}}  {r['status']:<14} {r['seconds']:>8.2f}  {r['condition']}", file=out)
    for r in records:
        if r["status"] in ("counterexample", "error"):
            print(f"\n{r['status'].upper()}: {r['name']}: {r['condition']}\n  {r['message']}", file=out)
    s = document["summary"]
    print(
        f"\n{s['confirmed']} of {s['total']} confirmed over all paths, {s['unknown']} unknown, "
        f"{s['counterexample']} counterexample(s), {s['error']} error(s) in {document['seconds']} s",
        file=out,
    )


def plot(document: dict[str, Any], path: Path) -> None:
    """Seconds per condition (log scale), coloured by status (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    records = document["conditions"]
    colours = {"confirmed": "tab:green", "counterexample": "tab:red", "unknown": "tab:orange", "error": "k"}
    labels = [f"{r['name']} #{i}" for i, r in enumerate(records)]
    fig, ax = plt.subplots(figsize=(9, 0.22 * len(records) + 1.5))
    # A floor of 10 ms keeps instant answers visible on the log scale.
    ax.barh(labels, [max(r["seconds"], 0.01) for r in records], color=[colours[r["status"]] for r in records])
    ax.set_xscale("log")
    ax.invert_yaxis()
    ax.set_xlabel("seconds (wall clock, log scale)")
    ax.set_title(
        f"CrossHair: {document['summary']['confirmed']} of {document['summary']['total']} conditions "
        f"confirmed ({document['per_condition_timeout']:g} s CPU per condition)"
    )
    ax.legend(
        handles=[Patch(color=c, label=s) for s, c in colours.items()], loc="lower right", fontsize="small"
    )
    ax.tick_params(axis="y", labelsize=6)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def stderr_progress(line: str) -> None:
    """Progress lines go to standard error, so ``--json`` output stays clean."""
    print(line, file=sys.stderr, flush=True)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options shared by ``python -m`` and ``clearspec crosshair``."""
    parser.add_argument(
        "--per-condition-timeout",
        type=float,
        metavar="S",
        help=f"CPU seconds CrossHair may spend on one condition (default {CI_PER_CONDITION:g}; "
        f"--long: {LONG_PER_CONDITION:g})",
    )
    parser.add_argument(
        "--budget",
        type=float,
        metavar="S",
        help=f"wall-clock seconds for the whole run (default {CI_BUDGET:g}; --long: {LONG_BUDGET:g})",
    )
    parser.add_argument("--long", action="store_true", help="the long campaign's limits")
    parser.add_argument(
        "--workers", type=int, default=1, metavar="N", help="targets checked at once (default 1)"
    )
    parser.add_argument("--only", metavar="PATTERN", help="targets whose name contains PATTERN, or an area")
    parser.add_argument(
        "--false-claims",
        action="store_true",
        help="run the deliberately wrong harnesses instead; succeed only if each is refuted",
    )
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument(
        "--out", metavar="FILE", default=DEFAULT_OUT, help=f"JSON results (default {DEFAULT_OUT})"
    )
    parser.add_argument("--plot", metavar="FILE", help="also draw seconds per condition as a PNG")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on standard error")


def run_command(args: argparse.Namespace) -> int:
    """Run the selected targets and report; the exit status of :func:`exit_status`."""
    settings = Settings(
        per_condition_timeout=(LONG_PER_CONDITION if args.long else CI_PER_CONDITION)
        if args.per_condition_timeout is None
        else args.per_condition_timeout,
        budget=(LONG_BUDGET if args.long else CI_BUDGET) if args.budget is None else args.budget,
        workers=args.workers,
    )
    if settings.per_condition_timeout <= 0 or settings.budget <= 0 or settings.workers < 1:
        print("crosshair: timeouts, budget and workers must be positive", file=sys.stderr)
        return 2
    targets = select(args.only, args.false_claims)
    if not targets:
        print(f"crosshair: no target matches {args.only!r}", file=sys.stderr)
        return 2
    document = run_all(targets, settings, progress=None if args.quiet else stderr_progress)
    document["false_claims"] = bool(args.false_claims)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(document, indent=1) + "\n")
    out.with_suffix(".md").write_text(confirmed_markdown(document))
    if args.plot:
        plot(document, Path(args.plot))
    if args.json:
        print(json.dumps(document, indent=1))
    else:
        print_table(document)
    return exit_status(document, args.false_claims)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m clearspec_proofs.crosshair_run``."""
    parser = argparse.ArgumentParser(
        prog="python -m clearspec_proofs.crosshair_run",
        description="Check the CrossHair harnesses of clearspec (PRF-3).",
    )
    add_arguments(parser)
    parser.add_argument("--worker", metavar="MODULE:FUNCTION", action="append", help=argparse.SUPPRESS)
    parser.add_argument("--own-contracts", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        timeout = CI_PER_CONDITION if args.per_condition_timeout is None else args.per_condition_timeout
        return _worker(args.worker, timeout, sys.stdout, args.own_contracts)
    return run_command(args)


if __name__ == "__main__":
    sys.exit(main())
