"""The fuzz campaign's inputs: fixed hostile cases and cases drawn from a seed.

Kinds (each a way the CLI takes input): ``params-file``, ``price-file``,
``option``, ``output``, ``suite``, ``invariants`` (a designer's module for
``prove --invariants``) and ``process`` (a closed or full standard output, a
signal: these need a real process). The fixed cases are the classics (a
device, a FIFO, a 100,000-level JSON, 1e999999999, ...); the drawn ones damage
a valid input of each kind with 1..3 edits from :mod:`bench.fuzz_values`, so a
long campaign is as many different inputs as it runs. A case is ``must_fail``
when no command may accept it (a successful exit is then a wrong success).
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.fuzz_values import (
    TOKENS,
    damaged_json,
    edit_text,
    garbage,
    integer_text,
    json_value,
    number_text,
    time_text,
)

OPTION_VALUES = ["-1", "0", "1e999", str(2**32), str(2**64), "9" * 500, "nan", "two", ""]
# Option values that are in range for that option: those runs must only not crash.
FITTING = {
    ("simulate --bars", "0"),  # to the end of the file
    ("simulate --premium-ppm", "0"),
    ("simulate --premium-ppm", "-1"),
    ("simulate --liquidation-price", "0"),
    ("simulate --quote-decimals", "0"),
}
# The integer options of simulate and their ranges (clearspec_tools/simulate/cli.py);
# a drawn value in range may succeed, one outside must fail. --accounts is drawn
# within 1..50 when in range: a population of 200,000 would take a minute a run.
SIMULATE_RANGES = {
    "--accounts": (1, 200_000),
    "--bars": (0, 10_000_000),
    "--check-every": (1, 10_000_000),
    "--liquidation-price": (0, 1_000_000),
    "--premium-ppm": (-1_000_000, 1_000_000),
    "--max-bar-move": (2, 1_000_000),
    "--quote-decimals": (0, 30),
    "--base-decimals": (0, 30),
    "--seed": (-(2**63), 2**63 - 1),
}
SWEEP_KEYS = ("premium_ppm", "maintenance_ppm", "insurance_fund", "liquidation_price_ppm", "oracle.quorum")
# Kinds drawn, with their share of a long campaign.
WEIGHTS = {
    "params-file": 28,
    "price-file": 30,
    "option": 24,
    "output": 6,
    "suite": 1.5,
    "invariants": 1.5,
    "process": 0.06,
}
INVARIANT_SECONDS = "1"  # --invariants-timeout of the cases: a loop costs a second


@dataclass(frozen=True)
class Case:
    """One hostile input: the kind, a name, the command line, whether it must fail,
    how to run it (``process``: in a real process, see bench/fuzz_run.py) and the
    scratch paths to remove once it has run."""

    kind: str
    name: str
    argv: tuple[str, ...]
    must_fail: bool = True
    process: str = ""
    scratch: tuple[Path, ...] = ()


def valid_rows(rng: random.Random | None = None, bars: int = 12) -> list[list[str]]:
    """A valid price file's rows; with ``rng``, a random walk of ``bars`` bars."""
    rows = [["timestamp_utc", "open", "high", "low", "close", "volume"]]
    price = 60_000.0 if rng is None else 10 ** rng.uniform(-2, 7)
    for i in range(bars):
        move = (0.002 if i % 3 else -0.003) if rng is None else rng.uniform(-0.2, 0.2)
        close = price * (1 + move)
        high, low = max(price, close) * 1.001, min(price, close) * 0.999
        rows.append([f"2024-08-05T{i // 60:02d}:{i % 60:02d}:00Z", *_prices(price, high, low, close), "1.5"])
        price = close
    return rows


def _prices(*values: float) -> list[str]:
    return [f"{v:.8f}".rstrip("0").rstrip(".") or "0" for v in values]


def csv_text(rows: list[list[str]]) -> str:
    return "\n".join(",".join(row) for row in rows) + "\n"


