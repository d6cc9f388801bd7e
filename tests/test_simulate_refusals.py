"""A replay reports what happened (simulate, sweep): an action of the set-up or of
the price path that the model refuses fails the run, unless the user tolerates
refusals; then the report says "degraded", with the counts."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from clearspec.params import MAX_AMOUNT
from clearspec_tools.cli import main
from clearspec_tools.examples import example_params
from clearspec_tools.simulate.engine import SimConfig, SimResult
from clearspec_tools.simulate.report import report, table
from clearspec_tools.simulate.runner import load_paths, make_population, resolve_inputs, simulate

PARAMS = example_params()


def replay(tolerate: bool) -> SimResult:
    config = SimConfig(check_every=10, tolerate_refusals=tolerate)
    inputs = resolve_inputs([], None, PARAMS, None, 20)
    paths = load_paths(inputs, PARAMS, config)
    population = make_population([PARAMS], paths, 5, 1, config)
    first = population.accounts[0]
    # A deposit beyond MAX_AMOUNT: the model refuses it, so the account starts without it.
    broken = replace(first, deposits=((PARAMS.quote_asset, MAX_AMOUNT + 1),))
    population = replace(population, accounts=(broken, *population.accounts[1:]))
    return simulate(PARAMS, paths, population, config, label="refused")


@pytest.fixture(scope="module")
def strict() -> SimResult:
    return replay(tolerate=False)


def test_a_refused_setup_action_fails_the_run(strict: SimResult) -> None:
    # The deposit, then the account's opening trades (it was never opened).
    assert strict.refused == {"setup:AMOUNT_TOO_LARGE": 1, "setup:UNKNOWN_ACCOUNT": 2}
    assert not strict.checks.failures and strict.aborted is None  # every invariant held ...
    assert not strict.passed  # ... and still the replay did not happen as described
    data = report(strict)
    assert data["replay"] == {"status": "incomplete", "refused_total": 3, "refused_actions": strict.refused}
    text = table([data])
    assert "INCOMPLETE (3 refused)" in text
    assert (
        "FAILED: the replay did not happen: the model refused setup:AMOUNT_TOO_LARGE x1, "
        "setup:UNKNOWN_ACCOUNT x2" in text
    )
    assert "FAIL" in text.splitlines()[-2]  # the invariants row says FAIL, not PASS


def test_tolerated_refusals_pass_but_say_degraded_loudly() -> None:
    tolerated = replay(tolerate=True)
    assert tolerated.passed and tolerated.degraded
    data = report(tolerated)
    assert data["replay"]["status"] == "degraded" and data["replay"]["refused_total"] == 3
    text = table([data])
    assert "DEGRADED (3 refused)" in text and "DEGRADED (tolerated)" in text


def test_a_whole_replay_is_complete() -> None:
    config = SimConfig(check_every=10)
    inputs = resolve_inputs([], None, PARAMS, None, 20)
    paths = load_paths(inputs, PARAMS, config)
    result = simulate(PARAMS, paths, make_population([PARAMS], paths, 5, 1, config), config)
    assert result.passed and not result.degraded
    assert report(result)["replay"] == {"status": "complete", "refused_total": 0, "refused_actions": {}}


def test_the_command_fails_a_refused_replay_and_passes_a_tolerated_one_loudly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Prices at 0 quote decimals round the opening trades' price to 0: the model
    # refuses every one of them (it used to print PASS over an empty market).
    argv = ["simulate", "--accounts", "3", "--bars", "6", "--no-plots", "--quiet", "--quote-decimals", "0"]
    assert main([*argv, "--out", str(tmp_path / "a")]) == 1
    out = capsys.readouterr().out
    assert "INCOMPLETE (" in out and "FAILED: the replay did not happen" in out
    assert "setup:TRADE_NON_POSITIVE_PRICE" in out
    assert main([*argv, "--out", str(tmp_path / "b"), "--tolerate-refusals"]) == 0
    out = capsys.readouterr().out
    assert "DEGRADED (" in out and "DEGRADED (tolerated)" in out
    data = json.loads((tmp_path / "b" / "report.json").read_text())
    assert data["replay"]["status"] == "degraded" and data["replay"]["refused_total"] > 0
