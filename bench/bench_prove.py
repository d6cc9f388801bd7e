"""Benchmark of `clearspec prove`: wall time on every core, and the speed-up over one.

Run as ``python bench/bench_prove.py [--out bench/results/prove.json]``. The
figure is the whole run on 2 cores from a cold start, the proof cache off (target:
at most 30 s), with obligations per second.

``--reprove``: the proof cache's figure instead. In a copy of ``model/`` and
``proofs/`` with an empty cache, prove everything (cold), make a one-line
change to one transition (``--edit``), prove again (warm: only the queries
whose text changed are solved), and time the tracing alone, which a warm run
cannot skip (target: the re-prove within 5 s).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from clearspec_proofs.runner import prove_all
from clearspec_tools.examples import example_params


def measure(workers: int) -> dict[str, Any]:
    """One full run with ``workers`` processes."""
    started = time.perf_counter()
    results = prove_all(
        example_params(),
        workers=workers,
        progress=lambda line: print(f"  {line}", file=sys.stderr),
        cache="off",  # the cold figure: every query solved
    )
    wall = time.perf_counter() - started
    return {
        "workers": workers,
        "wall_s": round(wall, 2),
        "obligations": len(results),
        "proved": sum(1 for r in results if r["status"] == "proved"),
        "solver_s": round(sum(r["seconds"] for r in results), 2),
        "obligations_per_s": round(len(results) / wall, 1),
    }


ROOT = Path(__file__).resolve().parent.parent
# The default one-line change: deposit's new balance gains a term that is always 0,
# so the deposit transitions' queries change and every other transition's stay.
DEFAULT_EDIT = (
    "collateral.py",
    "account.balance(action.asset) + action.amount)",
    "account.balance(action.asset) + action.amount + 0 * action.amount)",
)
_TRACE_ONLY = """
import os, sys, time
os.environ["CLEARSPEC_SLOW_CHECKS"] = "1"
from clearspec.errors import ClearingError
from clearspec_tools.examples import example_params
from clearspec_proofs.engine import goals_for, trace_case
from clearspec_proofs.transitions import CASES
params = example_params()
started = time.process_time()
for case in CASES:
    if case.applies(params):
        try:
            world, after, trace = trace_case(case, params)
            goals_for(case, world, after, trace, params)
        except ClearingError:
            pass
print(time.process_time() - started)
"""


def _prove_copy(root: Path, cache: Path, workers: int, only: str | None) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root / "model"), str(root / "proofs")])}
    command = [
        sys.executable,
        "-m",
        "clearspec_tools.cli",
        "prove",
        "--json",
        "--quiet",
        "--cache-dir",
        str(cache),
    ]
    command += ["--workers", str(workers), "--counterexamples", str(root / "out")]
    command += ["--only", only] if only else []
    before = sum(1 for _ in cache.rglob("*.json")) if cache.exists() else 0
    started = time.perf_counter()
    done = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    summary = json.loads(done.stdout)["summary"] if done.stdout.strip() else {}
    return {
        "wall_s": round(wall, 2),
        "exit": done.returncode,
        "obligations": summary.get("total"),
        "proved": summary.get("proved"),
        "queries_solved_and_stored": sum(1 for _ in cache.rglob("*.json")) - before,
    }


def reprove(workers: int, edit: tuple[str, str, str], only: str | None = None) -> dict[str, Any]:
    """Cold prove, one-line edit, warm prove, and the tracing alone (see the module doc)."""
    with tempfile.TemporaryDirectory(prefix="clearspec-reprove-") as folder:
        root, cache = Path(folder), Path(folder) / "cache"
        ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".mypy_cache", "*.egg-info")
        for part in ("model", "proofs"):
            shutil.copytree(ROOT / part, root / part, ignore=ignore)
        print("[bench] cold: prove everything into an empty cache", file=sys.stderr)
        cold = _prove_copy(root, cache, workers, only)
        target = root / "model" / "clearspec" / edit[0]
        text = target.read_text()
        if text.count(edit[1]) != 1:
            raise SystemExit(f"the edit's text does not occur exactly once in {edit[0]}")
        target.write_text(text.replace(edit[1], edit[2]))
        print("[bench] warm: prove again after the edit", file=sys.stderr)
        warm = _prove_copy(root, cache, workers, only)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root / "model"), str(root / "proofs")])}
        traced = subprocess.run([sys.executable, "-c", _TRACE_ONLY], env=env, capture_output=True, text=True)
        trace_cpu = float(traced.stdout.strip() or "nan")
    return {
        "edit": {"file": edit[0], "from": edit[1], "to": edit[2]},
        "only": only,
        "workers": workers,
        "cold": cold,
        "warm": warm,
        "trace_all_cases_cpu_s": round(trace_cpu, 2),
        "target_s": 5,
        "target_met": warm["wall_s"] <= 5 and warm["proved"] == warm["obligations"] and only is None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, help="write the figures as JSON here")
    parser.add_argument("--single", action="store_true", help="also time a one-process run, for the speed-up")
    parser.add_argument(
        "--reprove", action="store_true", help="the proof cache's figure (see the module doc)"
    )
    parser.add_argument(
        "--only", help="with --reprove: prove only these transitions (clearspec prove --only)"
    )
    parser.add_argument(
        "--edit",
        nargs=3,
        metavar=("FILE", "OLD", "NEW"),
        help="the one-line change for --reprove, in model/clearspec/FILE (default: one in deposit)",
    )
    args = parser.parse_args(argv)
    if args.reprove:
        edit = (args.edit[0], args.edit[1], args.edit[2]) if args.edit else DEFAULT_EDIT
        figures = {
            "environment": {"python": platform.python_version(), "cores": os.cpu_count() or 1},
            **reprove(os.cpu_count() or 1, edit, args.only),
        }
        print(json.dumps(figures, indent=2))
        if args.out:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(figures, indent=2) + "\n")
        return 0 if figures["target_met"] else 1
    cores = os.cpu_count() or 1
    print(f"[bench] clearspec prove on {cores} core(s)", file=sys.stderr)
    runs = [measure(cores)]
    if args.single and cores > 1:
        print("[bench] the same on one process", file=sys.stderr)
        runs.append(measure(1))
    report: dict[str, Any] = {
        "environment": {"python": platform.python_version(), "cores": cores},
        "runs": runs,
        "target_s": 30,
        "target_met": runs[0]["wall_s"] <= 30 and runs[0]["proved"] == runs[0]["obligations"],
    }
    if len(runs) == 2:
        report["speedup"] = round(runs[1]["wall_s"] / runs[0]["wall_s"], 2)
    for run in runs:
        print(
            f"{run['workers']} worker(s): {run['wall_s']} s wall, {run['proved']}/{run['obligations']} proved"
        )
    if "speedup" in report:
        print(f"speed-up from {cores} cores: {report['speedup']}x")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2) + "\n")
    return 0 if report["target_met"] else 1


if __name__ == "__main__":
    sys.exit(main())
