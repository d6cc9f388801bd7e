"""PAR-5 on concrete parameter sets: Z3 verdicts, confirmed counterexamples, safe boundaries, the CLI.

Every counterexample the module reports is replayed here once more, independently
of its own ``confirmed`` flag: the test rebuilds the ledger, applies the signed
update through ``apply`` and reads ``account_risk``.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from clearspec.margin import account_risk
from clearspec.oracle import signature_valid, within_ppm
from clearspec.params import PPM, ProtocolParams
from clearspec.params_file import params_to_json
from clearspec.state import Ledger
from clearspec.transition import apply
from clearspec_proofs.safe_region import (
    SUBJECT,
    Counterexample,
    SafeRegionError,
    Verdict,
    _search,
    check_market,
    collateral_component,
    decide,
    minimal_safe,
    parameter,
    plot_grid,
    position_component,
    replay,
    replay_ledger,
    replay_params,
    replay_update,
    safe_grid,
    with_maintenance,
    with_maintenance_weight,
    with_max_deviation,
)
from clearspec_tools.cli import main
from clearspec_tools.examples import example_params, reporter_keys, signed_update

PARAMS = example_params()
BREAKER = PARAMS.oracle.max_deviation_ppm  # 250,000


def _covered(params: ProtocolParams = PARAMS) -> ProtocolParams:
    """Every market's maintenance raised to the breaker, every haircut too."""
    for market in params.market_by_id:
        params = with_maintenance(params, market, params.oracle.max_deviation_ppm)
    for asset in ("BTC", "ETH"):
        params = with_maintenance_weight(params, asset, PPM - params.oracle.max_deviation_ppm)
    return params


def _replays_to_negative(params: ProtocolParams, example: Counterexample | None) -> None:
    """The counterexample, rebuilt and applied here: at or above maintenance
    before, an accepted update, NC < 0 after."""
    assert example is not None
    assert within_ppm(example.price_after, example.price_before, params.oracle.max_deviation_ppm)
    # The caller's keys (the example reporters'), as a command line gives them.
    keys = [key for _, key in reporter_keys(len(params.oracle.reporters))]
    signing = replay_params(params, keys)
    ledger: Ledger = replay_ledger(signing, example)
    before = account_risk(ledger, ledger.accounts[SUBJECT])
    assert before.nc >= before.mmr > 0
    update = signed_update(
        example.feed,
        [example.price_after] * params.oracle.quorum,
        ledger.now,
        1,
        reporter_keys(len(params.oracle.reporters)),
    )
    after = apply(ledger, update)
    assert after.price(example.feed) == example.price_after
    assert account_risk(after, after.accounts[SUBJECT]).nc < 0
    assert example.confirmed and example.after.nc < 0


def test_par5_the_example_set_is_unsafe_with_a_confirmed_counterexample() -> None:
    report = check_market(PARAMS, "BTC-PERP")
    assert not report.premise_met and not report.collateral_premise_met
    assert report.min_maintenance_ppm == 30_000 and report.max_deviation_ppm == BREAKER
    assert report.position.status == "unsafe" and not report.safe and report.status == "unsafe"
    assert [(v.subject, v.status) for v in report.collateral] == [("collateral[BTC]", "unsafe")]
    assert report.account is None  # the combined query is only run once every part is safe
    _replays_to_negative(PARAMS, report.position.counterexample)
    _replays_to_negative(PARAMS, report.collateral[0].counterexample)


def test_the_replay_signs_with_the_callers_keys() -> None:
    # The prover holds no example keys: the caller's sign the replay's update,
    # and without any the replay derives its own; both confirm the same way.
    example = check_market(PARAMS, "BTC-PERP").position.counterexample
    assert example is not None
    keys = [key for _, key in reporter_keys(len(PARAMS.oracle.reporters))]
    signing = replay_params(PARAMS, keys)
    theirs = [key.public_key().public_bytes_raw() for key in keys]
    assert [public for _, public in signing.oracle.reporters] == theirs
    update = replay_update(PARAMS, example.feed, example.price_after, 0, keys)
    assert len(update.reports) == PARAMS.oracle.quorum
    public = dict(signing.oracle.reporters)
    assert all(signature_valid(public[r.reporter], r) for r in update.reports)
    own = replay_params(PARAMS)
    assert not any(signature_valid(dict(own.oracle.reporters)[r.reporter], r) for r in update.reports)
    given, derived = replay(PARAMS, example, keys), replay(PARAMS, example)
    assert given.confirmed and derived.confirmed and given.how == derived.how


