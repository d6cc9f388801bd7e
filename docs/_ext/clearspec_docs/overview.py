"""Figures and tables computed from the model when the site is built.

* ``account-life.png`` and ``{account-story}``: the built-in crash scenario
  (``clearspec example --scenario crash``) step by step, with the net collateral
  and requirements of the two leveraged accounts after every step;
* ``proof-times.png``: the solver time of the proof report, per transition.

Nothing here is typed in by hand: change the model and the pages change.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from docutils import nodes  # type: ignore[import-untyped]
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective

from clearspec_docs.catalog import Catalog
from clearspec_docs.htmlnodes import badge

WATCHED = ("erin", "alice")
KIND_COLOURS = {
    "inductive": "#3b6ea8",
    "contract": "#d08c2d",
    "delta-sum": "#5a9a5a",
    "frame": "#8a6bb0",
    "acceptance": "#9a9a9a",
    "rejection": "#4f9fa8",
    "lemma": "#b5534f",
    "theorem": "#b5534f",
}


@dataclass(frozen=True)
class Step:
    number: int
    label: str  # short, for the plot's axis
    action: str  # the model's own description
    error: str | None
    risks: dict[str, tuple[int, int, int]]  # account -> (NC, IMR, MMR)
    states: dict[str, str]
    names: frozenset[str]  # the accounts the action names


def account_state(nc: int, imr: int, mmr: int) -> str:
    """The names the overview uses, by MRG-3 and MRG-6."""
    from clearspec.margin import Risk, is_liquidatable, meets_initial

    risk = Risk(nc, imr, mmr)
    if nc < 0:
        return "negative NC"
    if mmr == 0 and imr == 0:
        return "no position"
    if is_liquidatable(risk):
        return "liquidatable"
    if meets_initial(risk):
        return "healthy"
    return "below initial"


def _short(action: Any, described: str) -> str:
    from clearspec.actions import Deposit, OracleUpdate

    name = type(action).__name__
    if isinstance(action, OracleUpdate):
        prices = sorted(r.price for r in action.reports)
        median = prices[(len(prices) - 1) // 2]
        return f"{action.feed.split('-')[0]} ${median // 10**6 * 100 // 100:,}"
    if isinstance(action, Deposit):
        return f"deposit {action.account}"
    words = {
        "SettleTrades": "trade",
        "FundInsurance": "fund",
        "PremiumSample": "premium",
        "ApplyFunding": "funding",
        "Liquidate": f"liquidate {getattr(action, 'liquidated', '')}",
        "Deleverage": f"deleverage {getattr(action, 'account', '')}",
        "Withdraw": f"withdraw {getattr(action, 'account', '')}",
        "Transfer": "transfer",
    }
    return words.get(name, described.split(" ")[0])


def vars_of(action: Any) -> list[Any]:
    """The field values of an action (a frozen dataclass with slots)."""
    import dataclasses

    return [getattr(action, f.name) for f in dataclasses.fields(action)]


def crash_story() -> list[Step]:
    """Every step of the crash scenario except clock moves, with the watched accounts' risk."""
    from clearspec.actions import AdvanceTime, OracleUpdate
    from clearspec.margin import account_risk
    from clearspec.render import describe
    from clearspec.transition import step
    from clearspec_tools.examples import crash_scenario, example_genesis, usd_price

    ledger = example_genesis()
    steps: list[Step] = []
    for action in crash_scenario():
        outcome = step(ledger, action)
        ledger = outcome.ledger
        if isinstance(action, AdvanceTime):
            continue
        risks: dict[str, tuple[int, int, int]] = {}
        states: dict[str, str] = {}
        for name in WATCHED:
            if name in ledger.accounts:
                risk = account_risk(ledger, ledger.accounts[name])
                risks[name] = (risk.nc, risk.imr, risk.mmr)
                states[name] = account_state(risk.nc, risk.imr, risk.mmr)
        described = describe(action)
        label = _short(action, described)
        if isinstance(action, OracleUpdate):
            prices = sorted(r.price for r in action.reports)
            dollars = prices[(len(prices) - 1) // 2] * 1 // usd_price(1)
            label = f"{action.feed.split('-')[0]} ${dollars:,}"
        error = outcome.error.value if outcome.error is not None else None
        named = frozenset(v for v in vars_of(action) if isinstance(v, str))
        steps.append(Step(len(steps) + 1, label, described, error, risks, states, named))
    return steps


def dollars(base_units: int) -> str:
    """USDC base units as dollars, for people (never used in the protocol)."""
    sign = "\N{MINUS SIGN}" if base_units < 0 else ""
    cents = abs(base_units) // 10_000
    return f"{sign}${cents // 100:,}.{cents % 100:02d}"


def _plot_story(steps: list[Step], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(WATCHED), 1, figsize=(8, 7.2), sharex=True)
    xs = [s.number for s in steps]
    for ax, name in zip(axes, WATCHED, strict=True):
        nc = [s.risks.get(name, (0, 0, 0))[0] / 1e6 for s in steps]
        imr = [s.risks.get(name, (0, 0, 0))[1] / 1e6 for s in steps]
        mmr = [s.risks.get(name, (0, 0, 0))[2] / 1e6 for s in steps]
        ax.step(xs, imr, where="post", color="#d08c2d", linewidth=1.6, label="initial requirement (IMR)")
        ax.step(xs, mmr, where="post", color="#b5534f", linewidth=1.6, label="maintenance requirement (MMR)")
        ax.plot(xs, nc, marker="o", markersize=4, color="#3b6ea8", linewidth=2.2, label="net collateral (NC)")
        for s in steps:
            if s.states.get(name) in ("liquidatable", "negative NC"):
                ax.axvspan(s.number - 0.5, s.number + 0.5, color="#b5534f", alpha=0.12, linewidth=0)
        rejected = [s for s in steps if s.error is not None and name in s.names]
        ax.plot(
            [s.number for s in rejected],
            [s.risks.get(name, (0, 0, 0))[0] / 1e6 for s in rejected],
            linestyle="none",
            marker="x",
            markersize=9,
            markeredgewidth=2,
            color="#7a2e2b",
            label="a rejected action",
        )
        ax.axhline(0, color="#444", linewidth=0.8)
        ax.set_title(f"{name}: long 0.1 BTC bought at $60,000", fontsize=11, loc="left")
        ax.set_ylabel("USDC", fontsize=10)
        ax.tick_params(axis="y", labelsize=9)
        ax.grid(axis="y", color="#ddd", linewidth=0.6)
        ax.set_xlim(0.5, len(steps) + 0.5)
    axes[0].legend(loc="upper right", fontsize=8.5, frameon=False)
    axes[-1].set_xticks(xs)
    axes[-1].set_xticklabels([s.label for s in steps], rotation=55, ha="right", fontsize=9)
    fig.suptitle(
        "Net collateral against the requirements after each step (shaded: liquidatable or negative)",
        fontsize=10.5,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=150)
    plt.close(fig)


def _plot_proof_times(catalog: Catalog, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    assert catalog.prove is not None
    seconds: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for ob in catalog.prove.obligations:
        seconds[ob.transition][ob.kind] += ob.seconds
    names = sorted(seconds, key=lambda t: sum(seconds[t].values()))
    present = {k for t in names for k in seconds[t]}
    kinds = [k for k in KIND_COLOURS if k in present] + sorted(present - set(KIND_COLOURS))
    spare = iter(["#6f7782", "#a0a7b0", "#c2b280", "#7fa37f"] * 4)
    colours = {k: KIND_COLOURS.get(k) or next(spare) for k in kinds}
    fig, ax = plt.subplots(figsize=(7.5, 0.2 * len(names) + 1.1))
    left = [0.0] * len(names)
    for kind in kinds:
        values = [seconds[t].get(kind, 0.0) for t in names]
        ax.barh(names, values, left=left, color=colours[kind], label=kind, height=0.7)
        left = [a + b for a, b in zip(left, values, strict=True)]
    ax.set_xlabel("solver seconds (sum over the transition's obligations)", fontsize=9)
    ax.tick_params(axis="both", labelsize=8)
    ax.grid(axis="x", color="#ddd", linewidth=0.6)
    ax.legend(loc="lower right", fontsize=8, frameon=False, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=160)
    plt.close(fig)


def draw_figures(catalog: Catalog, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    _plot_story(crash_story(), folder / "account-life.png")
    times = folder / "proof-times.png"
    if catalog.prove is not None and catalog.prove.obligations:
        _plot_proof_times(catalog, times)
    elif times.exists():
        times.unlink()


class AccountStory(SphinxDirective):
    """``{account-story}``: the crash scenario as a table, computed when the site is built."""

    has_content = False

    def run(self) -> list[Any]:
        from clearspec_docs.report import table

        steps = crash_story()
        rows: list[Any] = []
        for s in steps:
            result: list[Any] = (
                [badge("counterexample", s.error)] if s.error else [badge("proved", "accepted")]
            )
            cells: list[Any] = [str(s.number), s.action, result]
            for name in WATCHED:
                if name in s.risks:
                    nc, _, mmr = s.risks[name]
                    state = s.states[name]
                    cls = {"healthy": "proved", "no position": "neutral", "below initial": "unknown"}.get(
                        state, "counterexample"
                    )
                    cells.append([nodes.Text(f"{dollars(nc)} / {dollars(mmr)} "), badge(cls, state)])
                else:
                    cells.append("—")
            rows.append(cells)
        headers = ["#", "action", "result", *[f"{n}: NC / MMR" for n in WATCHED]]
        return [table(headers, rows, [4, 44, 12, 20, 20], classes=("cs-wide", "cs-story"))]


def setup(app: Sphinx) -> None:
    app.add_directive("account-story", AccountStory)
