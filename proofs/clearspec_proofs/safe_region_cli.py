"""``clearspec params check`` and ``clearspec params safe``: registered by :mod:`clearspec_tools.cli`.

Both decide PAR-5's safety property with Z3 on a concrete parameter set
(:mod:`clearspec_proofs.safe_region`). Exit status: 0 safe (``check``) or the
boundary established (``safe``); 1 unsafe, unknown or not established; 2 bad
input (a parameter file, a parameter name, a market or an asset).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from clearspec.params import PPM
from clearspec_tools.inputs import MAX_GRID, grid_option, output_file, rlimit_option


def add_commands(commands: argparse._SubParsersAction[Any]) -> None:
    """Add ``params check`` and ``params safe``."""
    check = commands.add_parser(
        "check",
        help="PAR-5 per market: does one accepted oracle update leave an account that met "
        "maintenance with negative net collateral? (Z3; exit 1 if so)",
    )
    _common(check)
    check.set_defaults(handler=_run_check)

    safe = commands.add_parser(
        "safe",
        help="the minimal (or maximal) safe value of one parameter, the others fixed, with the "
        "counterexample at the first unsafe value and an optional plot of the safe region",
    )
    safe.add_argument(
        "--param",
        required=True,
        metavar="NAME",
        help="maintenance (of --market: its first tier), max_deviation (the oracle's circuit breaker), "
        "or maintenance_weight (of --asset)",
    )
    safe.add_argument("--market", metavar="M", help="the market (for maintenance; narrows max_deviation)")
    safe.add_argument("--asset", metavar="A", help="the collateral asset (for maintenance_weight)")
    safe.add_argument(
        "--plot",
        metavar="FILE.png",
        help="write a PNG of the safe region (max_deviation x the parameter); the name ends in .png",
    )
    safe.add_argument(
        "--grid",
        type=grid_option,
        default=21,
        metavar="N",
        help=f"grid points per axis of the plot, 2..{MAX_GRID} (21)",
    )
    safe.add_argument("--quiet", action="store_true", help="no progress lines on standard error")
    safe.add_argument(
        "--no-guess",
        action="store_true",
        help="plain bisection: do not probe PAR-5's predicted value first",
    )
    _common(safe)
    safe.set_defaults(handler=_run_safe)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--params", metavar="FILE", help="a parameter file (JSON); default: the example set")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument(
        "--rlimit", type=rlimit_option, help="Z3 resource limit per query, 1..2^32-1 (deterministic)"
    )


def _load(args: argparse.Namespace) -> Any:
    from clearspec_tools.cli import load_params_file

    return load_params_file(args.params)


def _rlimit(args: argparse.Namespace) -> int:
    from clearspec_proofs.engine import DEFAULT_RLIMIT

    return int(args.rlimit) if args.rlimit else DEFAULT_RLIMIT


def _fail(message: str) -> int:
    print(f"clearspec: {message}", file=sys.stderr)
    return 2


def _ppm(value: int | None) -> str:
    return "none" if value is None else f"{value:,}"


def _run_check(args: argparse.Namespace) -> int:
    from clearspec import SPEC_VERSION
    from clearspec_proofs.safe_region import check_params, counterexample_table

    params = _load(args)
    report = check_params(params, _rlimit(args))
    if args.json:
        print(json.dumps({"spec_version": SPEC_VERSION, **report.as_json()}, indent=1))
        return 0 if report.safe else 1
    deviation = params.oracle.max_deviation_ppm
    print(f"PAR-5: one accepted oracle update (max_deviation_ppm {deviation:,}) against maintenance\n")
    header = (
        f"{'market':<12} {'feed':<10} {'min maint':>10}  {'premise':<8} {'position':<9} "
        f"{'collateral':<22} {'verdict':<8} {'minimal safe maintenance':>24}"
    )
    print(header)
    print("-" * len(header))
    for m in report.markets:
        collateral = ", ".join(f"{v.subject.split('[')[1][:-1]} {v.status}" for v in m.collateral) or "-"
        verdict = m.status if m.safe else m.status.upper()
        premise = "yes" if m.premise_met else "no"
        print(
            f"{m.market:<12} {m.feed:<10} {m.min_maintenance_ppm:>10,}  {premise:<8} {m.position.status:<9} "
            f"{collateral:<22} {verdict:<8} {_ppm(m.maintenance.value):>24}"
        )
    print()
    header = (
        f"{'asset':<8} {'feed':<10} {'maint weight':>12} {'haircut':>9}  {'premise':<8} "
        f"{'maximal safe weight':>20}"
    )
    print(header)
    print("-" * len(header))
    for b in report.weights:
        feed = params.asset_by_id[b.subject].feed
        premise = "yes" if PPM - b.current >= deviation else "no"
        print(
            f"{b.subject:<8} {feed:<10} {b.current:>12,} {PPM - b.current:>9,}  {premise:<8} "
            f"{_ppm(b.value):>20}"
        )
    print(f"\nmaximal safe max_deviation_ppm (every market and asset): {_ppm(report.deviation.value)}")
    print("premise: every tier's maintenance (every haircut) >= max_deviation; verdicts by Z3;")
    print("unknown verdicts are counted as not safe.")
    shown: set[str] = set()
    for m in report.markets:
        for v in m.verdicts:
            if v.counterexample is not None and v.subject not in shown:
                shown.add(v.subject)
                print(f"\ncounterexample: {v.subject} ({v.status}; {v.detail})")
                print(counterexample_table(v.counterexample, params.quote_asset))
    if report.safe:
        print(f"\nSAFE: every market proved ({report.seconds:.1f} s)")
        return 0
    print(
        "\nNOT SAFE: one accepted oracle update can leave an account that met maintenance with negative "
        f"net collateral ({report.seconds:.1f} s)"
    )
    return 1


def _run_safe(args: argparse.Namespace) -> int:
    from clearspec import SPEC_VERSION
    from clearspec_proofs.safe_region import (
        SafeRegionError,
        counterexample_table,
        minimal_safe,
        parameter,
        plot_grid,
        safe_grid,
        stderr_progress,
    )

    params = _load(args)
    if args.plot is not None:
        output_file(args.plot, "--plot", ".png")  # before the probes, not after them
    try:
        kind = parameter(args.param)
        if args.plot and kind.name == "max_deviation" and args.market is None and args.asset is None:
            raise SafeRegionError(
                "--plot with max_deviation needs --market or --asset (which region to draw)"
            )
        if args.grid < 2:
            raise SafeRegionError("--grid needs at least 2 points")
        boundary = minimal_safe(
            params, kind.name, args.market, args.asset, _rlimit(args), guess=not args.no_guess
        )
        grid = None
        if args.plot:
            market = args.market if kind.name != "maintenance_weight" else None
            asset = args.asset if market is None else None
            grid = safe_grid(
                params,
                market=market,
                asset=asset,
                points=args.grid,
                rlimit=_rlimit(args),
                progress=None if args.quiet else stderr_progress,
            )
            plot_grid(grid, args.plot, boundary)
    except SafeRegionError as error:
        return _fail(str(error))
    status = 0 if boundary.established else 1
    if args.json:
        data = {
            "spec_version": SPEC_VERSION,
            "boundary": boundary.as_json(),
            "plot": args.plot,
            "grid": None if grid is None else grid.as_json(),
        }
        print(json.dumps(data, indent=1))
        return status
    where = f" of {boundary.subject}"
    print(f"{boundary.parameter}{where}: current value {boundary.current:,} ppm")
    print(f"monotonicity: {boundary.monotone}")
    if boundary.value is None:
        print(f"no value in {boundary.low:,}..{boundary.high:,} is safe")
    else:
        pivot = "" if boundary.guess is None else f", first pivot {boundary.guess:,} from PAR-5's premise"
        print(
            f"{boundary.direction} safe value: {boundary.value:,} ppm "
            f"({boundary.probes} Z3 probes{pivot}, {boundary.seconds:.2f} s)"
        )
        current_safe = (
            boundary.current >= boundary.value
            if boundary.direction == "minimal"
            else boundary.current <= boundary.value
        )
        print(f"the set's current value is {'safe' if current_safe else 'NOT safe'}")
    if boundary.unsafe is None:
        print("every value in the range is safe")
    else:
        verdict = boundary.unsafe.verdict
        print(f"at the first unsafe value {boundary.unsafe.value:,}: {verdict.status} ({verdict.detail})")
        if verdict.counterexample is not None:
            print(counterexample_table(verdict.counterexample, params.quote_asset))
    if boundary.established:
        print("boundary established: safe at the value (proved), confirmed counterexample one step beyond")
    else:
        print("boundary NOT established (unknown is counted as not safe)")
    if args.plot:
        print(f"plot: {args.plot}")
    return status
