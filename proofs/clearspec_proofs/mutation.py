"""Mutation testing of the proofs (``clearspec mutate``): can they fail?

For each mutant of :mod:`clearspec_proofs.mutants` the harness copies
``model/`` and ``proofs/`` into a temporary directory, plants the bug in the
copy (the working tree is never written: others run tests from it), and runs
the prover on the copy in a child process whose import path starts with the
copy. The child checks that ``clearspec`` and ``clearspec_proofs`` really come
from the copy (an editable install adds a meta-path finder; the child removes
it) before anything of the model runs.

The child proves transitions with the prover's own ``engine.check_case`` (the
lemmas with ``engine.check_lemmas``), one kind of obligation at a time, cheap
kinds first, and stops at the first firm kill. A mutant is *killed* when an
obligation is not proved — a counterexample (confirmed by replay or not), a
vacuous obligation (e.g. the action is now always rejected), or ``unknown``
from the solver — or when the model no longer imports or a contract rejects
while it is traced. A solver ``unknown`` can depend on the machine's load
(some Z3 tactics are bounded by wall-clock time), so such a kill is counted
apart from the firm ones.

A campaign first runs a baseline: the unchanged model, every transition and
the lemmas, with coverage. An obligation not proved there cannot kill a
mutant. A mutant is then proved on every transition that runs a line of its
statement, its own transitions first; the others run exactly the same code as
on the unchanged model, so they cannot kill it. A mutant that survives has
thus met every obligation of ``clearspec prove`` that could see it.
"""

from __future__ import annotations

import argparse
import ast
import importlib.util
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from contextlib import contextmanager, nullcontext, suppress
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from clearspec_proofs.minimise import MINIMISE_ENV
from clearspec_proofs.mutants import IDENTITY, MUTANTS, PARAMS_VARIANTS, Mutant
from clearspec_proofs.status import Status

if TYPE_CHECKING:  # the parent process imports no model module (see the docstring)
    from clearspec.params import ProtocolParams

DEFAULT_TIMEOUT = 1200.0  # seconds per mutant, escalation included
DEFAULT_MIN_RATE = 0.95  # the criterion
RESULT_MARK = "CLEARSPEC-MUTATION-RESULT "

# How a mutant was killed, firmest first. Every kind but "unknown" is
# deterministic: it does not depend on the machine's load.
KILL_KINDS = (
    "counterexample-confirmed",
    "counterexample",
    "contract",
    "crash",
    "import",
    "refused",
    "vacuous",
    "unknown",
)

# The obligation kinds of one transition, run as separate phases in this order
# (cheap, linear kinds first). Every kind check_case reports must be here
# (tests/test_mutation.py checks it), or a phase would be skipped.
PHASES = ("delta-sum", "frame", "effect", "inductive", "acceptance", "rejection", "precondition", "contract")

# Run in the child by ``python -c``: the copy goes first on the path, and the
# editable install's finder (which maps clearspec to the working tree) goes away.
_BOOT = """\
import sys
root = sys.argv[1]
sys.path[:0] = [root + "/model", root + "/proofs"]
editable = "__editable__"
sys.meta_path[:] = [f for f in sys.meta_path if not str(getattr(f, "__module__", "")).startswith(editable)]
from clearspec_proofs.mutation import child_main
sys.exit(child_main(sys.argv[2]))
"""


class MutationError(Exception):
    """The harness cannot run a mutant (the catalogue no longer matches the source,
    the source tree is not found): an error of the harness, never a kill."""


def find_source(start: Path | None = None) -> Path:
    """The checkout holding ``model/clearspec`` and ``proofs/clearspec_proofs``."""
    here = (start or Path(__file__)).resolve()
    for folder in (here, *here.parents):
        if (folder / "model" / "clearspec").is_dir() and (folder / "proofs" / "clearspec_proofs").is_dir():
            return folder
    raise MutationError(f"no checkout with model/clearspec and proofs/clearspec_proofs above {here}")


