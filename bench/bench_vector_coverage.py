"""Line and branch coverage of the model's transitions by the conformance vectors alone.

Generates the suite (or reads ``--suite DIR``), answers every case with the
reference in this process under coverage.py, and reports per module. Slow
checks are on, so the contracts' helper functions count too. Writes
``bench/results/vector_coverage.json``.

    python bench/bench_vector_coverage.py [--suite DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

os.environ["CLEARSPEC_SLOW_CHECKS"] = "1"  # before clearspec is imported

import coverage

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "model" / "clearspec"
# The modules that apply() reaches: the transitions and what they call.
TRANSITION_MODULES = (
    "transition",
    "collateral",
    "oracle",
    "margin",
    "trading",
    "positions",
    "funding",
    "liquidation",
    "collateral_liquidation",
    "deleveraging",
    "insurance",
    "expiry",
)
# Not measured: invariants.py and state.py, whose functions the contracts run
# (a check's failing branch runs only when the model is broken) or that build
# genesis (a vector starts from a given state).
# Functions in those modules that no transition calls: a reporter's signing
# helper and the sequencer's ranking helper (a Deleverage names its
# counterparties; the model checks their order, it does not compute it).
NOT_TRANSITIONS = {"oracle.sign_report", "deleveraging.adl_ranking"}


def _excluded_lines() -> dict[str, set[int]]:
    import ast

    found: dict[str, set[int]] = {}
    for qualified in NOT_TRANSITIONS:
        module, name = qualified.split(".")
        path = MODEL / f"{module}.py"
        tree = ast.parse(path.read_text())
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and node.name == name:
                found.setdefault(str(path), set()).update(
                    range(node.lineno, (node.end_lineno or node.lineno) + 1)
                )
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--suite", type=Path, help="a generated suite (default: generate one)")
    args = parser.parse_args()
    cov = coverage.Coverage(branch=True, include=[str(MODEL / f"{m}.py") for m in TRANSITION_MODULES])
    cov.start()
    from clearspec_tools.vectors.case import ParamsCache, answer
    from clearspec_tools.vectors.generate import write_suite

    suite = args.suite
    with tempfile.TemporaryDirectory() as scratch:
        if suite is None:
            cov.stop()  # the generator itself is not the vectors: measure only the answering
            suite = Path(scratch)
            print("generating the suite ...", file=sys.stderr)
            write_suite(suite)
            cov.start()
        cache = ParamsCache()
        lines = (suite / "bundle.jsonl").read_text().splitlines()
        for done, line in enumerate(lines, start=1):
            case = json.loads(line)
            request = {
                "id": case["id"],
                "params": case["params"],
                "pre_state": case["pre_state"],
                "actions": [s["action"] for s in case["steps"]],
            }
            answer(request, cache)
            if done % 500 == 0:
                print(f"{done}/{len(lines)} cases", file=sys.stderr)
        cov.stop()
    excluded = _excluded_lines()
    modules = {}
    total = {"statements": 0, "missing": 0, "branches": 0, "partial": 0}
    for module in TRANSITION_MODULES:
        path = str(MODEL / f"{module}.py")
        analysis = cov._analyze(path)  # the public API has no per-file numbers
        skip = excluded.get(path, set())
        statements = [n for n in analysis.statements if n not in skip]
        missing = sorted(n for n in analysis.missing if n not in skip)
        missing_branches = {
            line: targets for line, targets in analysis.missing_branch_arcs().items() if line not in skip
        }
        branches = 0
        partial = sum(len(t) for t in missing_branches.values())
        modules[module] = {
            "statements": len(statements),
            "missing_lines": missing,
            "missing_branches": {str(k): v for k, v in missing_branches.items()},
        }
        total["statements"] += len(statements)
        total["missing"] += len(missing)
        total["branches"] += branches
        total["partial"] += partial
    line_rate = 1 - total["missing"] / total["statements"]
    result = {
        "cases": len(lines),
        "line_coverage": round(line_rate, 4),
        "missing_lines": total["missing"],
        "missing_branches": total["partial"],
        "excluded_functions": sorted(NOT_TRANSITIONS),
        "modules": modules,
    }
    out = ROOT / "bench" / "results" / "vector_coverage.json"
    out.write_text(json.dumps(result, indent=1) + "\n")
    for module, info in modules.items():
        print(
            f"{module:<14} {info['statements']:>5} statements, missing lines {info['missing_lines']}, "
            f"missing branches {info['missing_branches']}"
        )
    print(
        f"lines {line_rate:.2%} ({total['missing']} missed), branches missed {total['partial']}; wrote {out}"
    )
    return 0 if total["missing"] == 0 and total["partial"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
