"""The input boundary of every command: files read, option values, output paths.

Each check either returns a usable value or raises :class:`InputError` with a
message naming the file, field or line and what was expected; the CLI prints it
and exits 2. Option checks are also argparse ``type=`` functions (argparse turns
their ``ArgumentTypeError`` into its own exit status 2). Nothing here decides
anything about the protocol: only whether an input can be used at all.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

MAX_JSON_DEPTH = 64  # a case or index nests a handful of levels; 64 is generous
MAX_SUITE_FILE_BYTES = 256 << 20  # a whole bundle.jsonl is a few tens of MB
MAX_PRICE_FILE_BYTES = 64 << 20  # a year of one-minute bars is about 30 MB
MAX_Z3_RLIMIT = 2**32 - 1  # Z3's rlimit is an unsigned 32-bit parameter
MAX_GRID = 101  # points per axis of a safe-region plot: 101 x 101 Z3 probes already
WORKERS_PER_CORE = 4
MAX_ACCOUNTS = 200_000  # a simulated population: 10 million accounts would take ~5 GB


class InputError(Exception):
    """An input cannot be used; the message says which and what was expected (exit 2)."""


# --- files read -------------------------------------------------------------------------------


def _shown(path: Path | str) -> str:
    """A path as a message shows it: a 5,000-character one clipped."""
    text = str(path)
    return text if len(text) <= 160 else text[:160] + "..."


def read_bytes(path: str | Path, what: str, limit: int) -> bytes:
    """A regular file's bytes, at most ``limit``: never a device, FIFO, socket or folder
    (``/dev/zero`` never ends, a FIFO may never be written)."""
    text = str(path)
    shown = _shown(text)
    if not text:
        raise InputError(f"{what}: an empty path")
    try:
        info = os.stat(text)
    except FileNotFoundError:
        raise InputError(f"{what} {shown}: no such file") from None
    except OSError as error:
        raise InputError(f"{what} {shown}: {error.strerror}") from None
    if stat.S_ISDIR(info.st_mode):
        raise InputError(f"{what} {shown}: is a folder, expected a regular file")
    if not stat.S_ISREG(info.st_mode):
        raise InputError(f"{what} {shown}: a device, FIFO or socket, expected a regular file")
    if info.st_size > limit:
        raise InputError(f"{what} {shown}: {info.st_size} bytes, more than the limit of {limit}")
    try:
        with open(text, "rb") as stream:
            data = stream.read(limit + 1)
    except OSError as error:
        raise InputError(f"{what} {shown}: {error.strerror}") from None
    if len(data) > limit:  # it grew while being read
        raise InputError(f"{what} {shown}: more than the limit of {limit} bytes")
    return data


def decode_utf8(data: bytes, where: str) -> str:
    """``data`` as UTF-8 text, or an error naming the first bad byte's offset."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InputError(f"{where}: not UTF-8 text (byte {error.start})") from None


def read_text(path: str | Path, what: str, limit: int) -> str:
    """:func:`read_bytes` decoded as UTF-8."""
    return decode_utf8(read_bytes(path, what, limit), f"{what} {path}")