def mutated_text(mutant: Mutant, source: Path) -> str:
    """The mutant's file with the snippet replaced; the snippet must occur once."""
    path = source / "model" / "clearspec" / mutant.file
    if not path.is_file():
        raise MutationError(f"{mutant.id}: no file model/clearspec/{mutant.file}")
    text = path.read_text()
    count = text.count(mutant.original)
    if count != 1:
        raise MutationError(f"{mutant.id}: the snippet occurs {count} times in {mutant.file}, not once")
    return text.replace(mutant.original, mutant.replacement)


def make_copy(mutant: Mutant, source: Path, destination: Path) -> Path:
    """Copy ``model/`` and ``proofs/`` of ``source`` into ``destination`` and plant
    the mutant there. Returns the mutated file of the copy."""
    text = mutated_text(mutant, source)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".mypy_cache", "*.egg-info")
    for folder in ("model", "proofs"):
        shutil.copytree(source / folder, destination / folder, ignore=ignore)
    target = destination / "model" / "clearspec" / mutant.file
    target.write_text(text)
    return target


def params_for(variant: str, base: ProtocolParams) -> ProtocolParams:
    """The parameter set a mutant is proved under: ``base`` (the command line's,
    the example set), or ``base`` with every market socialising its losses
    (ADL-6's branch)."""
    from clearspec.params import DeficitPolicy, with_market

    params = base
    if variant == "socialise":
        for market in params.markets:
            params = with_market(params, market.market_id, deficit_policy=DeficitPolicy.SOCIALISE)
    elif variant != "example":
        raise MutationError(f"unknown parameter set {variant!r}; known: {', '.join(PARAMS_VARIANTS)}")
    return params


# --- the child: runs in the copy ------------------------------------------------------


def _kill_kind(obligation: dict[str, Any]) -> str:
    if obligation["status"] == Status.COUNTEREXAMPLE:
        example = obligation.get("counterexample") or {}
        return "counterexample-confirmed" if example.get("confirmed") else "counterexample"
    from clearspec_proofs.engine import REFUSED

    detail = obligation.get("detail", "")
    if detail.startswith(REFUSED):
        return "refused"  # PRF-4: the mutant branches in Python on a symbolic value
    return "vacuous" if "vacuous" in detail else "unknown"


def _summary(obligation: dict[str, Any], kind: str) -> dict[str, Any]:
    example = obligation.get("counterexample") or {}
    return {
        "kind": kind,
        "obligation": obligation["id"],
        "rule": obligation["rule"],
        "detail": obligation.get("detail", ""),
        "how": example.get("how", ""),
    }


def _failure(kind: str, where: str, error: BaseException) -> dict[str, Any]:
    lines = traceback.format_exception_only(type(error), error)
    message = " ".join(line.strip() for line in lines)[:500]
    return {"kind": kind, "obligation": where, "rule": "", "detail": message, "how": ""}


def _error_kind(error: BaseException) -> str:
    """The kill kind of an exception: "contract" for a contract that failed —
    icontract's ViolationError (an AssertionError), icontract's RuntimeError
    when it cannot recompute the values of a failed condition, the kernel's
    KernelError (ARI-2's divisor) — and "crash" for any other exception."""
    # Imported here: in a mutant's child process this is the copy's class.
    from clearspec.errors import KernelError

    if isinstance(error, AssertionError | KernelError):
        return "contract"
    if isinstance(error, RuntimeError) and "contract condition" in str(error):
        return "contract"
    return "crash"


def _verify_origin(root: Path) -> str | None:
    """None if both packages would be imported from the copy, else what is wrong."""
    for name, folder in (("clearspec", "model"), ("clearspec_proofs", "proofs")):
        spec = importlib.util.find_spec(name)
        origin = Path(spec.origin).resolve() if spec is not None and spec.origin else None
        if origin is None or (root / folder).resolve() not in origin.parents:
            return f"{name} resolves to {origin}, not to the copy in {root}"
    return None


