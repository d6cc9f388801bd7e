"""``clearspec vectors``: registered by :mod:`clearspec_tools.cli` (spec: vectors.md, implementers.md).

``generate --out DIR`` writes the suite, ``run [DIR] (--impl CMD | --reference)``
runs it against an implementation over the runner protocol (VEC-6) and
``validate DIR`` checks a suite's files against the schema and the index (not
the expectations: a case edited and re-hashed validates), and ``confirm DIR``
re-runs every case through the reference to check the expectations themselves.
Handlers import their machinery lazily, so other commands do not pay for it.
Exit status: 0 when everything passed or validated, 1 when a case did not
pass or a file did not validate, 2 for unusable input (no suite, a bad
``--impl``, an implementation that never starts).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from clearspec_tools.inputs import workers_option


def _generate(args: argparse.Namespace) -> int:
    from clearspec_tools.inputs import output_folder
    from clearspec_tools.vectors.generate import GeneratorError, check_replaceable, write_suite

    out = output_folder(args.out, "--out")
    try:
        check_replaceable(out)
    except GeneratorError as error:
        print(f"clearspec vectors generate: {error}", file=sys.stderr)
        return 2
    began = time.perf_counter()
    last = [0.0]

    def progress(done: int, total: int) -> None:
        now = time.perf_counter()
        if now - last[0] >= 1.0 or done == total:
            last[0] = now
            print(f"[vectors] generated {done}/{total} cases", file=sys.stderr, flush=True)

    count = write_suite(out, progress=None if args.quiet else progress)
    seconds = time.perf_counter() - began
    print(f"wrote {count} cases to {out} in {seconds:.1f} s")
    return 0


def reference_command() -> list[str]:
    """``--reference``: the built-in reference adapter, through the same protocol."""
    return [sys.executable, "-m", "clearspec_tools.vectors.adapter"]


def _run(args: argparse.Namespace) -> int:
    from clearspec_tools.vectors.protocol import split_command
    from clearspec_tools.vectors.runner import (
        SuiteError,
        load_suite,
        run_suite,
        select,
        stderr_progress,
        text_report,
    )

    try:
        argv = reference_command() if args.reference else split_command(args.impl)
        suite = load_suite(Path(args.dir))
    except (ValueError, SuiteError) as error:
        print(f"clearspec vectors run: {error}", file=sys.stderr)
        return 2
    cases = select(suite.cases, args.only)
    if not cases:
        print(f"clearspec vectors run: no case matches {args.only!r}", file=sys.stderr)
        return 2
    chosen = type(suite)(suite_version=suite.suite_version, cases=cases, source=suite.source)
    if not args.quiet:
        print(f"[vectors] {len(cases)} cases from {suite.source} through: {' '.join(argv)}", file=sys.stderr)
    report = run_suite(
        chosen,
        argv,
        timeout=args.timeout,
        start_timeout=args.start_timeout,
        max_failures=args.max_failures,
        jobs=args.jobs,
        progress=None if args.quiet else stderr_progress,
    )
    if args.json:
        print(json.dumps(report.summary(), indent=1))
    else:
        print(text_report(report))
    if report.aborted and not report.results:
        return 2
    if report.results and all(r.kind == "start" for r in report.results):
        return 2  # it never answered a hello: nothing was tested
    return 0 if report.ok else 1


def _validate(args: argparse.Namespace) -> int:
    try:
        from clearspec_tools.vectors.validate import validate_suite
    except ImportError as error:  # jsonschema is a development dependency
        print(
            f"clearspec vectors validate needs jsonschema (pip install jsonschema): {error}", file=sys.stderr
        )
        return 2

    def progress(done: int, total: int) -> None:
        print(f"[vectors] validated {done}/{total} cases", file=sys.stderr, flush=True)

    problems, checked = validate_suite(Path(args.dir), progress=None if args.quiet else progress)
    for problem in problems[:100]:
        print(problem)
    if len(problems) > 100:
        print(f"... and {len(problems) - 100} more")
    print(f"{checked} cases checked, {len(problems)} problems")
    return 0 if not problems and checked > 0 else 1


def _confirm(args: argparse.Namespace) -> int:
    from clearspec_tools.vectors.confirm import confirm_suite
    from clearspec_tools.vectors.runner import SuiteError, load_suite

    try:
        suite = load_suite(Path(args.dir))
    except SuiteError as error:
        print(f"clearspec vectors confirm: {error}", file=sys.stderr)
        return 2

    def progress(done: int, total: int) -> None:
        print(f"[vectors] confirmed {done}/{total} cases", file=sys.stderr, flush=True)

    result = confirm_suite(suite, progress=None if args.quiet else progress)
    for problem in result.problems[:100]:
        print(problem)
    if len(result.problems) > 100:
        print(f"... and {len(result.problems) - 100} more")
    print(f"{result.checked} cases confirmed against the reference, {len(result.problems)} problems")
    return 0 if result.ok else 1


MAX_SECONDS = 86_400.0  # a timeout beyond a day is a typo (and inf never ends)


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text[:40]!r}") from None
    if not 0 < value <= MAX_SECONDS:
        raise argparse.ArgumentTypeError(f"must be within 0..{MAX_SECONDS:g} seconds, got {text[:40]}")
    return value


def _count(text: str) -> int:
    if len(text) > 20:
        raise argparse.ArgumentTypeError(f"expected a count, got {text[:20]!r}...")
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a count, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def add_commands(commands: argparse._SubParsersAction[Any]) -> None:
    """Add the ``vectors`` command with ``generate``, ``run``, ``validate`` and ``confirm``."""
    vectors = commands.add_parser(
        "vectors", help="conformance vectors: generate the suite, run it, validate it"
    )
    sub = vectors.add_subparsers(dest="vectors_command", required=True)

    generate = sub.add_parser("generate", help="write the conformance suite (spec: vectors.md, VEC-1)")
    generate.add_argument("--out", metavar="DIR", required=True, help="directory to write the suite into")
    generate.add_argument("--quiet", action="store_true", help="no progress lines on standard error")
    generate.set_defaults(handler=_generate)

    run = sub.add_parser(
        "run",
        help="run the suite against an implementation over the runner protocol (spec: implementers.md)",
    )
    run.add_argument(
        "dir",
        metavar="DIR",
        nargs="?",
        default="vectors",
        help="suite directory, bundle.jsonl or case file (default: vectors)",
    )
    target = run.add_mutually_exclusive_group(required=True)
    target.add_argument(
        "--impl", metavar="COMMAND", help="the implementation's adapter command (split like a shell)"
    )
    target.add_argument("--reference", action="store_true", help="run the built-in reference adapter")
    run.add_argument(
        "--timeout", type=_positive, default=10.0, metavar="S", help="seconds per case (default 10)"
    )
    run.add_argument(
        "--start-timeout",
        type=_positive,
        default=60.0,
        metavar="S",
        help="seconds for a start and hello (default 60)",
    )
    run.add_argument(
        "--jobs",
        type=workers_option,
        default=1,
        metavar="N",
        help="run N instances of the implementation side by side, 1..4 per core (default 1)",
    )
    run.add_argument("--json", action="store_true", help="print the summary as JSON")
    run.add_argument("--only", metavar="PATTERN", help="case ids: a glob (with * ? [) or a substring")
    run.add_argument("--max-failures", type=_count, metavar="N", help="stop after N cases that did not pass")
    run.add_argument("--quiet", action="store_true", help="no progress lines on standard error")
    run.set_defaults(handler=_run)

    validate = sub.add_parser("validate", help="check a suite's files against the JSON Schema and the index")
    validate.add_argument("dir", metavar="DIR", help="suite directory")
    validate.add_argument("--quiet", action="store_true", help="no progress lines on standard error")
    validate.set_defaults(handler=_validate)

    confirm = sub.add_parser(
        "confirm",
        help="re-run every case through the reference model: are the expectations the reference's? "
        "(validate checks only the files and their hashes)",
    )
    confirm.add_argument("dir", metavar="DIR", help="suite directory, bundle.jsonl or case file")
    confirm.add_argument("--quiet", action="store_true", help="no progress lines on standard error")
    confirm.set_defaults(handler=_confirm)
