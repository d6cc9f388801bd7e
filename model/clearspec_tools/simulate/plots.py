"""PNG plots of a replay, a comparison and a sweep (matplotlib, Agg backend).

Floats appear only here and in tables: every figure is computed in integers by
the model and converted for drawing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.axes import Axes

from clearspec_tools.simulate.engine import SimResult
from clearspec_tools.simulate.paths import format_time


def _hours(result: SimResult, seconds: Sequence[int]) -> list[float]:
    """Times as hours since the first bar replayed (the x axis of every plot)."""
    return [(s - result.start_time) / 3600 for s in seconds]


def _quote(result: SimResult, values: Sequence[int]) -> list[float]:
    unit = 10**result.config.quote_decimals
    return [v / unit for v in values]


def _coins(result: SimResult, values: Sequence[int]) -> list[float]:
    unit = 10**result.config.base_decimals
    return [v / unit for v in values]


def _time_axis(axes: Axes, result: SimResult) -> None:
    axes.set_xlabel(f"hours since {format_time(result.start_time)}")
    axes.grid(True, alpha=0.3)


def _save(figure: Any, path: Path) -> Path:
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def price_plot(result: SimResult, path: Path) -> Path:
    """Each feed's price with a marker per liquidation (long: down, short: up) and
    per deleveraging (x)."""
    feeds = [p for p in result.paths]
    figure, axes_list = plt.subplots(len(feeds), 1, figsize=(11, 3.6 * len(feeds)), squeeze=False)
    times = _hours(result, result.series.time)
    for axes, path_ in zip([a[0] for a in axes_list], feeds, strict=True):
        feed = path_.feed
        axes.plot(times, [path_.to_float(p) for p in result.series.prices[feed]], lw=0.9, color="0.25")
        markets = {m.market_id for m in result.params.markets if m.feed == feed}
        for kind, side, marker, color, label in (
            ("liquidation", 1, "v", "tab:red", "long liquidated"),
            ("liquidation", -1, "^", "tab:green", "short liquidated"),
            ("deleverage", 0, "x", "black", "deleveraged"),
        ):
            events = [
                e
                for e in result.events
                if e.kind == kind and e.market in markets and (side == 0 or (e.size > 0) == (side > 0))
            ]
            if events:
                axes.scatter(
                    [e.time / 3600 for e in events],
                    [path_.to_float(e.oracle) for e in events],
                    marker=marker,
                    s=14,
                    color=color,
                    alpha=0.6,
                    label=f"{label} ({len(events)})",
                    zorder=3,
                )
        axes.set_title(f"{feed} ({path_.source})")
        axes.set_ylabel("price")
        _time_axis(axes, result)
        if axes.get_legend_handles_labels()[0]:
            axes.legend(loc="best", fontsize=8)
    return _save(figure, path)


def fund_plot(result: SimResult, path: Path) -> Path:
    """The insurance fund over time, its minimum marked, with cumulative bad debt."""
    figure, axes = plt.subplots(figsize=(11, 4))
    times = _hours(result, result.series.time)
    fund = _quote(result, result.series.fund)
    axes.plot(times, fund, color="tab:blue", label="insurance fund")
    bad_debt = _quote(result, result.series.bad_debt)
    axes.plot(times, bad_debt, color="tab:red", ls="--", label="cumulative bad debt")
    if fund:
        low = min(range(len(fund)), key=lambda i: fund[i])
        axes.scatter([times[low]], [fund[low]], color="tab:blue", zorder=3)
        axes.annotate(
            f"min {fund[low]:,.0f}", (times[low], fund[low]), textcoords="offset points", xytext=(5, -12)
        )
    axes.set_ylabel("quote currency")
    axes.set_title("Insurance fund")
    _time_axis(axes, result)
    axes.legend(loc="best", fontsize=8)
    return _save(figure, path)


def open_interest_plot(result: SimResult, path: Path) -> Path:
    """Open interest of each traded market (coins)."""
    figure, axes = plt.subplots(figsize=(11, 4))
    times = _hours(result, result.series.time)
    for market, values in sorted(result.series.open_interest.items()):
        axes.plot(times, _coins(result, values), label=market)
    axes.set_ylabel("open interest (coins)")
    axes.set_title("Open interest")
    _time_axis(axes, result)
    axes.legend(loc="best", fontsize=8)
    return _save(figure, path)


def deleveraging_plot(result: SimResult, path: Path) -> Path:
    """Cumulative liquidations and deleveraging events, and the deficit passed on."""
    figure, left = plt.subplots(figsize=(11, 4))
    times = _hours(result, result.series.time)
    left.plot(times, result.series.liquidations, color="tab:orange", label="liquidations (cumulative)")
    left.plot(times, result.series.deleverages, color="black", label="deleveraging events (cumulative)")
    left.set_ylabel("events")
    right = left.twinx()
    passed: list[int] = []
    total = 0
    events = sorted((e.time, e.passed_on) for e in result.events if e.kind == "deleverage")
    cursor = 0
    for moment in result.series.time:
        while cursor < len(events) and result.start_time + events[cursor][0] < moment + 1:
            total += events[cursor][1]
            cursor += 1
        passed.append(total)
    right.plot(
        times, _quote(result, passed), color="tab:purple", ls=":", label="deficit passed to counterparties"
    )
    right.set_ylabel("quote currency")
    title = "Deleveraging" if result.totals.get("deleverages") else "Deleveraging (none in this run)"
    left.set_title(title)
    _time_axis(left, result)
    handles = left.get_legend_handles_labels()[0] + right.get_legend_handles_labels()[0]
    labels = left.get_legend_handles_labels()[1] + right.get_legend_handles_labels()[1]
    left.legend(handles, labels, loc="upper left", fontsize=8)
    return _save(figure, path)


def run_plots(result: SimResult, folder: Path) -> list[Path]:
    """The four plots of one replay."""
    folder.mkdir(parents=True, exist_ok=True)
    return [
        price_plot(result, folder / "price.png"),
        fund_plot(result, folder / "insurance_fund.png"),
        open_interest_plot(result, folder / "open_interest.png"),
        deleveraging_plot(result, folder / "deleveraging.png"),
    ]


def compare_plot(results: Sequence[SimResult], path: Path) -> Path:
    """Two or more replays of the same path and population, overlaid."""
    figure, grid = plt.subplots(2, 2, figsize=(12, 7))
    panels: list[tuple[Axes, str, Callable[[SimResult], list[float]]]] = [
        (grid[0][0], "insurance fund", lambda r: _quote(r, r.series.fund)),
        (grid[0][1], "liquidations (cumulative)", lambda r: [float(n) for n in r.series.liquidations]),
        (grid[1][0], "bad debt (cumulative)", lambda r: _quote(r, r.series.bad_debt)),
        (
            grid[1][1],
            "open interest, all markets (coins)",
            lambda r: _coins(r, [sum(v) for v in zip(*r.series.open_interest.values(), strict=True)]),
        ),
    ]
    for axes, title, values in panels:
        for result in results:
            axes.plot(_hours(result, result.series.time), values(result), label=result.label)
        axes.set_title(title)
        _time_axis(axes, results[0])
        axes.legend(loc="best", fontsize=8)
    return _save(figure, path)


def sweep_plot(rows: Sequence[dict[str, Any]], axes_names: Sequence[str], metric: str, path: Path) -> Path:
    """``metric`` (mean over seeds) against the first axis, one line per value of the others."""
    figure, axes = plt.subplots(figsize=(9, 5))
    first = axes_names[0]
    groups: dict[tuple[str, ...], dict[float, list[float]]] = {}
    for row in rows:
        key = tuple(str(row["axes"][a]) for a in axes_names[1:])
        x = float(row["axes"][first])
        groups.setdefault(key, {}).setdefault(x, []).append(float(row[metric]))
    for key, points in sorted(groups.items()):
        xs = sorted(points)
        ys = [sum(points[x]) / len(points[x]) for x in xs]
        label = ", ".join(f"{a}={v}" for a, v in zip(axes_names[1:], key, strict=True)) or metric
        axes.plot(xs, ys, marker="o", label=label)
    axes.set_xlabel(first)
    axes.set_ylabel(metric.replace("_", " "))
    axes.set_title(f"{metric.replace('_', ' ')} against {first}")
    axes.grid(True, alpha=0.3)
    axes.legend(loc="best", fontsize=8)
    return _save(figure, path)