class Inputs:
    """Writes the hostile files into ``work`` and lists the cases."""

    def __init__(self, work: Path, seed: int) -> None:
        from clearspec.params_file import params_to_json
        from clearspec_tools.examples import example_params

        self.work = work
        self.random = random.Random(seed)
        self.count = 0
        self.fifo = work / "fifo"
        os.mkfifo(self.fifo)
        self.a_file = self._write("a-file.txt", "not a folder")
        self.prices = self._write("btc.csv", csv_text(valid_rows()))
        self.params = params_to_json(example_params())
        self.suite_cases: list[tuple[dict[str, Any], str, str]] = []
        self.suite_header: dict[str, Any] = {}
        self.suite_schema = work / "suite-source" / "schema"

    def params_file(self) -> Path:
        """The example parameter set as a file."""
        return self._write("params.json", json.dumps(self.params))

    def _write(self, name: str, data: str | bytes) -> Path:
        self.count += 1
        path = self.work / f"{self.count:06d}-{name}"
        if isinstance(data, bytes):
            path.write_bytes(data)
        else:
            path.write_text(data, encoding="utf-8", errors="surrogatepass")
        return path

    def out(self) -> str:
        self.count += 1
        return str(self.work / f"out-{self.count:06d}")

    def simulate(self, *args: str, prices: str | None = None) -> tuple[str, ...]:
        """A small simulate run: 2 accounts, 3 bars of a 12-bar file (not the built-in
        day of bars), so a drawn input that stays valid costs little to replay."""
        return (
            "simulate",
            "--accounts",
            "2",
            "--bars",
            "3",
            "--no-plots",
            "--quiet",
            "--out",
            self.out(),
            f"BTC-USD={self.prices}" if prices is None else prices,
            *args,
        )

    # -- the fixed cases -----------------------------------------------------------------------------

    def hostile_files(self) -> Iterator[tuple[str, str]]:
        """Files no reader may accept: (name, path)."""
        yield "dev-zero", "/dev/zero"
        yield "dev-urandom", "/dev/urandom"
        yield "fifo", str(self.fifo)
        yield "folder", str(self.work)
        yield "missing", str(self.work / "missing")
        yield "empty", str(self._write("empty", ""))
        yield "binary", str(self._write("binary", bytes(range(256)) * 64))
        yield "deep-json", str(self._write("deep.json", "[" * 100_000 + "]" * 100_000))
        yield "huge-integer", str(self._write("huge.json", "9" * 5_000))
        yield "not-utf8", str(self._write("latin1", "caf\u00e9".encode("latin-1")))
        yield "name-too-long", str(self.work / ("x" * 300))
        yield "path-too-long", str(self.work / "/".join(["d"] * 3000))

    def fixed(self) -> Iterator[Case]:
        yield from self.fixed_params_files()
        yield from self.fixed_price_files()
        yield from self.fixed_options()
        yield from self.fixed_output_paths()
        yield from self.fixed_suites()
        yield from self.fixed_invariant_modules()
        yield from self.fixed_processes()

    def fixed_params_files(self) -> Iterator[Case]:
        for name, path in self.hostile_files():
            yield Case("params-file", name, self.simulate("--params", path))
        cut = self._write("cut.json", json.dumps(self.params)[:-40])
        yield Case("params-file", "truncated", self.simulate("--params", str(cut)))

    def fixed_price_files(self) -> Iterator[Case]:
        for name, path in self.hostile_files():
            yield Case("price-file", name, self.simulate(prices=f"BTC-USD={path}"))
        fixed = {
            "year-1": (1, 0, "0001-01-01T00:00:00Z"),
            "year-9999": (1, 0, "9999-12-31T23:00:00Z"),
            "price-1e999999999": (2, 1, "1e999999999"),
            "price-1e400": (2, 1, "1e400"),
            "price-tiny": (2, 4, "1e-999999999"),
            "field-1MB": (3, 2, "1" * 1_000_000),
            "jump-1e25": (4, 2, "1e25"),
            "crash-1e-4": (4, 3, "0.0001"),
        }
        for name, (row, column, token) in fixed.items():
            rows = valid_rows()
            rows[row][column] = token
            if name == "crash-1e-4":
                rows[row][1:5] = ["0.0001"] * 4
            if name == "jump-1e25":
                rows[row][4] = "1e25"
            written = self._write(name + ".csv", csv_text(rows))
            yield Case("price-file", name, self.simulate(prices=f"BTC-USD={written}"))
        rows = valid_rows()
        rows[2] += ["1"] * 1_000
        written = self._write("cols.csv", csv_text(rows))
        yield Case("price-file", "1000-columns", self.simulate(prices=f"BTC-USD={written}"))

    def option_commands(self) -> dict[str, tuple[str, ...]]:
        """Commands whose option takes the value appended; each but simulate's fails
        after the option is read (a missing file, an unknown axis, not a suite), so
        a value in range costs no proof, search or sweep."""
        missing = str(self.work / "missing.json")
        return {
            "prove --workers": ("prove", "--params", missing, "--only", "deposit", "--workers"),
            "prove --rlimit": ("prove", "--params", missing, "--only", "deposit", "--rlimit"),
            "prove --invariants-timeout": (
                "prove",
                "--params",
                missing,
                "--only",
                "deposit",
                "--invariants-timeout",
            ),
            "params check --rlimit": ("params", "check", "--params", missing, "--rlimit"),
            "params safe --rlimit": (
                "params",
                "safe",
                "--param",
                "maintenance",
                "--params",
                missing,
                "--rlimit",
            ),
            "params safe --grid": (
                "params",
                "safe",
                "--param",
                "maintenance",
                "--params",
                missing,
                "--plot",
                "x.png",
                "--grid",
            ),
            "simulate --accounts": self.simulate("--accounts"),
            "simulate --bars": self.simulate("--bars"),
            "simulate --check-every": self.simulate("--check-every"),
            "simulate --premium-ppm": self.simulate("--premium-ppm"),
            "simulate --liquidation-price": self.simulate("--liquidation-price"),
            "simulate --quote-decimals": self.simulate("--quote-decimals"),
            "simulate --max-bar-move": self.simulate("--max-bar-move"),
            "sweep --workers": ("sweep", "--vary", "no.such.path=1", "--out", self.out(), "--workers"),
            "vectors run --timeout": ("vectors", "run", "--reference", str(self.work), "--timeout"),
            "vectors run --jobs": ("vectors", "run", "--reference", str(self.work), "--jobs"),
        }

    def fixed_options(self) -> Iterator[Case]:
        for name, prefix in self.option_commands().items():
            if name == "prove --invariants-timeout":
                continue  # new since the fixed table: drawn only
            for value in OPTION_VALUES:
                fits = (name, value) in FITTING
                yield Case("option", f"{name} {value[:12]!r}", (*prefix, value), must_fail=not fits)
        for text in ["1e999999999", "-5", "0.0000001", "1" * 200, "abc"]:
            yield Case("option", f"--insurance-fund {text[:12]!r}", self.simulate("--insurance-fund", text))
        for text in [
            "9999-12-31T23:59:59-23:59",
            "0001-01-01T00:00:00Z",
            "x" * 10_000,
            "2024-02-30T00:00:00Z",
        ]:
            yield Case("option", f"--start {text[:12]!r}", self.simulate("--start", text))
        for axis in [
            "maintenance_ppm=0",
            "maintenance_ppm=-5",
            "maintenance_ppm=1e20",
            "premium_ppm=" + "9" * 40,
            "insurance_fund=1e999999999",
            "liquidation_price_ppm=2000000",
            "oracle.quorum=" + "9" * 40,
            "no.such.path=1",
            "premium_ppm=" + ",".join(map(str, range(10_001))),
        ]:
            argv = ("sweep", "--quiet", "--no-plots", "--out", self.out(), "--vary", axis)
            yield Case("option", f"--vary {axis[:30]}", argv)

    def fixed_output_paths(self) -> Iterator[Case]:
        targets = {
            "empty": "",
            "dev-null": "/dev/null",
            "proc": "/proc/clearspec-fuzz",
            "under-a-file": f"{self.a_file}/out",
            "a-file": str(self.a_file),
        }
        for name, target in targets.items():
            yield Case(
                "output", f"simulate --out {name}", ("simulate", "--quiet", "--no-plots", "--out", target)
            )
            yield Case(
                "output",
                f"sweep --out {name}",
                ("sweep", "--quiet", "--vary", "premium_ppm=1", "--out", target),
            )
            yield Case(
                "output",
                f"vectors generate --out {name}",
                ("vectors", "generate", "--quiet", "--out", target),
            )
        for target in ["/tmp", str(self.work / "plot.svg"), str(self.work / "no" / "plot.png"), ""]:
            argv = ("params", "safe", "--param", "maintenance", "--plot", target)
            yield Case("output", f"params safe --plot {target[-12:]!r}", argv)
        prove = ("prove", "--only", "deposit", "--quiet")
        yield Case("output", "prove --counterexamples ''", (*prove, "--counterexamples", ""))
        for name, target in [
            ("dev-null", "/dev/null"),
            ("proc", "/proc/clearspec-cache"),
            ("a-file", str(self.a_file)),
        ]:
            yield Case("output", f"prove --cache-dir {name}", (*prove, "--cache-dir", target))
        foreign = self.work / "foreign-suite"
        foreign.mkdir()
        (foreign / "notes.txt").write_text("keep")
        yield Case(
            "output", "vectors generate into a foreign folder", ("vectors", "generate", "--out", str(foreign))
        )

    def fixed_suites(self) -> Iterator[Case]:
        folders: dict[str, dict[str, str]] = {
            "deep-index": {"index.json": "[" * 100_000 + "]" * 100_000},
            "deep-bundle-line": {"bundle.jsonl": "[" * 100_000 + "]" * 100_000 + "\n"},
            "garbage-bundle": {"bundle.jsonl": "not json\n"},
            "huge-number": {"bundle.jsonl": "9" * 5_000 + "\n"},
            "case-missing-fields": {"bundle.jsonl": '{"id": "x"}\n'},
            "path-out-of-suite": {
                "index.json": json.dumps(
                    {"format": "clearspec-vectors/1", "cases": [{"id": "x", "path": "/etc/passwd"}]}
                )
            },
            "empty-folder": {},
        }
        for name, files in folders.items():
            folder = self.work / f"suite-{name}"
            folder.mkdir()
            for file, text in files.items():
                (folder / file).write_text(text)
            for command in (
                ("run", "--reference", "--quiet"),
                ("validate", "--quiet"),
                ("confirm", "--quiet"),
            ):
                yield Case(
                    "suite",
                    f"vectors {command[0]} {name}",
                    ("vectors", command[0], str(folder), *command[1:]),
                )
        for name, path in [("dev-zero", "/dev/zero"), ("fifo", str(self.fifo))]:
            yield Case("suite", f"vectors run {name}", ("vectors", "run", "--reference", path))

    def invariant_case(self, name: str, source: str | bytes, scratch: bool = False) -> Case:
        header = "from clearspec_proofs.invariants import register_invariant\n"
        data = header.encode() + source if isinstance(source, bytes) else header + source
        path = self._write(f"{name.replace('-', '_')}.py", data)
        argv = ("prove", "--only", "deposit", "--quiet", "--no-cache", "--invariants", str(path))
        return Case(
            "invariants",
            name,
            (*argv, "--invariants-timeout", INVARIANT_SECONDS),
            scratch=(path,) if scratch else (),
        )

    def fixed_invariant_modules(self) -> Iterator[Case]:
        for name, source in FIXED_MODULES.items():
            yield self.invariant_case(name, source)
        missing = str(self.work / "none.py")
        yield Case("invariants", "missing", ("prove", "--only", "deposit", "--invariants", missing))

    def fixed_processes(self) -> Iterator[Case]:
        yield Case("process", "example --json | head -c 10", ("example", "--json"), False, "close-stdout:10")
        yield Case("process", "params export > /dev/full", ("params", "export"), True, "full-stdout")
        yield Case(
            "process", "simulate, SIGINT", ("simulate", "--no-plots", "--out", self.out()), True, "signal:2"
        )
        yield Case(
            "process", "simulate, SIGTERM", ("simulate", "--no-plots", "--out", self.out()), True, "signal:15"
        )

    # -- the drawn cases -----------------------------------------------------------------------------

    def drawn(self, count: int) -> Iterator[Case]:
        """``count`` cases, each kind by its weight in :data:`WEIGHTS`."""
        makers: dict[str, Callable[[int], Case]] = {
            "params-file": self.draw_params_file,
            "price-file": self.draw_price_file,
            "option": self.draw_option,
            "output": self.draw_output,
            "suite": self.draw_suite,
            "invariants": self.draw_invariant_module,
            "process": self.draw_process,
        }
        kinds, weights = list(WEIGHTS), list(WEIGHTS.values())
        for i in range(count):
            yield makers[self.random.choices(kinds, weights)[0]](i)

    def draw_params_file(self, i: int) -> Case:
        text, edits = damaged_json(json.loads(json.dumps(self.params)), self.random)
        path = self._write("params.json", text)
        argv = self.simulate("--params", str(path))
        return Case("params-file", f"drawn-{i}: {edits}", argv, False, scratch=(path, Path(argv[8])))

    def draw_price_file(self, i: int) -> Case:
        rng = self.random
        rows = valid_rows(rng, rng.choice((0, 1, 2, 5, 12, 12, 12, 40)))
        edits = [self._edit_rows(rows) for _ in range(rng.choice((0, 1, 1, 1, 2, 3)))]
        text = csv_text(rows)
        if rng.random() < 0.1:
            text = rng.choice(
                ("\ufeff" + text, text.replace("\n", "\r\n"), text.replace("\n", "\r"), text.rstrip("\n"))
            )
            edits.append("line ends or BOM")
        if rng.random() < 0.1:
            text, what = edit_text(text, rng)
            edits.append(what)
        path = self._write("prices.csv", text)
        argv = self.simulate(prices=f"BTC-USD={path}")
        extra: tuple[str, ...] = ()
        if rng.random() < 0.2:
            extra = rng.choice(
                (("--allow-jumps",), ("--bars", "0"), ("--start", "first"), ("--start", time_text(rng)))
            )
        return Case(
            "price-file",
            f"drawn-{i}: {'; '.join(edits) or 'valid'}",
            (*argv, *extra),
            False,
            scratch=(path, Path(argv[8])),
        )

    def _edit_rows(self, rows: list[list[str]]) -> str:
        rng = self.random
        row = rng.randrange(len(rows))
        pick = rng.randrange(8)
        if pick <= 2:
            column = rng.randrange(len(rows[row]))
            rows[row][column] = number_text(rng) if rng.random() < 0.8 else rng.choice(TOKENS)
            return f"cell {row},{column}"
        if pick == 3 and len(rows) > 1:
            del rows[row]
            return f"drop row {row}"
        if pick == 4:
            rows.insert(row, list(rows[row]))
            return f"repeat row {row}"
        if pick == 5:
            other = rng.randrange(len(rows))
            rows[row], rows[other] = rows[other], rows[row]
            return f"swap rows {row},{other}"
        if pick == 6:
            if rng.random() < 0.5 and rows[row]:
                del rows[row][rng.randrange(len(rows[row]))]
                return f"drop a column of row {row}"
            rows[row] += [number_text(rng) for _ in range(rng.choice((1, 2, 30)))]
            return f"add columns to row {row}"
        factor = rng.choice((1e-9, 0.1, 0.5, 2.0, 9.9, 11.0, 1e9))
        column = rng.randrange(1, 5)
        for r in rows[1:]:
            if len(r) > column:
                with contextlib.suppress(ValueError):
                    r[column] = _prices(float(r[column]) * factor)[0]
        return f"scale column {column} by {factor:g}"

    def draw_option(self, i: int) -> Case:
        rng = self.random
        pick = rng.randrange(10)
        if pick <= 4:
            option = rng.choice(sorted(SIMULATE_RANGES))
            value = integer_text(rng) if rng.random() < 0.6 else number_text(rng)
            low, high = SIMULATE_RANGES[option]
            parsed = _as_int(value)
            fits = parsed is not None and low <= parsed <= high
            if fits and option == "--accounts" and parsed is not None and parsed > 50:
                value, parsed = str(rng.randint(1, 50)), None
            argv = self.simulate(option, value)
            return Case(
                "option",
                f"drawn-{i}: simulate {option} {value[:20]!r}",
                argv,
                not fits,
                scratch=(Path(argv[8]),),
            )
        if pick <= 6:
            name, prefix = rng.choice(
                [(n, p) for n, p in self.option_commands().items() if not n.startswith("simulate")]
            )
            value = integer_text(rng) if rng.random() < 0.5 else number_text(rng)
            return Case("option", f"drawn-{i}: {name} {value[:20]!r}", (*prefix, value))
        if pick == 7:
            text = rng.choice(
                (number_text(rng), f"{rng.randint(0, 10**9)}.{rng.randint(0, 10**9)}", integer_text(rng))
            )
            argv = self.simulate("--insurance-fund", text)
            return Case(
                "option", f"drawn-{i}: --insurance-fund {text[:20]!r}", argv, False, scratch=(Path(argv[8]),)
            )
        if pick == 8:
            text = time_text(rng) if rng.random() < 0.7 else number_text(rng)
            argv = self.simulate("--start", text)
            return Case("option", f"drawn-{i}: --start {text[:24]!r}", argv, False, scratch=(Path(argv[8]),))
        key = rng.choice((*SWEEP_KEYS, garbage(rng, rng.randint(0, 12))))
        values = ",".join(number_text(rng) for _ in range(rng.randint(1, 3)))
        axis = rng.choice((f"{key}={values}", key, f"={values}", f"{key}=={values}"))
        out = self.out()
        argv = (
            "sweep",
            "--quiet",
            "--no-plots",
            "--workers",
            "1",
            "--accounts",
            "2",
            "--bars",
            "3",
            "--out",
            out,
            f"BTC-USD={self.prices}",
            "--vary",
            axis,
        )
        return Case("option", f"drawn-{i}: --vary {axis[:30]!r}", argv, False, scratch=(Path(out),))

    def draw_output(self, i: int) -> Case:
        rng = self.random
        long_name = "x" * rng.choice((256, 1000, 5000))  # a name of 255 bytes is legal
        bad = [
            "",
            " ",
            "\t",
            "/dev/null",
            "/dev/full",
            "/proc/clearspec-fuzz",
            "/sys/clearspec-fuzz",
            f"{self.a_file}/out",
            str(self.a_file),
            str(self.fifo),
            f"{self.work}/{long_name}",
            f"{self.work}/" + "/".join(["d"] * 3000),
        ]
        fine = [
            f"{self.work}/new/{garbage(rng, 6).replace('/', '_').replace(chr(0), '_')}",
            f"{self.work}/deep/a/b/c/d",
            f"{self.work}/sp ace/\u00e9t\u00e9",
        ]
        if rng.random() < 0.7:
            target = rng.choice(bad)
            command = rng.choice(
                (
                    ("simulate", "--quiet", "--no-plots", "--accounts", "2", "--bars", "3", "--out", target),
                    ("sweep", "--quiet", "--vary", "premium_ppm=1", "--out", target),
                    ("vectors", "generate", "--quiet", "--out", target),
                    (
                        "params",
                        "safe",
                        "--param",
                        "maintenance",
                        "--plot",
                        target,
                    ),  # no suffix: /dev/x.png is writable
                    ("prove", "--only", "deposit", "--quiet", "--cache-dir", target),
                    ("prove", "--only", "deposit", "--quiet", "--counterexamples", target),
                )
            )
            if command[0] == "prove" and target.strip() and not os.path.exists(target):
                target = str(self.a_file)  # a path prove could create would start a proof
                command = (*command[:-1], target)
            return Case("output", f"drawn-{i}: {command[0]} -> {target[-30:]!r}", command)
        target = rng.choice(fine)
        argv = self.simulate()
        argv = (*argv[:8], target, *argv[9:])
        return Case(
            "output", f"drawn-{i}: simulate -> {target[-30:]!r}", argv, False, scratch=(Path(target),)
        )

    def prepare_suites(self) -> None:
        """Generate the suite the drawn suite cases are cut from (a few seconds)."""
        if not self.suite_cases:
            self._load_suite_cases()

    def draw_suite(self, i: int) -> Case:
        rng = self.random
        self.prepare_suites()
        folder = self.work / f"suite-drawn-{i}"
        chosen = rng.sample(self.suite_cases, rng.randint(1, 3))
        chosen.sort(key=lambda c: c[0]["id"])
        edits = self._write_suite(folder, chosen)
        command = rng.choices(
            (("validate", "--quiet"), ("confirm", "--quiet"), ("run", "--reference", "--quiet")), (49, 49, 2)
        )[0]
        argv = ("vectors", command[0], str(folder), *command[1:])
        return Case("suite", f"drawn-{i}: {command[0]} {edits}", argv, False, scratch=(folder,))

    def _load_suite_cases(self) -> None:
        """The 40 smallest cases of a generated suite: (index entry, bundle line, case file).
        Generated in a forked child: the whole suite (36 MB) never enters this
        process, whose heap every later fork copies."""
        folder = self.work / "suite-source"
        smallest = self.work / "suite-smallest.json"
        pid = os.fork()
        if pid == 0:  # the child: never returns
            status = 1
            try:
                from clearspec_tools.vectors.generate import write_suite

                write_suite(folder, walks=0)
                index = json.loads((folder / "index.json").read_text())
                lines = (folder / "bundle.jsonl").read_text().splitlines()
                pairs = sorted(zip(index["cases"], lines, strict=True), key=lambda p: len(p[1]))[:40]
                chosen = [(entry, line, (folder / entry["path"]).read_text()) for entry, line in pairs]
                header = {k: v for k, v in index.items() if k != "cases"}
                smallest.write_text(json.dumps({"header": header, "pairs": chosen}))
                status = 0
            finally:
                os._exit(status)
        _, wait_status = os.waitpid(pid, 0)
        if os.waitstatus_to_exitcode(wait_status) != 0:
            raise RuntimeError("could not generate the suite the drawn suite cases start from")
        data = json.loads(smallest.read_text())
        self.suite_cases = [(entry, line, file) for entry, line, file in data["pairs"]]
        self.suite_header = data["header"]
        self.suite_schema = folder / "schema"

    def _write_suite(self, folder: Path, chosen: list[tuple[dict[str, Any], str, str]]) -> str:
        """A suite of the chosen cases (index, bundle, case files, schema), then 0..2
        edits to one of its files."""
        rng = self.random
        folder.mkdir()
        shutil.copytree(self.suite_schema, folder / "schema")
        index = {**self.suite_header, "count": len(chosen), "cases": [dict(c[0]) for c in chosen]}
        files: dict[str, str] = {"bundle.jsonl": "".join(c[1] + "\n" for c in chosen)}
        for entry, _, file in chosen:
            files[entry["path"]] = file
        files["index.json"] = json.dumps(index, sort_keys=True, indent=1) + "\n"
        edits = []
        for _ in range(rng.choice((0, 1, 1, 1, 2))):
            target = rng.choice(sorted(files))
            if target == "bundle.jsonl" and rng.random() < 0.8:
                lines = files[target].splitlines() or [""]
                at = rng.randrange(len(lines))
                lines[at], what = self._damage(lines[at])
                files[target] = "\n".join(lines) + "\n"
            else:
                files[target], what = self._damage(files[target])
            edits.append(f"{target}: {what}")
        for name, text in files.items():
            path = folder / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8", errors="surrogatepass")
        return "; ".join(edits) or "valid"

    def _damage(self, text: str) -> tuple[str, str]:
        """A JSON text edited as JSON (mostly) or as text (or when an earlier edit broke it)."""
        if self.random.random() < 0.8:
            try:
                return damaged_json(json.loads(text), self.random)
            except ValueError:
                pass
        return edit_text(text, self.random)

    def draw_invariant_module(self, i: int) -> Case:
        rng = self.random
        name = rng.choices(list(DRAWN_MODULES), [weight for weight, _ in DRAWN_MODULES.values()])[0]
        return self.invariant_case(f"drawn-{i}-{name}", DRAWN_MODULES[name][1](rng), scratch=True)

    def draw_process(self, i: int) -> Case:
        rng = self.random
        command = rng.choice(
            (("example", "--json"), ("params", "export"), ("example", "--scenario", "crash"))
        )
        how = rng.choice((f"close-stdout:{rng.randint(0, 300)}", "full-stdout"))
        return Case("process", f"drawn-{i}: {' '.join(command)} [{how}]", command, how == "full-stdout", how)


