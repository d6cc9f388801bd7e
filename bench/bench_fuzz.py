"""Hostile-input campaign: every command on hostile input, each under a timeout.

Inputs of every kind the CLI takes: parameter files, price files, option
values, output paths, conformance suites and designers' invariant modules,
some fixed (a device, a FIFO, a 100,000-level JSON, 1e999999999) and some
drawn from a seeded generator (a valid file with one field replaced by a
hostile token). Each runs in a child forked from this process (so the imports
are paid once) with its standard output and error in files and a timeout, and
its outcome is classified:

* ``clear-error``: exit status 1 or 2, a message, no traceback;
* ``traceback``: a Python traceback on standard error, or any other status;
* ``hang``: still running at the timeout (killed);
* ``success``: exit status 0.

An input marked ``must_fail`` (one no command may accept) that succeeds is a
``wrong-success``. The quick campaign (``--quick``, the one the test suite
runs) has a few hundred inputs; ``--mutations N`` and ``--seed`` make a long
one. Writes ``bench/results/fuzz.json``.

    python bench/bench_fuzz.py [--quick] [--mutations 2000] [--seed 1] [--timeout 60]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import signal
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUTCOMES = ("clear-error", "success", "traceback", "hang", "wrong-success")

# Tokens that stand for a number, a time or a name in a hostile file or option.
TOKENS = [
    "",
    "-1",
    "0",
    "1e999999999",
    "1e-999999999",
    "1e400",
    "-0",
    "nan",
    "inf",
    "-inf",
    "0x10",
    "1_000",
    "9" * 5_000,
    "1" * 1_000_000,
    "\u00e9\u00e8",
    "\x00",
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59Z",
    "2024-13-45T99:99:99Z",
    str(2**64),
    str(-(2**63)),
    "1.5",
    "true",
    "null",
    "[]",
    "{}",
]
OPTION_VALUES = ["-1", "0", "1e999", str(2**32), str(2**64), "9" * 500, "nan", "two", ""]


# Option values that are in range for that option: those runs must only not crash.
FITTING = {
    ("simulate --bars", "0"),  # to the end of the file
    ("simulate --premium-ppm", "0"),
    ("simulate --premium-ppm", "-1"),
    ("simulate --liquidation-price", "0"),
    ("simulate --quote-decimals", "0"),
}


@dataclass(frozen=True)
class Case:
    """One hostile input: the kind, a name, the command line, whether it must fail."""

    kind: str
    name: str
    argv: tuple[str, ...]
    must_fail: bool = True


def _valid_csv(bars: int = 12) -> list[list[str]]:
    rows = [["timestamp_utc", "open", "high", "low", "close", "volume"]]
    price = 60_000.0
    for i in range(bars):
        close = price * (1 + (0.002 if i % 3 else -0.003))
        high, low = max(price, close) * 1.001, min(price, close) * 0.999
        time_text = f"2024-08-05T00:{i:02d}:00Z"
        rows.append([time_text, f"{price:.2f}", f"{high:.2f}", f"{low:.2f}", f"{close:.2f}", "1.5"])
        price = close
    return rows


def _csv_text(rows: list[list[str]]) -> str:
    return "\n".join(",".join(row) for row in rows) + "\n"


class Campaign:
    """Writes the hostile files into ``work`` and lists the cases."""

    def __init__(self, work: Path, seed: int, mutations: int) -> None:
        self.work = work
        self.random = random.Random(seed)
        self.mutations = mutations
        self.count = 0
        self.fifo = work / "fifo"
        os.mkfifo(self.fifo)
        self.a_file = self._write("a-file.txt", "not a folder")

    def _write(self, name: str, data: str | bytes) -> Path:
        self.count += 1
        path = self.work / f"{self.count:05d}-{name}"
        if isinstance(data, bytes):
            path.write_bytes(data)
        else:
            path.write_text(data, encoding="utf-8", errors="surrogatepass")
        return path

    def out(self) -> str:
        self.count += 1
        return str(self.work / f"out-{self.count:05d}")

    def simulate(self, *args: str) -> tuple[str, ...]:
        return (
            "simulate",
            "--accounts",
            "3",
            "--bars",
            "6",
            "--no-plots",
            "--quiet",
            "--out",
            self.out(),
            *args,
        )

    # -- kinds ---------------------------------------------------------------------------------

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

    def params_files(self) -> Iterator[Case]:
        from clearspec.params_file import params_to_json
        from clearspec_tools.examples import example_params

        for name, path in self.hostile_files():
            yield Case("params-file", name, self.simulate("--params", path))
        valid = json.dumps(params_to_json(example_params()))
        yield Case(
            "params-file", "truncated", self.simulate("--params", str(self._write("cut.json", valid[:-40])))
        )
        for i in range(self.mutations):
            data = params_to_json(example_params())
            where = _replace_leaf(data, self.random, self.random.choice(TOKENS))
            mutated = self._write("mutated.json", json.dumps(data))
            argv = self.simulate("--params", str(mutated))
            yield Case("params-file", f"mutated-{i}:{where}", argv, must_fail=False)

    def price_files(self) -> Iterator[Case]:
        for name, path in self.hostile_files():
            yield Case("price-file", name, self.simulate(f"BTC-USD={path}"))
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
            rows = _valid_csv()
            rows[row][column] = token
            if name == "crash-1e-4":
                rows[row][1:5] = ["0.0001"] * 4
            if name == "jump-1e25":
                rows[row][4] = "1e25"
            yield Case(
                "price-file", name, self.simulate(f"BTC-USD={self._write(name + '.csv', _csv_text(rows))}")
            )
        rows = _valid_csv()
        rows[2] += ["1"] * 1_000
        yield Case(
            "price-file", "1000-columns", self.simulate(f"BTC-USD={self._write('cols.csv', _csv_text(rows))}")
        )
        for i in range(self.mutations):
            rows = _valid_csv()
            row = self.random.randrange(len(rows))
            column = self.random.randrange(6)
            rows[row][column] = self.random.choice(TOKENS)
            csv = self._write("mutated.csv", _csv_text(rows))
            yield Case(
                "price-file", f"mutated-{i}:{row},{column}", self.simulate(f"BTC-USD={csv}"), must_fail=False
            )

    def options(self) -> Iterator[Case]:
        commands = {
            "prove --workers": ("prove", "--only", "no-such-transition", "--workers"),
            "prove --rlimit": ("prove", "--only", "no-such-transition", "--rlimit"),
            "params check --rlimit": ("params", "check", "--rlimit"),
            "params safe --rlimit": ("params", "safe", "--param", "maintenance", "--rlimit"),
            "params safe --grid": ("params", "safe", "--param", "maintenance", "--plot", "x.png", "--grid"),
            "simulate --accounts": self.simulate("--accounts"),
            "simulate --bars": self.simulate("--bars"),
            "simulate --check-every": self.simulate("--check-every"),
            "simulate --premium-ppm": self.simulate("--premium-ppm"),
            "simulate --liquidation-price": self.simulate("--liquidation-price"),
            "simulate --quote-decimals": self.simulate("--quote-decimals"),
            "simulate --max-bar-move": self.simulate("--max-bar-move"),
            "sweep --workers": ("sweep", "--vary", "premium_ppm=1", "--out", self.out(), "--workers"),
            "vectors run --timeout": ("vectors", "run", "--reference", str(self.work), "--timeout"),
            "vectors run --jobs": ("vectors", "run", "--reference", str(self.work), "--jobs"),
        }
        for name, prefix in commands.items():
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

    def output_paths(self) -> Iterator[Case]:
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

    def suites(self) -> Iterator[Case]:
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

    def invariant_modules(self) -> Iterator[Case]:
        sources = {
            "raises": "def f(l):\n    raise RuntimeError('x')\nregister_invariant('f-raises', 'X-1', f)\n",
            "non-boolean": "register_invariant('f-five', 'X-1', lambda l: 5)\n",
            "python-if": (
                "def f(l):\n    return bool(l.insurance_fund['USDC'] >= 0)\n"
                "register_invariant('f-if', 'X-1', f)\n"
            ),
            "exit-at-import": "import sys\nsys.exit(0)\n",
            "exit-in-condition": "import sys\nregister_invariant('f-exit', 'X-1', lambda l: sys.exit(0))\n",
            "syntax-error": "def (:\n",
        }
        for name, source in sources.items():
            path = self._write(
                f"{name.replace('-', '_')}.py",
                "from clearspec_proofs.invariants import register_invariant\n" + source,
            )
            yield Case(
                "invariants",
                name,
                ("prove", "--only", "deposit", "--quiet", "--no-cache", "--invariants", str(path)),
            )
        yield Case(
            "invariants",
            "missing",
            ("prove", "--only", "deposit", "--invariants", str(self.work / "none.py")),
        )

    def cases(self) -> list[Case]:
        return [
            *self.params_files(),
            *self.price_files(),
            *self.options(),
            *self.output_paths(),
            *self.suites(),
            *self.invariant_modules(),
        ]


def _replace_leaf(data: Any, rng: random.Random, token: str) -> str:
    """Replace one leaf of a JSON value in place; return where."""
    path = []
    node = data
    while True:
        if isinstance(node, dict) and node:
            key = rng.choice(sorted(node))
        elif isinstance(node, list) and node:
            key = rng.randrange(len(node))
        else:
            break
        path.append(str(key))
        if not isinstance(node[key], dict | list) or not node[key]:
            node[key] = token
            break
        node = node[key]
    return ".".join(path)


# --- running one case under a timeout ---------------------------------------------------------------


def run_case(case: Case, timeout: float, work: Path) -> dict[str, Any]:
    """Fork, run ``clearspec ARGV`` in the child with its output in files, classify."""
    out, err = work / "stdout", work / "stderr"
    began = time.perf_counter()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        code = 70
        try:
            os.setpgid(0, 0)
            with open(out, "wb") as o, open(err, "wb") as e, open(os.devnull, "rb") as i:
                os.dup2(i.fileno(), 0)
                os.dup2(o.fileno(), 1)
                os.dup2(e.fileno(), 2)
            sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115 - the child's own stdout
            sys.stderr = open(2, "w", closefd=False)  # noqa: SIM115
            from clearspec_tools.cli import main

            code = main(list(case.argv))
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
    deadline = time.monotonic() + timeout
    status: int | None = None
    while time.monotonic() < deadline:
        done, wait_status = os.waitpid(pid, os.WNOHANG)
        if done:
            status = os.waitstatus_to_exitcode(wait_status)
            break
        time.sleep(0.01)
    if status is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    stderr = err.read_text(errors="replace")[-4000:] if err.exists() else ""
    if status is None:
        outcome = "hang"
    elif "Traceback (most recent call last)" in stderr or status not in (0, 1, 2):
        outcome = "traceback"
    elif status == 0:
        outcome = "wrong-success" if case.must_fail else "success"
    else:
        outcome = "clear-error" if stderr.strip() or _stdout_says(out) else "traceback"
    return {
        "kind": case.kind,
        "name": case.name,
        "argv": [a[:80] for a in case.argv],
        "status": status,
        "outcome": outcome,
        "seconds": round(time.perf_counter() - began, 3),
        "message": stderr.strip().splitlines()[-1][:300] if stderr.strip() else "",
    }


def _stdout_says(path: Path) -> bool:
    return path.exists() and bool(path.read_text(errors="replace").strip())


def _preload() -> None:
    """Import what the commands import lazily, once, before the first fork."""
    import importlib

    for name in (
        "clearspec_tools.cli",
        "clearspec_tools.simulate.runner",
        "clearspec_tools.simulate.sweep",
        "clearspec_tools.simulate.report",
        "clearspec_tools.vectors.runner",
        "clearspec_tools.vectors.confirm",
        "clearspec_tools.vectors.generate",
        "clearspec_proofs.safe_region",
        "clearspec_proofs.symbolic",
    ):
        importlib.import_module(name)


def campaign(seed: int = 1, mutations: int = 20, timeout: float = 60.0) -> dict[str, Any]:
    """Run every case; counts per kind and outcome, and every case not a clear error or a success."""
    os.environ.pop("CLEARSPEC_SLOW_CHECKS", None)
    _preload()
    results = []
    with tempfile.TemporaryDirectory(prefix="clearspec-fuzz-") as folder:
        work = Path(folder)
        cwd = os.getcwd()
        os.chdir(work)  # relative outputs (x.png, out/...) land in the scratch folder
        try:
            for case in Campaign(work, seed, mutations).cases():
                results.append(run_case(case, timeout, work))
        finally:
            os.chdir(cwd)
    counts: dict[str, Counter[str]] = {}
    for r in results:
        counts.setdefault(r["kind"], Counter())[r["outcome"]] += 1
    total = Counter(r["outcome"] for r in results)
    return {
        "seed": seed,
        "mutations": mutations,
        "timeout_s": timeout,
        "inputs": len(results),
        "outcomes": {o: total[o] for o in OUTCOMES},
        "by_kind": {kind: {o: c[o] for o in OUTCOMES if c[o]} for kind, c in counts.items()},
        "bad": [r for r in results if r["outcome"] in ("traceback", "hang", "wrong-success")],
        "results": results,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the test suite's campaign (few mutations)")
    parser.add_argument("--mutations", type=int, default=500, help="random mutations per file kind (500)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the mutations (1)")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per input (60)")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "fuzz.json"))
    args = parser.parse_args(argv)
    began = time.perf_counter()
    data = campaign(args.seed, 20 if args.quick else args.mutations, args.timeout)
    data["seconds"] = round(time.perf_counter() - began, 1)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({k: v for k, v in data.items() if k != "results"}, indent=1) + "\n")
    print(f"{data['inputs']} hostile inputs in {data['seconds']} s: {data['outcomes']}")
    for kind, counts in data["by_kind"].items():
        print(f"  {kind:<12} {counts}")
    for bad in data["bad"][:50]:
        print(f"  {bad['outcome'].upper()}: {bad['kind']} {bad['name']}: {bad['message']}")
    return 1 if data["bad"] else 0


if __name__ == "__main__":
    sys.exit(main())