def test_par5_maintenance_at_the_breaker_is_safe_and_so_is_the_whole_account() -> None:
    raised = with_maintenance(PARAMS, "BTC-PERP", BREAKER)
    assert all(t.maintenance_ppm >= BREAKER for t in raised.market_by_id["BTC-PERP"].tiers)
    assert decide(raised, position_component(raised, "BTC-PERP")).status == "safe"
    # BTC's 10% haircut still fails (spec: "does not extend to collateral"); with 25% it holds.
    assert decide(raised, collateral_component(raised, "BTC")).status == "unsafe"
    covered = _covered()
    report = check_market(covered, "BTC-DEC")
    assert report.premise_met and report.collateral_premise_met
    assert report.safe and report.account is not None and report.account.status == "safe"
    assert report.account.subject == "position[BTC-DEC] + collateral[BTC]"


def test_par5_minimal_safe_maintenance_is_safe_and_one_less_has_a_counterexample() -> None:
    bound = minimal_safe(PARAMS, "maintenance", market="ETH-PERP")
    assert bound.direction == "minimal" and bound.established
    assert bound.value == BREAKER  # PAR-5's premise is exactly the boundary
    assert bound.probes <= 25  # bisection over 1..PPM
    value = bound.value
    # Re-decided here, not read from the search.
    assert decide(with_maintenance(PARAMS, "ETH-PERP", value), position_component(PARAMS, "ETH-PERP")).safe
    below = with_maintenance(PARAMS, "ETH-PERP", value - 1)
    verdict = decide(below, position_component(below, "ETH-PERP"))
    assert verdict.status == "unsafe"
    _replays_to_negative(below, verdict.counterexample)
    assert bound.unsafe is not None and bound.unsafe.value == value - 1
    _replays_to_negative(below, bound.unsafe.verdict.counterexample)


def test_par5_maximal_safe_deviation_and_weight_search_the_other_direction() -> None:
    bound = minimal_safe(PARAMS, "max_deviation", market="BTC-PERP")
    assert bound.direction == "maximal" and bound.established
    assert bound.value == 30_000  # the smallest maintenance fraction binds before BTC's 10% haircut
    assert bound.unsafe is not None and bound.unsafe.value == 30_001
    _replays_to_negative(with_max_deviation(PARAMS, 30_001), bound.unsafe.verdict.counterexample)
    weight = minimal_safe(_covered(), "maintenance_weight", asset="ETH")
    assert weight.value == PPM - BREAKER and weight.established
    assert weight.unsafe is not None and weight.unsafe.value == PPM - BREAKER + 1


def test_par5_unknown_is_not_safe() -> None:
    covered = _covered()
    verdict = decide(covered, position_component(covered, "BTC-PERP"), rlimit=1)
    assert verdict.status == "unknown" and not verdict.safe and "not safe" in verdict.detail


