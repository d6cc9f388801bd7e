"""Build the documentation site: the one command.

    python docs/build.py                       # everything, from the current code
    python docs/build.py --prove-json FILE     # reuse a `clearspec prove --json` result
    python docs/build.py --fast                # no prover, vectors or plots: pages say so

Steps, with progress on standard error:

1. gather the data the pages show into ``docs/_generated/data``: the proof results
   (``clearspec prove --json``, or ``--prove-json FILE``), the conformance vectors
   (``clearspec vectors generate``, or ``--vectors DIR``), the CrossHair results
   (``--crosshair FILE``, else ``out/crosshair.json`` if present) and the
   safe-region plots (``clearspec params safe --plot``, or ``--plots DIR``); a
   command that does not exist yet is skipped and its page says no data was provided;
2. ``sphinx-build -W --keep-going -b html docs OUT`` (warnings are errors);
3. check every internal link and anchor of the HTML (``docs/linkcheck.py``).

Exit status 0 only if the build is clean and no link is broken; 1 otherwise; 2 on
bad options.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
DEFAULT_DATA = DOCS / "_generated" / "data"
MARKER = ".clearspec-docs-data"
# Seconds allowed to one tutorial command (each takes seconds on an idle machine).
STEP_TIMEOUT = 900
# The safe-region plots the proof report shows, when `clearspec params safe` exists.
SAFE_PLOTS = (
    (
        "maintenance",
        ["--param", "maintenance", "--market", "BTC-PERP"],
        "Safe region of BTC-PERP's maintenance fraction against the oracle's circuit breaker (PAR-5).",
    ),
)


def progress(message: str) -> None:
    print(f"[docs] {message}", file=sys.stderr, flush=True)


def clearspec_command() -> list[str]:
    """The ``clearspec`` command of this interpreter's environment."""
    return [sys.executable, "-m", "clearspec_tools.cli"]


def has_command(*words: str) -> bool:
    """True if ``clearspec WORDS --help`` succeeds (the subsystem is installed)."""
    done = subprocess.run([*clearspec_command(), *words, "--help"], capture_output=True, text=True, cwd=ROOT)
    return done.returncode == 0 and "invalid choice" not in done.stderr


def nice() -> list[str]:
    return ["nice", "-n", "10"] if shutil.which("nice") else []


def gather_prove(args: argparse.Namespace, data: Path) -> None:
    target = data / "prove.json"
    if args.prove_json is not None:
        shutil.copyfile(args.prove_json, target)
        (data / "prove.meta.json").write_text(json.dumps({"source": str(args.prove_json)}) + "\n")
        progress(f"proof results: {args.prove_json}")
        return
    if args.fast:
        progress("proof results: none (--fast)")
        return
    command = [
        *clearspec_command(),
        "prove",
        "--json",
        "--workers",
        str(args.workers),
        "--counterexamples",
        str(data / "counterexamples"),
    ]
    progress(f"running the prover: {' '.join(command[2:])} (about a minute on two cores)")
    started = time.perf_counter()
    with target.open("w", encoding="utf-8") as out:
        done = subprocess.run([*nice(), *command], stdout=out, cwd=ROOT)
    wall = time.perf_counter() - started
    if done.returncode not in (0, 1):
        target.unlink()
        raise SystemExit(f"docs: clearspec prove failed with status {done.returncode}")
    meta = {
        "command": "clearspec prove --json --workers " + str(args.workers),
        "finished": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "wall_seconds": round(wall, 1),
    }
    (data / "prove.meta.json").write_text(json.dumps(meta) + "\n")
    progress(f"prover done in {wall:.0f} s (status {done.returncode})")


def gather_vectors(args: argparse.Namespace, data: Path) -> None:
    target = data / "vectors"
    if args.vectors is not None:
        if not (args.vectors / "index.json").is_file():
            raise SystemExit(f"docs: {args.vectors} has no index.json")
        shutil.copytree(args.vectors, target)
        progress(f"vectors: {args.vectors}")
        return
    if args.fast or not has_command("vectors", "generate"):
        progress(
            "vectors: none ("
            + ("--fast" if args.fast else "`clearspec vectors generate` is not available")
            + ")"
        )
        return
    progress("generating the conformance vectors: clearspec vectors generate")
    done = subprocess.run(
        [*nice(), *clearspec_command(), "vectors", "generate", "--out", str(target)], cwd=ROOT
    )
    if done.returncode != 0 or not (target / "index.json").is_file():
        raise SystemExit(f"docs: clearspec vectors generate failed with status {done.returncode}")


