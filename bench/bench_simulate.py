"""Crash-replay benchmark: 10,000 accounts over the 1,440 one-minute bars of 2024-08-05.

The issue's figure: ``clearspec simulate`` with 10,000 accounts over 1,440
one-minute bars (the built-in BTC and ETH paths, the crash day) in at most 60 s
on this machine, with the contracts' slow mode off (CLEARSPEC_SLOW_CHECKS
unset: the transition's local invariants still run after every action, and the
global ones every 60 bars and at the end, as ``clearspec simulate`` does by
default).

The figure is the wall-clock time of the whole command: drawing the population,
set-up, the replay with its checks, and writing the report, CSV files and the
four plots (into a temporary folder, or ``--plots DIR``).

It also replays the same day with ``--small`` accounts (1,000) to show that the
cost of a step grows with the accounts whose health can have changed, not with
all accounts, in CPU time per bar (the machine is shared: CPU time is what the
replay costs, wall time also counts the neighbours):

* per calm bar (no account examined, no liquidation): the cost at 10,000
  accounts over the cost at 1,000 (target about 1: it does not grow);
* per account examined: CPU time of the busy bars per examination, both sizes;
* per bar over the whole day: the ratio, to set against the ratio of accounts
  examined (both grow with the crash's victims, about 10x).

    python bench/bench_simulate.py [--accounts 10000] [--small 1000] [--bars 1440]
                                   [--out bench/results/simulate.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from clearspec import kernel
from clearspec.invariants import set_slow_checks
from clearspec_tools.examples import example_params
from clearspec_tools.simulate.engine import SimConfig, SimResult
from clearspec_tools.simulate.progress import ProgressBar
from clearspec_tools.simulate.runner import (
    load_paths,
    make_population,
    resolve_inputs,
    simulate,
    write_outputs,
)

TARGET_S = 60.0


def progress(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def replay(accounts: int, bars: int, out: Path) -> tuple[SimResult, dict[str, float]]:
    """One replay as ``clearspec simulate`` runs it, timed: population, set-up and
    replay, then the report and plots written to ``out``."""
    params = example_params()
    config = SimConfig()
    started, cpu = time.perf_counter(), time.process_time()
    inputs = resolve_inputs([], "2024-08-05", params, None, bars)
    paths = load_paths(inputs, params, config)
    population = make_population([params], paths, accounts, 1, config)
    result = simulate(
        params,
        paths,
        population,
        config,
        label=f"{accounts} accounts",
        progress=ProgressBar(f"[bench] {accounts} accounts"),
    )
    times = {"wall_s": time.perf_counter() - started, "cpu_s": time.process_time() - cpu}
    written = time.perf_counter()
    write_outputs(result, out)
    times["report_and_plots_s"] = time.perf_counter() - written
    times["total_s"] = time.perf_counter() - started
    return result, times


def per_bar(result: SimResult) -> dict[str, Any]:
    """Per-bar CPU costs of one replay (the machine is shared: CPU time is what the
    replay costs, wall time also counts the neighbours), calm bars and busy ones."""
    seconds, examined = result.series.cpu, result.series.examined
    liquidations = [0, *result.series.liquidations]
    calm = [s for i, s in enumerate(seconds) if examined[i] == 0 and liquidations[i + 1] == liquidations[i]]
    busy = [s for i, s in enumerate(seconds) if examined[i] > 0]
    return {
        "bars": len(seconds),
        "mean_bar_cpu_ms": 1000 * statistics.fmean(seconds),
        "mean_bar_wall_ms": 1000 * statistics.fmean(result.series.seconds),
        "calm_bars": len(calm),
        "calm_bar_median_cpu_ms": 1000 * statistics.median(calm) if calm else None,
        "busy_bars": len(busy),
        "accounts_examined": result.examined,
        "oracle_updates": result.updates,
        "examined_per_update": result.examined / max(result.updates, 1),
        "examined_during_bars": sum(examined),
        "busy_cpu_ms_per_examined_account": 1000 * sum(busy) / max(sum(examined), 1),
    }


def summary(result: SimResult) -> dict[str, Any]:
    t = result.totals
    return {
        "liquidations": t["liquidations"],
        "deleverages": t["deleverages"],
        "bad_debt_quote_units": t["bad_debt"],
        "global_checks_run": sum(result.checks.runs.values()),
        "global_checks_passed": sum(result.checks.passed.values()),
        "fast_checks": result.fast_checks,
        "passed": result.passed,
    }


def table(report: dict[str, Any]) -> str:
    big, small = report["big"], report["small"]
    rows = [
        ("accounts", big["accounts"], small["accounts"]),
        ("wall s (population, set-up, replay)", f"{big['wall_s']:.1f}", f"{small['wall_s']:.1f}"),
        ("cpu s", f"{big['cpu_s']:.1f}", f"{small['cpu_s']:.1f}"),
        (
            "wall s, report and plots",
            f"{big['report_and_plots_s']:.1f}",
            f"{small['report_and_plots_s']:.1f}",
        ),
        ("wall s, total", f"{big['total_s']:.1f}", f"{small['total_s']:.1f}"),
        ("liquidations", big["summary"]["liquidations"], small["summary"]["liquidations"]),
        (
            "accounts examined during the bars",
            big["per_bar"]["examined_during_bars"],
            small["per_bar"]["examined_during_bars"],
        ),
        (
            "calm bar median cpu ms",
            f"{big['per_bar']['calm_bar_median_cpu_ms']:.2f}",
            f"{small['per_bar']['calm_bar_median_cpu_ms']:.2f}",
        ),
        (
            "busy-bar cpu ms per examined account",
            f"{big['per_bar']['busy_cpu_ms_per_examined_account']:.3f}",
            f"{small['per_bar']['busy_cpu_ms_per_examined_account']:.3f}",
        ),
    ]
    lines = [f"{'':40}{'big':>14}{'small':>14}"]
    lines += [f"{name:40}{a!s:>14}{b!s:>14}" for name, a, b in rows]
    ratios = report["ratios"]
    lines.append(
        f"ratios big/small: calm bar {ratios['calm_bar']:.2f}, mean bar {ratios['mean_bar']:.2f}, "
        f"examined {ratios['examined']:.2f}, per examined account {ratios['per_examined_account']:.2f}"
    )
    verdict = "met" if report["big"]["total_s"] <= TARGET_S else "NOT met"
    lines.append(
        f"target: {report['big']['accounts']} accounts x {report['bars']} bars <= {TARGET_S:.0f} s: {verdict}"
    )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--small", type=int, default=1_000)
    parser.add_argument("--bars", type=int, default=1_440)
    parser.add_argument("--out", default="bench/results/simulate.json")
    parser.add_argument("--plots", metavar="DIR", help="keep the big run's report and plots here")
    args = parser.parse_args()
    if kernel.SLOW_CONTRACTS:
        print("unset CLEARSPEC_SLOW_CHECKS: the figure is for slow mode off", file=sys.stderr)
        return 2
    set_slow_checks(False)
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as scratch:
        for key, accounts in (("small", args.small), ("big", args.accounts)):
            progress(f"replaying {args.bars} bars of 2024-08-05 with {accounts} accounts")
            folder = Path(args.plots) if key == "big" and args.plots else Path(scratch) / key
            result, times = replay(accounts, args.bars, folder)
            results[key] = {
                "accounts": accounts,
                **times,
                "per_bar": per_bar(result),
                "summary": summary(result),
            }
    big, small = results["big"]["per_bar"], results["small"]["per_bar"]
    report = {
        "config": {
            "accounts": args.accounts,
            "small": args.small,
            "bars": args.bars,
            "example": "2024-08-05",
            "check_every": SimConfig().check_every,
            "slow_checks": False,
        },
        "environment": {"python": platform.python_version(), "platform": platform.platform()},
        "bars": args.bars,
        **results,
        "ratios": {
            "accounts": args.accounts / args.small,
            "calm_bar": (big["calm_bar_median_cpu_ms"] or 0)
            / max(small["calm_bar_median_cpu_ms"] or 1e-9, 1e-9),
            "mean_bar": big["mean_bar_cpu_ms"] / small["mean_bar_cpu_ms"],
            "examined": big["examined_during_bars"] / max(small["examined_during_bars"], 1),
            "per_examined_account": big["busy_cpu_ms_per_examined_account"]
            / max(small["busy_cpu_ms_per_examined_account"], 1e-9),
        },
        "target_s": TARGET_S,
        "target_met": results["big"]["total_s"] <= TARGET_S,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(table(report))
    progress(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