def test_par5_replay_refuses_what_is_not_a_counterexample() -> None:
    example = decide(PARAMS, position_component(PARAMS, "ETH-PERP")).counterexample
    assert example is not None and example.confirmed
    # The same account after a move the breaker refuses, and after a harmless one.
    too_far = Counterexample(**{**vars(example), "price_after": example.price_before // 2})
    harmless = Counterexample(**{**vars(example), "price_after": example.price_before + 1})
    refused, kept = replay(PARAMS, too_far), replay(PARAMS, harmless)
    assert not refused.confirmed and "ORACLE_CIRCUIT_BREAKER" in refused.how
    assert not kept.confirmed and kept.after.nc >= 0


@pytest.mark.parametrize("guess", [None, 1, 122_999, 123_456, 123_457, 999_999, PPM, PPM + 5])
@pytest.mark.parametrize("side", ["minimal", "maximal"])
def test_par5_bisection_finds_the_boundary_whatever_the_first_pivot(guess: int | None, side: str) -> None:
    """The search alone, on a monotone predicate: the guess saves probes, never changes the answer."""
    kind = replace(parameter("maintenance"), safe_side=side)
    calls: list[int] = []

    def probe(value: int, _: str) -> Verdict:
        calls.append(value)
        safe = value >= 123_456 if side == "minimal" else value <= 123_456
        return Verdict("fake", "safe" if safe else "unsafe", "", 0.0)

    bound = _search(kind, "fake", 0, probe, guess)
    assert bound.value == 123_456 and bound.safe is not None and bound.safe.verdict.safe
    assert bound.unsafe is not None and bound.unsafe.value == (123_455 if side == "minimal" else 123_457)
    assert bound.probes == len(set(calls)) <= 24
    if guess == 123_456:
        assert bound.probes == 2


def test_par5_plain_bisection_agrees_with_the_guided_search() -> None:
    guided = minimal_safe(PARAMS, "maintenance_weight", asset="ETH", guess=True)
    plain = minimal_safe(PARAMS, "maintenance_weight", asset="ETH", guess=False)
    assert guided.value == plain.value == PPM - BREAKER and guided.established and plain.established
    assert guided.probes == 2 < plain.probes and plain.guess is None


def test_par5_bad_names_are_clear_errors() -> None:
    with pytest.raises(SafeRegionError, match="unknown parameter 'leverage'"):
        parameter("leverage")
    assert parameter("max_deviation_ppm").name == "max_deviation"
    with pytest.raises(SafeRegionError, match="needs a market"):
        minimal_safe(PARAMS, "maintenance")
    with pytest.raises(SafeRegionError, match="unknown market 'DOGE-PERP'"):
        minimal_safe(PARAMS, "maintenance", market="DOGE-PERP")
    with pytest.raises(SafeRegionError, match="quote asset has no feed"):
        minimal_safe(PARAMS, "maintenance_weight", asset="USDC")


def test_par5_grid_matches_the_theorem_and_plots(tmp_path: Path) -> None:
    grid = safe_grid(PARAMS, market="BTC-PERP", points=3, x_max=200_000, y_max=200_000)
    assert grid.xs == (0, 100_000, 200_000) and grid.ys == (1, 100_000, 200_000)
    for j, y in enumerate(grid.ys):
        for i, x in enumerate(grid.xs):
            position_fails, collateral_fails = y < x, x > 100_000  # BTC's haircut is 10 %
            expected = {
                (False, False): "safe",
                (True, False): "position",
                (False, True): "collateral",
                (True, True): "both",
            }[(position_fails, collateral_fails)]
            assert grid.cells[j][i] == expected, (x, y)
    path = plot_grid(grid, tmp_path / "region.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_par5_cli_check_json_and_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["params", "check", "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert not report["safe"] and report["maximal_safe_max_deviation_ppm"] == 30_000
    rows = {m["market"]: m for m in report["markets"]}
    assert set(rows) == {"BTC-PERP", "ETH-PERP", "BTC-DEC"}
    assert all(not m["premise_met"] and m["status"] == "unsafe" for m in rows.values())
    assert rows["BTC-PERP"]["minimal_safe_maintenance_ppm"] == BREAKER
    example = rows["BTC-PERP"]["position"]["counterexample"]
    assert example["confirmed"] and int(example["after"]["nc"]) < 0
    assert {a["asset"]: a["maximal_safe_maintenance_weight_ppm"] for a in report["assets"]} == {
        "BTC": 750_000,
        "ETH": 750_000,
    }
    assert main(["params", "check"]) == 1
    text = capsys.readouterr().out
    assert "NOT SAFE" in text and "counterexample: position[ETH-PERP]" in text and "NC - MMR" in text
    safe_file = tmp_path / "covered.json"
    safe_file.write_text(json.dumps(params_to_json(_covered())))
    assert main(["params", "check", "--params", str(safe_file)]) == 0
    assert "SAFE: every market proved" in capsys.readouterr().out
    assert main(["params", "check", "--params", str(tmp_path / "missing.json")]) == 2


def test_par5_cli_safe(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["params", "safe", "--param", "maintenance", "--market", "BTC-PERP", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    boundary = data["boundary"]
    assert boundary["value"] == BREAKER and boundary["established"] and boundary["current"] == 30_000
    assert boundary["first_unsafe"]["value"] == BREAKER - 1
    assert boundary["first_unsafe"]["counterexample"]["confirmed"]
    plot = tmp_path / "weight.png"
    argv = ["params", "safe", "--param", "maintenance_weight", "--asset", "BTC", "--plot", str(plot)]
    assert main([*argv, "--grid", "2", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "maximal safe value: 750,000 ppm" in out and "before" in out and "after" in out
    assert plot.read_bytes()[:4] == b"\x89PNG"
    assert main(["params", "safe", "--param", "leverage"]) == 2
    assert "unknown parameter 'leverage'" in capsys.readouterr().err
    assert main(["params", "safe", "--param", "maintenance"]) == 2
    assert main(["params", "safe", "--param", "max_deviation", "--plot", str(plot)]) == 2
    assert "needs --market or --asset" in capsys.readouterr().err
