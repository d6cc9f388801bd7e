"""The ``clearspec`` command line."""

from __future__ import annotations

import argparse
import contextlib
import errno
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from clearspec import SPEC_VERSION, __version__
from clearspec.errors import ClearingError
from clearspec.params import ProtocolParams
from clearspec.params_file import MAX_FILE_BYTES, load_params, params_to_json
from clearspec.render import describe, ledger_json, ledger_table
from clearspec.transition import step
from clearspec_proofs.crosshair_cli import add_commands as add_crosshair_commands
from clearspec_proofs.invariant_guard import DEFAULT_SECONDS as INVARIANTS_SECONDS
from clearspec_proofs.invariant_guard import load_and_check
from clearspec_proofs.invariants import InvariantModuleError
from clearspec_proofs.mutation_cli import add_commands as add_mutation_commands
from clearspec_proofs.safe_region_cli import add_commands as add_safe_region_commands
from clearspec_tools.examples import crash_scenario, example_genesis, example_params, example_scenario
from clearspec_tools.inputs import (
    InputError,
    output_folder,
    path_kind,
    read_bytes,
    rlimit_option,
    seconds_option,
    workers_option,
)
from clearspec_tools.simulate.cli import add_commands as add_simulate_commands
from clearspec_tools.vectors.cli import add_commands as add_vector_commands


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


def load_params_file(path: str | None) -> ProtocolParams:
    """``--params``: the example set, or a regular file (never a device or FIFO) read by
    :func:`clearspec.params_file.load_params`."""
    if path is None or path == "example":
        return example_params()
    read_bytes(path, "--params", MAX_FILE_BYTES)
    return load_params(path)


def _run_prove(args: argparse.Namespace) -> int:
    from clearspec_proofs.counterexample import VECTOR_CODEC_ENV
    from clearspec_proofs.report import print_table, save_counterexamples
    from clearspec_proofs.runner import prove_all, stderr_progress
    from clearspec_tools.vectors.counterexample import CODEC_NAME

    params = load_params_file(args.params)
    if not args.counterexamples.strip():
        raise InputError("--counterexamples: an empty path (write '.' for the current folder)")
    if args.cache_dir is not None and not args.no_cache:
        output_folder(args.cache_dir, "--cache-dir")  # a cache that cannot be written is bad input
    folder = Path(args.counterexamples)
    if path_kind(folder, "--counterexamples") not in ("missing", "folder"):
        # Checked before the proof, so a bad folder does not cost a whole run.
        print(f"clearspec: --counterexamples {folder}: not a folder", file=sys.stderr)
        return 2
    # A designer's module is loaded and each of its conditions tried on a symbolic
    # ledger here, so a broken one is bad input before any worker starts; one that
    # does not end within --invariants-timeout too.
    load_and_check(tuple(args.invariants), params, args.invariants_timeout)
    # Counterexamples carry a conformance case's inputs, in the wire format the
    # prover does not know: the workers started below load this codec by name.
    os.environ[VECTOR_CODEC_ENV] = CODEC_NAME
    results = prove_all(
        params,
        only=args.only,
        workers=args.workers,
        rlimit=args.rlimit,
        progress=None if args.quiet else stderr_progress,
        invariant_modules=tuple(args.invariants),
        cache="off" if args.no_cache else args.cache_dir,
    )
    if not results:
        print(f"no obligation matches {args.only!r}", file=sys.stderr)
        return 2
    from clearspec_proofs.status import PASSING, Status

    try:
        saved = save_counterexamples(results, folder)
    except OSError as error:
        print(f"clearspec: cannot save counterexamples in {folder}: {error.strerror}", file=sys.stderr)
        return 2
    summary = {
        "total": len(results),
        "proved": sum(1 for r in results if r["status"] == Status.PROVED),
        "counterexample": sum(1 for r in results if r["status"] == Status.COUNTEREXAMPLE),
        "unknown": sum(1 for r in results if r["status"] == Status.UNKNOWN),
        # A transition the parameter set cannot form is not a failure (spec: proofs.md).
        "not_applicable": sum(1 for r in results if r["status"] == Status.NOT_APPLICABLE),
        "seconds": round(sum(r["seconds"] for r in results), 2),
        "counterexample_files": [str(p) for p in saved],
    }
    if args.json:
        print(
            json.dumps({"spec_version": SPEC_VERSION, "obligations": results, "summary": summary}, indent=1)
        )
    else:
        print_table(results, summary)
    return 0 if all(r["status"] in PASSING for r in results) else 1