def gather_crosshair(args: argparse.Namespace, data: Path) -> None:
    if args.no_crosshair:
        progress("CrossHair results: none (--no-crosshair)")
        return
    source = args.crosshair if args.crosshair is not None else ROOT / "out" / "crosshair.json"
    if source.is_file():
        shutil.copyfile(source, data / "crosshair.json")
        progress(f"CrossHair results: {source}")
    else:
        progress("CrossHair results: none")


def gather_plots(args: argparse.Namespace, data: Path) -> None:
    target = data / "plots"
    target.mkdir(parents=True, exist_ok=True)
    if args.plots is not None:
        for plot in sorted(args.plots.glob("*.png")):
            shutil.copyfile(plot, target / plot.name)
            caption = plot.with_suffix(".txt")
            if caption.is_file():
                shutil.copyfile(caption, target / caption.name)
        progress(f"plots: {args.plots}")
        return
    if args.fast or not has_command("params", "safe"):
        progress(
            "safe-region plots: none ("
            + ("--fast" if args.fast else "`clearspec params safe` is not available")
            + ")"
        )
        return
    for name, options, caption in SAFE_PLOTS:
        plot = target / f"safe-{name}.png"
        progress(f"safe region: clearspec params safe {' '.join(options)} --plot {plot.name}")
        done = subprocess.run(
            [*nice(), *clearspec_command(), "params", "safe", *options, "--plot", str(plot), "--quiet"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=args.plot_timeout,
        )
        if plot.is_file():
            (target / f"safe-{name}.txt").write_text(caption + "\n")
        else:
            progress(f"no plot written (status {done.returncode}): {done.stderr.strip()[:200]}")


def run_step(
    data: Path, name: str, argv: list[str], expected: int, shown: str
) -> subprocess.CompletedProcess[str]:
    """Run one tutorial command; save ``$ command`` and its output for the page."""
    try:
        done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=STEP_TIMEOUT)
    except subprocess.TimeoutExpired as expired:
        raise TutorialDrift(
            f"tutorial step {name!r}: `{shown}` did not finish in {STEP_TIMEOUT} s"
        ) from expired
    folder = data / "tutorial"
    folder.mkdir(parents=True, exist_ok=True)
    output = done.stdout if done.stdout.strip() else done.stderr
    (folder / f"{name}.txt").write_text(f"$ {shown}\n{output.rstrip()}\n(exit status {done.returncode})\n")
    if done.returncode != expected:
        raise TutorialDrift(
            f"tutorial step {name!r}: `{shown}` exited {done.returncode}, the tutorial expects {expected}"
        )
    return done


class TutorialDrift(Exception):
    """A tutorial command no longer behaves as the tutorial says: the page must be updated."""


def gather_tutorial(args: argparse.Namespace, data: Path) -> None:
    """Run the designer tutorial's commands, so the page shows their real output."""
    if args.fast or not has_command("params", "check"):
        progress(
            "tutorial outputs: none ("
            + ("--fast" if args.fast else "`clearspec params check` is not available")
            + ")"
        )
        return
    progress("running the tutorial's commands")
    folder = data / "tutorial"
    folder.mkdir(parents=True, exist_ok=True)
    mine = folder / "mine.json"
    cs = clearspec_command()
    exported = run_step(data, "export", [*cs, "params", "export"], 0, "clearspec params export > mine.json")
    mine.write_text(exported.stdout)
    oracle = json.loads(exported.stdout)["oracle"]
    (folder / "export.txt").write_text(
        "$ clearspec params export > mine.json\n$ grep -A6 '\"oracle\"' mine.json   # the circuit breaker\n"
        + json.dumps({k: v for k, v in oracle.items() if k != "reporters"}, indent=1)
        + "\n"
    )
    run_step(
        data,
        "check-before",
        [*cs, "params", "check", "--params", str(mine)],
        1,
        "clearspec params check --params mine.json",
    )
    run_step(
        data,
        "safe",
        [*cs, "params", "safe", "--param", "max_deviation", "--params", str(mine), "--quiet"],
        0,
        "clearspec params safe --param max_deviation --params mine.json",
    )
    bound = run_step(
        data,
        "safe-json",
        [*cs, "params", "safe", "--param", "max_deviation", "--params", str(mine), "--quiet", "--json"],
        0,
        "clearspec params safe --param max_deviation --params mine.json --json",
    )
    value = int(json.loads(bound.stdout)["boundary"]["value"])
    edited = json.loads(mine.read_text())
    edited["oracle"]["max_deviation_ppm"] = str(value)
    mine.write_text(json.dumps(edited, indent=2) + "\n")
    (folder / "edit.txt").write_text(
        f'"max_deviation_ppm": "{oracle["max_deviation_ppm"]}"  ->  "max_deviation_ppm": "{value}"\n'
    )
    run_step(
        data,
        "check-after",
        [*cs, "params", "check", "--params", str(mine)],
        0,
        "clearspec params check --params mine.json",
    )
    run_step(
        data,
        "prove-after",
        [
            *cs,
            "prove",
            "--params",
            str(mine),
            "--only",
            "oracle-update",
            "--quiet",
            "--workers",
            str(args.workers),
            "--counterexamples",
            str(folder / "counterexamples"),
        ],
        0,
        "clearspec prove --params mine.json --only oracle-update",
    )
    run_step(
        data,
        "invariant",
        [sys.executable, str(DOCS / "examples" / "supply_cap.py")],
        0,
        "python docs/examples/supply_cap.py",
    )