def _measure(root: Path, enabled: bool, into: dict[str, dict[str, set[int]]], name: str) -> Any:
    """A context manager recording the model lines run under ``name`` (the
    baseline's coverage, used to skip transitions that never run a mutant's line)."""
    if not enabled:
        return nullcontext()
    import coverage

    model = (root / "model" / "clearspec").resolve()

    @contextmanager
    def measuring() -> Iterator[None]:
        cov = coverage.Coverage(data_file=None, include=[f"{model}/*"], config_file=False)
        cov.start()
        try:
            yield
        finally:
            cov.stop()
            data = cov.get_data()
            for path in data.measured_files():
                relative = Path(path).resolve().relative_to(model).as_posix()
                into.setdefault(name, {}).setdefault(relative, set()).update(data.lines(path) or ())

    return measuring()


def _run_child(request: dict[str, Any], started: float) -> dict[str, Any]:
    root = Path(request["root"])
    wrong = _verify_origin(root)
    if wrong is not None:
        return {"error": wrong}
    report: dict[str, Any] = {"units": [], "failures": [], "cases_run": []}
    try:
        import clearspec
        from clearspec_proofs.engine import DEFAULT_RLIMIT, check_case, check_lemmas
        from clearspec_proofs.transitions import CASES
    except Exception as error:  # the mutant broke the model's import: killed
        report["kill"] = _failure("import", "import clearspec", error)
        return report
    report["model"] = clearspec.__file__
    if (root / "model").resolve() not in Path(clearspec.__file__).resolve().parents:
        return {"error": f"clearspec was imported from {clearspec.__file__}, not from the copy"}
    lines: dict[str, dict[str, set[int]]] = {}
    exhaustive = bool(request.get("exhaustive"))
    measure = bool(request.get("coverage"))
    try:
        with _measure(root, measure, lines, "setup"):
            from clearspec.params_file import params_from_json

            # Decoded by the copy's model: a mutant that breaks the parameter
            # set's own code is killed here.
            params = params_for(request["params"], params_from_json(request["base_params"]))
    except MutationError as error:
        return {"error": str(error)}
    except Exception as error:
        report["kill"] = _failure(_error_kind(error), "params", error)
        return report
    applicable = [c.name for c in CASES if c.applies(params)] + ["lemma"]
    wanted: list[str] = []
    for name in request["cases"]:
        extra = [c for c in applicable if c not in wanted] if name == "*" else [name]
        wanted += [c for c in extra if c in applicable and c not in wanted]
    rlimit = request.get("rlimit") or DEFAULT_RLIMIT
    ignore = set(request.get("ignore", ()))
    best: dict[str, Any] | None = None

    def seen(result: Any) -> None:
        # Time to the first counterexample: what a designer waits for a broken model.
        if result.status == Status.COUNTEREXAMPLE and result.id not in ignore:
            report.setdefault("first_counterexample_s", round(time.perf_counter() - started, 2))

    for name in wanted:
        report["cases_run"].append(name)
        # A transition's obligations in phases, cheapest kinds first, so a kill
        # is found without waiting for the slow non-linear contract goals.
        phases: tuple[str | None, ...] = (None,) if name == "lemma" else PHASES
        for phase in phases:
            unit = name if phase is None else f"{name}/{phase}"
            started = time.perf_counter()
            try:
                with _measure(root, measure, lines, name):
                    if name == "lemma":
                        found = check_lemmas(params, rlimit)
                        for lemma in found:
                            seen(lemma)
                    else:
                        case = next(c for c in CASES if c.name == name)
                        found = check_case(case, params, rlimit, goal_filter=unit, report=seen)
                results = [r.as_json() for r in found]
            except Exception as error:
                # A contract or the kernel rejected a concrete value while tracing or
                # replaying a counterexample, or the model crashed.
                failure = _failure(_error_kind(error), unit, error)
                failure["case"] = name
                report["units"].append({"unit": unit, "seconds": round(time.perf_counter() - started, 2)})
                report["failures"].append(failure)
                if exhaustive:
                    continue
                report["kill"] = failure
                return report
            failed = [r for r in results if r["status"] != Status.PROVED and r["id"] not in ignore]
            report["units"].append(
                {
                    "unit": unit,
                    "obligations": len(results),
                    "not_proved": len(failed),
                    "seconds": round(time.perf_counter() - started, 2),
                }
            )
            for obligation in failed:
                kind = _kill_kind(obligation)
                summary = _summary(obligation, kind) | {"case": name}
                if exhaustive or len(report["failures"]) < 12:
                    report["failures"].append(summary)
                if best is None or KILL_KINDS.index(kind) < KILL_KINDS.index(best["kind"]):
                    best = summary
            if best is not None and best["kind"] != "unknown" and not exhaustive:
                report["kill"] = best
                return report
    if best is not None:
        report["kill"] = best
    if measure:
        report["coverage"] = {
            case: {path: sorted(numbers) for path, numbers in files.items()} for case, files in lines.items()
        }
    return report


