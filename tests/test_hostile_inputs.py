"""Hostile input to every command: a clear message and exit status 2, never a
traceback, a hang or a silent success (clearspec_tools/inputs.py).

One test per class of input: parameter and price files that are devices, FIFOs,
binary, oversized or absurd; option values out of range; output paths that
cannot be written or would land somewhere unexpected; a designer's invariant
module that raises, exits or returns nonsense; a standard output that is
closed or full.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from clearspec_proofs import invariants
from clearspec_tools.cli import main
from clearspec_tools.inputs import InputError, json_depth, output_file, output_folder, parse_json

HEADER = "timestamp_utc,open,high,low,close,volume\n"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    """``clearspec ARGV`` in process: the exit status and standard error."""
    try:
        status = main(list(argv))
    except SystemExit as exit_:  # argparse's own usage errors
        status = int(exit_.code or 0)
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return status, err


def refused(capsys: pytest.CaptureFixture[str], words: str, *argv: str) -> None:
    status, err = run(capsys, *argv)
    assert status == 2, err
    assert words in err, err


# --- files read ----------------------------------------------------------------------------------


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    path = tmp_path / "fifo"
    os.mkfifo(path)
    return path


@pytest.mark.parametrize("command", [["prove", "--only", "deposit"], ["params", "check"]])
def test_a_parameter_file_that_is_a_device_fifo_or_folder(
    capsys: pytest.CaptureFixture[str], fifo: Path, tmp_path: Path, command: list[str]
) -> None:
    refused(capsys, "--params /dev/zero: a device, FIFO or socket", *command, "--params", "/dev/zero")
    refused(capsys, f"--params {fifo}: a device, FIFO or socket", *command, "--params", str(fifo))
    refused(capsys, "is a folder, expected a regular file", *command, "--params", str(tmp_path))


PRICE_FILES = {
    "year-1": (
        HEADER + "0001-01-01T00:00:00Z,1,1,1,1,1\n",
        ":2: not an ISO 8601 timestamp within 1970..2099",
    ),
    "year-9999": (HEADER + "9999-12-31T23:00:00Z,1,1,1,1,1\n", "outside 1970-01-01..2099-12-31"),
    "huge-exponent": (HEADER + "2024-01-01T00:00:00Z,1e999999999,1,1,1,1\n", "beyond any amount"),
    "tiny-exponent": (HEADER + "2024-01-01T00:00:00Z,1e-999999999,1,1,1,1\n", "not a positive price"),
    "above-max-amount": (HEADER + "2024-01-01T00:00:00Z,1e400,1e400,1e400,1e400,1\n", "beyond any amount"),
    "near-max-amount": (HEADER + "2024-01-01T00:00:00Z,1e27,1e27,1e27,1e27,1\n", "above MAX_AMOUNT"),
    "a-1-MB-field": (HEADER + "2024-01-01T00:00:00Z," + "1" * 1_000_000 + ",1,1,1,1\n", "longer than 64"),
    "1000-columns": (HEADER + "2024-01-01T00:00:00Z" + ",1" * 1_000 + "\n", "expected 6 to 32 columns"),
    "jump-up": (
        HEADER + "2024-01-01T00:00:00Z,100,100,100,100,1\n2024-01-01T00:01:00Z,100,1e25,100,1e25,1\n",
        ":3: the bar moves more than 10x from its open",
    ),
    "crash-down": (
        HEADER
        + "2024-01-01T00:00:00Z,100,100,100,100,1\n2024-01-01T00:01:00Z,0.0001,0.0001,0.0001,0.0001,1\n",
        ":3: the bar moves more than 10x from the previous close",
    ),
    "time-goes-back": (
        HEADER + "2024-01-01T00:01:00Z,1,1,1,1,1\n2024-01-01T00:00:00Z,1,1,1,1,1\n",
        ":3: timestamps must increase",
    ),
    "binary": (None, "not UTF-8 text"),
}


@pytest.mark.parametrize("name", list(PRICE_FILES))
def test_a_hostile_price_file_is_refused_by_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, name: str
) -> None:
    text, words = PRICE_FILES[name]
    path = tmp_path / f"{name}.csv"
    if text is None:
        path.write_bytes(bytes(range(256)) * 40)
    else:
        path.write_text(text)
    out = str(tmp_path / "out")
    refused(capsys, words, "simulate", f"BTC-USD={path}", "--quiet", "--no-plots", "--out", out)


def test_a_price_device_or_fifo_is_refused(
    capsys: pytest.CaptureFixture[str], fifo: Path, tmp_path: Path
) -> None:
    out = str(tmp_path / "out")
    for device in ("/dev/urandom", "/dev/zero", str(fifo)):
        refused(capsys, f"price file {device}: a device", "simulate", f"BTC-USD={device}", "--out", out)


def test_a_jump_is_replayed_only_when_the_user_opts_in(tmp_path: Path) -> None:
    from clearspec_tools.simulate.paths import PricePathError, read_path

    path = tmp_path / "jump.csv"
    path.write_text(
        HEADER + "2024-01-01T00:00:00Z,100,100,100,100,1\n2024-01-01T00:01:00Z,100,2000,100,2000,1\n"
    )
    with pytest.raises(PricePathError, match=":3: the bar moves more than 10x"):
        read_path(path, "BTC-USD", 4)
    assert read_path(path, "BTC-USD", 4, max_move=0).bars[-1].close == 20_000_000  # --allow-jumps
    assert read_path(path, "BTC-USD", 4, max_move=50).bars[-1].high == 20_000_000  # --max-bar-move 50


def test_json_depth_and_big_integers_are_named() -> None:
    assert json_depth({"a": [1, {"b": []}]}) == 4
    with pytest.raises(InputError, match=r"x\.json: JSON nested more than 64 levels"):
        parse_json("[" * 65 + "]" * 65, "x.json")
    with pytest.raises(InputError, match=r"x\.json: JSON nested more than 64 levels"):
        parse_json("[" * 200_000 + "]" * 200_000, "x.json")
    with pytest.raises(InputError, match=r"x\.json: unusable JSON"):
        parse_json("9" * 5_000, "x.json")
    with pytest.raises(InputError, match="NaN is not a JSON number"):
        parse_json('{"a": NaN}', "x.json")
    with pytest.raises(InputError, match="the number 1e999 overflows a double"):
        parse_json("[1e999]", "x.json")


# --- option values -------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["-1", "0", "100000", "two"])
def test_workers_out_of_range(capsys: pytest.CaptureFixture[str], value: str) -> None:
    refused(
        capsys, "argument --workers: expected an integer", "prove", "--only", "deposit", "--workers", value
    )
    refused(
        capsys,
        "argument --workers: expected an integer",
        "sweep",
        "--vary",
        "premium_ppm=1",
        "--workers",
        value,
    )


@pytest.mark.parametrize("value", ["0", "-5", str(2**32), str(2**64), "9" * 100])
def test_rlimit_beyond_z3s_range(capsys: pytest.CaptureFixture[str], value: str) -> None:
    words = "argument --rlimit: expected an integer"
    refused(capsys, words, "prove", "--only", "deposit", "--rlimit", value)
    refused(capsys, words, "params", "check", "--rlimit", value)
    refused(capsys, words, "params", "safe", "--param", "maintenance", "--rlimit", value)


def test_grid_and_plot_are_checked_before_any_probe(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    safe = ["params", "safe", "--param", "maintenance", "--market", "BTC-PERP"]
    refused(capsys, "argument --grid: expected an integer within 2..101", *safe, "--grid", "100000000")
    refused(capsys, "argument --grid: expected an integer within 2..101", *safe, "--grid", "1")
    refused(
        capsys,
        f"--plot {tmp_path}: is a folder, expected a file name ending in .png",
        *safe,
        "--plot",
        str(tmp_path),
    )
    refused(capsys, "expected a file name ending in .png", *safe, "--plot", str(tmp_path / "region.svg"))
    refused(capsys, "does not exist", *safe, "--plot", str(tmp_path / "no" / "region.png"))
    assert not (tmp_path.parent / f"{tmp_path.name}.png").exists()  # no .png appended to the folder


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--insurance-fund", "1e999999999"], "--insurance-fund: not an amount"),
        (["--insurance-fund", "1e40"], "expected an amount within 0..10**30"),
        (["--insurance-fund", "0.0000001"], "with at most 6 decimals"),
        (
            ["--premium-ppm", str(10**30)],
            "argument --premium-ppm: expected an integer within -1000000..1000000",
        ),
        (["--premium-ppm", str(-(10**30))], "argument --premium-ppm: expected an integer within"),
        (["--start", "9999-12-31T23:59:59-23:59"], "--start: not an ISO 8601 time"),
        (["--start", "0001-01-01T00:00:00Z"], "--start: not an ISO 8601 time"),
        (["--accounts", "10000000"], "argument --accounts: expected an integer within 1..200000"),
        (["--bars", "-1"], "argument --bars: expected an integer within 0.."),
    ],
)
def test_simulate_settings_out_of_range(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, args: list[str], words: str
) -> None:
    refused(capsys, words, "simulate", "--quiet", "--no-plots", "--out", str(tmp_path / "o"), *args)


@pytest.mark.parametrize(
    ("axis", "words"),
    [
        ("maintenance_ppm=0", "maintenance_ppm=0: must be within 1..1000000"),
        ("maintenance_ppm=-5", "maintenance_ppm=-5: must be within 1..1000000"),
        ("maintenance_ppm=1e20", "maintenance_ppm=1e20: expected an integer"),
        ("premium_ppm=" + "9" * 30, "premium_ppm=" + "9" * 30 + ": must be within -1000000..1000000"),
        ("insurance_fund=1e999999999", "beyond any amount"),
        ("premium_ppm=" + ",".join(str(i) for i in range(10_001)), "more than the limit of 10,000"),
    ],
)
def test_sweep_values_are_refused_never_clamped(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, axis: str, words: str
) -> None:
    refused(capsys, words, "sweep", "--quiet", "--no-plots", "--out", str(tmp_path / "o"), "--vary", axis)


# --- output paths --------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["simulate", "sweep"])
def test_an_unusable_out_is_refused_before_the_replay(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, command: str
) -> None:
    file = tmp_path / "file"
    file.write_text("x")
    extra = ["--vary", "premium_ppm=1"] if command == "sweep" else []
    base = [command, "--quiet", "--no-plots", *extra, "--out"]
    refused(capsys, "--out: an empty path (write '.' for the current folder)", *base, "")
    refused(capsys, "--out /dev/null: exists and is not a folder", *base, "/dev/null")
    refused(capsys, "cannot create the folder: Not a directory", *base, f"{file}/out")
    refused(capsys, "cannot create the folder", *base, "/proc/clearspec-out")


def test_output_helpers(tmp_path: Path) -> None:
    assert output_folder(str(tmp_path / "a" / "b"), "--out").is_dir()
    assert output_file(str(tmp_path / "p.png"), "--plot", ".png") == tmp_path / "p.png"
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    if os.geteuid() != 0:  # root writes anywhere
        with pytest.raises(InputError, match="cannot write there"):
            output_folder(str(locked), "--out")


def test_prove_output_paths_are_checked_before_the_proof(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    prove = ["prove", "--only", "deposit", "--quiet"]
    refused(capsys, "--counterexamples: an empty path", *prove, "--counterexamples", "")
    refused(capsys, "--cache-dir /dev/null: exists and is not a folder", *prove, "--cache-dir", "/dev/null")
    refused(
        capsys,
        "--cache-dir /proc/clearspec-cache: cannot create the folder",
        *prove,
        "--cache-dir",
        "/proc/clearspec-cache",
    )


LONG_NAME = "x" * 300  # a name over 255 bytes
LONG_PATH = "/".join(["d"] * 3000)  # a path over PATH_MAX


@pytest.mark.parametrize("target", [LONG_NAME, LONG_PATH], ids=["name-too-long", "path-too-long"])
@pytest.mark.parametrize(
    "argv",
    [
        ["simulate", "--quiet", "--no-plots", "--out"],
        ["sweep", "--quiet", "--vary", "premium_ppm=1", "--out"],
        ["vectors", "generate", "--quiet", "--out"],
        ["params", "safe", "--param", "maintenance", "--plot"],
        ["prove", "--only", "deposit", "--quiet", "--counterexamples"],
        ["prove", "--only", "deposit", "--quiet", "--cache-dir"],
    ],
    ids=lambda argv: " ".join(argv[:2]) + " " + argv[-1],
)
def test_an_output_path_the_system_cannot_look_up_is_exit_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, argv: list[str], target: str
) -> None:
    path = str(tmp_path / target) + (".png" if argv[0] == "params" else "")
    refused(capsys, "File name too long", *argv, path)


def test_a_price_file_name_too_long_is_exit_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    argv = ["simulate", "--quiet", "--no-plots", "--out", str(tmp_path / "out")]
    refused(capsys, "File name too long", *argv, f"BTC-USD={tmp_path / LONG_NAME}")


def test_a_path_with_bytes_not_utf8_is_echoed_back_under_a_strict_stdout(tmp_path: Path) -> None:
    # Outside the C locale Python's standard output is strict UTF-8; the byte 0xff of
    # a path given on the command line must come back as itself, not as a traceback.
    prices = tmp_path / "btc.csv"
    prices.write_text(
        HEADER + "".join(f"2024-08-05T00:0{i}:00Z,60000,60100,59900,60050,1\n" for i in range(4))
    )
    out = os.fsencode(tmp_path) + b"/a\xffb"
    argv = [b"simulate", b"--accounts", b"2", b"--bars", b"3", b"--no-plots", b"--quiet", b"--out", out]
    command = [
        os.fsencode(sys.executable),
        b"-m",
        b"clearspec_tools.cli",
        *argv,
        b"BTC-USD=" + os.fsencode(prices),
    ]
    done = subprocess.run(
        command, capture_output=True, env={**os.environ, "PYTHONIOENCODING": "utf-8:strict"}
    )
    assert done.returncode == 0, done.stderr
    assert b"a\xffb" in done.stdout and os.path.isdir(out)


def test_an_interrupt_is_one_line_and_status_130(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(args: object) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr("clearspec_tools.cli._run_example", interrupted)
    status, err = run(capsys, "example")
    assert (status, err) == (130, "clearspec: interrupted\n")


# --- a designer's invariant module ---------------------------------------------------------------


@pytest.fixture
def clean_registry() -> Iterator[None]:
    before = list(invariants._REGISTERED)
    yield
    invariants._REGISTERED[:] = before


MODULES = {
    "raises": (
        "def boom(ledger):\n    raise RuntimeError('boom')\nregister_invariant('boom', 'X-1', boom)\n",
        "invariant 'boom': its condition raised RuntimeError: boom",
    ),
    "non-boolean": (
        "register_invariant('five', 'X-1', lambda ledger: 5)\n",
        "invariant 'five': its condition returned int, expected a bool or a kernel condition",
    ),
    "python-if": (
        "def f(ledger):\n    if ledger.insurance_fund['USDC'] >= 0:\n        return True\n    return False\n"
        "register_invariant('branch', 'X-1', f)\n",
        "invariant 'branch': its condition raised SymbolicBranchError",
    ),
    "exit-at-import": ("import sys\nsys.exit(0)\n", "SystemExit: 0"),
    "exit-in-condition": (
        "import sys\nregister_invariant('quit', 'X-1', lambda ledger: sys.exit(0))\n",
        "invariant 'quit': its condition raised SystemExit: 0",
    ),
}


@pytest.mark.parametrize("name", list(MODULES))
@pytest.mark.usefixtures("clean_registry")
def test_a_broken_invariant_module_is_exit_2_before_any_proof(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, name: str
) -> None:
    source, words = MODULES[name]
    module = tmp_path / f"{name.replace('-', '_')}.py"
    module.write_text("from clearspec_proofs.invariants import register_invariant\n" + source)
    refused(capsys, words, "prove", "--only", "deposit", "--quiet", "--no-cache", "--invariants", str(module))


# Modules that never end, at import or while a condition is built (one catching
# every exception too, which a SIGALRM could not stop), or end the process itself.
ENDLESS = {
    "loop-at-import": (
        "while True:\n    try:\n        pass\n    except BaseException:\n        pass\n",
        "still running after 1 s while importing it",
    ),
    "huge-power-at-import": ("x = 2 ** 10 ** 10\n", "still running after 1 s while importing it"),
    "loop-in-condition": (
        "def spin(ledger):\n    while True:\n        pass\nregister_invariant('spin', 'X-1', spin)\n",
        "still running after 1 s while building the condition of invariant 'spin'",
    ),
    "os-exit-at-import": ("import os\nos._exit(0)\n", "ended the process while importing it"),
}


@pytest.mark.parametrize("name", list(ENDLESS))
@pytest.mark.usefixtures("clean_registry")
def test_an_invariant_module_that_never_ends_is_exit_2_naming_it(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, name: str
) -> None:
    source, words = ENDLESS[name]
    module = tmp_path / f"{name.replace('-', '_')}.py"
    module.write_text("from clearspec_proofs.invariants import register_invariant\n" + source)
    argv = ("prove", "--only", "deposit", "--quiet", "--no-cache", "--invariants", str(module))
    refused(capsys, f"invariant module {module}: {words}", *argv, "--invariants-timeout", "1")
    assert not [i for i in invariants._REGISTERED if i.name == "spin"]  # nothing loaded here


@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf", "1e999", "86401", "x"])
def test_the_invariants_timeout_is_a_finite_positive_bound(
    capsys: pytest.CaptureFixture[str], value: str
) -> None:
    refused(capsys, "--invariants-timeout: expected seconds", "prove", "--invariants-timeout", value)


# --- standard output closed or full --------------------------------------------------------------


def _cli(*args: str, stdout: int | None) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "clearspec_tools.cli", *args], stdout=stdout, stderr=subprocess.PIPE
    )


@pytest.mark.parametrize(
    "command",
    [
        ["params", "export"],
        ["example", "--json"],
        ["prove", "--only", "deposit-quote/acceptance", "--workers", "1", "--no-cache", "--quiet"],
    ],
    ids=["params-export", "example", "prove"],
)
def test_a_closed_pipe_ends_quietly(command: list[str], tmp_path: Path) -> None:
    read, write = os.pipe()
    os.close(read)  # the reader is gone before the first byte (as after `| head -c 10`)
    extra = ["--counterexamples", str(tmp_path)] if command[0] == "prove" else []  # nothing in the repo
    process = _cli(*command, *extra, stdout=write)
    os.close(write)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 1
    assert b"Traceback" not in err and b"BrokenPipe" not in err


def test_a_full_stdout_ends_with_one_line() -> None:
    with open("/dev/full", "wb") as full:
        process = _cli("params", "export", stdout=full.fileno())
        _, err = process.communicate(timeout=120)
    assert process.returncode == 1
    assert err.decode().strip() == "clearspec: cannot write: No space left on device"
