"""The reference model behind the runner protocol (spec: vectors.md, VEC-6).

``python -m clearspec_tools.vectors.adapter`` reads requests from standard input,
one JSON object per line, and answers each on standard output with
:func:`clearspec_tools.vectors.case.answer`: this is what ``clearspec vectors run
--reference`` starts, and the model every other adapter imitates (see
spec/implementers.md). A request it cannot make sense of (not JSON, an unknown
``cmd``) is answered with ``{"seq": ..., "error": "MALFORMED_INPUT",
"detail": ...}``, so the runner reports it instead of waiting; a request line
longer than the runner's own answer-line limit (16 MiB) too, and the adapter
then stops with status 2 instead of buffering a line that may never end.
"""

from __future__ import annotations

import json
import sys
import traceback
from typing import IO, Any

from clearspec import __version__
from clearspec.errors import ErrorCode
from clearspec_tools.vectors.case import ParamsCache, answer
from clearspec_tools.vectors.protocol import MAX_LINE

PROTOCOL_VERSION = 1
OVERSIZE = f"a request line longer than {MAX_LINE} bytes"
IMPLEMENTATION = {"name": "clearspec-reference", "version": __version__, "language": "python"}


def respond(message: Any, cache: ParamsCache) -> dict[str, Any] | None:
    """VEC-6: the answer to one request; ``None`` for ``stop``."""
    if not isinstance(message, dict):
        return {"seq": None, "error": ErrorCode.MALFORMED_INPUT.value, "detail": "a request is a JSON object"}
    command = message.get("cmd")
    if command == "hello":
        return {"hello": True, "protocol": PROTOCOL_VERSION, "implementation": IMPLEMENTATION}
    if command == "stop":
        return None
    seq = message.get("seq")
    if command != "run":
        return {"seq": seq, "error": ErrorCode.MALFORMED_INPUT.value, "detail": f"unknown cmd {command!r}"}
    return {"seq": seq, **answer(message.get("case"), cache)}


def serve(stdin: IO[bytes], stdout: IO[bytes]) -> int:
    """Answer requests until ``stop`` or the end of the input. A request line longer
    than ``MAX_LINE`` bytes before its newline (the runner's limit on an answer line) is answered with
    MALFORMED_INPUT and ends the exchange with status 2: its end is never read (it
    may not have one), so the next line could not be found."""
    cache = ParamsCache()
    while True:
        line = stdin.readline(MAX_LINE + 1)
        if not line:
            return 0
        if len(line) > MAX_LINE and not line.endswith(b"\n"):  # MAX_LINE bytes and more to come
            _reply(stdout, {"seq": None, "error": ErrorCode.MALFORMED_INPUT.value, "detail": OVERSIZE})
            print(f"clearspec adapter: {OVERSIZE}: stopped", file=sys.stderr)
            return 2
        try:
            message = json.loads(line)
        except (ValueError, RecursionError):
            message = None
            reply: dict[str, Any] | None = {
                "seq": None,
                "error": ErrorCode.MALFORMED_INPUT.value,
                "detail": "a request line is one JSON object",
            }
        else:
            reply = respond(message, cache)
        if reply is None:
            return 0
        _reply(stdout, reply)


def _reply(stdout: IO[bytes], reply: dict[str, Any]) -> None:
    stdout.write(json.dumps(reply, separators=(",", ":")).encode("ascii") + b"\n")
    stdout.flush()


def main() -> int:
    """Entry point: serve on the process's standard input and output."""
    try:
        return serve(sys.stdin.buffer, sys.stdout.buffer)
    except BrokenPipeError:
        return 0  # the runner went away: nothing left to answer
    except Exception:  # a bug in the reference, never bad input: case.answer takes any JSON
        print("clearspec adapter: internal error", file=sys.stderr)
        traceback.print_exc()
        return 3


if __name__ == "__main__":
    sys.exit(main())