def child_main(request_json: str) -> int:
    """Entry point of the child process (see ``_BOOT``): one JSON line on stdout."""
    request = json.loads(request_json)
    started = time.perf_counter()
    try:
        report = _run_child(request, started)
    except Exception as error:  # a failure of the harness, not of the model
        report = {"error": "".join(traceback.format_exception(error))[-2000:]}
    report["child_seconds"] = round(time.perf_counter() - started, 2)
    print(RESULT_MARK + json.dumps(report), flush=True)
    return 0


# --- the parent -------------------------------------------------------------------------


def _child_env(root: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        CLEARSPEC_SLOW_CHECKS="1",  # every contract on, as clearspec prove runs
        PYTHONHASHSEED="0",  # term order must not depend on string hashing (see runner)
        PYTHONPATH=os.pathsep.join([str(root / "model"), str(root / "proofs")]),
        PYTHONDONTWRITEBYTECODE="1",
    )
    env[MINIMISE_ENV] = "0"  # a kill needs the verdict, not the smallest counterexample
    return env


COPY = "<copy>"  # what a mutant's report calls the temporary copy it ran in
_LIVE: set[int] = set()  # process groups of running children, ended if the campaign is interrupted
_LIVE_LOCK = threading.Lock()


def _end_children() -> None:
    with _LIVE_LOCK:
        for group in list(_LIVE):
            with suppress(ProcessLookupError):
                os.killpg(group, signal.SIGKILL)


def run_mutant(
    mutant: Mutant,
    source: Path | None = None,
    *,
    base: ProtocolParams,
    cases: Sequence[str] | None = None,
    escalate: bool = True,
    rlimit: int | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    ignore: Iterable[str] = (),
    exhaustive: bool = False,
    coverage: bool = False,
) -> dict[str, Any]:
    """Plant ``mutant`` in a temporary copy, prove there, and say whether it was killed.

    ``cases``: the transitions to prove, in order (default: the mutant's own,
    then, with ``escalate``, every other one and the lemmas). ``exhaustive``:
    do not stop at a kill, list every failure (the baseline). ``coverage``:
    record the model lines each transition runs. ``base``: the parameter set
    (``params_for``), the caller's."""
    from clearspec.params_file import params_to_json

    source = source or find_source()
    if cases is None:
        cases = [*mutant.cases, "*"] if escalate else list(mutant.cases)
    record: dict[str, Any] = {
        "id": mutant.id,
        "file": mutant.file,
        "category": mutant.category,
        "bug": mutant.bug,
        "params": mutant.params,
        "cases": list(mutant.cases),
        "expected": "survive" if mutant.expected_to_survive else "killed",
    }
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix=f"clearspec-mutant-{mutant.id}-") as folder:
        root = Path(folder)
        make_copy(mutant, source, root)
        request = {
            "root": str(root),
            "cases": list(cases),
            "params": mutant.params,
            "base_params": params_to_json(base),
            "rlimit": rlimit,
            "ignore": sorted(ignore),
            "exhaustive": exhaustive,
            "coverage": coverage,
        }
        command = [sys.executable, "-c", _BOOT, str(root), json.dumps(request)]
        child = subprocess.Popen(
            command,
            cwd=root,
            env=_child_env(root),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,  # its own process group, so a timeout ends all of it
        )
        with _LIVE_LOCK:
            _LIVE.add(child.pid)
        try:
            out, err = child.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            with suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGKILL)
            child.communicate()
            record.update(status="timeout", seconds=round(time.perf_counter() - started, 2))
            record["detail"] = f"no verdict within {timeout:.0f}s"
            return _with_reason(record, mutant)
        finally:
            with _LIVE_LOCK:
                _LIVE.discard(child.pid)
    record["seconds"] = round(time.perf_counter() - started, 2)
    # The copy's temporary folder means nothing on another machine: a report
    # names it COPY (paths inside the copy stay readable, e.g. COPY/model/...).
    out, err = out.replace(str(root), COPY), err.replace(str(root), COPY)
    lines = [line for line in out.splitlines() if line.startswith(RESULT_MARK)]
    if not lines:
        record.update(status="error", detail=f"the child exited {child.returncode}: {err[-1500:]}")
        return _with_reason(record, mutant)
    report = json.loads(lines[-1][len(RESULT_MARK) :])
    if "error" in report:
        record.update(status="error", detail=report["error"])
        return _with_reason(record, mutant)
    kill = report.get("kill")
    record.update(
        status="killed" if kill else "survived",
        kill=kill,
        # Killed only by a transition the catalogue did not name: its cases are incomplete.
        escalated=bool(kill) and kill.get("case") not in mutant.cases,
        model=report.get("model", ""),
        cases_run=report["cases_run"],
        units=report["units"],
        failures=report["failures"],
        obligations_checked=sum(u.get("obligations", 0) for u in report["units"]),
        first_counterexample_s=report.get("first_counterexample_s"),
    )
    if "coverage" in report:
        record["coverage"] = report["coverage"]
    return _with_reason(record, mutant)


