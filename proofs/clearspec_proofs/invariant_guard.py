"""A designer's invariant modules loaded under a time bound.

A module given to ``clearspec prove --invariants`` runs the designer's code twice
before any proof: at import, and when each of its conditions is built on the
symbolic ledger. Either may never end (a ``while True``, a huge power). So they
are first run in a forked child, which reports each step on a pipe; a child
still running at the bound is killed and the module is bad input naming what it
was doing. Only a module the child loaded and checked is then loaded here.
A ``SIGALRM`` in this process could not do it: a loop that catches every
exception, or one inside a single C call, never sees it.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import sys
import time
from collections.abc import Sequence

from clearspec.params import ProtocolParams
from clearspec_proofs.invariants import (
    Invariant,
    InvariantModuleError,
    check_invariants,
    load_invariant_modules,
)

DEFAULT_SECONDS = 60.0  # importing a module and building its conditions takes well under a second


def load_and_check(specs: Sequence[str], params: ProtocolParams, seconds: float = DEFAULT_SECONDS) -> None:
    """Load ``specs`` and try each registered condition on the symbolic ledger for
    ``params``; :class:`InvariantModuleError` if a module fails, exits or is still
    running after ``seconds`` (at import or while its conditions are built)."""
    if specs and hasattr(os, "fork"):
        _trial_in_child(tuple(specs), params, seconds)
    load_invariant_modules(tuple(specs))
    check_invariants(params)


def _trial(specs: tuple[str, ...], params: ProtocolParams, report: int) -> int:
    """The child's work: each step announced on ``report`` before it starts."""
    step = ["importing it", specs[0]]

    def say(line: str) -> None:
        os.write(report, (line.replace("\n", " ") + "\n").encode("utf-8", "replace"))

    def announce(doing: str, spec: str) -> None:
        step[:] = [doing, spec]
        say(f"step {doing}|{spec}")

    origin: dict[str, str] = {}

    def before(invariant: Invariant) -> None:
        spec = origin.get(invariant.name, specs[0])
        announce(f"building the condition of invariant {invariant.name!r}", spec)

    try:
        for spec in specs:
            announce("importing it", spec)
            for name in load_invariant_modules((spec,)):
                origin[name] = spec
        check_invariants(params, before=before)
    except InvariantModuleError as error:
        say(f"error {error}")
        return 2
    except BaseException as error:  # KeyboardInterrupt, GeneratorExit: not caught on the way
        say(f"error invariant module {step[1]}: {type(error).__name__}: {error} while {step[0]}")
        return 2
    say("done")
    return 0


def _trial_in_child(specs: tuple[str, ...], params: ProtocolParams, seconds: float) -> None:
    read_end, write_end = os.pipe()
    for stream in (sys.stdout, sys.stderr):
        stream.flush()  # or the child would write this process's buffered output again
    pid = os.fork()
    if pid == 0:  # the child: never returns
        status = 3
        try:
            os.close(read_end)
            devnull = os.open(os.devnull, os.O_RDWR)
            os.dup2(devnull, 1)  # the module's prints show once, when this process loads it
            status = _trial(specs, params, write_end)
        except BaseException as error:  # a defect here, reported by the parent
            with contextlib.suppress(OSError):
                os.write(write_end, f"error {type(error).__name__}: {error}\n".encode("utf-8", "replace"))
        finally:
            os._exit(status)
    os.close(write_end)
    try:
        lines, ended = _collect(pid, read_end, seconds)
    finally:
        os.close(read_end)
    _verdict(specs, lines, ended, seconds)


def _collect(pid: int, read_end: int, seconds: float) -> tuple[list[str], int | None]:
    """The child's report lines and exit status (``None``: killed at the bound)."""
    deadline = time.monotonic() + seconds
    data = b""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        ready, _, _ = select.select([read_end], [], [], left)
        if not ready:
            continue
        chunk = os.read(read_end, 65536)
        if not chunk:  # the child closed its end: it has ended
            _, wait_status = os.waitpid(pid, 0)
            return data.decode("utf-8", "replace").splitlines(), os.waitstatus_to_exitcode(wait_status)
        data = (data + chunk)[-65536:]  # only the last steps matter
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    return data.decode("utf-8", "replace").splitlines(), None


def _verdict(specs: tuple[str, ...], lines: list[str], status: int | None, seconds: float) -> None:
    steps = [line[len("step ") :] for line in lines if line.startswith("step ")]
    doing, _, spec = steps[-1].rpartition("|") if steps else ("loading it", "", specs[0])
    if status is None:
        raise InvariantModuleError(
            f"invariant module {spec}: still running after {seconds:g} s while {doing} "
            "(a loop?); --invariants-timeout sets the bound"
        )
    errors = [line[len("error ") :] for line in lines if line.startswith("error ")]
    if errors:
        raise InvariantModuleError(errors[-1])
    if status != 0 or "done" not in lines:
        # os._exit, a signal or a crash of the interpreter: the process itself ended.
        raise InvariantModuleError(
            f"invariant module {spec}: ended the process while {doing} (exit status {status})"
        )
