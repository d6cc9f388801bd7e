"""Parameter sweeps: a grid of parameter sets replayed over the same paths and populations.

One job is ``(parameter set, paths, population seed)``; it is picklable and
self-contained, and :func:`run_job` turns it into one row of results. Jobs go
through an *executor*, a function ``executor(run_job, jobs)`` that yields the
rows as they finish. :func:`process_executor` runs them on every core with
``concurrent.futures.ProcessPoolExecutor``; a cluster engine fits the same
seam without touching the simulation, e.g. with Dask::

    def dask_executor(fn, jobs):
        client = distributed.Client("scheduler:8786")
        yield from (f.result() for f in distributed.as_completed(client.map(fn, jobs)))

(guides/simulate.md shows Ray as well).
"""

from __future__ import annotations

import copy
import itertools
import json
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from clearspec.errors import ClearingError
from clearspec.params import MAX_AMOUNT, PPM, ProtocolParams
from clearspec.params_file import params_from_json, params_to_json
from clearspec_tools.simulate.engine import SimConfig
from clearspec_tools.simulate.paths import scaled_decimal
from clearspec_tools.simulate.population import Population
from clearspec_tools.simulate.runner import Inputs, load_paths, make_population, simulate

# Sweep axes that are settings of the replay rather than of the parameter set.
CONFIG_AXES = {"insurance_fund", "liquidation_price_ppm", "liquidation_chunk_ppm", "premium_ppm"}


class SweepError(ValueError):
    """A sweep axis or value that cannot be applied (the message names it)."""


@dataclass(frozen=True)
class Job:
    """One replay of a sweep: everything a worker needs, picklable."""

    index: int
    axes: tuple[tuple[str, str], ...]
    params: dict[str, Any]
    config: SimConfig
    inputs: Inputs
    population: Population

    @property
    def label(self) -> str:
        return " ".join(f"{k}={v}" for k, v in self.axes) + f" seed={self.population.seed}"


Row = dict[str, Any]
Executor = Callable[[Callable[[Job], Row], Sequence[Job]], Iterator[Row]]


def serial_executor(fn: Callable[[Job], Row], jobs: Sequence[Job]) -> Iterator[Row]:
    """Run the jobs one after another in this process."""
    for job in jobs:
        yield fn(job)


def process_executor(workers: int | None = None) -> Executor:
    """Run the jobs in a pool of ``workers`` processes (default: every core)."""

    def run(fn: Callable[[Job], Row], jobs: Sequence[Job]) -> Iterator[Row]:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(fn, job) for job in jobs]
            for future in as_completed(futures):
                yield future.result()

    return run


# -- axes -----------------------------------------------------------------------------------


def parse_axis(text: str) -> tuple[str, list[str]]:
    """``KEY=V1,V2,...`` as ``(KEY, [V1, V2, ...])``."""
    key, sep, values = text.partition("=")
    items = [v.strip() for v in values.split(",") if v.strip()]
    if not sep or not key.strip() or not items:
        raise SweepError(f"--vary {text!r}: expected KEY=V1,V2,...")
    return key.strip(), items


def _integer(key: str, value: str, low: int, high: int) -> int:
    """An axis value that must be an integer within ``low..high``: refused, never clamped."""
    if len(value) > 40:
        raise SweepError(f"{key}={value[:40]}...: expected an integer within {low}..{high}")
    try:
        number = int(value)
    except ValueError:
        raise SweepError(f"{key}={value}: expected an integer within {low}..{high}") from None
    if not low <= number <= high:
        raise SweepError(f"{key}={value}: must be within {low}..{high}")
    return number


def _scale_maintenance(data: dict[str, Any], value: str) -> None:
    """Every market's first-tier maintenance fraction set to ``value`` ppm, the other
    tiers scaled in proportion. A value that would put a tier outside ``1..`` its
    initial fraction (MRG-2) is refused, not clamped: the table shows what ran."""
    target = _integer("maintenance_ppm", value, 1, PPM)
    for market in data["markets"]:
        tiers = market["tiers"]
        first = int(tiers[0]["maintenance_ppm"])
        for i, tier in enumerate(tiers):
            scaled = int(tier["maintenance_ppm"]) * target // first
            if not 1 <= scaled <= int(tier["initial_ppm"]):
                raise SweepError(
                    f"maintenance_ppm={value}: market {market.get('market_id')} tier {i} would get "
                    f"maintenance {scaled} ppm, outside 1..its initial {tier['initial_ppm']} ppm (MRG-2)"
                )
            tier["maintenance_ppm"] = str(scaled)


