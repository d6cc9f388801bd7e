"""``clearspec mutate``, registered by :mod:`clearspec_tools.cli` (or run as a module)."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``clearspec mutate``."""
    parser.add_argument(
        "--only",
        metavar="ID",
        action="append",
        help="mutants whose id is or starts with ID (repeatable or comma-separated; IDENTITY: the control)",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--out", metavar="FILE", help="also write the JSON report to FILE")
    parser.add_argument("--plot", metavar="FILE", help="write a PNG of the kills per category")
    parser.add_argument("--workers", type=int, default=1, help="mutants run at a time (default: 1)")
    parser.add_argument("--timeout", type=float, help="seconds per mutant (default: 1200)")
    parser.add_argument("--rlimit", type=int, help="Z3 resource limit per query (as clearspec prove)")
    parser.add_argument(
        "--targeted",
        action="store_true",
        help="prove only each mutant's own transitions, not the others that run its code",
    )
    parser.add_argument(
        "--no-baseline", action="store_true", help="skip the run of the unchanged model that comes first"
    )
    parser.add_argument(
        "--min-rate",
        type=float,
        help="exit 1 if fewer than this fraction of the mutants is killed (default: 0.95)",
    )
    parser.add_argument("--list", action="store_true", help="list the catalogue and exit")
    parser.add_argument(
        "--relabel",
        metavar="REPORT",
        help="do not run: reread a JSON report, take the reasons from the catalogue, recompute the summary",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress lines on standard error")
    parser.add_argument(
        "--no-cache",
        action="store_true",
        help="the children neither read nor write the proof cache (as clearspec prove --no-cache)",
    )


def add_commands(commands: argparse._SubParsersAction[Any]) -> None:
    """Add the ``mutate`` command."""
    mutate = commands.add_parser(
        "mutate",
        help="plant bugs in a copy of the model and check that the proofs catch them (long-running)",
    )
    add_arguments(mutate)
    mutate.set_defaults(handler=run)


def _list() -> int:
    from clearspec_proofs.mutants import MUTANTS

    for m in MUTANTS:
        expected = "equivalent" if m.equivalent else "missing obligation" if m.missing else "killed"
        print(f"{m.id:<40} {m.category:<13} {m.file:<16} {expected:<18} {m.bug}")
    print(f"{len(MUTANTS)} mutants")
    return 0


def run(args: argparse.Namespace) -> int:
    """Handler: 0 when every mutant got a verdict, every survivor has a recorded
    reason and the kill rate reaches ``--min-rate``; 1 otherwise; 2 on bad input."""
    from clearspec_proofs import mutation

    if args.list:
        return _list()
    only = [part for item in args.only or [] for part in item.split(",") if part]
    # A terminated campaign ends its children too (campaign() cleans up on the way out).
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _interrupted)
    try:
        if args.relabel:
            report = mutation.relabel(json.loads(Path(args.relabel).read_text()))
        else:
            report = _campaign(args, only)
    except mutation.MutationError as error:
        print(f"clearspec mutate: {error}", file=sys.stderr)
        return 2
    except (OSError, ValueError) as error:
        print(f"clearspec mutate: cannot read {args.relabel}: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("clearspec mutate: interrupted", file=sys.stderr)
        return 130
    return _finish(args, report)


def _campaign(args: argparse.Namespace, only: list[str]) -> dict[str, Any]:
    from clearspec_proofs import mutation

    mutants = mutation.select(only or None)
    if args.no_cache:
        from clearspec_proofs.solver import CACHE_ENV

        os.environ[CACHE_ENV] = "off"  # the children inherit the environment
    from clearspec_tools.examples import example_params

    return mutation.campaign(
        mutants,
        base=example_params(),  # the campaign's parameter sets derive from the example set
        workers=args.workers,
        escalate=not args.targeted,
        use_baseline=not args.no_baseline,
        rlimit=args.rlimit,
        timeout=args.timeout or mutation.DEFAULT_TIMEOUT,
        progress=None if args.quiet else _stderr,
    )


def _finish(args: argparse.Namespace, report: dict[str, Any]) -> int:
    from clearspec_proofs import mutation

    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(report, indent=1) + "\n")
    if args.plot:
        mutation.plot(report, Path(args.plot))
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        mutation.print_table(report)
    summary = report["summary"]
    min_rate = mutation.DEFAULT_MIN_RATE if args.min_rate is None else args.min_rate
    ok = (
        summary["timeout"] == 0
        and summary["error"] == 0
        and not summary["unexpected_survivors"]
        and summary["kill_rate"] >= min_rate
    )
    return 0 if ok else 1


def _interrupted(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