def json_depth(value: Any) -> int:
    """How deeply ``value`` nests (a scalar is 0), without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
            deepest = max(deepest, depth + 1)
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
            deepest = max(deepest, depth + 1)
    return deepest


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text[:40]} overflows a double")
    return value


def parse_json(text: str | bytes, where: str, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """One JSON document, nested at most ``max_depth`` levels, with numbers of
    JSON's syntax (no ``NaN`` or ``Infinity``, none that overflows a double) and
    integers Python can convert (a 5,000-digit number is refused by name, not
    with a ValueError)."""
    try:
        value = json.loads(text, parse_constant=_no_constant, parse_float=_finite_float)
    except RecursionError:
        raise InputError(f"{where}: JSON nested more than {max_depth} levels") from None
    except json.JSONDecodeError as error:
        raise InputError(
            f"{where}: not JSON: {error.msg} (line {error.lineno} column {error.colno})"
        ) from None
    except ValueError as error:  # an integer beyond the conversion limit, or bad UTF-8 bytes
        raise InputError(f"{where}: unusable JSON: {error}") from None
    if json_depth(value) > max_depth:
        raise InputError(f"{where}: JSON nested more than {max_depth} levels")
    return value


def load_json(path: str | Path, what: str, limit: int = MAX_SUITE_FILE_BYTES) -> Any:
    """A JSON file through every check above."""
    where = f"{what} {path}"
    return parse_json(decode_utf8(read_bytes(path, what, limit), where), where)


# --- option values ----------------------------------------------------------------------------


def cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _integer(text: str) -> int:
    stripped = text.strip()
    if not stripped or len(stripped) > 40:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text[:40]!r}")
    try:
        return int(stripped, 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None


def int_range(low: int, high: int) -> Callable[[str], int]:
    """An argparse type: an integer within ``low..high``."""

    def parse(text: str) -> int:
        value = _integer(text)
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"expected an integer within {low}..{high}, got {value}")
        return value

    parse.__name__ = f"integer {low}..{high}"
    return parse


def workers_option(text: str) -> int:
    """``--workers``: 1 to four processes a core (more only queue up and cost memory)."""
    return int_range(1, cores() * WORKERS_PER_CORE)(text)


workers_option.__name__ = "workers"
MAX_SECONDS = 86_400.0  # a bound beyond a day is a typo (and inf never ends)


def seconds_option(text: str) -> float:
    """A time bound in seconds: finite, above 0, at most a day."""
    try:
        value = float(text.strip()) if len(text) <= 40 else math.nan
    except ValueError:
        value = math.nan
    if not 0 < value <= MAX_SECONDS:  # nan fails too
        raise argparse.ArgumentTypeError(f"expected seconds within 0..{MAX_SECONDS:g}, got {text[:40]!r}")
    return value


seconds_option.__name__ = "seconds"
rlimit_option = int_range(1, MAX_Z3_RLIMIT)
grid_option = int_range(2, MAX_GRID)


# --- output paths -----------------------------------------------------------------------------


def _probe_writable(folder: Path, what: str) -> None:
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        raise InputError(f"{what} {folder}: cannot write there: {error.strerror}") from None


def path_kind(path: Path, what: str) -> str:
    """``missing``, ``folder``, ``file`` or ``other`` (a device, FIFO, socket); a path
    the system cannot even look up (a name over 255 bytes, a path over PATH_MAX, a
    symlink loop, no permission) is an :class:`InputError`, never an OSError."""
    try:
        mode = path.stat().st_mode
    except (FileNotFoundError, NotADirectoryError):  # under a file: cannot exist, creating it says why
        return "missing"
    except OSError as error:
        raise InputError(f"{what} {_shown(path)}: {error.strerror}") from None
    if stat.S_ISDIR(mode):
        return "folder"
    return "file" if stat.S_ISREG(mode) else "other"


def output_folder(text: str, what: str) -> Path:
    """A folder to write into, created if missing: never the current folder by an empty
    path, never a file, a device or a place nothing can be written."""
    if not text.strip():
        raise InputError(f"{what}: an empty path (write '.' for the current folder)")
    folder = Path(text)
    if path_kind(folder, what) not in ("missing", "folder"):
        raise InputError(f"{what} {_shown(folder)}: exists and is not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise InputError(f"{what} {_shown(folder)}: cannot create the folder: {error.strerror}") from None
    _probe_writable(folder, what)
    return folder


def output_file(text: str, what: str, suffix: str) -> Path:
    """A file to write, whose name ends in ``suffix``: never a folder (no suffix is
    appended to one silently), in a folder that exists and can be written."""
    if not text.strip():
        raise InputError(f"{what}: an empty path")
    path = Path(text)
    kind = path_kind(path, what)
    if kind == "folder":
        raise InputError(f"{what} {_shown(path)}: is a folder, expected a file name ending in {suffix}")
    if path.suffix.lower() != suffix:
        raise InputError(f"{what} {_shown(path)}: expected a file name ending in {suffix}")
    if kind == "other":
        raise InputError(f"{what} {_shown(path)}: exists and is not a regular file")
    parent = path.parent
    if path_kind(parent, what) != "folder":
        raise InputError(f"{what} {_shown(path)}: the folder {_shown(parent)} does not exist")
    _probe_writable(parent, what)
    return path