def _with_reason(record: dict[str, Any], mutant: Mutant) -> dict[str, Any]:
    if mutant.equivalent:
        record["equivalent"] = mutant.equivalent
    if mutant.missing:
        record["missing"] = mutant.missing
    return record


def baseline(
    source: Path,
    variant: str,
    *,
    base: ProtocolParams,
    rlimit: int | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> dict[str, Any]:
    """The model unchanged, every transition and the lemmas under ``variant``,
    without stopping at a failure and with coverage: which obligations fail
    without any mutant (they cannot kill one: a load-sensitive ``unknown`` does
    not count), and which model lines each transition runs."""
    control = replace(IDENTITY, id=f"BASELINE-{variant}", params=variant)
    record = run_mutant(
        control,
        source,
        base=base,
        cases=["*"],
        rlimit=rlimit,
        timeout=timeout,
        exhaustive=True,
        coverage=True,
    )
    record["not_proved"] = [f["obligation"] for f in record.get("failures", [])]
    return record


def snippet_span(mutant: Mutant, source: Path) -> tuple[int, int]:
    """The first and last line of the smallest statement holding the mutant's
    snippet (coverage reports statements, not every line of one)."""
    text = (source / "model" / "clearspec" / mutant.file).read_text()
    first = text.count("\n", 0, text.index(mutant.original)) + 1
    last = first + mutant.original.count("\n")
    holding = [
        node
        for node in ast.walk(ast.parse(text))
        if isinstance(node, ast.stmt) and node.lineno <= first and (node.end_lineno or node.lineno) >= last
    ]
    if not holding:
        return first, last
    inner = min(holding, key=lambda node: (node.end_lineno or node.lineno) - node.lineno)
    return inner.lineno, inner.end_lineno or inner.lineno


def reached_by(mutant: Mutant, source: Path, coverage: dict[str, dict[str, list[int]]]) -> list[str]:
    """The transitions (and "lemma") that run a line of the mutant's statement, in
    the baseline's order. A transition that never runs it proves the same
    obligations on the mutant as on the model, so it cannot kill it. Lines run
    while the parameters are built count for every transition."""
    first, last = snippet_span(mutant, source)

    def runs(case: str) -> bool:
        return any(first <= line <= last for line in coverage.get(case, {}).get(mutant.file, ()))

    cases = [case for case in coverage if case != "setup"]
    return cases if runs("setup") else [case for case in cases if runs(case)]


def select(only: Sequence[str] | None) -> list[Mutant]:
    """The catalogue entries whose id is, or starts with, one of ``only`` (all when
    None; ``IDENTITY`` selects the control)."""
    if not only:
        return list(MUTANTS)
    chosen = [m for m in (*MUTANTS, IDENTITY) if any(m.id == p or m.id.startswith(p) for p in only)]
    if not chosen:
        raise MutationError(f"no mutant matches {', '.join(only)}")
    return chosen


def summarise(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Kill rates and the lists a reader needs: survivors with their reasons,
    catalogue expectations that turned out wrong."""
    total = len(records)
    killed = [r for r in records if r["status"] == "killed"]
    firm = [r for r in killed if r["kill"]["kind"] != "unknown"]
    survived = [r for r in records if r["status"] == "survived"]
    # Equivalent mutants (by the catalogue) are no test of the proofs: the score
    # leaves them out, whatever the solver said about them.
    equivalent = [r for r in records if r.get("equivalent")]
    scored = [r for r in records if not r.get("equivalent")]
    scored_firm = [r for r in firm if not r.get("equivalent")]
    by_kind = {kind: sum(1 for r in killed if r["kill"]["kind"] == kind) for kind in KILL_KINDS}
    firsts = sorted(
        r["first_counterexample_s"] for r in killed if r.get("first_counterexample_s") is not None
    )
    categories: dict[str, dict[str, int]] = {}
    for r in records:
        entry = categories.setdefault(r["category"], {"total": 0, "killed": 0})
        entry["total"] += 1
        entry["killed"] += r["status"] == "killed"
    return {
        "total": total,
        "killed": len(killed),
        "killed_firm": len(firm),
        "killed_unknown_only": len(killed) - len(firm),
        "survived": len(survived),
        "timeout": sum(1 for r in records if r["status"] == "timeout"),
        "error": sum(1 for r in records if r["status"] == "error"),
        "kill_rate": round(len(killed) / total, 4) if total else 0.0,
        "firm_kill_rate": round(len(firm) / total, 4) if total else 0.0,
        "equivalent": len(equivalent),
        "firm_score_without_equivalent": round(len(scored_firm) / len(scored), 4) if scored else 0.0,
        "by_kind": by_kind,
        "by_category": categories,
        # Seconds from a killed mutant's child start to its first counterexample.
        "first_counterexample_s": {
            "mutants": len(firsts),
            "max": firsts[-1] if firsts else None,
            "median": firsts[len(firsts) // 2] if firsts else None,
        },
        "killed_outside_own_cases": [r["id"] for r in killed if r.get("escalated")],
        "survivors": [
            {
                "id": r["id"],
                "bug": r["bug"],
                "run_by": r.get("cases_run", []),
                "equivalent": r.get("equivalent", ""),
                "missing": r.get("missing", ""),
            }
            for r in survived
        ],
        # Killed only because the solver gave up: the obligation is load-sensitive, and for a
        # mutant the catalogue expects to survive the kill says nothing about the proofs.
        "unknown_only": [
            {
                "id": r["id"],
                "obligation": r["kill"]["obligation"],
                "expected_to_survive": r.get("equivalent") or r.get("missing") or "",
            }
            for r in killed
            if r["kill"]["kind"] == "unknown"
        ],
        "unexpected_survivors": [r["id"] for r in survived if r["expected"] == "killed"],
        "unexpected_kills": [r["id"] for r in firm if r["expected"] == "survive"],
    }


def campaign(
    mutants: Sequence[Mutant],
    source: Path | None = None,
    *,
    base: ProtocolParams,
    workers: int = 1,
    escalate: bool = True,
    use_baseline: bool = True,
    rlimit: int | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Run every mutant (``workers`` at a time) and return the JSON report.

    The tree is copied once first, so that edits to the working tree during a
    long campaign do not mix two versions of the model. With the baseline, a
    mutant is proved on the transitions that run its line (its own first);
    without, on its own transitions and then, with ``escalate``, on all.
    ``base``: the parameter set the mutants are proved under (``params_for``)."""
    source = source or find_source()
    for mutant in mutants:
        mutated_text(mutant, source)  # fail early if the catalogue no longer matches
    say = progress or (lambda line: None)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="clearspec-mutation-snapshot-") as folder:
        snapshot = Path(folder)
        ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".mypy_cache", "*.egg-info")
        for part in ("model", "proofs"):
            shutil.copytree(source / part, snapshot / part, ignore=ignore)
        pool = ThreadPoolExecutor(max_workers=max(1, workers))
        try:
            baselines = _baselines(pool, mutants, snapshot, base, use_baseline, rlimit, timeout, say)
            futures: dict[Future[dict[str, Any]], Mutant] = {}
            for m in mutants:
                cases: list[str] | None = None
                if m.params in baselines:
                    reach = reached_by(m, snapshot, baselines[m.params].get("coverage", {}))
                    cases = [c for c in m.cases if c in reach]
                    cases += [c for c in reach if c not in cases] if escalate else []
                job = pool.submit(
                    run_mutant,
                    m,
                    snapshot,
                    base=base,
                    cases=cases,
                    escalate=escalate,
                    rlimit=rlimit,
                    timeout=timeout,
                    ignore=baselines.get(m.params, {}).get("not_proved", ()),
                )
                futures[job] = m
            records = []
            for done, future in enumerate(as_completed(futures), start=1):
                record = future.result()
                records.append(record)
                say(f"[{done}/{len(futures)}] {_describe(record)}")
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            _end_children()
            raise
        pool.shutdown()
    order = {m.id: i for i, m in enumerate(mutants)}
    records.sort(key=lambda r: order[r["id"]])
    return {
        "environment": {
            "python": platform.python_version(),
            "cores": os.cpu_count(),
            "workers": workers,
            "rlimit": rlimit,
            "timeout_s": timeout,
            "escalate": escalate,
            "baseline": use_baseline,
        },
        "wall_s": round(time.perf_counter() - started, 1),
        "baseline": {
            v: {
                k: b.get(k)
                for k in ("status", "not_proved", "failures", "obligations_checked", "seconds", "cases_run")
            }
            for v, b in baselines.items()
        },
        "summary": summarise(records),
        "mutants": records,
    }


