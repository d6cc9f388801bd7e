"""Hostile-input campaign: every command on hostile input, each under a timeout.

Inputs of every kind the CLI takes (bench/fuzz_inputs.py): parameter files,
price files, option values, output paths, conformance suites, designers'
invariant modules and standard streams or signals that need a real process;
the fixed classics (a device, a FIFO, a 100,000-level JSON, 1e999999999) and
as many more drawn from a seeded generator as ``--inputs`` asks (a valid
input of each kind with 1..3 hostile edits). Each runs in a child forked from
this warm process, or in a real process where it must (bench/fuzz_run.py),
under a timeout, and is classified ``clear-error``, ``success``,
``traceback``, ``hang`` or ``wrong-success`` (a success for an input no
command may accept). Writes ``bench/results/fuzz.json``; the test suite runs
the quick campaign.

    nice -n 10 python bench/bench_fuzz.py --inputs 100000 [--seed 1] [--timeout 60]
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import io
import itertools
import json
import os
import re
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from bench.fuzz_inputs import Case, Inputs
from bench.fuzz_run import prepare, run_case

ROOT = Path(__file__).resolve().parent.parent
OUTCOMES = ("clear-error", "success", "traceback", "hang", "wrong-success")
QUICK_INPUTS = 300  # the fixed cases (about 250) and some drawn ones


def _preload() -> None:
    """Import what the commands import lazily, once, before the first fork."""
    import importlib

    for name in (
        "clearspec_tools.cli",
        "clearspec_tools.simulate.runner",
        "clearspec_tools.simulate.sweep",
        "clearspec_tools.simulate.report",
        "clearspec_tools.vectors.runner",
        "clearspec_tools.vectors.confirm",
        "clearspec_tools.vectors.generate",
        "clearspec_proofs.safe_region",
        "clearspec_proofs.symbolic",
    ):
        importlib.import_module(name)


def _warm(inputs: Inputs) -> None:
    """Run a small simulate and a parameter file's load here, once, output thrown
    away: what they compute lazily then is inherited by every child."""
    from clearspec_tools.cli import main

    argv = inputs.simulate("--params", str(inputs.params_file()))
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        main(list(argv))
    shutil.rmtree(argv[8], ignore_errors=True)


class Progress:
    """A progress bar on standard error (a line a minute when it is not a terminal)."""

    def __init__(self, total: int, enabled: bool) -> None:
        self.total, self.enabled = total, enabled
        self.began = self.shown = time.monotonic()
        self.terminal = sys.stderr.isatty()

    def update(self, done: int, bad: int) -> None:
        now = time.monotonic()
        if not self.enabled or ((now - self.shown < (0.5 if self.terminal else 60)) and done < self.total):
            return
        self.shown = now
        rate = done / max(now - self.began, 1e-9)
        left = (self.total - done) / rate if rate else 0
        filled = int(30 * done / max(self.total, 1))
        line = (
            f"fuzz [{'#' * filled}{'-' * (30 - filled)}] {done:,}/{self.total:,} {rate:.1f}/s "
            f"eta {int(left) // 60}m{int(left) % 60:02d}s bad {bad} load {os.getloadavg()[0]:.2f}"
        )
        print("\r" + line if self.terminal else line, end="" if self.terminal else "\n", file=sys.stderr)
        if self.terminal and done >= self.total:
            print(file=sys.stderr)


def campaign(
    seed: int = 1,
    inputs: int = QUICK_INPUTS,
    timeout: float = 60.0,
    progress: bool = False,
    keep_results: bool = True,
    on_bad: Callable[[dict[str, Any]], None] | None = None,
    checkpoint: Callable[[dict[str, Any]], None] | None = None,
    replay: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """Run the fixed cases and enough drawn ones to make ``inputs``; counts per kind
    and outcome, and every case that is not a clear error or a success. With
    ``replay`` (names such as ``drawn-2643``), run only those cases of the same
    seed: the inputs are drawn exactly as before, the others not run."""
    os.environ.pop("CLEARSPEC_SLOW_CHECKS", None)
    _preload()
    results: list[dict[str, Any]] = []
    bad: list[dict[str, Any]] = []
    counts: dict[str, Counter[str]] = {}
    seconds: dict[str, float] = {}
    slowest: list[dict[str, Any]] = []
    load_before = os.getloadavg()
    cpu_before = os.times()
    fixed: list[Any] = []

    def summary() -> dict[str, Any]:
        total_counts: Counter[str] = Counter()
        for c in counts.values():
            total_counts.update(c)
        cpu = os.times()
        return {
            "seed": seed,
            "timeout_s": timeout,
            "inputs": sum(total_counts.values()),
            "fixed": len(fixed),
            "drawn": sum(total_counts.values()) - len(fixed),
            "outcomes": {o: total_counts[o] for o in OUTCOMES},
            "by_kind": {kind: {o: c[o] for o in OUTCOMES if c[o]} for kind, c in counts.items()},
            "seconds_by_kind": {kind: round(s, 1) for kind, s in seconds.items()},
            # This process and every child, user and system: what the campaign costs
            # a core, whatever else the machine was running.
            "cpu_seconds": round(sum(cpu[:4]) - sum(cpu_before[:4]), 1),
            "slowest": [
                _scrubbed({k: r[k] for k in ("kind", "name", "outcome", "seconds")}) for r in slowest
            ],
            "bad": [_scrubbed(r) for r in bad],
            "load_average_before": [round(x, 2) for x in load_before],
            "load_average_after": [round(x, 2) for x in os.getloadavg()],
        }

    with tempfile.TemporaryDirectory(prefix="clearspec-fuzz-") as folder:
        work = Path(folder)
        cwd = os.getcwd()
        os.chdir(work)  # relative outputs (x.png, out/...) land in the scratch folder
        try:
            source = Inputs(work, seed)
            fixed = list(source.fixed())
            source.prepare_suites()  # before the freeze: the suite cases' source is read once
            _warm(source)
            prepare()
            gc.collect()
            gc.freeze()  # the children do not copy the warm heap's pages to collect it
            total = max(inputs, len(fixed))
            bar = Progress(total, progress)
            # Drawn one at a time: a case's files exist only while it runs.
            cases: Iterator[Case] = itertools.chain(fixed, source.drawn(total - len(fixed)))
            if replay:
                last = max((_drawn_index(name) for name in replay), default=-1)
                cases = (c for c in itertools.chain(fixed, source.drawn(last + 1)) if _case_id(c) in replay)
            for done, case in enumerate(cases, 1):
                result = run_case(case, timeout, work)
                for path in case.scratch:
                    _remove(path)
                counts.setdefault(case.kind, Counter())[result["outcome"]] += 1
                seconds[case.kind] = seconds.get(case.kind, 0.0) + result["seconds"]
                slowest = sorted([*slowest, result], key=lambda r: -r["seconds"])[:10]
                if result["outcome"] in ("traceback", "hang", "wrong-success"):
                    bad.append(result)
                    if on_bad is not None:
                        on_bad(result)
                if keep_results:
                    results.append(result)
                bar.update(done, len(bad))
                if checkpoint is not None and done % 2_000 == 0:
                    checkpoint({**summary(), "complete": False})
        finally:
            os.chdir(cwd)
            gc.unfreeze()
    return {**summary(), "complete": True, "results": results}


def _scrubbed(result: dict[str, Any]) -> dict[str, Any]:
    """``result`` with the scratch folder's machine path written ``<work>``: the
    committed figures do not depend on where the campaign ran."""
    scrubbed: dict[str, Any] = json.loads(
        re.sub(r"/[^\"]*?/clearspec-fuzz-[a-z0-9_]+", "<work>", json.dumps(result))
    )
    return scrubbed


def _case_id(case: Case) -> str:
    """``drawn-N`` for a drawn case (its name goes on with what was edited), else the name."""
    head = case.name.split(":", 1)[0]
    return "-".join(head.split("-")[:2]) if head.startswith("drawn-") else case.name


def _drawn_index(name: str) -> int:
    parts = name.split("-")
    return int(parts[1]) if name.startswith("drawn-") and len(parts) > 1 and parts[1].isdigit() else -1


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(OSError):
            path.unlink()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help=f"the test suite's campaign ({QUICK_INPUTS} inputs)"
    )
    parser.add_argument("--inputs", type=int, default=2_000, help="inputs in all, fixed and drawn (2000)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the drawn inputs (1)")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per input (60)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on standard error")
    parser.add_argument(
        "--replay",
        action="append",
        default=[],
        metavar="NAME",
        help="run only this case of the seed's campaign (drawn-N or a fixed case's name; repeatable); "
        "nothing is written",
    )
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "fuzz.json"))
    args = parser.parse_args(argv)

    def report_bad(result: dict[str, Any]) -> None:
        print(
            f"\n  {result['outcome'].upper()}: {result['kind']} {result['name']}: {result['message']}",
            file=sys.stderr,
        )

    began = time.perf_counter()
    count = QUICK_INPUTS if args.quick else args.inputs

    def save(data: dict[str, Any]) -> None:
        data["seconds"] = round(time.perf_counter() - began, 1)
        data["inputs_per_second"] = round(data["inputs"] / max(data["seconds"], 1e-9), 1)
        data["niceness"] = os.nice(0)
        data["cores"] = os.cpu_count()
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(
            json.dumps({k: v for k, v in data.items() if k != "results"}, indent=1) + "\n"
        )

    if args.replay:
        data = campaign(args.seed, count, args.timeout, keep_results=True, replay=frozenset(args.replay))
        for result in data["results"]:
            print(f"{result['outcome']:<13} {result['kind']} {result['name']}: {result['message']}")
        return 1 if data["bad"] or len(data["results"]) != len(set(args.replay)) else 0
    data = campaign(
        args.seed,
        count,
        args.timeout,
        not args.no_progress,
        keep_results=False,
        on_bad=report_bad,
        checkpoint=save,  # a campaign stopped early leaves its figures so far ("complete": false)
    )
    save(data)
    rate = data["inputs_per_second"]
    print(f"{data['inputs']} hostile inputs in {data['seconds']} s ({rate}/s): {data['outcomes']}")
    for kind, kind_counts in data["by_kind"].items():
        print(f"  {kind:<12} {kind_counts}")
    for bad in data["bad"][:50]:
        print(f"  {bad['outcome'].upper()}: {bad['kind']} {bad['name']}: {bad['message']}")
    return 1 if data["bad"] else 0


if __name__ == "__main__":
    sys.exit(main())
