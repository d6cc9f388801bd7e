"""Running one fuzz case under a timeout and classifying its outcome.

Most cases run in a child forked from the campaign's process, which has
imported clearspec once: the child points its standard streams at files, runs
the CLI's ``main(argv)`` and exits with its status; the parent waits on a pidfd
(no polling) and kills the child's process group at the timeout. A case that
needs a real process (a standard output closed by its reader or full, a
signal) runs ``python -m clearspec_tools.cli`` as a subprocess instead.

Outcomes:

* ``clear-error``: exit status 1 or 2 and a message, no traceback (a process
  case: also a quiet status 1 on a closed pipe, and the status a signal asks);
* ``traceback``: a Python traceback on standard error, or any other status;
* ``hang``: still running at the timeout (killed);
* ``success``: exit status 0; ``wrong-success`` for a case that must fail.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from bench.fuzz_inputs import Case

TRACEBACK = "Traceback (most recent call last)"
_PARSER: list[Any] = []  # the CLI's parser, built once before the forks
# How the interpreter's standard output and error encode what UTF-8 cannot (they
# depend on the locale): the forked children's streams do the same.
_ERRORS = (
    getattr(sys.__stdout__, "errors", None) or "strict",
    getattr(sys.__stderr__, "errors", None) or "backslashreplace",
)


def prepare() -> None:
    """Build the CLI's argument parser here, once: each child then parses with its
    copy instead of building its own (a third of a small case's time)."""
    from clearspec_tools.cli import build_parser

    _PARSER[:] = [build_parser()]


def run_case(case: Case, timeout: float, work: Path) -> dict[str, Any]:
    """Run ``case`` (forked, or as a process when it says so) and classify it."""
    began = time.perf_counter()
    out, err = work / "stdout", work / "stderr"
    if case.process:
        status, signalled = _run_process(case, timeout, work, out, err)
    else:
        status, signalled = _run_forked(case, timeout, out, err), False
    stderr = _tail(err)
    outcome = classify(case, status, stderr, _says(out), signalled)
    return {
        "kind": case.kind,
        "name": case.name[:200],
        "argv": [a[:80] for a in case.argv],
        "status": status,
        "outcome": outcome,
        "seconds": round(time.perf_counter() - began, 3),
        "message": stderr.strip().splitlines()[-1][:300] if stderr.strip() else "",
    }


def classify(case: Case, status: int | None, stderr: str, stdout_says: bool, signalled: bool) -> str:
    """The outcome of a run that ended with ``status`` (``None``: killed at the timeout)."""
    if status is None:
        return "hang"
    if TRACEBACK in stderr:
        return "traceback"
    if case.process.startswith("signal:"):
        asked = int(case.process.split(":")[1])
        if not signalled:  # it ended before the signal was sent
            return "success" if status == 0 else _plain(case, status, stderr, stdout_says)
        # The signal's own death, or a clean exit status 128 + signal.
        if status in (-asked, 128 + asked):
            return "clear-error"
        return "wrong-success" if status == 0 else "traceback"
    if case.process.startswith("close-stdout") and status == 1:
        return "clear-error"  # the reader went away: a quiet stop
    return _plain(case, status, stderr, stdout_says)


def _plain(case: Case, status: int, stderr: str, stdout_says: bool) -> str:
    if status not in (0, 1, 2):
        return "traceback"
    if status == 0:
        return "wrong-success" if case.must_fail else "success"
    return "clear-error" if stderr.strip() or stdout_says else "traceback"


def _tail(path: Path, limit: int = 1 << 20) -> str:
    """The last ``limit`` bytes of standard error: a traceback's header and a long
    message's first words are both in them."""
    if not path.exists():
        return ""
    with open(path, "rb") as stream:
        stream.seek(max(0, path.stat().st_size - limit))
        return stream.read().decode("utf-8", "replace")


def _says(path: Path) -> bool:
    if not path.exists():
        return False
    with open(path, "rb") as stream:
        return bool(stream.read(4096).strip())


# --- in a forked child -----------------------------------------------------------------------------


def _run_forked(case: Case, timeout: float, out: Path, err: Path) -> int | None:
    pid = os.fork()
    if pid == 0:  # the child: never returns
        code = 70
        try:
            os.setpgid(0, 0)  # its own group: whatever it starts is killed with it
            with open(out, "wb") as o, open(err, "wb") as e, open(os.devnull, "rb") as i:
                os.dup2(i.fileno(), 0)
                os.dup2(o.fileno(), 1)
                os.dup2(e.fileno(), 2)
            # The child's own streams, encoded as the interpreter's own would be.
            sys.stdout = open(1, "w", errors=_ERRORS[0], closefd=False)  # noqa: SIM115
            sys.stderr = open(2, "w", errors=_ERRORS[1], closefd=False)  # noqa: SIM115
            from clearspec_tools import cli

            if _PARSER:
                cli.build_parser = lambda: _PARSER[0]  # this child's copy; the parent's stays fresh
            code = cli.main(list(case.argv))
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else 1
        except BaseException:
            traceback.print_exc()
            code = 70
        finally:
            with contextlib.suppress(Exception):
                sys.stdout.flush()
                sys.stderr.flush()
            os._exit(int(code) & 0xFF)
    status = wait(pid, timeout)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)  # at the timeout, or what it left running
    if status is None:
        os.waitpid(pid, 0)
    return status


