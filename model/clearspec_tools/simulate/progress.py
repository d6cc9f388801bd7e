"""A progress bar on standard error (redrawn in place on a terminal, a line per tenth otherwise)."""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO


class ProgressBar:
    """Call with ``(done, total, info)``; ``info`` values are shown after the bar."""

    def __init__(self, label: str, stream: TextIO | None = None, width: int = 30) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self.width = width
        self.started = time.perf_counter()
        self.last_draw = 0.0
        self.last_tenth = -1
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())

    def __call__(self, done: int, total: int, info: dict[str, Any]) -> None:
        now = time.perf_counter()
        finished = done >= total
        tenth = 10 * done // max(total, 1)
        if self.tty:
            if not finished and now - self.last_draw < 0.1:
                return
        elif tenth == self.last_tenth and not finished:
            return
        self.last_draw, self.last_tenth = now, tenth
        filled = self.width * done // max(total, 1)
        bar = "#" * filled + "-" * (self.width - filled)
        extra = " ".join(f"{k} {v}" for k, v in info.items())
        percent = 100 * done // max(total, 1)
        line = f"{self.label} [{bar}] {percent:3d}% {done}/{total} {extra} {now - self.started:.0f}s"
        if self.tty:
            self.stream.write("\r" + line + ("\n" if finished else ""))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()


def message(text: str, stream: TextIO | None = None) -> None:
    """One status line on standard error."""
    print(text, file=stream or sys.stderr, flush=True)
