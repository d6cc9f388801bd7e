"""Benchmark of `clearspec prove`: wall time on every core, and the speed-up over one.

Run as ``python bench/bench_prove.py [--out bench/results/prove.json]``. The
figure of the issue is the whole run on 2 cores (target: at most 60 s).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

from clearspec_proofs.runner import prove_all
from clearspec_tools.examples import example_params


def measure(workers: int) -> dict[str, Any]:
    """One full run with ``workers`` processes."""
    started = time.perf_counter()
    results = prove_all(
        example_params(), workers=workers, progress=lambda line: print(f"  {line}", file=sys.stderr)
    )
    wall = time.perf_counter() - started
    return {
        "workers": workers,
        "wall_s": round(wall, 2),
        "obligations": len(results),
        "proved": sum(1 for r in results if r["status"] == "proved"),
        "solver_s": round(sum(r["seconds"] for r in results), 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, help="write the figures as JSON here")
    parser.add_argument("--single", action="store_true", help="also time a one-process run, for the speed-up")
    args = parser.parse_args(argv)
    cores = os.cpu_count() or 1
    print(f"[bench] clearspec prove on {cores} core(s)", file=sys.stderr)
    runs = [measure(cores)]
    if args.single and cores > 1:
        print("[bench] the same on one process", file=sys.stderr)
        runs.append(measure(1))
    report: dict[str, Any] = {
        "environment": {"python": platform.python_version(), "cores": cores},
        "runs": runs,
        "target_s": 60,
        "target_met": runs[0]["wall_s"] <= 60 and runs[0]["proved"] == runs[0]["obligations"],
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