def _set_path(data: Any, parts: list[str], value: str, key: str) -> int:
    """Set the field at a dotted path (``*`` matches every list item); returns how
    many fields were set."""
    head, rest = parts[0], parts[1:]
    if isinstance(data, list):
        if head == "*":
            targets = list(range(len(data)))
        elif head.isdigit() and int(head) < len(data):
            targets = [int(head)]
        else:
            raise SweepError(f"{key}: {head!r} is not an index of a list of {len(data)}")
    elif isinstance(data, dict):
        if head not in data:
            raise SweepError(f"{key}: no field {head!r} (fields: {', '.join(data)})")
        targets = [head]  # type: ignore[list-item]
    else:
        raise SweepError(f"{key}: {head!r} goes below a value")
    count = 0
    for target in targets:
        if rest:
            count += _set_path(data[target], rest, value, key)
        else:
            data[target] = value
            count += 1
    return count


def apply_axis(data: dict[str, Any], config: SimConfig, key: str, value: str) -> SimConfig:
    """Apply one axis value to a parameter file's JSON (in place) or to the replay
    settings (returned). Keys: ``maintenance_ppm`` (first-tier maintenance of every
    market, other tiers in proportion), ``insurance_fund`` (quote currency),
    ``liquidation_price_ppm``, ``liquidation_chunk_ppm``, ``premium_ppm``, or a dotted
    path into the parameter file such as ``liquidation.max_liquidation_fee_ppm``,
    ``markets.*.deficit_policy`` or ``oracle.max_deviation_ppm``."""
    try:
        if key == "maintenance_ppm":
            _scale_maintenance(data, value)
            return config
        if key == "insurance_fund":
            amount, exact = scaled_decimal(value, config.quote_decimals)
            if not exact or amount > MAX_AMOUNT:
                raise SweepError(
                    f"insurance_fund={value}: expected an amount within 0..10**30 base units, "
                    f"with at most {config.quote_decimals} decimals"
                )
            return replace(config, insurance_fund=amount)
        if key == "premium_ppm":
            return replace(config, premium_ppm=_integer(key, value, -PPM, PPM))
        if key in CONFIG_AXES:
            number = _integer(key, value, 0, PPM)
            if key == "liquidation_price_ppm":
                return replace(config, liquidation_price_ppm=number)
            return replace(config, liquidation_chunk_ppm=number)
    except ValueError as error:
        if isinstance(error, SweepError):
            raise
        raise SweepError(f"{key}={value}: {error}") from None
    _set_path(data, key.split("."), value, key)
    return config


def grid(
    base: ProtocolParams, config: SimConfig, axes: Sequence[tuple[str, list[str]]]
) -> list[tuple[tuple[tuple[str, str], ...], dict[str, Any], SimConfig]]:
    """Every combination of the axes' values: (axis values, parameter JSON, settings).
    Each parameter set is validated (PAR-2); an invalid one is an error naming it."""
    names = [name for name, _ in axes]
    if len(set(names)) != len(names):
        raise SweepError("each axis once")
    points = []
    for values in itertools.product(*[v for _, v in axes]):
        data = copy.deepcopy(params_to_json(base))
        settings = config
        for name, value in zip(names, values, strict=True):
            settings = apply_axis(data, settings, name, value)
        point = tuple(zip(names, values, strict=True))
        try:
            params_from_json(data)
        except ClearingError as error:
            raise SweepError(f"{' '.join(f'{k}={v}' for k, v in point)}: {error}") from None
        points.append((point, data, settings))
    return points


# -- running ----------------------------------------------------------------------------------


