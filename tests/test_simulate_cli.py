"""``clearspec simulate`` and ``clearspec sweep`` as a user runs them, and the sweep's pieces.

The commands run in subprocesses on CI-sized windows of the built-in paths
(slow mode off there, as a user runs them); the sweep's grid and executor seam
are also tested in process.
"""

from __future__ import annotations

import csv
import json
import os
import pickle
import re
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

from clearspec.params_file import params_from_json, params_to_json
from clearspec_tools.examples import example_params
from clearspec_tools.simulate.engine import SimConfig
from clearspec_tools.simulate.report import money, usd
from clearspec_tools.simulate.runner import Inputs, PathSpec
from clearspec_tools.simulate.sweep import (
    Job,
    Row,
    SweepError,
    apply_axis,
    grid,
    parse_axis,
    plan,
    run_job,
    run_sweep,
    serial_executor,
)

ROOT = Path(__file__).resolve().parent.parent
PARAMS = example_params()
PNG = b"\x89PNG\r\n\x1a\n"


def clearspec(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The command line in a fresh process, contracts on, slow mode off (a user's run)."""
    env = {k: v for k, v in os.environ.items() if k != "CLEARSPEC_SLOW_CHECKS"}
    return subprocess.run(
        [sys.executable, "-m", "clearspec_tools.cli", *args], capture_output=True, text=True, cwd=cwd, env=env
    )


def no_fee_file(folder: Path) -> Path:
    data = params_to_json(PARAMS)
    data["liquidation"]["max_liquidation_fee_ppm"] = "0"
    path = folder / "nofee.json"
    path.write_text(json.dumps(data))
    return path


def test_simulate_writes_the_report_the_plots_and_shows_progress(tmp_path: Path) -> None:
    """The 2024-08-05 example around the ETH crash: exit 0, progress on stderr, a table
    on stdout, report.json, events.csv and series.csv that agree with it, four PNGs."""
    out = tmp_path / "run"
    done = clearspec(
        "simulate",
        "--example",
        "2024-08-05",
        "--start",
        "2024-08-05T00:50:00Z",
        "--bars",
        "40",
        "--accounts",
        "150",
        "--check-every",
        "10",
        "--out",
        str(out),
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert "100%" in done.stderr and "Traceback" not in done.stderr
    assert "invariants" in done.stdout and "PASS" in done.stdout
    report = json.loads((out / "report.json").read_text())
    summary = report["summary"]
    assert report["passed"] and summary["liquidations"] > 0
    assert [p["file"] for p in report["inputs"]["paths"]] == [
        "2024-08-05_BTCUSDT_binance-spot_1m.csv",
        "2024-08-05_ETHUSDT_binance-spot_1m.csv",
    ]
    checks = report["invariants"]
    assert checks["global_checks_run"] == checks["global_checks_passed"] > 0
    assert all(row["runs"] == 4 for row in checks["checks"])  # bars 10, 20, 30 and the end
    with (out / "events.csv").open() as stream:
        events = list(csv.DictReader(stream))
    assert sum(1 for e in events if e["kind"] == "liquidation") == summary["liquidations"]
    with (out / "series.csv").open() as stream:
        series = list(csv.DictReader(stream))
    assert len(series) == 40 and int(series[-1]["liquidations"]) == summary["liquidations"]
    assert money(int(series[-1]["insurance_fund"]), 6) == summary["insurance_fund"]["end"]
    for name in ("price.png", "insurance_fund.png", "open_interest.png", "deleveraging.png"):
        assert (out / name).read_bytes()[:8] == PNG, name


def test_simulate_the_second_example_as_json(tmp_path: Path) -> None:
    done = clearspec(
        "simulate",
        "--example",
        "2021-05-19",
        "--start",
        "2021-05-19T12:30:00Z",
        "--bars",
        "16",
        "--accounts",
        "120",
        "--json",
        "--quiet",
        "--no-plots",
        "--out",
        str(tmp_path / "run"),
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    report = json.loads(done.stdout)
    assert report["inputs"]["paths"][0]["file"] == "2021-05-19_BTCUSDT_binance-spot_5m.csv"
    assert report["inputs"]["bars"] == 16 and report["passed"]
    assert report["summary"]["liquidations"] > 0
    assert not list((tmp_path / "run").glob("*.png"))


def test_compare_runs_both_parameter_sets_on_the_same_population(tmp_path: Path) -> None:
    out = tmp_path / "cmp"
    done = clearspec(
        "simulate",
        "--example",
        "2024-08-05",
        "--start",
        "2024-08-05T01:00:00Z",
        "--bars",
        "15",
        "--accounts",
        "100",
        "--compare",
        "example",
        str(no_fee_file(tmp_path)),
        "--quiet",
        "--out",
        str(out),
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    header = done.stdout.splitlines()[0]
    assert "example" in header and "nofee" in header
    compared = json.loads((out / "compare.json").read_text())
    assert [r["label"] for r in compared["runs"]] == ["example", "nofee"]
    first, second = (json.loads((out / label / "report.json").read_text()) for label in ("example", "nofee"))
    assert first["population"] == second["population"]  # the same accounts
    assert first["summary"]["liquidation_fees_to_fund"] != "0.000000"
    assert second["summary"]["liquidation_fees_to_fund"] == "0.000000"
    assert (out / "compare.png").read_bytes()[:8] == PNG


def test_sweep_on_every_core(tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    done = clearspec(
        "sweep",
        "--example",
        "2021-05-19",
        "--start",
        "2021-05-19T12:40:00Z",
        "--bars",
        "10",
        "--accounts",
        "60",
        "--vary",
        "maintenance_ppm=15000,45000",
        "--workers",
        "2",
        "--json",
        "--out",
        str(out),
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert "sweep: 2 replays" in done.stderr
    rows = json.loads(done.stdout)["rows"]
    assert [r["axes"]["maintenance_ppm"] for r in rows] == ["15000", "45000"]
    assert all(r["passed"] and r["checks_run"] == r["checks_passed"] > 0 for r in rows)
    assert (
        rows[1]["liquidations"] >= rows[0]["liquidations"]
    )  # a higher maintenance fraction liquidates earlier
    assert (out / "sweep.png").read_bytes()[:8] == PNG
    assert (out / "sweep.csv").read_text().startswith("maintenance_ppm,index,label,seed")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["simulate", "BTC-USD=broken.csv"], "broken.csv:3: inconsistent bar"),
        (["simulate", "--params", "bad.json"], "INVALID_PARAMS"),
        (["simulate", "--example", "1987-10-19"], "unknown example"),
        (["simulate", "--accounts", "0"], "argument --accounts: expected an integer within 1..200000, got 0"),
        (["simulate", "--check-every", "0"], "argument --check-every: expected an integer within 1.."),
        (["sweep", "--vary", "maintenance_ppm"], "expected KEY=V1,V2"),
        (["sweep", "--vary", "liquidation.no_such_field=1,2"], "no field 'no_such_field'"),
    ],
)
def test_bad_input_exits_2_with_a_message(tmp_path: Path, args: list[str], message: str) -> None:
    (tmp_path / "broken.csv").write_text(
        "timestamp_utc,open,high,low,close,volume\n"
        "2024-01-01T00:00:00Z,100,101,99,100,1\n2024-01-01T00:01:00Z,100,101,102,100,1\n"
    )
    (tmp_path / "bad.json").write_text('{"quote_asset": "USDC"}')
    done = clearspec(*args, "--quiet", "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert message in done.stderr
    assert done.stderr.startswith(("clearspec: ", "usage: clearspec"))  # ours, or argparse's
    assert "Traceback" not in done.stderr


def test_a_failed_invariant_exits_1_and_says_which(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The command in process, with INV-1 made to fail: exit 1, FAIL in the table, the
    failed check in the report."""
    from clearspec import invariants
    from clearspec_tools.cli import main

    monkeypatch.setattr(invariants, "conserved", lambda ledger, asset: False)
    invariants.set_slow_checks(False)  # else the transition's own contract stops the first deposit
    out = tmp_path / "run"
    args = ["simulate", "--start", "2024-08-05T01:08:00Z", "--bars", "3", "--accounts", "15"]
    code = main([*args, "--check-every", "1", "--quiet", "--no-plots", "--out", str(out)])
    assert code == 1
    printed = capsys.readouterr().out
    assert "FAIL" in printed and "conserved[USDC] (INV-1)" in printed
    report = json.loads((out / "report.json").read_text())
    assert not report["passed"] and report["invariants"]["failures"][0]["rule"] == "INV-1"


def test_list_examples(tmp_path: Path) -> None:
    done = clearspec("simulate", "--list-examples", cwd=tmp_path)
    assert done.returncode == 0
    assert "2024-08-05" in done.stdout and "2021-05-19" in done.stdout


# -- the sweep's pieces, in process ---------------------------------------------------------


def test_maintenance_axis_scales_every_tier_within_its_initial_fraction() -> None:
    """MRG-2: the first tier's maintenance fraction is set, the others follow in
    proportion; a value that would put a tier above its initial fraction is refused
    by name, never clamped (the table would show a value that did not run)."""
    data = params_to_json(PARAMS)
    apply_axis(data, SimConfig(), "maintenance_ppm", "45000")
    params = params_from_json(data)
    for market in params.markets:
        assert [t.maintenance_ppm for t in market.tiers] == [45_000, 90_000, 180_000]
    for value, words in [
        ("150000", "tier 0 would get maintenance 150000 ppm, outside 1..its initial 50000"),
        ("0", "maintenance_ppm=0: must be within 1..1000000"),
        ("-5", "maintenance_ppm=-5: must be within 1..1000000"),
        ("1e20", "maintenance_ppm=1e20: expected an integer"),
    ]:
        with pytest.raises(SweepError, match=re.escape(words)):
            apply_axis(params_to_json(PARAMS), SimConfig(), "maintenance_ppm", value)


def test_axes_reach_settings_and_any_parameter() -> None:
    data = params_to_json(PARAMS)
    config = apply_axis(data, SimConfig(), "insurance_fund", "1234.5")
    assert config.insurance_fund == 1_234_500_000
    config = apply_axis(data, config, "liquidation_price_ppm", "0")
    assert config.liquidation_price_ppm == 0
    apply_axis(data, config, "markets.*.deficit_policy", "socialise")
    apply_axis(data, config, "liquidation.max_liquidation_fee_ppm", "7000")
    params = params_from_json(data)
    assert {m.deficit_policy.value for m in params.markets} == {"socialise"}
    assert params.liquidation.max_liquidation_fee_ppm == 7_000
    with pytest.raises(SweepError, match="must be within"):
        apply_axis(data, config, "liquidation_price_ppm", "2000000")
    with pytest.raises(SweepError, match="not an index"):
        apply_axis(data, config, "markets.9.kind", "dated")
    assert parse_axis("a.b=1, 2,3") == ("a.b", ["1", "2", "3"])


def test_an_invalid_grid_point_is_named() -> None:
    """A point whose parameter set fails validation (PAR-2) is an error naming it."""
    with pytest.raises(SweepError, match=r"oracle\.quorum=9"):
        grid(PARAMS, SimConfig(), [("oracle.quorum", ["3", "9"])])


def test_the_executor_seam_takes_any_map(tmp_path: Path) -> None:
    """A sweep runs through any function that maps jobs to rows, as a cluster engine's
    map would: here one that pickles every job and row across the seam, in reverse
    order, and the rows still come back in job order."""
    csv_path = tmp_path / "gap_BTCUSDT_1m.csv"
    rows = [("00", "60000", "60100", "59900", "60000"), ("01", "60000", "60000", "50000", "51000")]
    rows += [(f"0{m}", "51000", "51500", "50800", "51200") for m in range(2, 5)]
    csv_path.write_text(
        "timestamp_utc,open,high,low,close,volume\n"
        + "".join(f"2024-01-01T00:{t}:00Z,{o},{h},{lo},{c},1\n" for t, o, h, lo, c in rows)
    )
    inputs = Inputs((PathSpec("BTC-USD", str(csv_path)),), None, 0, "gap")
    jobs = plan(
        PARAMS, inputs, [("maintenance_ppm", ["20000", "40000"])], [1, 2], 25, SimConfig(check_every=2)
    )
    assert len(jobs) == 4 and len({id(j.population) for j in jobs}) == 2
    shipped: list[Job] = []

    def remote(fn: Callable[[Job], Row], items: Sequence[Job]) -> Iterator[Row]:
        for job in reversed(items):
            copy = pickle.loads(pickle.dumps(job))
            shipped.append(copy)
            yield pickle.loads(pickle.dumps(fn(copy)))

    seen: list[int] = []
    result = run_sweep(jobs, remote, lambda done, total, row: seen.append(done))
    assert [r["index"] for r in result] == [0, 1, 2, 3] and seen == [1, 2, 3, 4]
    assert len(shipped) == 4 and all(r["passed"] for r in result)

    def timeless(rows: Sequence[Row]) -> list[Row]:
        return [{k: v for k, v in row.items() if k != "seconds"} for row in rows]

    assert timeless(result[2:3]) == timeless(run_sweep(jobs[2:3], serial_executor))
    assert timeless([run_job(jobs[1])]) == timeless(result[1:2])


def test_money_formats_exactly() -> None:
    assert money(1_234_567, 6) == "1.234567"
    assert money(-5, 6) == "-0.000005"
    assert money(42, 0) == "42"
    assert usd(2_500_000_000_000, 6) == "$2.50M" and usd(12_340_000, 6) == "$12.34"


def test_benchmark_script_at_tiny_sizes(tmp_path: Path) -> None:
    """bench/bench_simulate.py runs end to end and reports positive figures (timings
    themselves belong to the benchmark, not to tests)."""
    out = tmp_path / "simulate.json"
    env = {k: v for k, v in os.environ.items() if k != "CLEARSPEC_SLOW_CHECKS"}
    command = [sys.executable, str(ROOT / "bench" / "bench_simulate.py"), "--accounts", "80", "--small", "40"]
    done = subprocess.run(
        [*command, "--bars", "20", "--out", str(out)], capture_output=True, text=True, cwd=ROOT, env=env
    )
    assert done.returncode == 0, done.stderr
    assert "[bench]" in done.stderr and "ratios big/small" in done.stdout
    report = json.loads(out.read_text())
    assert report["big"]["accounts"] == 80 and report["small"]["accounts"] == 40
    for run in ("big", "small"):
        assert report[run]["wall_s"] > 0 and report[run]["summary"]["passed"]
        assert report[run]["per_bar"]["bars"] == 20
    assert report["ratios"]["accounts"] == 2
