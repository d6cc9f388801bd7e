"""``clearspec crosshair``: registered by :mod:`clearspec_tools.cli` (PRF-3)."""

from __future__ import annotations

import argparse
from typing import Any


def _run(args: argparse.Namespace) -> int:
    # Imported when the command runs, so other commands do not pay for it.
    from clearspec_proofs.crosshair_run import run_command

    return run_command(args)


def add_commands(commands: argparse._SubParsersAction[Any]) -> None:
    """Add ``clearspec crosshair [--per-condition-timeout S] [--budget S] [--long] ...``."""
    from clearspec_proofs.crosshair_run import add_arguments

    parser = commands.add_parser(
        "crosshair",
        help="check the contracts Z3 cannot trace (sorting, ranking, tiers, the kernel) with CrossHair",
        description="Run CrossHair over the harnesses of clearspec_proofs.crosshair_targets; "
        "exit 1 on any counterexample (see spec/crosshair.md, PRF-3).",
    )
    add_arguments(parser)
    parser.set_defaults(handler=_run)
