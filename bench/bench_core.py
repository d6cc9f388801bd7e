"""Core benchmark: the cost of one action, as ratios measured in one run.

(a) Ledger size. The same action (a deposit, a transfer, a one-fill trade batch
    between two existing accounts) on a ledger of 100,000 accounts against a
    ledger of 10. The state is a persistent map, so the target is <= 1.5x.
(b) Contracts. The same actions with icontract on against off. icontract's
    decorators are ``enabled=__debug__`` by default, so "off" is a ``python -O``
    subprocess; "on" is a plain subprocess, so both run alike. The slow, global
    checks are off in both (CLEARSPEC_SLOW_CHECKS unset). Target <= 3x.

Each figure is the median over ``--repeat`` runs of the time per call, each run
long enough (``--min-time``) to dwarf the timer; the two ledgers' runs are
interleaved so that drift hits both alike. Timing follows ``timeit`` (garbage
collection off while timing). Progress goes to stderr, the table to stdout.

    python bench/bench_core.py [--out bench/results/core.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import timeit
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import icontract
from immutables import Map

from clearspec.actions import Action, Deposit, Fill, SettleTrades, Side, Transfer
from clearspec.invariants import set_slow_checks
from clearspec.state import Account, Ledger, genesis
from clearspec.transition import apply
from clearspec_tools.examples import USD, example_genesis, usd_price

SLOW_ENV = "CLEARSPEC_SLOW_CHECKS"
BIG, SMALL = 100_000, 10
SIZE_TARGET, CONTRACT_TARGET = 1.5, 3.0
BALANCE = 1_000_000 * USD  # every account's USDC
MAKER, TAKER, DEPOSITOR = "acct-000001", "acct-000002", "acct-000003"


def progress(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


# --- the ledgers and the actions ------------------------------------------------------------


def build_ledger(accounts: int) -> Ledger:
    """The example genesis with ``accounts`` accounts of ``BALANCE`` USDC each.

    Built directly (one map construction, not ``accounts`` deposits), with net
    deposits set to match, so the ledger is one the model could have reached.
    """
    if accounts < 3:
        raise ValueError("need at least 3 accounts (maker, taker, depositor)")
    base = example_genesis()
    empty: Map[str, Any] = Map()
    table = {f"acct-{i:06d}": Account(Map({"USDC": BALANCE}), empty) for i in range(accounts)}
    return replace(
        base,
        accounts=Map(table),
        net_deposits=base.net_deposits.set("USDC", accounts * BALANCE),
    )


def actions() -> dict[str, Action]:
    """One of each measured action, between accounts every built ledger has."""
    trade = Fill(
        "BTC-PERP",
        maker=MAKER,
        taker=TAKER,
        taker_side=Side.BUY,
        size=1_000_000,  # 0.01 BTC
        price=usd_price(60_000),
        maker_fee_ppm=-100,
        taker_fee_ppm=500,
    )
    return {
        "deposit": Deposit(DEPOSITOR, "USDC", 100 * USD),
        "transfer": Transfer(MAKER, TAKER, "USDC", 100 * USD),
        "trade": SettleTrades((trade,)),
    }


# --- timing ----------------------------------------------------------------------------


def calls_per_run(call: Callable[[], object], min_time: float) -> int:
    """The smallest power of ten of calls that takes at least ``min_time`` seconds."""
    number = 1
    while True:
        if timeit.Timer(call).timeit(number) >= min_time or number >= 10**7:
            return number
        number *= 10


def median_per_call(
    calls: Sequence[Callable[[], object]], repeat: int, min_time: float, what: str
) -> list[float]:
    """Median seconds per call of each of ``calls``, their runs interleaved."""
    numbers = [calls_per_run(call, min_time) for call in calls]
    samples: list[list[float]] = [[] for _ in calls]
    for run in range(repeat):
        progress(f"{what}: run {run + 1}/{repeat}")
        for call, number, times in zip(calls, numbers, samples, strict=True):
            times.append(timeit.Timer(call).timeit(number) / number)
    return [statistics.median(times) for times in samples]


def _checked(ledger: Ledger, action: Action) -> Callable[[], object]:
    apply(ledger, action)  # raises if the action is rejected: time only accepted actions
    return lambda: apply(ledger, action)


def measure_size_ratio(
    big: int = BIG, small: int = SMALL, repeat: int = 7, min_time: float = 0.1
) -> dict[str, dict[str, float]]:
    """(a): per action, the median time per call on both ledgers and big/small."""
    set_slow_checks(False)  # O(accounts) checks would measure themselves, not the action
    progress(f"building ledgers of {small:,} and {big:,} accounts")
    started = time.perf_counter()
    ledgers = build_ledger(small), build_ledger(big)
    progress(f"built in {time.perf_counter() - started:.2f} s")
    result: dict[str, dict[str, float]] = {}
    for name, action in actions().items():
        t_small, t_big = median_per_call(
            [_checked(ledger, action) for ledger in ledgers], repeat, min_time, f"size/{name}"
        )
        result[name] = {"small_s": t_small, "big_s": t_big, "ratio": t_big / t_small}
    return result


def contracts_active() -> bool:
    """Whether icontract checks run in this process: a violated precondition
    of ``genesis`` (no prices) raises only when they do."""
    try:
        genesis(example_genesis().params, {})
    except icontract.ViolationError:
        return True
    return False


def worker(accounts: int, repeat: int, min_time: float) -> dict[str, Any]:
    """One side of (b), run in a subprocess: median time per call of each action."""
    ledger = build_ledger(accounts)
    mode = "on" if contracts_active() else "off"
    times = {}
    for name, action in actions().items():
        (times[name],) = median_per_call(
            [_checked(ledger, action)], repeat, min_time, f"contracts {mode}/{name}"
        )
    return {"contracts_active": contracts_active(), "debug": __debug__, "per_call_s": times}


def _run_worker(optimize: bool, accounts: int, repeat: int, min_time: float) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if k not in (SLOW_ENV, "PYTHONOPTIMIZE")}
    command = [sys.executable, *(["-O"] if optimize else []), str(Path(__file__).resolve()), "--worker"]
    command += ["--small", str(accounts), "--repeat", str(repeat), "--min-time", str(min_time)]
    done = subprocess.run(command, env=env, stdout=subprocess.PIPE, text=True, check=True)
    report: dict[str, Any] = json.loads(done.stdout)
    if report["contracts_active"] == optimize:
        raise RuntimeError(f"contracts {'still on under -O' if optimize else 'off without -O'}")
    return report


def measure_contract_overhead(
    accounts: int = SMALL, repeat: int = 7, min_time: float = 0.1
) -> dict[str, dict[str, float]]:
    """(b): per action, the median time per call with contracts on and off, and on/off."""
    progress("contracts on: subprocess `python`")
    on = _run_worker(False, accounts, repeat, min_time)["per_call_s"]
    progress("contracts off: subprocess `python -O`")
    off = _run_worker(True, accounts, repeat, min_time)["per_call_s"]
    return {name: {"on_s": on[name], "off_s": off[name], "ratio": on[name] / off[name]} for name in on}


# --- the report ---------------------------------------------------------------------------


def _us(seconds: float) -> str:
    return f"{seconds * 1e6:,.1f} us"


def table(report: dict[str, Any]) -> str:
    config = report["config"]
    lines = [
        f"(a) ledger size: {config['big']:,} vs {config['small']:,} accounts (target <= {SIZE_TARGET}x)",
        f"{'action':<10}{'small':>14}{'big':>14}{'ratio':>9}",
    ]
    for name, row in report["size"].items():
        lines.append(f"{name:<10}{_us(row['small_s']):>14}{_us(row['big_s']):>14}{row['ratio']:>8.2f}x")
    lines += [
        "",
        f"(b) contracts on vs off (python -O), slow checks off (target <= {CONTRACT_TARGET}x)",
        f"{'action':<10}{'on':>14}{'off':>14}{'ratio':>9}",
    ]
    for name, row in report["contracts"].items():
        lines.append(f"{name:<10}{_us(row['on_s']):>14}{_us(row['off_s']):>14}{row['ratio']:>8.2f}x")
    met = report["targets_met"]
    lines += ["", f"targets met: size {met['size']}, contracts {met['contracts']}"]
    return "\n".join(lines)


def run(big: int = BIG, small: int = SMALL, repeat: int = 7, min_time: float = 0.1) -> dict[str, Any]:
    """Both measurements, as one JSON-ready report."""
    size = measure_size_ratio(big, small, repeat, min_time)
    contracts = measure_contract_overhead(small, repeat, min_time)
    return {
        "config": {"big": big, "small": small, "repeat": repeat, "min_time_s": min_time},
        "environment": {"python": platform.python_version(), "platform": platform.platform()},
        "size": size,
        "contracts": contracts,
        "targets": {"size_ratio_max": SIZE_TARGET, "contract_ratio_max": CONTRACT_TARGET},
        "targets_met": {
            "size": all(row["ratio"] <= SIZE_TARGET for row in size.values()),
            "contracts": all(row["ratio"] <= CONTRACT_TARGET for row in contracts.values()),
        },
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--big", type=int, default=BIG, help="accounts in the big ledger")
    parser.add_argument("--small", type=int, default=SMALL, help="accounts in the small ledger")
    parser.add_argument("--repeat", type=int, default=7, help="timed runs per figure (median)")
    parser.add_argument("--min-time", type=float, default=0.1, help="seconds per timed run, at least")
    parser.add_argument("--out", type=Path, help="write the report as JSON here")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.small, args.repeat, args.min_time)))
        return 0
    if os.environ.get(SLOW_ENV, "0") != "0":
        # The kernel reads it at import: measure the configuration the figures claim.
        progress(f"{SLOW_ENV} is set: re-running without it")
        env = {k: v for k, v in os.environ.items() if k != SLOW_ENV}
        args_out = sys.argv[1:] if argv is None else list(argv)
        return subprocess.run([sys.executable, str(Path(__file__).resolve()), *args_out], env=env).returncode
    report = run(args.big, args.small, args.repeat, args.min_time)
    print(table(report))
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2) + "\n")
        progress(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
