"""Price paths: exchange bars read from CSV and converted exactly to a feed's integer scale.

A file has the header ``timestamp_utc,open,high,low,close,volume`` and one bar
a line (``timestamp_utc`` is the bar's open time, ISO 8601 in UTC). Prices are
decimal strings in quote currency per coin; the feed price of the model is an
integer, ``price * 10**exponent`` with
``exponent = quote_decimals + price_decimals - base_decimals`` (the example
units: USDC has 6 decimals, coins 8, feeds 6, so ``exponent = 4`` and
``"60697.99"`` becomes ``606979900``). The conversion is string arithmetic on
the digits: no float ever holds a price. Digits the scale cannot hold are
rounded half to even and counted (``PricePath.rounded``).

Every problem with a file raises :class:`PricePathError` naming the file, the
line and what is wrong. A file is checked before it is replayed: a regular
UTF-8 file of at most ``MAX_PRICE_FILE_BYTES``, at most ``MAX_COLUMNS`` columns
of at most ``MAX_FIELD`` characters, prices within ``1..MAX_AMOUNT`` at the
feed's scale, open times strictly increasing within ``MIN_TIME..MAX_TIME``, and
no bar that moves more than a factor ``max_move`` (default
``DEFAULT_MAX_MOVE``, 10) from the previous close or its own open: a price that
jumps to 1e25 or crashes to 1e-4 in one bar is a broken file far more often
than a market, and is refused with its line unless the caller opts in
(``max_move=0``, ``--allow-jumps``).
"""

from __future__ import annotations

import itertools
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

from clearspec.params import MAX_AMOUNT
from clearspec_tools.inputs import MAX_PRICE_FILE_BYTES, InputError, read_text

HEADER = ("timestamp_utc", "open", "high", "low", "close", "volume")
_DECIMAL = re.compile(r"^\+?(\d+)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$")
MAX_FIELD = 64  # characters of one CSV field: a price or an ISO 8601 time is far shorter
MAX_COLUMNS = 32  # the six of HEADER and a few an exchange adds
MAX_EXPONENT = 60  # 10**60 is beyond MAX_AMOUNT (10**30) at any scale a feed uses
DEFAULT_MAX_MOVE = 10  # a bar may reach 10x or 1/10 of the previous close: generous
MIN_TIME = 0  # 1970-01-01T00:00:00Z
MAX_TIME = 4_102_444_800  # 2100-01-01T00:00:00Z


class PricePathError(ValueError):
    """A price path cannot be used: missing, malformed, inconsistent or not
    matched to a feed. The message names the file and, where it applies, the line."""


@dataclass(frozen=True, slots=True)
class Bar:
    """One bar at the feed's integer scale; ``time`` is its open time (Unix seconds)."""

    time: int
    open: int
    high: int
    low: int
    close: int

    def steps(self) -> list[tuple[int, int]]:
        """ORA-7 inputs of the replay: ``(offset in quarters of the bar, price)`` for
        open, the two extremes in the bar's direction (a down bar is taken to have
        made its high first, an up bar its low first) and close, without repeats."""
        first, second = (self.high, self.low) if self.close < self.open else (self.low, self.high)
        steps: list[tuple[int, int]] = []
        for quarter, price in enumerate((self.open, first, second, self.close)):
            if not steps or steps[-1][1] != price:
                steps.append((quarter, price))
        return steps


@dataclass(frozen=True)
class PricePath:
    """The bars of one feed, read from ``source``."""

    feed: str
    source: str
    bars: tuple[Bar, ...]
    spacing: int
    exponent: int
    rounded: int = 0

    def window(self, start: int | None, end: int | None) -> PricePath:
        """The bars whose open time is in ``[start, end)`` (``None``: unbounded)."""
        bars = tuple(
            b for b in self.bars if (start is None or b.time >= start) and (end is None or b.time < end)
        )
        return replace(self, bars=bars)

    def to_float(self, price: int) -> float:
        """A feed price as quote currency per coin (for plots and tables only)."""
        return float(price) * 10.0 ** (-self.exponent)


