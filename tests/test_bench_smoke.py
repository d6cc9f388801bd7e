"""Smoke test of bench/bench_core.py at tiny sizes: it runs and reports positive
ratios. No assertion on any timing: timings belong to the benchmark, not to tests."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench.bench_core import actions, build_ledger, contracts_active, measure_size_ratio, table

from clearspec.invariants import all_global_invariants
from clearspec.transition import apply

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "bench" / "bench_core.py"


def _positive(value: Any) -> bool:
    return isinstance(value, float) and math.isfinite(value) and value > 0


def test_built_ledger_is_consistent_and_accepts_every_action() -> None:
    ledger = build_ledger(1_000)
    assert len(ledger.accounts) == 1_000
    assert all_global_invariants(ledger)  # INV-1: net deposits match the balances
    for action in actions().values():
        apply(ledger, action)  # raises if rejected


def test_size_ratio_function_reports_positive_ratios() -> None:
    result = measure_size_ratio(big=1_000, small=10, repeat=2, min_time=0.0005)
    assert set(result) == {"deposit", "transfer", "trade"}
    for row in result.values():
        assert all(_positive(row[key]) for key in ("small_s", "big_s", "ratio"))


def test_contracts_are_on_in_tests() -> None:
    assert contracts_active()


def test_script_end_to_end(tmp_path: Path) -> None:
    """The script as a user runs it (including its `python -O` subprocess), at tiny sizes."""
    out = tmp_path / "results" / "core.json"
    command = [sys.executable, str(SCRIPT), "--big", "1000", "--repeat", "1", "--min-time", "0.0005"]
    done = subprocess.run([*command, "--out", str(out)], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert "[bench]" in done.stderr  # progress is shown
    report = json.loads(out.read_text())
    for section in ("size", "contracts"):
        assert set(report[section]) == {"deposit", "transfer", "trade"}
        assert all(_positive(row["ratio"]) for row in report[section].values())
    assert table(report).splitlines()[0] in done.stdout
