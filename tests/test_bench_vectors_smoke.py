"""Smoke test of bench/bench_vectors.py at tiny sizes: it runs, the reference
passes, the fuzz finds nothing, and the report has every figure. No assertion
on a timing: timings belong to the benchmark (VEC-6 runner, VEC-3 decoders)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "bench" / "bench_vectors.py"


def test_script_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "results" / "vectors.json"
    command = [
        sys.executable,
        str(SCRIPT),
        "--cases",
        "40",
        "--jobs",
        "1,2",
        "--fuzz",
        "200",
        "--out",
        str(out),
    ]
    done = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "[bench]" in done.stderr
    report = json.loads(out.read_text())
    assert report["suite"]["cases"] == 40
    assert set(report["runner"]) == {"1", "2", "in_process"}
    assert all(row["cases_per_second"] > 0 for row in report["runner"].values())
    assert report["fuzz"]["inputs"] == 200 and report["fuzz"]["violations"] == 0
    assert out.with_suffix(".png").stat().st_size > 0
    assert "cases/s" in done.stdout
