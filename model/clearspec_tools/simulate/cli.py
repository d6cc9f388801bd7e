"""``clearspec simulate`` and ``clearspec sweep``: registered by :mod:`clearspec_tools.cli`.

Exit status: 0 when every invariant held at every check, 1 when one failed (the
report says which, when and where), 2 for bad input (a typed error with a
message: :class:`~clearspec_tools.simulate.paths.PricePathError`,
:class:`~clearspec_tools.simulate.engine.SimulationError`,
:class:`~clearspec_tools.simulate.sweep.SweepError` or ``INVALID_PARAMS``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from clearspec_tools.inputs import MAX_ACCOUNTS, int_range, workers_option

MAX_JOBS = 10_000  # replays of one sweep: more is a typo, not a study


def _params(path: str | None) -> Any:
    from clearspec_tools.cli import load_params_file

    return load_params_file(path)


def _config(args: argparse.Namespace) -> Any:
    from clearspec.params import MAX_AMOUNT, PPM
    from clearspec_tools.simulate.engine import SimConfig, SimulationError
    from clearspec_tools.simulate.paths import DEFAULT_MAX_MOVE, scaled_decimal

    config = SimConfig(
        check_every=args.check_every,
        use_index=not getattr(args, "no_index", False),
        max_bar_move=0 if args.allow_jumps else args.max_bar_move or DEFAULT_MAX_MOVE,
        tolerate_refusals=args.tolerate_refusals,
        collateral_liquidation=not getattr(args, "no_collateral_liquidation", False),
    )
    for name in ("quote_decimals", "base_decimals"):
        value = getattr(args, name)
        if value is not None:
            if not 0 <= value <= 30:
                raise SimulationError(f"--{name.replace('_', '-')} must be within 0..30")
            config = replace(config, **{name: value})
    if args.insurance_fund is not None:
        try:
            amount, exact = scaled_decimal(args.insurance_fund, config.quote_decimals)
        except ValueError as error:
            raise SimulationError(f"--insurance-fund: not an amount: {error}") from None
        if not exact or amount > MAX_AMOUNT:
            raise SimulationError(
                f"--insurance-fund {args.insurance_fund!r}: expected an amount within 0..10**30 base units "
                f"with at most {config.quote_decimals} decimals"
            )
        config = replace(config, insurance_fund=amount)
    if args.liquidation_price is not None:
        if not 0 <= args.liquidation_price <= 1_000_000:
            raise SimulationError("--liquidation-price must be within 0..1000000 ppm")
        config = replace(config, liquidation_price_ppm=args.liquidation_price)
    if args.premium_ppm is not None:
        if not -PPM <= args.premium_ppm <= PPM:
            raise SimulationError(f"--premium-ppm must be within -{PPM}..{PPM}, got {args.premium_ppm}")
        config = replace(config, premium_ppm=args.premium_ppm)
    if args.check_every < 1:
        raise SimulationError("--check-every must be at least 1")
    return config


def _label(path: str | None) -> str:
    return "example" if path in (None, "example") else Path(path).stem


def _run_simulate(args: argparse.Namespace) -> int:
    from clearspec_tools.simulate.paths import EXAMPLES

    if args.list_examples:
        for name, example in EXAMPLES.items():
            print(f"{name}: {example.description}; default window {example.start}, {example.bars} bars")
        return 0
    return _guarded(_simulate, args)


def _guarded(run: Any, args: argparse.Namespace) -> int:
    from clearspec_tools.inputs import InputError
    from clearspec_tools.simulate.engine import SimulationError
    from clearspec_tools.simulate.paths import PricePathError
    from clearspec_tools.simulate.sweep import SweepError

    try:
        return int(run(args))
    except (PricePathError, SimulationError, SweepError, InputError) as error:
        print(f"clearspec: {error}", file=sys.stderr)
        return 2


def _simulate(args: argparse.Namespace) -> int:
    from clearspec_tools.inputs import output_folder
    from clearspec_tools.simulate.engine import SimulationError
    from clearspec_tools.simulate.population import PopulationConfig
    from clearspec_tools.simulate.progress import ProgressBar, message
    from clearspec_tools.simulate.report import table
    from clearspec_tools.simulate.runner import (
        load_paths,
        make_population,
        resolve_inputs,
        simulate,
        write_outputs,
    )

    if args.compare and args.params:
        raise SimulationError("--compare A B replaces --params")
    if args.compare and args.compare_collateral_liquidation:
        raise SimulationError("--compare and --compare-collateral-liquidation: one comparison at a time")
    files = args.compare or [args.params]
    param_sets = [_params(f) for f in files]
    labels = [_label(f) for f in files]
    if len(set(labels)) != len(labels):
        labels = [f"{i + 1}-{label}" for i, label in enumerate(labels)]
    config = _config(args)
    configs = [config] * len(param_sets)
    if args.compare_collateral_liquidation:
        param_sets = param_sets * 2
        labels = ["with-collateral-liquidation", "without-collateral-liquidation"]
        configs = [
            replace(config, collateral_liquidation=True),
            replace(config, collateral_liquidation=False),
        ]
    comparing = bool(args.compare or args.compare_collateral_liquidation)
    out = output_folder(args.out, "--out")  # checked before the replay, not after it
    inputs = resolve_inputs(args.paths, args.example, param_sets[0], args.start, args.bars)
    paths = load_paths(inputs, param_sets[0], config)
    people = PopulationConfig(borrowers=args.borrowers)
    population = make_population(param_sets, paths, args.accounts, args.seed, config, people)
    results = []
    reports = []
    for params, label, run_config in zip(param_sets, labels, configs, strict=True):
        name = f"{inputs.label} {label}" if comparing else inputs.label
        progress = None if args.quiet else ProgressBar(f"simulate {name}")
        if not args.quiet:
            message(
                f"simulate {name}: {len(paths[0].bars)} bars of {', '.join(p.source for p in paths)}, "
                f"{args.accounts} accounts (seed {args.seed})"
            )
        result = simulate(
            params, paths, population, run_config, label=label if comparing else name, progress=progress
        )
        folder = out / label if comparing else out
        data = write_outputs(result, folder, plots=not args.no_plots)
        results.append(result)
        reports.append(data)
    if comparing:
        compared = {
            "runs": [{"label": r["label"], "summary": r["summary"], "passed": r["passed"]} for r in reports]
        }
        (out / "compare.json").write_text(json.dumps(compared, indent=2) + "\n")
        if not args.no_plots:
            from clearspec_tools.simulate.plots import compare_plot

            compare_plot(results, out / "compare.png")
    if args.json:
        print(json.dumps(reports[0] if len(reports) == 1 else {"runs": reports}, indent=2))
    else:
        print(table(reports, config.quote_decimals))
        print(f"\nreport and plots in {out}/")
    return 0 if all(r.passed for r in results) else 1


def _sweep(args: argparse.Namespace) -> int:
    from clearspec_tools.inputs import output_folder
    from clearspec_tools.simulate.progress import ProgressBar, message
    from clearspec_tools.simulate.runner import resolve_inputs
    from clearspec_tools.simulate.sweep import (
        SweepError,
        parse_axis,
        plan,
        process_executor,
        run_sweep,
        serial_executor,
        table,
        write_outputs,
    )

    base = _params(args.params)
    config = _config(args)
    axes = [parse_axis(text) for text in args.vary]
    try:
        seeds = [int(s) for s in args.seeds.split(",") if s.strip() and len(s.strip()) <= 20]
    except ValueError:
        raise SweepError(f"--seeds: expected integers, got {args.seeds[:80]!r}") from None
    count = len(seeds or [1])
    for _, values in axes:
        count *= len(values)
    if count > MAX_JOBS:
        raise SweepError(f"--vary and --seeds make {count:,} replays, more than the limit of {MAX_JOBS:,}")
    out = output_folder(args.out, "--out")
    inputs = resolve_inputs(args.paths, args.example, base, args.start, args.bars)
    jobs = plan(base, inputs, axes, seeds or [1], args.accounts, config)
    workers = args.workers or os.cpu_count() or 1
    if not args.quiet:
        message(f"sweep: {len(jobs)} replays of {inputs.label} on {workers} worker(s)")
    executor = serial_executor if workers == 1 else process_executor(workers)
    bar = None if args.quiet else ProgressBar("sweep")

    def progress(done: int, total: int, row: dict[str, Any]) -> None:
        if bar is not None:
            bar(done, total, {"last": row["label"]})

    rows = run_sweep(jobs, executor, progress)
    names = [name for name, _ in axes]
    files = write_outputs(rows, names, out, plots=not args.no_plots)
    if args.json:
        print(json.dumps({"rows": rows, "files": [str(f) for f in files]}, indent=1))
    else:
        print(table(rows))
        print(f"\nsweep table and plot in {args.out}/")
    return 0 if all(r["passed"] for r in rows) else 1


def _common(parser: argparse.ArgumentParser, out: str) -> None:
    parser.add_argument(
        "paths",
        nargs="*",
        metavar="PATH",
        help="price files (CSV timestamp_utc,open,high,low,close,volume), one per asset, as FEED=FILE "
        "or FILE (the feed from the name, e.g. ..._BTCUSDT_...); default: the built-in example",
    )
    parser.add_argument(
        "--example", metavar="NAME", help="a built-in crash: 2024-08-05 (default) or 2021-05-19"
    )
    parser.add_argument("--params", metavar="FILE", help="a parameter file (JSON); default: the example set")
    parser.add_argument(
        "--accounts",
        type=int_range(1, MAX_ACCOUNTS),
        default=1_000,
        help=f"accounts in the population, 1..{MAX_ACCOUNTS:,} (default 1000)",
    )
    parser.add_argument(
        "--bars",
        type=int_range(0, 10_000_000),
        help="bars to replay from --start (0: to the end; default: the "
        "example's crash day, or the whole file)",
    )
    parser.add_argument("--start", metavar="TIME", help="first bar replayed, ISO 8601 UTC (or 'first')")
    parser.add_argument("--out", metavar="DIR", default=out, help=f"output folder (default {out})")
    parser.add_argument(
        "--check-every",
        type=int_range(1, 10_000_000),
        default=60,
        metavar="N",
        help="bars between global invariant checks (default 60)",
    )
    parser.add_argument(
        "--insurance-fund",
        metavar="AMOUNT",
        help="initial insurance fund in quote currency (default: 20 per account)",
    )
    parser.add_argument(
        "--liquidation-price",
        type=int_range(0, 1_000_000),
        metavar="PPM",
        help="where liquidation fills are "
        "priced, from the oracle price (0) to the fillable price (1000000, default)",
    )
    parser.add_argument(
        "--premium-ppm",
        type=int_range(-1_000_000, 1_000_000),
        metavar="PPM",
        help="premium sample per bar, -1000000..1000000 (default 13)",
    )
    parser.add_argument(
        "--max-bar-move",
        type=int_range(2, 1_000_000),
        metavar="FACTOR",
        help="refuse a price file with a bar reaching more than FACTOR times, or less than 1/FACTOR of, "
        "the previous close or its open (default 10)",
    )
    parser.add_argument(
        "--allow-jumps", action="store_true", help="replay bars however far they move (no --max-bar-move)"
    )
    parser.add_argument(
        "--tolerate-refusals",
        action="store_true",
        help="a set-up or path action the model refuses degrades the run (reported loudly) instead of "
        "failing it",
    )
    # A parameter set does not declare its assets' decimals; the price paths'
    # conversion and the population's amounts need them.
    parser.add_argument(
        "--quote-decimals",
        type=int_range(0, 30),
        metavar="N",
        help="decimals of the quote asset's base unit (default 6)",
    )
    parser.add_argument(
        "--base-decimals",
        type=int_range(0, 30),
        metavar="N",
        help="decimals of the base unit of the coins the paths price (default 8)",
    )
    parser.add_argument("--json", action="store_true", help="print the JSON report instead of a table")
    parser.add_argument("--quiet", action="store_true", help="no progress on standard error")
    parser.add_argument("--no-plots", action="store_true", help="skip the PNG plots")


def add_commands(commands: argparse._SubParsersAction[Any]) -> None:
    """Add ``simulate`` and ``sweep``."""
    simulate = commands.add_parser(
        "simulate",
        help="replay real price paths through a population of accounts: liquidations, the insurance fund, "
        "deleveraging, every invariant checked; a JSON report and PNG plots",
    )
    _common(simulate, "out/simulate")
    simulate.add_argument(
        "--seed", type=int_range(-(2**63), 2**63 - 1), default=1, help="population seed (default 1)"
    )
    simulate.add_argument(
        "--compare",
        nargs=2,
        metavar=("A", "B"),
        help="two parameter files ('example' for the built-in set), "
        "replayed on the same path and population, side by side",
    )
    simulate.add_argument(
        "--borrowers",
        type=int_range(0, MAX_ACCOUNTS),
        default=0,
        metavar="N",
        help="accounts added to the population that hold a coin and borrow quote against it, no position "
        "(default 0)",
    )
    simulate.add_argument(
        "--no-collateral-liquidation",
        action="store_true",
        help="leave borrowers below maintenance alone (no LiquidateCollateral, CLQ-1)",
    )
    simulate.add_argument(
        "--compare-collateral-liquidation",
        action="store_true",
        help="replay twice on the same path and population, with and without collateral liquidation "
        "(CLQ-1), side by side",
    )
    simulate.add_argument(
        "--no-index",
        action="store_true",
        help="examine every account after every update (the brute-force reference; slow)",
    )
    simulate.add_argument("--list-examples", action="store_true", help="list the built-in price paths")
    simulate.set_defaults(handler=_run_simulate)

    sweep = commands.add_parser(
        "sweep",
        help="replay a grid of parameter sets over the same paths and populations on every core; "
        "a table and a plot of bad debt against the first axis",
    )
    _common(sweep, "out/sweep")
    sweep.add_argument(
        "--vary",
        action="append",
        default=[],
        metavar="KEY=V1,V2",
        help="an axis: maintenance_ppm, insurance_fund, liquidation_price_ppm, premium_ppm, or a dotted "
        "path into the parameter file (e.g. liquidation.max_liquidation_fee_ppm, markets.*.deficit_policy)",
    )
    sweep.add_argument("--seeds", default="1", help="population seeds, comma-separated (default 1)")
    sweep.add_argument(
        "--workers", type=workers_option, help="processes, 1..4 per core (default: every core)"
    )
    sweep.set_defaults(handler=lambda args: _guarded(_sweep, args))
