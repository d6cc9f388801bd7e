"""The command line: the README's first command runs the built-in example."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from clearspec_tools.cli import main


def test_example_prints_steps_and_ledger(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["example"]) == 0
    out = capsys.readouterr().out
    assert "rejected MARGIN_INSUFFICIENT" in out
    assert "insurance fund:" in out


def test_example_json_is_parseable_and_uses_string_integers(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["example", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    verdicts = [s["result"] for s in report["steps"]]
    assert verdicts.count("accepted") == len(verdicts) - 1
    alice = report["ledger"]["accounts"]["alice"]
    assert isinstance(alice["balances"]["USDC"], str)
    assert int(alice["risk"]["nc"]) >= int(alice["risk"]["imr"])


def test_module_entry_point_runs() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "clearspec_tools.cli", "--version"], capture_output=True, text=True, check=True
    )
    assert done.stdout.startswith("clearspec ")


def test_crash_example_liquidates_then_deleverages(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["example", "--scenario", "crash", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    verdicts = {
        s["action"].split(" ")[0] + " " + s["action"].split(" ")[3]: s["result"]
        for s in report["steps"]
        if s["action"].startswith(("liquidate", "deleverage"))
    }
    assert verdicts == {
        "liquidate erin": "accepted",
        "liquidate alice": "rejected INSURANCE_FUND_INSUFFICIENT",
        "deleverage BTC-PERP": "accepted",
    }
    assert report["steps"][-1]["result"] == "rejected WITHDRAWALS_GATED"
    ledger = report["ledger"]
    assert ledger["accounts"]["alice"]["risk"]["nc"] == "0"
    assert int(ledger["insurance_fund"]["USDC"]) > 0


def test_prove_refuses_a_counterexample_folder_that_is_a_file(tmp_path: Path) -> None:
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("")
    done = subprocess.run(
        [
            *(sys.executable, "-m", "clearspec_tools.cli", "prove", "--only", "deposit-quote"),
            *("--counterexamples", str(not_a_folder), "--quiet"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2
    assert "not a folder" in done.stderr and "Traceback" not in done.stderr