def run_job(job: Job) -> Row:
    """Replay one job and summarise it as a row (module-level, so it pickles)."""
    from clearspec_tools.simulate.report import summary

    started = time.perf_counter()
    params = params_from_json(job.params)
    paths = load_paths(job.inputs, params, job.config)
    result = simulate(params, paths, job.population, job.config, label=job.label)
    s = summary(result)
    unit = 10**job.config.quote_decimals
    return {
        "index": job.index,
        "label": job.label,
        "axes": dict(job.axes),
        "seed": job.population.seed,
        "liquidations": s["liquidations"],
        "volume_liquidated": float(s["volume_liquidated"]),
        "bad_debt": result.totals.get("bad_debt", 0) / unit,
        "bad_debt_exact": s["bad_debt"]["total"],
        "fund_min": float(s["insurance_fund"]["min"]),
        "fund_end": float(s["insurance_fund"]["end"]),
        "deleverages": s["deleveraging"]["events"],
        "accounts_wiped_out": s["accounts_wiped_out"],
        "checks_run": sum(result.checks.runs.values()),
        "checks_passed": sum(result.checks.passed.values()),
        "passed": result.passed,
        "refused": sum(result.refused.values()),
        "seconds": round(time.perf_counter() - started, 2),
    }


def plan(
    base: ProtocolParams,
    inputs: Inputs,
    axes: Sequence[tuple[str, list[str]]],
    seeds: Sequence[int],
    accounts: int,
    config: SimConfig,
) -> list[Job]:
    """The jobs of a sweep: every grid point for every seed; one population per seed,
    drawn once and sized so that every parameter set of the grid accepts it."""
    if not axes:
        raise SweepError("give at least one --vary KEY=V1,V2,...")
    points = grid(base, config, axes)
    param_sets = [params_from_json(data) for _, data, _ in points]
    paths = load_paths(inputs, base, config)
    jobs: list[Job] = []
    for seed in seeds:
        population = make_population(param_sets, paths, accounts, seed, config)
        for point, data, settings in points:
            jobs.append(Job(len(jobs), point, data, settings, inputs, population))
    return jobs


def run_sweep(
    jobs: Sequence[Job], executor: Executor, progress: Callable[[int, int, Row], None] | None = None
) -> list[Row]:
    """Run the jobs through ``executor``; rows in job order."""
    rows = []
    for row in executor(run_job, jobs):
        rows.append(row)
        if progress is not None:
            progress(len(rows), len(jobs), row)
    return sorted(rows, key=lambda r: int(r["index"]))


COLUMNS = [
    ("liquidations", "liquidations"),
    ("volume_liquidated", "volume liq."),
    ("bad_debt", "bad debt"),
    ("fund_min", "fund min"),
    ("deleverages", "ADL events"),
    ("accounts_wiped_out", "wiped out"),
    ("checks", "checks"),
    ("seconds", "s"),
]


def table(rows: Sequence[Row]) -> str:
    """One line per job: its axis values, seed and results."""
    if not rows:
        return "(no jobs)"
    axes = list(rows[0]["axes"])
    header = [*axes, "seed", *(label for _, label in COLUMNS)]
    body = []
    for row in rows:
        cells = [str(row["axes"][a]) for a in axes] + [str(row["seed"])]
        for key, _ in COLUMNS:
            if key == "checks":
                refused = f" {row['refused']} REFUSED" if row.get("refused") else ""
                cells.append(
                    f"{row['checks_passed']}/{row['checks_run']}"
                    + ("" if row["passed"] else " FAIL")
                    + refused
                )
            elif isinstance(row[key], float):
                cells.append(f"{row[key]:,.2f}")
            else:
                cells.append(str(row[key]))
        body.append(cells)
    widths = [max(len(h), *(len(r[i]) for r in body)) for i, h in enumerate(header)]
    lines = ["  ".join(h.rjust(w) for h, w in zip(header, widths, strict=True))]
    lines += ["  ".join(c.rjust(w) for c, w in zip(cells, widths, strict=True)) for cells in body]
    return "\n".join(lines)


def write_outputs(rows: Sequence[Row], axes: Sequence[str], folder: Path, plots: bool = True) -> list[Path]:
    """``sweep.json``, ``sweep.csv`` and ``sweep.png`` (bad debt against the first axis)."""
    folder.mkdir(parents=True, exist_ok=True)
    written = [folder / "sweep.json", folder / "sweep.csv"]
    written[0].write_text(json.dumps(list(rows), indent=1) + "\n")
    keys = [k for k in rows[0] if k != "axes"] if rows else []
    lines = [",".join([*axes, *keys])]
    for row in rows:
        lines.append(",".join([*(str(row["axes"][a]) for a in axes), *(str(row[k]) for k in keys)]))
    written[1].write_text("\n".join(lines) + "\n")
    if plots and rows:
        from clearspec_tools.simulate.plots import sweep_plot

        written.append(sweep_plot(rows, axes, "bad_debt", folder / "sweep.png"))
    return written