def _run_params_export(args: argparse.Namespace) -> int:
    print(json.dumps(params_to_json(example_params()), indent=2))
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

    prove = commands.add_parser(
        "prove", help="prove every invariant of every transition with Z3, or show a counterexample"
    )
    prove.add_argument("--params", metavar="FILE", help="a parameter file (JSON); default: the example set")
    prove.add_argument("--only", metavar="PATTERN", help="transitions (or obligation ids, with '/') to prove")
    prove.add_argument("--json", action="store_true", help="print the results as JSON")
    prove.add_argument(
        "--workers", type=workers_option, help="processes to use, 1..4 per core (default: every core)"
    )
    prove.add_argument(
        "--rlimit", type=rlimit_option, help="Z3 resource limit per query, 1..2^32-1 (deterministic)"
    )
    prove.add_argument("--quiet", action="store_true", help="no progress lines on standard error")
    prove.add_argument(
        "--deterministic",
        action="store_true",
        help="accepted and ignored: every run is deterministic now (the answers depend on the query "
        "and --rlimit alone)",
    )
    prove.add_argument(
        "--cache-dir",
        metavar="DIR",
        help="the proof cache (default: $CLEARSPEC_PROOF_CACHE, else ~/.cache/clearspec/proofs)",
    )
    prove.add_argument("--no-cache", action="store_true", help="neither read nor write the proof cache")
    prove.add_argument(
        "--invariants",
        metavar="MODULE",
        action="append",
        default=[],
        help="a module name or .py file that calls register_invariant (repeatable)",
    )
    prove.add_argument(
        "--invariants-timeout",
        metavar="S",
        type=seconds_option,
        default=INVARIANTS_SECONDS,
        help="seconds an --invariants module may take to import and build its conditions "
        f"(default {INVARIANTS_SECONDS:g})",
    )
    prove.add_argument(
        "--counterexamples",
        metavar="DIR",
        default="out/counterexamples",
        help="where confirmed counterexamples are saved as vectors (default: out/counterexamples)",
    )
    prove.set_defaults(handler=_run_prove)

    params = commands.add_parser("params", help="parameter files and safe regions")
    params_commands = params.add_subparsers(dest="params_command", required=True)
    export = params_commands.add_parser("export", help="print the example parameter set as a JSON file")
    export.set_defaults(handler=_run_params_export)
    # Each subsystem registers its own commands (handlers import lazily, so
    # `clearspec example` does not pay for Z3 or matplotlib start-up).
    add_safe_region_commands(params_commands)
    add_vector_commands(commands)
    add_simulate_commands(commands)
    add_crosshair_commands(commands)
    add_mutation_commands(commands)
    return parser


OUTPUT_LOST = 1  # standard output closed or full: the exit status of a quiet stop
INTERRUPTED = 128 + 2  # SIGINT, as a shell reports a command it interrupted


def _silence_stdout() -> None:
    """Point standard output at /dev/null, so the interpreter's own flush at exit
    does not fail a second time on the closed pipe."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


def _echo_bytes_as_given() -> None:
    """A path given with bytes that are not UTF-8 (``--out $'a\\xff'``) reaches Python as
    surrogates; printing it back must write the same bytes, not raise
    UnicodeEncodeError as a strict standard output does outside the C locale."""
    reconfigure = getattr(sys.stdout, "reconfigure", None)
    if reconfigure is not None and sys.stdout.errors == "strict":
        with contextlib.suppress(ValueError, OSError):  # closed or detached: nothing will be printed
            reconfigure(errors="surrogateescape")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``clearspec`` command. Bad input exits 2 with its code;
    a closed or full standard output ends the command quietly with status 1; an
    interrupt (Ctrl-C) with a one-line message and status 130."""
    _echo_bytes_as_given()
    args = build_parser().parse_args(argv)
    try:
        status = int(args.handler(args))
        sys.stdout.flush()
        return status
    except (ClearingError, InvariantModuleError, InputError) as error:
        # A designer's invariant module that does not load (clearspec prove
        # --invariants) is bad input too; anything else is a defect: re-raised.
        print(f"clearspec: {error}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        _silence_stdout()  # a reader such as `head` went away: nothing left to say
        return OUTPUT_LOST
    except KeyboardInterrupt:  # Ctrl-C: the user asked to stop, not a defect
        print("clearspec: interrupted", file=sys.stderr)
        return INTERRUPTED
    except OSError as error:
        if error.errno not in (errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EPIPE):
            raise
        _silence_stdout()
        target = f" {error.filename}" if error.filename else ""
        print(f"clearspec: cannot write{target}: {os.strerror(error.errno)}", file=sys.stderr)
        return OUTPUT_LOST


if __name__ == "__main__":
    sys.exit(main())