def scaled_decimal(text: str, exponent: int) -> tuple[int, bool]:
    """``text`` (a non-negative decimal such as ``"60697.99"`` or ``"1.5e-3"``) times
    ``10**exponent`` as an integer, rounded half to even, and whether that was exact.
    Raises ``ValueError`` for anything that is not such a decimal."""
    stripped = text.strip()
    match = _DECIMAL.match(stripped) if len(stripped) <= MAX_FIELD else None
    if match is None:
        raise ValueError(f"not a decimal number of at most {MAX_FIELD} characters: {text[:MAX_FIELD]!r}")
    whole, fraction, power = match.group(1), match.group(2) or "", match.group(3)
    digits = int(whole + fraction)
    shift = exponent - len(fraction) + (int(power) if power else 0)
    if digits == 0:
        return 0, True
    if shift > MAX_EXPONENT:
        # 1e999999999 would take 10**999999999: refused before any arithmetic.
        raise ValueError(f"{stripped!r} is beyond any amount (more than 10**{MAX_EXPONENT})")
    if shift < -(len(whole + fraction) + 1):
        return 0, False  # below half a unit whatever the digits: rounds to 0
    if shift >= 0:
        return digits * 10**shift, True
    divisor = 10**-shift
    quotient, remainder = divmod(digits, divisor)
    if remainder * 2 > divisor or (remainder * 2 == divisor and quotient % 2 == 1):
        quotient += 1
    return quotient, remainder == 0


def parse_time(text: str) -> int:
    """An ISO 8601 UTC timestamp (``2024-08-05T00:00:00Z``) as Unix seconds, within
    ``MIN_TIME..MAX_TIME`` (1970 to 2100); anything else raises ``ValueError``."""
    if len(text) > MAX_FIELD:
        raise ValueError("too long for a timestamp")
    moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    seconds = int(moment.timestamp())
    if not MIN_TIME <= seconds < MAX_TIME:
        raise ValueError(f"{text.strip()!r} is outside 1970-01-01..2099-12-31 UTC")
    return seconds


def format_time(seconds: int) -> str:
    """Unix seconds as ``2024-08-05T01:10:00Z``."""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    try:
        text = read_text(path, "price file", MAX_PRICE_FILE_BYTES)
    except InputError as error:
        raise PricePathError(str(error)) from None
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            yield number, line


def _clip(text: str, limit: int = 120) -> str:
    """A line quoted in a message: a 1 MB line is not."""
    return repr(text) if len(text) <= limit else repr(text[:limit]) + f"... ({len(text):,} characters)"


def _check_move(where: str, bar: Bar, previous: Bar | None, max_move: int) -> None:
    """A bar's high and low within a factor ``max_move`` of its open and of the
    previous bar's close (``max_move`` 0: no bound)."""
    if not max_move:
        return
    for reference, what in (
        (bar.open, "its open"),
        (previous.close if previous else None, "the previous close"),
    ):
        if reference is None:
            continue
        if bar.high > reference * max_move or bar.low * max_move < reference:
            raise PricePathError(
                f"{where}: the bar moves more than {max_move}x from {what} (high {bar.high}, low {bar.low}, "
                f"from {reference} at the feed's scale); pass --allow-jumps if this is real"
            )