def sphinx(out: Path, doctrees: Path, data: Path) -> int:
    command = [
        sys.executable,
        "-m",
        "sphinx",
        "-W",
        "--keep-going",
        "-b",
        "html",
        "-d",
        str(doctrees),
        "-D",
        f"clearspec_data_dir={data}",
        str(DOCS),
        str(out),
    ]
    progress("sphinx-build -W --keep-going -b html docs " + str(out))
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    return subprocess.run([*nice(), *command], cwd=ROOT, env=env).returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build the clearspec documentation site (HTML).")
    parser.add_argument(
        "--prove-json", type=Path, metavar="FILE", help="a `clearspec prove --json` result to show"
    )
    parser.add_argument("--vectors", type=Path, metavar="DIR", help="a vector suite (DIR/index.json) to show")
    parser.add_argument(
        "--crosshair", type=Path, metavar="FILE", help="CrossHair results (default: out/crosshair.json)"
    )
    parser.add_argument(
        "--no-crosshair", action="store_true", help="show no CrossHair results, even if present"
    )
    parser.add_argument(
        "--plots", type=Path, metavar="DIR", help="safe-region PNGs to show (default: draw them)"
    )
    parser.add_argument("--fast", action="store_true", help="run no prover, generator or plotter")
    parser.add_argument("--workers", type=int, default=2, help="prover processes (default 2)")
    parser.add_argument("--plot-timeout", type=int, default=600, help="seconds allowed per safe-region plot")
    parser.add_argument("--out", type=Path, default=DOCS / "_build" / "html", help="output folder")
    parser.add_argument(
        "--data", type=Path, default=DEFAULT_DATA, help="where the gathered data goes (emptied first)"
    )
    args = parser.parse_args(argv)
    for given in (args.prove_json, args.crosshair):
        if given is not None and not given.is_file():
            parser.error(f"no such file: {given}")
    for folder in (args.vectors, args.plots):
        if folder is not None and not folder.is_dir():
            parser.error(f"no such folder: {folder}")

    data = args.data.resolve()
    if data.exists() and any(data.iterdir()) and not (data / MARKER).is_file():
        parser.error(f"{data} is not empty and was not made by docs/build.py: choose another --data")
    if data.exists():
        shutil.rmtree(data)
    data.mkdir(parents=True)
    (data / MARKER).write_text("made by docs/build.py; emptied by every build\n")
    gather_prove(args, data)
    gather_vectors(args, data)
    gather_crosshair(args, data)
    gather_plots(args, data)
    try:
        gather_tutorial(args, data)
    except TutorialDrift as drift:
        progress(str(drift))
        return 1

    out = args.out.resolve()
    if (out / ".buildinfo").is_file():
        # A fresh output folder: no page of an earlier build survives to hide a broken link.
        shutil.rmtree(out)
    status = sphinx(out, out.parent / "doctrees", data)
    if status != 0:
        progress(f"sphinx-build failed (status {status})")
        return 1
    sys.path.insert(0, str(DOCS))
    from linkcheck import check_site

    broken, checked = check_site(out)
    for item in broken:
        print(item)
    progress(f"{checked} internal links checked, {len(broken)} broken")
    if broken:
        return 1
    progress(f"the site is in {out}/index.html")
    return 0


if __name__ == "__main__":
    sys.exit(main())
