"""How much of the protocol model the prover's traces reach (PRF-4).

A proof covers only the code its trace ran: a branch the symbolic world never
takes is proved by nobody. This runs what ``clearspec prove`` traces - every
transition case of ``clearspec_proofs.transitions`` (``apply`` and the spec's
precondition table) and every lemma, under the example parameter set, its
variant where every market socialises losses and the set whose markets scale
initial margin with open interest (``paramsets/oi-caps.json``) - under coverage.py with branch
coverage, without asking the solver anything. Only the protocol modules are
measured; the kernel (whose concrete and symbolic halves never both run on one
value) and the sequencer-side helpers no transition calls are left out. Writes
``bench/results/trace_coverage.json`` and lists every unreached branch.

    python bench/bench_trace_coverage.py [--out FILE]
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import sys
from pathlib import Path
from typing import Any

os.environ["CLEARSPEC_SLOW_CHECKS"] = (
    "1"  # before clearspec is imported: every contract traced, as prove does
)

import coverage

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "model" / "clearspec"
OUT = ROOT / "bench" / "results" / "trace_coverage.json"
# The modules apply() reaches, and the invariants its contracts evaluate.
MODULES = (
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
    "invariants",
)
# Not traced by design: a reporter's signing helpers, the sequencer's ranking
# (a Deleverage names its counterparties; the model checks their order), the
# signature check and the median's sort (the fixed-order oracle replaces them,
# see clearspec_proofs.transitions), ``step`` (apply on concrete values, for
# replays) and the switch of the slow checks.
NOT_TRACED = {
    "oracle.sign_report",
    "oracle.report_message",
    "oracle.signature_valid",
    "oracle.lower_median",
    "deleveraging.adl_ranking",
    "transition.step",
    "invariants.set_slow_checks",
}
# The example set, its variant where every market socialises (ADL-6's branch),
# and the set whose markets scale initial margin with open interest (MRG-7).
PARAMETER_SETS = ("example", "socialise", "oi-caps")


def _excluded_lines() -> dict[str, set[int]]:
    found: dict[str, set[int]] = {}
    for qualified in NOT_TRACED:
        module, name = qualified.split(".")
        path = MODEL / f"{module}.py"
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.FunctionDef) and node.name == name:
                lines = range(node.lineno - len(node.decorator_list), (node.end_lineno or node.lineno) + 1)
                found.setdefault(str(path), set()).update(lines)
    return found


def trace_everything() -> tuple[list[str], list[str]]:
    """Every trace ``clearspec prove`` makes, under each parameter set of PARAMETER_SETS. Returns
    the traces rejected outright (expected: the cases whose action the spec
    always refuses) and those refused for a Python branch on a symbolic value
    (expected: none), each as ``SET/NAME: why``."""
    from clearspec import kernel as k
    from clearspec.errors import ClearingError, SymbolicBranchError
    from clearspec.params_file import load_params
    from clearspec_proofs.engine import _oracle_context, trace_case
    from clearspec_proofs.lemmas import lemmas
    from clearspec_proofs.mutation import params_for
    from clearspec_proofs.preconditions import spec_checks
    from clearspec_proofs.transitions import CASES
    from clearspec_tools.examples import example_params

    rejected: list[str] = []
    refused: list[str] = []
    for variant in PARAMETER_SETS:
        if variant == "oi-caps":
            params = load_params(ROOT / "proofs" / "clearspec_proofs" / "paramsets" / "oi-caps.json")
        else:
            params = params_for(variant, example_params())
        for case in CASES:
            if not case.applies(params):
                continue
            try:
                world, after, _ = trace_case(case, params)
                with _oracle_context(case), k.tracing():
                    spec_checks(world.ledger, world.action, after)
            except ClearingError as error:
                rejected.append(f"{variant}/{case.name}: {error.code.value}")
            except SymbolicBranchError as error:
                refused.append(f"{variant}/{case.name}: {error}")
        for lemma in lemmas(params):
            try:
                with k.tracing():
                    lemma.build(params)
            except SymbolicBranchError as error:
                refused.append(f"{variant}/lemma/{lemma.name}: {error}")
    return rejected, refused


def _source_line(path: Path, number: int) -> str:
    return path.read_text().splitlines()[number - 1].strip()


def measure() -> dict[str, Any]:
    cov = coverage.Coverage(
        branch=True, data_file=None, config_file=False, include=[str(MODEL / f"{m}.py") for m in MODULES]
    )
    cov.start()
    try:
        rejected, refused = trace_everything()
    finally:
        cov.stop()
    excluded = _excluded_lines()
    modules: dict[str, Any] = {}
    totals = {"statements": 0, "missing_lines": 0, "branches": 0, "missing_branches": 0}
    for module in MODULES:
        path = MODEL / f"{module}.py"
        analysis = cov._analyze(str(path))  # the public API has no per-file branch numbers
        skip = excluded.get(str(path), set())
        statements = [n for n in analysis.statements if n not in skip]
        missing = sorted(n for n in analysis.missing if n not in skip)
        # line -> (exits, exits taken), for every line that branches.
        stats = {line: exits for line, exits in analysis.branch_stats().items() if line not in skip}
        unreached = {
            line: sorted(targets)
            for line, targets in analysis.missing_branch_arcs().items()
            if line not in skip
        }
        branch_count = sum(total for total, _ in stats.values())
        unreached_count = sum(len(t) for t in unreached.values())
        modules[module] = {
            "statements": len(statements),
            "lines_reached": len(statements) - len(missing),
            "branches": branch_count,
            "branches_reached": branch_count - unreached_count,
            "missing_lines": missing,
            "missing_branches": [
                {"line": line, "to": targets, "source": _source_line(path, line)}
                for line, targets in sorted(unreached.items())
            ],
        }
        totals["statements"] += len(statements)
        totals["missing_lines"] += len(missing)
        totals["branches"] += branch_count
        totals["missing_branches"] += unreached_count
    lines = 1 - totals["missing_lines"] / totals["statements"]
    branches = 1 - totals["missing_branches"] / totals["branches"]
    return {
        "command": "python bench/bench_trace_coverage.py",
        "traced": "every transition case (apply and the spec's precondition table) and every lemma, "
        f"parameter sets: {', '.join(PARAMETER_SETS)}",
        "rejected_outright": rejected,
        "refused": refused,
        "line_coverage": round(lines, 4),
        "branch_coverage": round(branches, 4),
        "lines": totals["statements"],
        "missing_lines": totals["missing_lines"],
        "branches": totals["branches"],
        "missing_branches": totals["missing_branches"],
        "excluded_functions": sorted(NOT_TRACED),
        "modules": modules,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=OUT, help=f"the JSON file (default: {OUT})")
    out = parser.parse_args().out
    result = measure()
    out.write_text(json.dumps(result, indent=1) + "\n")
    for module, info in result["modules"].items():
        print(
            f"{module:<13} lines {info['lines_reached']:>4}/{info['statements']:<4} "
            f"branches {info['branches_reached']:>4}/{info['branches']:<4}"
        )
        for branch in info["missing_branches"]:
            print(f"    unreached: {module}.py:{branch['line']} -> {branch['to']}  {branch['source']}")
    print(
        f"traced: lines {result['line_coverage']:.1%}, branches {result['branch_coverage']:.1%} "
        f"({result['missing_branches']} of {result['branches']} branch arcs unreached); wrote {out}"
    )
    for entry in result["refused"]:
        print(f"REFUSED (PRF-4): {entry}")
    return 1 if result["refused"] else 0


if __name__ == "__main__":
    sys.exit(main())