def _as_int(text: str) -> int | None:
    """What an integer option reads ``text`` as (Python's int, at most 40 characters), or None."""
    stripped = text.strip()
    if not stripped or len(stripped) > 40:
        return None
    try:
        return int(stripped, 10)
    except ValueError:
        return None


FIXED_MODULES: dict[str, str] = {
    "raises": "def f(l):\n    raise RuntimeError('x')\nregister_invariant('f-raises', 'X-1', f)\n",
    "non-boolean": "register_invariant('f-five', 'X-1', lambda l: 5)\n",
    "python-if": (
        "def f(l):\n    return bool(l.insurance_fund['USDC'] >= 0)\nregister_invariant('f-if', 'X-1', f)\n"
    ),
    "exit-at-import": "import sys\nsys.exit(0)\n",
    "exit-in-condition": "import sys\nregister_invariant('f-exit', 'X-1', lambda l: sys.exit(0))\n",
    "syntax-error": "def (:\n",
    "loop-at-import": "while True:\n    try:\n        pass\n    except BaseException:\n        pass\n",
    "loop-in-condition": "def f(l):\n    while True:\n        pass\nregister_invariant('f-loop', 'X-1', f)\n",
    "os-exit-at-import": "import os\nos._exit(0)\n",
}

EXCEPTIONS = (
    "RuntimeError('x')",
    "ValueError()",
    "KeyError('USDC')",
    "ZeroDivisionError",
    "MemoryError",
    "KeyboardInterrupt",
    "GeneratorExit",
    "StopIteration",
    "RecursionError",
    "SystemExit(3)",
    "SystemExit('bye')",
    "SystemExit(None)",
    "Exception(*range(100))",
)
RESULTS = (
    "5",
    "None",
    "'yes'",
    "[]",
    "[True]",
    "1.5",
    "l",
    "l.insurance_fund['USDC']",
    "l.insurance_fund",
    "object()",
    "NotImplemented",
    "(l.insurance_fund['USDC'] >= 0,)",
    "type(l)",
)
BRANCHES = (
    "True if l.insurance_fund['USDC'] >= 0 else False",
    "l.insurance_fund['USDC'] >= 0 and True",
    "not (l.insurance_fund['USDC'] < 0)",
    "min(l.insurance_fund['USDC'], 0) == 0",
    "sorted([l.insurance_fund['USDC'], 0])[0] == 0",
    "int(l.insurance_fund['USDC']) >= 0",
    "l.insurance_fund['USDC'] in (0, 1)",
    "l.no_such_field >= 0",
    "l.insurance_fund['NO-SUCH-ASSET'] >= 0",
)


