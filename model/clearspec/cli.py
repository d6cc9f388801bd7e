"""The ``clearspec`` command line."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from clearspec import SPEC_VERSION, __version__
from clearspec.examples import crash_scenario, example_genesis, example_scenario
from clearspec.render import describe, ledger_json, ledger_table
from clearspec.transition import step


def _run_example(args: argparse.Namespace) -> int:
    ledger = example_genesis()
    steps = []
    scenario = crash_scenario() if args.scenario == "crash" else example_scenario()
    for action in scenario:
        outcome = step(ledger, action)
        ledger = outcome.ledger
        verdict = "accepted" if outcome.error is None else f"rejected {outcome.error.value}"
        steps.append({"action": describe(action), "result": verdict})
        if not args.json:
            print(f"{describe(action):<90} {verdict}")
    if args.json:
        print(json.dumps({"steps": steps, "ledger": ledger_json(ledger)}, indent=2))
    else:
        print()
        print(ledger_table(ledger))
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for the docs)."""
    parser = argparse.ArgumentParser(
        prog="clearspec",
        description="Reference model of a derivatives clearing protocol.",
    )
    parser.add_argument(
        "--version", action="version", version=f"clearspec {__version__} (spec {SPEC_VERSION})"
    )
    commands = parser.add_subparsers(dest="command", required=True)
    example = commands.add_parser(
        "example", help="run the built-in example scenario and print the resulting ledger"
    )
    example.add_argument("--json", action="store_true", help="print JSON instead of a table")
    example.add_argument(
        "--scenario",
        choices=["basic", "crash"],
        default="basic",
        help="basic: deposits, a trade, a margin refusal; crash: funding, liquidation, deleveraging",
    )
    example.set_defaults(handler=_run_example)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``clearspec`` command."""
    args = build_parser().parse_args(argv)
    return int(args.handler(args))


if __name__ == "__main__":
    sys.exit(main())