def _baselines(
    pool: ThreadPoolExecutor,
    mutants: Sequence[Mutant],
    snapshot: Path,
    base: ProtocolParams,
    use_baseline: bool,
    rlimit: int | None,
    timeout: float,
    say: Callable[[str], None],
) -> dict[str, dict[str, Any]]:
    if not use_baseline:
        return {}
    variants = sorted({m.params for m in mutants})
    say(f"baseline: the unchanged model under {', '.join(variants)} (every transition, with coverage)")
    jobs = {
        v: pool.submit(baseline, snapshot, v, base=base, rlimit=rlimit, timeout=timeout) for v in variants
    }
    found = {}
    for variant, job in jobs.items():
        b = job.result()
        if b["status"] in ("error", "timeout"):
            raise MutationError(f"the baseline under {variant} failed: {b.get('detail', '')}")
        found[variant] = b
        say(
            f"baseline {variant}: {b['obligations_checked']} obligations, "
            f"not proved: {b['not_proved'] or 'none'} ({b['seconds']:.1f}s)"
        )
    return found


def _describe(record: dict[str, Any]) -> str:
    head = f"{record['id']}: {record['status']}"
    if record["status"] == "killed":
        kill = record["kill"]
        head += f" ({kill['kind']}) by {kill['obligation']}"
        if record.get("escalated"):
            head += " [not one of its own transitions]"
    elif record["status"] in ("error", "timeout"):
        head += f": {str(record.get('detail', ''))[:200]}"
    if record["status"] != "killed" and record["expected"] == "killed":
        head += "  <- UNEXPECTED"
    if record["status"] == "killed" and record["expected"] == "survive":
        head += "  <- expected to survive"
    return f"{head} ({record['seconds']:.1f}s)"


