"""The runner's side of the runner protocol (spec: vectors.md, VEC-6, VEC-7).

:class:`Implementation` starts the implementation under test, greets it, sends
one JSON line per request and reads one JSON line back, with a deadline. It
never blocks past the deadline: standard input and output are non-blocking
pipes driven by one selector, so an implementation that stops reading (a full
input pipe) is as much a hang as one that stops writing. Standard error is
drained by a thread into a short buffer of its last lines, so a chatty
implementation cannot fill that pipe and stall either.

Every way the exchange can go wrong raises :class:`ProtocolFailure` with a
kind: ``start`` (the command does not start or fails the hello), ``crash`` (it
exited or closed its output), ``hang`` (no answer before the deadline),
``garbage`` (a line that is not a JSON object). The caller decides what a
well-formed but wrong answer is (``bad-shape``) and restarts the process after
any failure: after one, the stream can no longer be trusted to be in step.
POSIX only (non-blocking pipes, process groups).
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import selectors
import shlex
import signal
import subprocess
import threading
import time
from typing import IO, Any

PROTOCOL_VERSION = 1
MAX_LINE = 256 * 1024 * 1024  # an answer longer than this is garbage, not a state
STDERR_LINES = 20
READ_CHUNK = 1 << 16
KINDS = ("start", "crash", "hang", "garbage", "bad-shape")


class ProtocolFailure(Exception):
    """VEC-7: the implementation did not give a valid answer; ``kind`` says how."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.detail = detail


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
        self._stderr: collections.deque[str] = collections.deque(maxlen=STDERR_LINES)
        self._stderr_thread: threading.Thread | None = None

    # --- life cycle ---------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, suite_version: str, timeout: float) -> dict[str, Any]:
        """Start the process and exchange hellos (VEC-6 step 1); returns the hello answer."""
        self.close()
        self.starts += 1
        self._stderr = collections.deque(maxlen=STDERR_LINES)
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
        os.set_blocking(process.stdin.fileno(), False)
        os.set_blocking(process.stdout.fileno(), False)
        self._selector = selectors.DefaultSelector()
        self._selector.register(process.stdout.fileno(), selectors.EVENT_READ)
        self._buffer = bytearray()
        self._stderr_thread = threading.Thread(target=self._drain, args=(process.stderr,), daemon=True)
        self._stderr_thread.start()
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

    def stop(self, grace: float = 2.0) -> None:
        """VEC-6 step 3: ask it to stop, then make sure it has."""
        if self.running:
            with contextlib.suppress(ProtocolFailure):
                self._send_only(b'{"cmd":"stop"}\n')
            assert self._process is not None
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._process.wait(grace)
        self.close()

    def kill(self) -> None:
        """Kill the whole process group (a shell wrapper's children included)."""
        process = self._process
        if process is not None and process.poll() is None:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                process.kill()
        if process is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):  # an unkillable process: give up
                process.wait(5)
        self.close()

    def close(self) -> None:
        process, self._process = self._process, None
        if self._selector is not None:
            self._selector.close()
            self._selector = None
        if process is None:
            return
        if process.poll() is None:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                process.kill()
            process.wait()
        for stream in (process.stdin, process.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        if self._stderr_thread is not None:
            self._stderr_thread.join(1.0)
            self._stderr_thread = None
        if process.stderr is not None:
            process.stderr.close()

    def stderr_tail(self) -> list[str]:
        """The last lines the implementation wrote to standard error."""
        return list(self._stderr)

    def _drain(self, stream: IO[bytes]) -> None:
        try:
            for line in stream:
                self._stderr.append(line.decode("utf-8", "replace").rstrip("\n")[:500])
        except (OSError, ValueError):
            return

    # --- one exchange -------------------------------------------------------------------------

    def request(self, message: dict[str, Any], timeout: float) -> dict[str, Any]:
        """Send one request and return the one JSON object answered to it."""
        data = json.dumps(message, separators=(",", ":")).encode("utf-8") + b"\n"
        return self.request_bytes(data, timeout)

    def request_bytes(self, data: bytes, timeout: float) -> dict[str, Any]:
        """:meth:`request` for a request already serialised (one line, ``\\n``-terminated)."""
        line = self._exchange(data, time.monotonic() + timeout, timeout)
        try:
            answer = json.loads(line)
        except (ValueError, RecursionError):
            raise ProtocolFailure("garbage", f"not JSON: {_clip_bytes(line)}") from None
        if not isinstance(answer, dict):
            raise ProtocolFailure("garbage", f"not a JSON object: {_clip_bytes(line)}")
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
        assert process.stdin is not None and process.stdout is not None
        stdin, stdout = process.stdin.fileno(), process.stdout.fileno()
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
                    raise ProtocolFailure("garbage", f"an answer line longer than {MAX_LINE} bytes")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    self.kill()
                    raise ProtocolFailure("hang", f"no answer within {timeout:g} s (killed)")
                for key, _ in selector.select(remaining):
                    if key.fd == stdin:
                        pending = pending[self._write(stdin, pending) :]
                        if not pending:
                            selector.unregister(stdin)
                    else:
                        self._read(stdout)
        finally:
            if pending and self._selector is not None:
                with contextlib.suppress(KeyError, ValueError):
                    selector.unregister(stdin)

    def _write(self, fd: int, data: memoryview) -> int:
        if not data:
            return 0
        try:
            return os.write(fd, data)
        except BlockingIOError:
            return 0
        except (BrokenPipeError, ConnectionResetError):
            raise self._crashed("stopped reading its input") from None

    def _read(self, fd: int) -> None:
        try:
            chunk = os.read(fd, READ_CHUNK)
        except BlockingIOError:
            return
        if not chunk:
            raise self._crashed("closed its output")
        self._buffer += chunk

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