def _rand_name(rng: random.Random) -> str:
    return repr(rng.choice(("f", "", garbage(rng, rng.randint(1, 10)), "x" * 300)))


def _raise_at_import(rng: random.Random) -> str:
    return f"raise {rng.choice(EXCEPTIONS)}\n"


def _raise_in_condition(rng: random.Random) -> str:
    return f"def f(l):\n    raise {rng.choice(EXCEPTIONS)}\nregister_invariant({_rand_name(rng)}, 'X-1', f)\n"


def _returns(rng: random.Random) -> str:
    return f"register_invariant({_rand_name(rng)}, 'X-1', lambda l: {rng.choice(RESULTS)})\n"


def _branches(rng: random.Random) -> str:
    return f"register_invariant({_rand_name(rng)}, 'X-1', lambda l: {rng.choice(BRANCHES)})\n"


def _misuse(rng: random.Random) -> str:
    return rng.choice(
        (
            "register_invariant('a', 'X-1', lambda l: 5)\nregister_invariant('a', 'X-1', lambda l: 5)\n",
            "register_invariant('a', 'X-1', 5)\n",
            "register_invariant('a', 'X-1', lambda: True)\n",
            "register_invariant('a', 'X-1', lambda l, m: True)\n",
            "register_invariant()\n",
            "import no_such_module_for_clearspec\n",
            "from clearspec_proofs.invariants import no_such_name\n",
            "def f():\n    f()\nf()\n",
            f"register_invariant('a', 'X-1', lambda l: {_not_bool(json_value(rng))!r})\n",
        )
    )


