"""bench/bench_trace_coverage.py (PRF-4): the traces of clearspec prove, measured.

Runs the script as a user does, into a temporary file: every protocol module is
measured, each count is consistent, and every unreached branch is listed with
its source line. No assertion on the figure itself beyond what the prover's
catalogue must reach (every module has some traced line)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "bench" / "bench_trace_coverage.py"


def test_prf4_trace_coverage_script_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "trace_coverage.json"
    command = [sys.executable, str(SCRIPT), "--out", str(out)]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert done.returncode == 0, done.stderr
    report = json.loads(out.read_text())
    assert report["modules"].keys() >= {"transition", "deleveraging", "expiry", "liquidation", "trading"}
    missing_branches = 0
    for name, module in report["modules"].items():
        assert 0 < module["lines_reached"] <= module["statements"], name
        assert 0 <= module["branches_reached"] <= module["branches"], name
        assert len(module["missing_lines"]) == module["statements"] - module["lines_reached"], name
        source = (ROOT / "model" / "clearspec" / f"{name}.py").read_text().splitlines()
        for branch in module["missing_branches"]:
            assert source[branch["line"] - 1].strip() == branch["source"]
            assert f"unreached: {name}.py:{branch['line']} " in done.stdout
            missing_branches += len(branch["to"])
    assert missing_branches == report["missing_branches"]
    assert report["refused"] == []
    # Only the case the spec refuses in every state is rejected outright.
    assert {entry.split(":")[0].split("/")[1] for entry in report["rejected_outright"]} == {"transfer-self"}