def relabel(report: dict[str, Any]) -> dict[str, Any]:
    """``report`` with each mutant's expectation and reason taken afresh from the
    catalogue, and the summary recomputed: for when the reasons are written
    after a long campaign (the verdicts, being measured, are kept as they are)."""
    for record in report["mutants"]:
        try:
            mutant = next(m for m in (*MUTANTS, IDENTITY) if m.id == record["id"])
        except StopIteration:
            continue
        record.pop("equivalent", None)
        record.pop("missing", None)
        record["expected"] = "survive" if mutant.expected_to_survive else "killed"
        _with_reason(record, mutant)
    report["summary"] = summarise(report["mutants"])
    report["relabelled"] = time.strftime("%Y-%m-%dT%H:%M:%S")
    return report


def print_table(report: dict[str, Any]) -> None:
    """One row per mutant, then the figure and the survivors with their reasons."""
    records = report["mutants"]
    width = max(len(r["id"]) for r in records)
    for r in records:
        how = r["kill"]["kind"] if r["status"] == "killed" else ""
        by = r["kill"]["obligation"] if r["status"] == "killed" else r.get("detail", "")
        print(f"{r['id']:<{width}}  {r['status']:<8} {how:<25} {r['seconds']:>7.1f}s  {by}")
    s = report["summary"]
    print(
        f"\n{s['killed']} of {s['total']} killed ({100 * s['kill_rate']:.1f}%), "
        f"{s['killed_firm']} firmly ({100 * s['firm_kill_rate']:.1f}%), "
        f"{s['killed_unknown_only']} only by solver 'unknown'; {s['survived']} survived"
        f"; {s['timeout']} timed out, {s['error']} errors\n"
        f"without the {s['equivalent']} equivalent mutants: "
        f"{100 * s['firm_score_without_equivalent']:.1f}% killed firmly"
    )
    for survivor in s["survivors"]:
        reason = survivor["equivalent"] and f"equivalent: {survivor['equivalent']}"
        reason = reason or (survivor["missing"] and f"missing: {survivor['missing']}") or "NO REASON RECORDED"
        print(f"  survived {survivor['id']}: {reason}")
    for entry in s["unknown_only"]:
        reason = entry["expected_to_survive"]
        note = f"; the catalogue expects it to survive: {reason}" if reason else ""
        print(f"  killed only by 'unknown' {entry['id']}: {entry['obligation']}{note}")
    for ident in s["unexpected_kills"]:
        print(f"  killed although the catalogue expected it to survive: {ident}")


