"""The crash replay with borrowers (guides/simulate.md; spec CLQ-*): accounts that
hold a coin and borrow quote against it, and the policy that liquidates their
collateral. The same replay without the policy leaves more bad debt.

A synthetic BTC path falls by more than half in steady 2 % bars of ten minutes
(within the circuit breakers, ORA-9, ORA-10), so every borrower crosses
maintenance on the way down and the policy reaches it before its NC is
negative; without it the borrowers' debts outgrow their coins.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from clearspec import invariants
from clearspec_tools.cli import main
from clearspec_tools.examples import example_params
from clearspec_tools.simulate.engine import SimConfig, SimResult, Simulation
from clearspec_tools.simulate.paths import PricePath
from clearspec_tools.simulate.population import PopulationConfig
from clearspec_tools.simulate.runner import Inputs, PathSpec, load_paths, make_population

PARAMS = example_params()
CONFIG = SimConfig(check_every=1)
HEADER = "timestamp_utc,open,high,low,close,volume\n"


@pytest.fixture(autouse=True)
def _replay_checks_instead_of_slow_mode() -> Iterator[None]:
    previous = invariants.slow_checks()
    invariants.set_slow_checks(False)
    yield
    invariants.set_slow_checks(previous)


def slide_csv(folder: Path, bars: int = 40) -> Path:
    """BTC from 60,000 USD down 2 % every ten minutes."""
    rows = []
    price = 60_000
    for bar in range(bars):
        low = price * 98 // 100
        when = f"2024-01-01T{bar // 6:02d}:{bar % 6 * 10:02d}:00Z"
        rows.append(f"{when},{price},{price},{low},{low},1\n")
        price = low
    path = folder / "slide_BTCUSDT_1m.csv"
    path.write_text(HEADER + "".join(rows))
    return path


def slide_paths(folder: Path) -> list[PricePath]:
    inputs = Inputs((PathSpec("BTC-USD", str(slide_csv(folder))),), None, 0, "slide")
    return load_paths(inputs, PARAMS, CONFIG)


def replay(paths: list[PricePath], config: SimConfig) -> SimResult:
    population = make_population([PARAMS], paths, 5, 3, config, PopulationConfig(borrowers=30))
    return Simulation(PARAMS, paths, population, config).run()


def test_borrowers_are_drawn_apart_from_the_other_accounts(tmp_path: Path) -> None:
    paths = slide_paths(tmp_path)
    plain = make_population([PARAMS], paths, 5, 3, CONFIG)
    mixed = make_population([PARAMS], paths, 5, 3, CONFIG, PopulationConfig(borrowers=30))
    assert mixed.accounts[:5] == plain.accounts  # the same accounts, borrowers added after
    borrowers = mixed.accounts[5:]
    assert len(borrowers) == 30 and mixed.stats()["borrowers"] == 30
    assert all(b.debt > 0 and not b.positions and len(b.deposits) == 1 for b in borrowers)


def test_collateral_liquidation_leaves_less_bad_debt(tmp_path: Path) -> None:
    paths = slide_paths(tmp_path)
    with_policy = replay(paths, CONFIG)
    without = replay(paths, replace(CONFIG, collateral_liquidation=False))
    for result in (with_policy, without):
        assert result.passed, result.checks.failures
        assert result.totals["loans"] == 30 and result.totals["setup_refused"] == 0
    assert with_policy.totals["collateral_liquidations"] >= 30
    assert with_policy.totals["collateral_liquidation_fees"] > 0
    assert with_policy.actions["liquidate_collateral"] == with_policy.totals["collateral_liquidations"]
    events = [e for e in with_policy.events if e.kind == "collateral_liquidation"]
    liquidated = {e.account for e in events}
    assert liquidated >= {f"borrow-{i:05d}" for i in range(30)}
    # A trader whose positions were liquidated first (CLQ-2) and who is left with a
    # coin and a debt is liquidated through the coin too.
    for name in liquidated - {f"borrow-{i:05d}" for i in range(30)}:
        assert (
            name in with_policy.liquidated_accounts and not with_policy.final_ledger.accounts[name].positions
        )
    assert without.totals["collateral_liquidations"] == 0
    assert without.totals["bad_debt"] > 0
    assert with_policy.totals["bad_debt"] < without.totals["bad_debt"]


def test_the_cli_compares_with_and_without(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    argv = [
        "simulate",
        str(slide_csv(tmp_path)),
        "--accounts",
        "5",
        "--borrowers",
        "20",
        "--seed",
        "3",
        "--compare-collateral-liquidation",
        "--no-plots",
        "--quiet",
        "--out",
        str(out),
    ]
    assert main(argv) == 0
    runs = json.loads((out / "compare.json").read_text())["runs"]
    assert [r["label"] for r in runs] == ["with-collateral-liquidation", "without-collateral-liquidation"]
    with_policy, without = (r["summary"] for r in runs)
    assert (
        with_policy["collateral_liquidations"]["events"] > 0 == without["collateral_liquidations"]["events"]
    )
    assert float(with_policy["bad_debt"]["total"]) < float(without["bad_debt"]["total"])
    assert "collateral liquidations" in capsys.readouterr().out


def test_one_comparison_at_a_time(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["simulate", "--compare", "example", "example", "--compare-collateral-liquidation", "--quiet"]
    assert main([*argv, "--out", str(tmp_path / "out")]) == 2
    assert "one comparison at a time" in capsys.readouterr().err
