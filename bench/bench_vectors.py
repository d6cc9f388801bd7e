"""Conformance-vector benchmark: the runner's speed and the decoders' fuzz run.

(a) Runner. ``clearspec vectors run --reference`` on a suite, through the
    stdin/stdout protocol (VEC-6): cases per second, with one instance of the
    reference and with ``--jobs`` side by side (target: >= 1,000 cases/s). For
    scale, the reference's own rate on the same cases in this process, with no
    protocol at all: the runner cannot beat the model it drives.
    The suite is ``--suite DIR`` (a generated suite: ``clearspec vectors
    generate --out DIR``), else ``vectors/`` or ``out/vectors/`` when one was
    generated there, else the sample suite (clearspec_tools.vectors.samples) repeated
    to ``--cases`` cases.
(b) Fuzz. ``--fuzz N`` inputs (default 100,000) through decode_action,
    decode_state, decode_params and case.answer (clearspec_tools.vectors.fuzz):
    every one must decode or be refused with a wire code.

Writes ``bench/results/vectors.json`` and ``vectors.png``; progress on stderr.
Run it as shipped: with ``CLEARSPEC_SLOW_CHECKS`` unset (the tests set it).

    python bench/bench_vectors.py [--suite DIR] [--jobs 1,2] [--fuzz 100000]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from clearspec_tools.vectors.case import ParamsCache, answer
from clearspec_tools.vectors.cli import reference_command
from clearspec_tools.vectors.fuzz import run_fuzz
from clearspec_tools.vectors.runner import Suite, load_suite, run_suite
from clearspec_tools.vectors.samples import sample_cases

ROOT = Path(__file__).resolve().parent.parent
TARGET_CASES_PER_SECOND = 1_000
DEFAULT_SUITES = (ROOT / "vectors", ROOT / "out" / "vectors")


def progress(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def pick_suite(path: str | None, cases: int, samples_only: bool = False) -> tuple[Suite, str]:
    """The suite to run and where it came from."""
    candidates = [Path(path)] if path else [p for p in DEFAULT_SUITES if (p / "bundle.jsonl").is_file()]
    if samples_only:
        candidates = []
    if candidates:
        return load_suite(candidates[0]), str(candidates[0])
    if path:
        raise SystemExit(f"no suite at {path}")
    samples = sample_cases()
    repeated = [
        {**case, "id": f"{case['id']}/{n}"} for n in range(cases // len(samples) + 1) for case in samples
    ][:cases]
    return Suite(samples[0]["suite_version"], repeated, "samples"), f"samples x{cases}"


def in_process_rate(suite: Suite) -> float:
    """Cases per second of ``case.answer`` alone, no protocol and no comparison."""
    cache = ParamsCache()
    requests = [
        {
            "id": c["id"],
            "params": c["params"],
            "pre_state": c["pre_state"],
            "actions": [s["action"] for s in c["steps"]],
        }
        for c in suite.cases
    ]
    began = time.perf_counter()
    for request in requests:
        answer(request, cache)
    return len(requests) / (time.perf_counter() - began)


def measure_runner(suite: Suite, jobs_list: Sequence[int]) -> dict[str, Any]:
    rows: dict[str, Any] = {}
    for jobs in jobs_list:
        progress(f"runner, --jobs {jobs}: {len(suite.cases)} cases through the protocol")
        report = run_suite(suite, reference_command(), jobs=jobs)
        summary = report.summary()
        if summary["passed"] != summary["total"]:
            raise SystemExit(f"the reference did not pass its own suite: {summary}")
        rows[str(jobs)] = {
            "cases": summary["total"],
            "seconds": summary["seconds"],
            "cases_per_second": summary["cases_per_second"],
        }
        progress(f"  {summary['cases_per_second']} cases/s")
    progress("reference in-process, no protocol")
    rows["in_process"] = {"cases_per_second": round(in_process_rate(suite), 1)}
    progress(f"  {rows['in_process']['cases_per_second']} cases/s")
    return rows


def plot(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    runner = report["runner"]
    labels = [f"--jobs {j}" for j in runner if j != "in_process"] + ["in-process\n(no protocol)"]
    values = [row["cases_per_second"] for j, row in runner.items() if j != "in_process"]
    values.append(runner["in_process"]["cases_per_second"])
    left.bar(labels, values, color=["tab:blue"] * (len(values) - 1) + ["tab:gray"])
    left.axhline(TARGET_CASES_PER_SECOND, color="tab:red", linestyle="--", label="target 1,000 cases/s")
    left.set_ylabel("cases per second")
    left.set_title(f"runner --reference on {report['suite']['source']} ({report['suite']['cases']} cases)")
    left.legend()
    fuzz = report["fuzz"]
    targets = list(fuzz["outcomes"])
    codes = sorted({code for outcome in fuzz["outcomes"].values() for code in outcome})
    bottom = [0] * len(targets)
    for code in codes:
        heights = [fuzz["outcomes"][t].get(code, 0) for t in targets]
        right.bar(targets, heights, bottom=bottom, label=code)
        bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
    right.set_title(f"fuzz: {fuzz['inputs']:,} inputs, {fuzz['violations']} violations")
    right.set_ylabel("inputs")
    right.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--suite", metavar="DIR", help="a generated suite (directory or bundle.jsonl)")
    parser.add_argument("--cases", type=int, default=3_000, help="sample cases when no suite is found")
    parser.add_argument(
        "--samples", action="store_true", help="use the sample suite even if one was generated"
    )
    parser.add_argument("--jobs", default="1,2", help="comma-separated --jobs values to measure")
    parser.add_argument("--fuzz", type=int, default=100_000, metavar="N", help="fuzz inputs (0: skip)")
    parser.add_argument("--seed", type=int, default=0, help="fuzz seed")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "vectors.json"))
    args = parser.parse_args(argv)

    suite, source = pick_suite(args.suite, args.cases, args.samples)
    report: dict[str, Any] = {
        "environment": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "load_average": list(os.getloadavg()),
        },
        "suite": {"source": source, "cases": len(suite.cases), "suite_version": suite.suite_version},
        "target_cases_per_second": TARGET_CASES_PER_SECOND,
        "runner": measure_runner(suite, [int(j) for j in args.jobs.split(",") if j]),
    }
    progress(f"fuzz: {args.fuzz} inputs")
    fuzz = run_fuzz(args.fuzz, seed=args.seed, progress=lambda n, total: progress(f"  fuzz {n}/{total}"))
    report["fuzz"] = fuzz.to_json()
    report["environment"]["load_average_after"] = list(os.getloadavg())

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    try:
        plot(report, out.with_suffix(".png"))
    except (ImportError, RuntimeError, ValueError) as error:  # the figures stand without the plot
        progress(f"no plot: {error}")
    best = max(row["cases_per_second"] for j, row in report["runner"].items() if j != "in_process")
    print(
        f"runner: {best:.0f} cases/s at best (target {TARGET_CASES_PER_SECOND}); "
        f"reference in-process {report['runner']['in_process']['cases_per_second']:.0f} cases/s; "
        f"fuzz: {fuzz.inputs} inputs, {len(fuzz.violations)} violations, "
        f"{report['fuzz']['inputs_per_second']} inputs/s"
    )
    print(f"wrote {out}")
    return 0 if not fuzz.violations else 1


if __name__ == "__main__":
    sys.exit(main())