def plot(report: dict[str, Any], path: Path) -> None:
    """Per category: mutants killed firmly, killed by 'unknown' only, survived."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    categories = sorted({r["category"] for r in report["mutants"]})
    counts: dict[str, list[int]] = {"killed": [], "killed (unknown only)": [], "survived": [], "other": []}
    for category in categories:
        rows = [r for r in report["mutants"] if r["category"] == category]
        killed = [r for r in rows if r["status"] == "killed"]
        firm = sum(1 for r in killed if r["kill"]["kind"] != "unknown")
        counts["killed"].append(firm)
        counts["killed (unknown only)"].append(len(killed) - firm)
        counts["survived"].append(sum(1 for r in rows if r["status"] == "survived"))
        counts["other"].append(sum(1 for r in rows if r["status"] in ("timeout", "error")))
    figure, axes = plt.subplots(figsize=(8, 4))
    bottom = [0] * len(categories)
    colours = {
        "killed": "#2a9d8f",
        "killed (unknown only)": "#e9c46a",
        "survived": "#e76f51",
        "other": "#999",
    }
    for label, values in counts.items():
        axes.bar(categories, values, bottom=bottom, label=label, color=colours[label])
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    s = report["summary"]
    axes.set_title(
        f"clearspec mutate: {s['killed']}/{s['total']} mutants killed ({100 * s['kill_rate']:.1f}%)"
    )
    axes.set_ylabel("mutants")
    axes.legend()
    plt.setp(axes.get_xticklabels(), rotation=30, ha="right")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m clearspec_proofs.mutation``: the same options as ``clearspec mutate``."""
    from clearspec_proofs.mutation_cli import add_arguments, run

    parser = argparse.ArgumentParser(
        prog="python -m clearspec_proofs.mutation", description="Mutation testing of the proofs."
    )
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