def read_path(path: str | Path, feed: str, exponent: int, max_move: int = DEFAULT_MAX_MOVE) -> PricePath:
    """Read and check one CSV file for ``feed``: the header, one bar a line with
    ``low <= open, close <= high`` and prices within ``1..MAX_AMOUNT``, open times
    strictly increasing at a constant spacing, no bar moving more than ``max_move``
    times (0: unbounded). Raises :class:`PricePathError`."""
    path = Path(path)
    lines = _lines(path)
    first = next(lines, None)
    if first is None:
        raise PricePathError(f"{path}: empty file")
    header = tuple(column.strip() for column in first[1].split(","))
    if header[: len(HEADER)] != HEADER:
        raise PricePathError(
            f"{path}:{first[0]}: expected the header {','.join(HEADER)}, got {_clip(first[1])}"
        )
    bars: list[Bar] = []
    rounded = 0
    spacing = 0
    for number, line in lines:
        where = f"{path}:{number}"
        fields = [field.strip() for field in line.split(",", MAX_COLUMNS)]
        if len(fields) < len(HEADER) or len(fields) > MAX_COLUMNS:
            raise PricePathError(
                f"{where}: expected {len(HEADER)} to {MAX_COLUMNS} columns, got {len(line.split(','))}"
            )
        long = next((i for i, f in enumerate(fields[:-1]) if len(f) > MAX_FIELD), None)
        if long is not None:
            raise PricePathError(f"{where}: column {long + 1} is longer than {MAX_FIELD} characters")
        try:
            time = parse_time(fields[0])
        except ValueError as error:
            raise PricePathError(
                f"{where}: not an ISO 8601 timestamp within 1970..2099: {fields[0][:MAX_FIELD]!r} ({error})"
            ) from None
        prices = []
        for name, text in zip(HEADER[1:5], fields[1:5], strict=True):
            try:
                value, exact = scaled_decimal(text, exponent)
            except ValueError as error:
                raise PricePathError(f"{where}: {name}: {error}") from None
            if value <= 0:
                raise PricePathError(f"{where}: {name} {text!r} is not a positive price at this scale")
            if value > MAX_AMOUNT:
                raise PricePathError(f"{where}: {name} {text!r} is above MAX_AMOUNT (10**30) at this scale")
            rounded += not exact
            prices.append(value)
        open_, high, low, close = prices
        if not (low <= min(open_, close) and high >= max(open_, close)):
            raise PricePathError(
                f"{where}: inconsistent bar (need low <= open, close <= high): {_clip(line)}"
            )
        if bars:
            step = time - bars[-1].time
            if step <= 0:
                raise PricePathError(f"{where}: timestamps must increase ({fields[0]})")
            if spacing and step != spacing:
                raise PricePathError(f"{where}: bar spacing changes from {spacing} s to {step} s")
            spacing = step
        bar = Bar(time, open_, high, low, close)
        _check_move(where, bar, bars[-1] if bars else None, max_move)
        bars.append(bar)
    if len(bars) < 2:
        raise PricePathError(f"{path}: need at least two bars, found {len(bars)}")
    return PricePath(feed, path.name, tuple(bars), spacing, exponent, rounded)


@dataclass(frozen=True)
class Example:
    """A built-in crash: files shipped in ``clearspec_tools/data`` by feed, and the window
    replayed by default (the crash day)."""

    name: str
    files: Mapping[str, str]
    start: str
    bars: int
    description: str


EXAMPLES: dict[str, Example] = {
    "2024-08-05": Example(
        "2024-08-05",
        {
            "BTC-USD": "2024-08-05_BTCUSDT_binance-spot_1m.csv",
            "ETH-USD": "2024-08-05_ETHUSDT_binance-spot_1m.csv",
        },
        "2024-08-05T00:00:00Z",
        1_440,
        "yen-carry unwind: BTC 58k -> 49k, ETH 2.7k -> 2.1k (-9.7% in one minute), Binance spot 1m",
    ),
    "2021-05-19": Example(
        "2021-05-19",
        {"BTC-USD": "2021-05-19_BTCUSDT_binance-spot_5m.csv"},
        "2021-05-19T00:00:00Z",
        288,
        "China-ban crash: BTC 43k -> 30k (-9.8% in five minutes), Binance spot 5m",
    ),
}


def example_file(name: str) -> Path:
    """The path of a data file shipped with the package."""
    return Path(str(resources.files("clearspec_tools").joinpath("data", name)))


def infer_feed(path: str | Path, feeds: Sequence[str]) -> str:
    """The feed a file is for, from its name: ``..._BTCUSDT_...`` is ``BTC-USD`` (the
    part of the feed id before ``-`` followed by USD, USDT or USDC)."""
    tokens = re.split(r"[_.\-\s]+", Path(path).name.upper())
    quotes = ("USD", "USDT", "USDC")
    pairs = [*tokens, *(a + b for a, b in itertools.pairwise(tokens) if b in quotes)]
    found = []
    for feed in feeds:
        base = feed.split("-")[0].upper()
        if any(t.startswith(base) and t[len(base) :] in quotes for t in pairs):
            found.append(feed)
    if len(found) != 1:
        raise PricePathError(
            f"{path}: cannot tell which feed this file is for (feeds: {', '.join(feeds)}); "
            "write FEED=FILE, e.g. BTC-USD=btc.csv"
        )
    return found[0]


def split_spec(spec: str, feeds: Sequence[str]) -> tuple[str, str]:
    """``FEED=FILE`` or ``FILE`` (the feed inferred from the name) as ``(feed, file)``."""
    feed, sep, file = spec.partition("=")
    if sep and feed in feeds:
        return feed, file
    if sep and not os.path.exists(spec):  # False, not an OSError, for a name too long
        raise PricePathError(f"{spec}: unknown feed {feed!r} (feeds: {', '.join(feeds)})")
    return infer_feed(spec, feeds), spec