def _not_bool(value: Any) -> Any:
    return None if isinstance(value, bool) else value


def _exits(rng: random.Random) -> str:
    code = rng.choice(("0", "1", "2", "3", "-1", "255", "256", "'text'", "None"))
    if rng.random() < 0.5:
        return f"import os\nos._exit({code if code[0].isdigit() else 0})\n"
    return f"import sys\nregister_invariant('a', 'X-1', lambda l: sys.exit({code}))\n"


def _not_python(rng: random.Random) -> str | bytes:
    pick = rng.randrange(4)
    if pick == 0:
        return garbage(rng, rng.randint(1, 80)).encode("utf-8", "surrogatepass")
    if pick == 1:
        return bytes(rng.randrange(256) for _ in range(rng.randint(1, 80)))
    if pick == 2:
        return "x = (" * rng.randint(1, 500) + "\n"
    return "\x00\n"


def _loops(rng: random.Random) -> str:
    return rng.choice(
        (
            FIXED_MODULES["loop-at-import"],
            FIXED_MODULES["loop-in-condition"],
            "x = 2 ** 10 ** 10\n",
            "import time\ntime.sleep(3600)\n",
        )
    )


DRAWN_MODULES: dict[str, tuple[float, Callable[[random.Random], str | bytes]]] = {
    "raises-at-import": (10, _raise_at_import),
    "raises-in-condition": (15, _raise_in_condition),
    "returns-non-condition": (15, _returns),
    "branches-in-python": (15, _branches),
    "misuses-the-registry": (15, _misuse),
    "exits": (10, _exits),
    "not-python": (10, _not_python),
    "never-ends": (0.5, _loops),
}