def wait(pid: int, timeout: float) -> int | None:
    """The exit status of child ``pid``, or ``None`` if it is still running after
    ``timeout`` seconds (then it is left to the caller to kill and reap)."""
    try:
        handle = os.pidfd_open(pid)
    except (AttributeError, OSError):  # no pidfd (not Linux 5.3+): poll
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            done, wait_status = os.waitpid(pid, os.WNOHANG)
            if done:
                return os.waitstatus_to_exitcode(wait_status)
            time.sleep(0.005)
        return None
    try:
        ready, _, _ = select.select([handle], [], [], timeout)
    finally:
        os.close(handle)
    if not ready:
        return None
    _, wait_status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(wait_status)


# --- in a real process ------------------------------------------------------------------------------


def _run_process(case: Case, timeout: float, work: Path, out: Path, err: Path) -> tuple[int | None, bool]:
    """``python -m clearspec_tools.cli ARGV`` with its standard output closed early
    (``close-stdout:N``: after N bytes), full (``full-stdout``: /dev/full), or
    signalled once it has started (``signal:N``); returns the status and whether
    the signal was sent while it ran."""
    how, _, arg = case.process.partition(":")
    # A campaign started in the background (nohup, &) ignores SIGINT, and an ignored
    # signal stays ignored across exec: the command would never see the one sent.
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    command = [sys.executable, "-m", "clearspec_tools.cli", *case.argv]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(_package_roots())}
    deadline = time.monotonic() + timeout
    signalled = False
    with open(err, "wb") as error_file:
        if how == "full-stdout":
            with open("/dev/full", "wb") as full:
                child = subprocess.Popen(command, stdout=full, stderr=error_file, cwd=work, env=env)
        elif how == "close-stdout":
            child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=error_file, cwd=work, env=env)
            assert child.stdout is not None
            _read_then_close(child.stdout.fileno(), int(arg), deadline)
            child.stdout.close()
        else:
            with open(out, "wb") as out_file:
                child = subprocess.Popen(command, stdout=out_file, stderr=error_file, cwd=work, env=env)
            signalled = _signal_once_started(child, int(arg), err, deadline)
        try:
            status: int | None = child.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
            status = None
    if how != "signal":
        out.write_bytes(b"")
    return status, signalled


def _package_roots() -> list[str]:
    """The folders this process imports clearspec from, so the command runs the same code."""
    import clearspec
    import clearspec_proofs

    roots = [str(Path(m.__file__ or "").resolve().parent.parent) for m in (clearspec, clearspec_proofs)]
    return list(dict.fromkeys(roots))


def _read_then_close(fd: int, count: int, deadline: float) -> None:
    """Read ``count`` bytes (or to the end) of the child's output; the caller closes it."""
    got = 0
    while got < count:
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            return
        chunk = os.read(fd, count - got)
        if not chunk:
            return
        got += len(chunk)


def _signal_once_started(child: subprocess.Popen[bytes], number: int, err: Path, deadline: float) -> bool:
    """Send signal ``number`` once the command has written to standard error (its
    main is running, past the interpreter's start), then half a second later."""
    while time.monotonic() < deadline and child.poll() is None:
        if err.stat().st_size > 0:
            time.sleep(0.5)
            if child.poll() is not None:
                return False
            child.send_signal(number)
            return True
        time.sleep(0.05)
    return False
