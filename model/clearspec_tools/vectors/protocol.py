"""The runner's side of the runner protocol (spec: vectors.md, VEC-6, VEC-7).

:class:`Implementation` starts the implementation under test, greets it, sends
one JSON line per request and reads one JSON line back, with a deadline. It
never blocks past the deadline: standard input and output are non-blocking
pipes driven by one selector, so an implementation that stops reading (a full
input pipe) is as much a hang as one that stops writing. Standard error is
drained by the same selector into a bounded tail (the last ``STDERR_TAIL``
bytes of each case), so a chatty implementation can neither fill that pipe and
stall nor fill the runner's memory. No read ever blocks: a child the adapter
forked that keeps a pipe open after the adapter exited cannot hold the runner,
and every exit path kills the adapter's whole process group.

Every way the exchange can go wrong raises :class:`ProtocolFailure` with a
kind: ``start`` (the command does not start or fails the hello), ``crash`` (it
exited or closed its output), ``hang`` (no answer before the deadline),
``garbage`` (a line that is not a JSON object), ``oversize`` (an answer line
longer than ``MAX_LINE``), ``duplicate`` (more than one answer to one request).
The caller decides what a well-formed but wrong answer is (``bad-shape``) and
restarts the process after any failure: after one, the stream can no longer be
trusted to be in step.
POSIX only (non-blocking pipes, process groups).
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import shlex
import signal
import subprocess
import time
from typing import Any

PROTOCOL_VERSION = 1
# The largest answer of the suite is tens of kilobytes; 16 MiB is far beyond any
# state a case builds, and reading it takes well under a second.
MAX_LINE = 16 * 1024 * 1024
STDERR_TAIL = 64 * 1024  # bytes of standard error kept per case (the last ones)
STDERR_LINES = 20  # lines of that tail shown in the report
READ_CHUNK = 1 << 16
POLL = 0.05  # seconds between looks at whether the adapter itself has exited
KINDS = ("start", "crash", "hang", "garbage", "oversize", "duplicate", "bad-shape")


class ProtocolFailure(Exception):
    """VEC-7: the implementation did not give a valid answer; ``kind`` says how."""

    def __init__(self, kind: str, detail: str, seq: int | None = None) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.detail = detail
        self.seq = seq  # for a duplicate: the request answered twice, when it is an earlier one


def split_command(command: str) -> list[str]:
    """``--impl`` is split like a POSIX shell would (quotes, escapes), without a
    shell: wrap the command in ``sh -c '...'`` for pipes or variables."""
    try:
        argv = shlex.split(command)
    except ValueError as error:
        raise ValueError(f"cannot split --impl {command!r}: {error}") from None
    if not argv:
        raise ValueError("--impl is empty")
    return argv


def _describe_exit(code: int | None) -> str:
    if code is None:
        return "closed its standard output"
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with status {code}"


class Implementation:
    """One running instance of the implementation under test."""

    def __init__(self, argv: list[str], cwd: str | None = None, env: dict[str, str] | None = None) -> None:
        self.argv = argv
        self.cwd = cwd
        self.env = env
        self.info: dict[str, Any] = {}
        self.starts = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._selector: selectors.BaseSelector | None = None
        self._buffer = bytearray()
        self._stderr = bytearray()
        self.answered: set[int] = set()  # the seqs this process has answered since it started

    # --- life cycle ---------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, suite_version: str, timeout: float) -> dict[str, Any]:
        """Start the process and exchange hellos (VEC-6 step 1); returns the hello answer."""
        self.close()
        self.starts += 1
        self._stderr = bytearray()
        self.answered = set()
        try:
            self._process = subprocess.Popen(
                self.argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                cwd=self.cwd,
                env=self.env,
                start_new_session=True,  # its own process group: a hang is killed whole
            )
        except OSError as error:
            self._process = None
            raise ProtocolFailure("start", f"cannot run {shlex.join(self.argv)}: {error.strerror}") from None
        process = self._process
        assert process.stdin is not None and process.stdout is not None and process.stderr is not None
        for stream in (process.stdin, process.stdout, process.stderr):
            os.set_blocking(stream.fileno(), False)
        self._selector = selectors.DefaultSelector()
        self._selector.register(process.stdout.fileno(), selectors.EVENT_READ)
        self._selector.register(process.stderr.fileno(), selectors.EVENT_READ)
        self._buffer = bytearray()
        hello = {"cmd": "hello", "protocol": PROTOCOL_VERSION, "suite_version": suite_version}
        try:
            answer = self.request(hello, timeout)
        except ProtocolFailure as failure:
            self.kill()
            raise ProtocolFailure("start", f"no valid hello: {failure}") from None
        if not (answer.get("hello") is True and answer.get("protocol") == PROTOCOL_VERSION):
            self.kill()
            raise ProtocolFailure(
                "start", f"expected a protocol-{PROTOCOL_VERSION} hello, got {_clip(answer)}"
            )
        info = answer.get("implementation")
        self.info = info if isinstance(info, dict) else {}
        return answer

    def stop(self, grace: float = 2.0) -> bytes:
        """VEC-6 step 3: ask it to stop, then make sure it has (its whole process group).
        Returns what it wrote on standard output after its last answer (a duplicate
        answer to the last request, for instance): nothing, from a correct adapter."""
        extra = b""
        if self.running:
            with contextlib.suppress(ProtocolFailure):
                self._send_only(b'{"cmd":"stop"}\n')
            extra = self._collect(time.monotonic() + grace)
        self.close()
        return extra

    def unsolicited(self) -> bytes:
        """Output already waiting before a request is sent: an answer nobody asked for."""
        if self._process is None or self._selector is None:
            return b""
        with contextlib.suppress(ProtocolFailure):
            self._pump(0.0)
        return bytes(self._buffer).strip()

    def kill(self) -> None:
        """Kill the whole process group (a shell wrapper's children included)."""
        self.close()

    def close(self) -> None:
        """Kill the process group, whatever state the adapter is in (its direct child may
        have exited while a grandchild holds the pipes), reap it and close the pipes.
        Never blocks on a pipe: nothing here reads."""
        process, self._process = self._process, None
        if self._selector is not None:
            self._selector.close()
            self._selector = None
        if process is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        if process.poll() is None:
            with contextlib.suppress(OSError):
                process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):  # an unkillable process: give up on it
            process.wait(5)
        for stream in (process.stdin, process.stdout, process.stderr):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()

    def stderr_tail(self) -> list[str]:
        """The last lines the implementation wrote to standard error during this case."""
        text = bytes(self._stderr).decode("utf-8", "replace")
        return [line[:500] for line in text.splitlines()[-STDERR_LINES:]]

    # --- one exchange -------------------------------------------------------------------------

    def request(self, message: dict[str, Any], timeout: float) -> dict[str, Any]:
        """Send one request and return the one JSON object answered to it."""
        data = json.dumps(message, separators=(",", ":")).encode("utf-8") + b"\n"
        return self.request_bytes(data, timeout)

    def request_bytes(self, data: bytes, timeout: float) -> dict[str, Any]:
        """:meth:`request` for a request already serialised (one line, ``\\n``-terminated)."""
        self._stderr = bytearray()
        line = self._exchange(data, time.monotonic() + timeout, timeout)
        try:
            answer = json.loads(line)
        except (ValueError, RecursionError):
            raise ProtocolFailure("garbage", f"not JSON: {_clip_bytes(line)}") from None
        if not isinstance(answer, dict):
            raise ProtocolFailure("garbage", f"not a JSON object: {_clip_bytes(line)}")
        if self._buffer.strip():
            # A second line in the same reads as the answer: it answered twice. The
            # first line names the request it answers: an earlier one is to blame.
            got = answer.get("seq")
            earlier = got if type(got) is int and got in self.answered else None
            raise ProtocolFailure(
                "duplicate", f"more output after its answer: {_clip_bytes(bytes(self._buffer))}", earlier
            )
        return answer

    def _send_only(self, data: bytes) -> None:
        process = self._process
        if process is None or process.stdin is None:
            return
        try:
            os.write(process.stdin.fileno(), data)
        except (BrokenPipeError, BlockingIOError, OSError):
            raise ProtocolFailure("crash", "cannot write") from None

    def _exchange(self, data: bytes, deadline: float, timeout: float) -> bytes:
        process, selector = self._process, self._selector
        if process is None or selector is None:
            raise ProtocolFailure("crash", "the implementation is not running")
        assert process.stdin is not None
        stdin = process.stdin.fileno()
        pending = memoryview(data)
        # Most requests fit in the pipe at once: write first, select only if not.
        pending = pending[self._write(stdin, pending) :]
        if pending:
            selector.register(stdin, selectors.EVENT_WRITE)
        try:
            while True:
                newline = self._buffer.find(b"\n")
                if newline >= 0:
                    line = bytes(self._buffer[:newline])
                    del self._buffer[: newline + 1]
                    if pending:
                        # It answered before reading the whole request: whatever
                        # the line says, the two sides are out of step now.
                        self.kill()
                    return line
                if len(self._buffer) > MAX_LINE:
                    self.kill()
                    raise ProtocolFailure("oversize", f"an answer line longer than {MAX_LINE} bytes (killed)")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    self.kill()
                    raise ProtocolFailure("hang", f"no answer within {timeout:g} s (killed)")
                if process.poll() is not None and not self._pump(0.0):
                    # The adapter exited and nothing is left to read now: whatever
                    # child may still hold its output, it is not answering.
                    raise self._crashed("exited")
                pending = self._pump(min(remaining, POLL), stdin, pending)
        finally:
            if pending and self._selector is not None:
                with contextlib.suppress(KeyError, ValueError):
                    selector.unregister(stdin)

    def _pump(self, wait: float, stdin: int = -1, pending: memoryview | None = None) -> Any:
        """One round of the selector: write what is pending of a request, read what
        is ready on standard output (into the buffer) and standard error (into the
        bounded tail). Returns the rest of ``pending``, or, without it, whether
        anything was read."""
        selector = self._selector
        process = self._process
        if selector is None or process is None:
            raise ProtocolFailure("crash", "the implementation is not running")
        assert process.stdout is not None and process.stderr is not None
        stdout, stderr = process.stdout.fileno(), process.stderr.fileno()
        progress = False
        for key, _ in selector.select(wait):
            if key.fd == stdin and pending is not None:
                pending = pending[self._write(stdin, pending) :]
                if not pending:
                    selector.unregister(stdin)
            elif key.fd == stdout:
                progress = self._read(stdout) or progress
            elif key.fd == stderr:
                self._read_stderr(stderr)
        return pending if pending is not None else progress

    def _collect(self, deadline: float) -> bytes:
        """Everything it writes on standard output until it closes it or ``deadline``."""
        while time.monotonic() < deadline and self._process is not None:
            try:
                read = self._pump(min(POLL, max(deadline - time.monotonic(), 0.0)))
                if not read and self._process.poll() is not None and not self._pump(0.0):
                    break
            except ProtocolFailure:
                break  # it closed its output: all is collected
            if len(self._buffer) > MAX_LINE:
                break
        return bytes(self._buffer).strip()

    def _write(self, fd: int, data: memoryview) -> int:
        if not data:
            return 0
        try:
            return os.write(fd, data)
        except BlockingIOError:
            return 0
        except (BrokenPipeError, ConnectionResetError):
            raise self._crashed("stopped reading its input") from None

    def _read(self, fd: int) -> bool:
        try:
            chunk = os.read(fd, READ_CHUNK)
        except BlockingIOError:
            return False
        if not chunk:
            raise self._crashed("closed its output")
        self._buffer += chunk
        return True

    def _read_stderr(self, fd: int) -> None:
        try:
            chunk = os.read(fd, READ_CHUNK)
        except (BlockingIOError, OSError):
            return
        if not chunk:
            if self._selector is not None:
                with contextlib.suppress(KeyError, ValueError):
                    self._selector.unregister(fd)  # closed: never ready again
            return
        self._stderr += chunk
        if len(self._stderr) > STDERR_TAIL:
            del self._stderr[: len(self._stderr) - STDERR_TAIL]

    def _crashed(self, what: str) -> ProtocolFailure:
        process = self._process
        code = None
        if process is not None:
            try:
                code = process.wait(2.0)  # it is exiting: give it a moment to say how
            except subprocess.TimeoutExpired:
                code = None
        partial = f"; partial answer {_clip_bytes(bytes(self._buffer))}" if self._buffer else ""
        detail = _describe_exit(code) if code is not None else what
        self.kill()
        return ProtocolFailure("crash", f"the implementation {detail}{partial}")


def _clip(value: Any, limit: int = 200) -> str:
    text = json.dumps(value, separators=(",", ":"), default=str)
    return text if len(text) <= limit else text[:limit] + "..."


def _clip_bytes(data: bytes, limit: int = 200) -> str:
    text = repr(data[:limit])
    return text + ("..." if len(data) > limit else "")
