"""From command-line style inputs to a replay and its files: what the CLI, the sweeps and
the benchmark share."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clearspec.params import MarketKind, ProtocolParams
from clearspec_tools.inputs import MAX_ACCOUNTS
from clearspec_tools.simulate.engine import (
    Check,
    Progress,
    SimConfig,
    SimResult,
    Simulation,
    SimulationError,
    initial_ledger,
)
from clearspec_tools.simulate.paths import (
    EXAMPLES,
    PricePath,
    PricePathError,
    example_file,
    parse_time,
    read_path,
    split_spec,
)
from clearspec_tools.simulate.population import Population, PopulationConfig, generate

DEFAULT_EXAMPLE = "2024-08-05"


@dataclass(frozen=True)
class PathSpec:
    """One price path to read: the feed and the file."""

    feed: str
    file: str


@dataclass(frozen=True)
class Inputs:
    """The paths of a replay and the window replayed (``bars`` 0: to the end)."""

    specs: tuple[PathSpec, ...]
    start: str | None
    bars: int
    label: str


def resolve_inputs(
    paths: Sequence[str], example: str | None, params: ProtocolParams, start: str | None, bars: int | None
) -> Inputs:
    """Paths given as ``FEED=FILE`` or ``FILE``, or a built-in example (the default
    when no path is given); the example's window unless ``start``/``bars`` say otherwise."""
    feeds = list(params.feed_by_id)
    if paths and example:
        raise PricePathError("give price files or --example, not both")
    if not paths:
        name = example or DEFAULT_EXAMPLE
        if name not in EXAMPLES:
            raise PricePathError(f"unknown example {name!r} (examples: {', '.join(EXAMPLES)})")
        chosen = EXAMPLES[name]
        files = example_feeds(tuple(chosen.files), params)
        specs = tuple(
            PathSpec(files[feed], str(example_file(file)))
            for feed, file in chosen.files.items()
            if feed in files
        )
        return Inputs(specs, start or chosen.start, chosen.bars if bars is None else bars, name)
    specs_list = []
    for text in paths:
        feed, file = split_spec(text, feeds)
        specs_list.append(PathSpec(feed, file))
    if len({s.feed for s in specs_list}) != len(specs_list):
        raise PricePathError("one file per feed")
    label = "+".join(Path(s.file).stem for s in specs_list)
    return Inputs(tuple(specs_list), start, 0 if bars is None else bars, label)


def example_feeds(example: Sequence[str], params: ProtocolParams) -> dict[str, str]:
    """The feed of ``params`` each built-in path (named by the example's feed) drives:
    the feed of that id if the set has one; the others, in order, on the set's
    remaining feeds, those of perpetual markets first (a set that renames its
    feeds replays the same crash). A path left without a feed is not replayed."""
    ordered = [m.feed for m in params.markets if m.kind is MarketKind.PERPETUAL]
    ordered += [m.feed for m in params.markets] + list(params.feed_by_id)
    free = [f for f in dict.fromkeys(ordered) if f not in example]
    chosen = {feed: feed for feed in example if feed in params.feed_by_id}
    for feed, target in zip([f for f in example if f not in chosen], free, strict=False):
        chosen[feed] = target
    if not chosen:
        raise PricePathError("the parameter set has no feed for the built-in price paths")
    return chosen


def price_exponent(params: ProtocolParams, feed: str, config: SimConfig) -> int:
    """``quote_decimals + price_decimals - base_decimals``: a price in quote currency
    per coin times ``10**exponent`` is the feed price (see clearspec_tools.simulate.paths)."""
    return config.quote_decimals + params.feed_by_id[feed].price_decimals - config.base_decimals


def load_paths(inputs: Inputs, params: ProtocolParams, config: SimConfig) -> list[PricePath]:
    """Read every path and cut the window: ``bars`` bars of the first path from
    ``start``; the others over the same time span."""
    if inputs.bars < 0:
        raise PricePathError("--bars must not be negative")
    for spec in inputs.specs:
        if spec.feed not in params.feed_by_id:
            raise PricePathError(f"{spec.file}: feed {spec.feed} is not in the parameter set")
    paths = [
        read_path(s.file, s.feed, price_exponent(params, s.feed, config), config.max_bar_move)
        for s in inputs.specs
    ]
    primary = paths[0]
    try:
        start = primary.bars[0].time if inputs.start in (None, "first") else parse_time(inputs.start or "")
    except ValueError:
        raise PricePathError(
            f"--start: not an ISO 8601 time within 1970..2099: {(inputs.start or '')[:80]!r}"
        ) from None
    bars = [b for b in primary.bars if b.time >= start]
    if inputs.bars:
        bars = bars[: inputs.bars]
    if len(bars) < 1:
        raise PricePathError(f"{primary.source}: no bar at or after {(inputs.start or '')[:80]}")
    end = bars[-1].time + primary.spacing
    windowed = [p.window(bars[0].time, end) for p in paths]
    for path in windowed:
        if not path.bars:
            raise PricePathError(f"{path.source}: no bar in the replayed window")
    return windowed


def make_population(
    param_sets: Sequence[ProtocolParams],
    paths: Sequence[PricePath],
    accounts: int,
    seed: int,
    config: SimConfig,
    population: PopulationConfig | None = None,
) -> Population:
    """The seeded population, sized so that every parameter set accepts it."""
    if not 1 <= accounts <= MAX_ACCOUNTS:
        raise SimulationError(f"--accounts must be within 1..{MAX_ACCOUNTS:,}, got {accounts:,}")
    ledgers = [initial_ledger(p, paths) for p in param_sets]
    feeds = [p.feed for p in paths]
    return generate(accounts, seed, ledgers, feeds, population, config.quote_decimals)


def simulate(
    params: ProtocolParams,
    paths: Sequence[PricePath],
    population: Population,
    config: SimConfig,
    *,
    label: str = "",
    checks: Sequence[Check] | None = None,
    progress: Progress | None = None,
) -> SimResult:
    """One replay."""
    return Simulation(params, paths, population, config, checks=checks, progress=progress, label=label).run()


def write_outputs(result: SimResult, folder: Path, plots: bool = True) -> dict[str, Any]:
    """``report.json``, ``events.csv``, ``series.csv`` and the four PNG plots in ``folder``;
    returns the report (with the files it wrote)."""
    from clearspec_tools.simulate.report import report, write_csvs, write_report

    folder.mkdir(parents=True, exist_ok=True)
    files = [str(p) for p in write_csvs(result, folder)]
    if plots:
        from clearspec_tools.simulate.plots import run_plots

        files += [str(p) for p in run_plots(result, folder)]
    path = folder / "report.json"
    data = report(result, {"files": [*files, str(path)]})
    write_report(data, path)
    return data
