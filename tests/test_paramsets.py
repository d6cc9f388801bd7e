"""The prover takes any valid parameter set (spec: proofs.md, "The world of a
parameter set"): the shipped sets of ``clearspec_proofs/paramsets`` each build
a world and trace every applicable transition, a narrow ``clearspec prove`` of
each is proved from the command line, a set that lacks a kind of market or
asset reports the transitions that need it ``not applicable``, and a malformed
or unsupported set exits 2 naming the field."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import z3

from clearspec import kernel as k
from clearspec import trading
from clearspec.errors import ClearingError, ErrorCode
from clearspec.params import MAX_AMOUNT, DeficitPolicy, MarketKind, ProtocolParams, revise
from clearspec.params_file import load_params, params_to_json
from clearspec_proofs.engine import check_case, trace_case
from clearspec_proofs.roles import Role, resolve, witness_price
from clearspec_proofs.runner import not_applicable, units
from clearspec_proofs.safe_region import counterexample_table, decide, position_component
from clearspec_proofs.status import Status
from clearspec_proofs.transitions import CASES, TransitionCase
from clearspec_tools.cli import main
from clearspec_tools.examples import example_params

SETS = Path(__file__).resolve().parents[1] / "proofs" / "clearspec_proofs" / "paramsets"
NAMES = ("renamed", "three-perps", "quote-only", "decimals", "oi-caps")
# What each set lacks, so which transitions are not applicable there.
NOT_APPLICABLE_IN = {
    "renamed": set(),
    "three-perps": {
        "settle-expiry",
        "settle-expiry-fixed",
        "withdraw-settled",
        "settle-expiry-keeps-perp",
        "trade-dated",
    },
    "quote-only": {
        "deposit-collateral",
        "withdraw-collateral",
        "liquidate-collateral",
        "liquidate-collateral-positions",
        "trade-two-markets",
    },
    "decimals": {
        "deleverage",
        "deleverage-two",
        "deleverage-two-reversed",
        "deleverage-leftover",
        "trade-two-markets",
    },
    "oi-caps": set(),
}
EXAMPLE_IDS = ("USDC", "BTC-PERP", "ETH-PERP", "BTC-DEC", "BTC-USD", "ETH-USD", "reporter-")


def _load(name: str) -> ProtocolParams:
    return load_params(SETS / f"{name}.json")


def _case(name: str) -> TransitionCase:
    return next(c for c in CASES if c.name == name)


def _ids(params: ProtocolParams) -> set[str]:
    return {
        params.quote_asset,
        *params.asset_by_id,
        *params.feed_by_id,
        *params.market_by_id,
        *(name for name, _ in params.oracle.reporters),
    }


def test_the_sets_are_differently_shaped() -> None:
    renamed, three, quote_only, decimals, oi_caps = (_load(n) for n in NAMES)
    assert not _ids(renamed) & _ids(example_params())  # every id renamed
    perpetuals = [m for m in three.markets if m.kind is MarketKind.PERPETUAL]
    assert len(perpetuals) == 3 and len({m.feed for m in perpetuals}) == 3
    assert [a.asset_id for a in quote_only.assets] == [quote_only.quote_asset]
    # A 2-decimal quote and an 18-decimal base: one coin is 10**18 base units and
    # a feed price P means P / 10**18 cents per base unit.
    market = decimals.markets[0]
    assert decimals.feed_by_id[market.feed].price_decimals == 18 and market.tiers[0].up_to_size == 10**18
    # MRG-7: BTC-PERP scales its initial margin between 50 and 100 coins of open
    # interest, ETH-PERP steps to the whole notional at 1,000 coins (equal caps).
    caps = {m.market_id: (m.open_interest_lower_cap, m.open_interest_upper_cap) for m in oi_caps.markets}
    assert caps == {
        "BTC-PERP": (50 * 10**8, 100 * 10**8),
        "ETH-PERP": (1_000 * 10**8, 1_000 * 10**8),
        "BTC-DEC": (None, None),
    }


@pytest.mark.parametrize("name", NAMES)
def test_every_applicable_case_traces_on_the_sets_own_ids(name: str) -> None:
    """The world is built from the set and every applicable case runs through the
    model (no solving); a case that is not applicable says why."""
    params = _load(name)
    roles = resolve(params)
    ids = _ids(params)
    skipped = set()
    for case in CASES:
        reason = case.not_applicable(params)
        if reason is not None:
            skipped.add(case.name)
            assert reason.startswith("the parameter set has no ")
            continue
        try:
            world, _, trace = trace_case(case, params)
        except ClearingError as error:
            assert error.code is case.rejects  # refused before any symbolic check
            continue
        assert set(world.shape.markets) | set(world.shape.collateral) <= ids
        assert set(world.ledger.accounts["a0"].balances) <= ids
        assert set(world.ledger.prices) == set(params.feed_by_id)
        if name == "renamed":  # no id of the example set is left in the action
            assert not [i for i in EXAMPLE_IDS if i in str(world.action)], world.action
        assert trace.guards or case.name == "cover-bad-debt"
        if case.name == "oracle-update":
            assert [r.reporter for r in world.action.reports] == list(roles.reporters)
    assert skipped == NOT_APPLICABLE_IN[name]


@pytest.mark.parametrize("name", NAMES)
def test_witness_prices_are_on_every_tick_of_their_feed_and_within_bounds(name: str) -> None:
    params = _load(name)
    for feed, price in resolve(params).witness_prices.items():
        assert 1 <= price <= MAX_AMOUNT
        assert all(price % m.tick_size == 0 for m in params.markets if m.feed == feed)


def _prove(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "clearspec_tools.cli", "prove", "--json", "--quiet", "--workers", "1", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.parametrize("name", NAMES)
def test_a_narrow_prove_of_each_set_is_proved_from_the_command_line(name: str, tmp_path: Path) -> None:
    params = _load(name)
    for only in ("deposit", "oracle-update"):
        done = _prove(
            "--params", str(SETS / f"{name}.json"), "--only", only, "--counterexamples", str(tmp_path)
        )
        assert done.returncode == 0, done.stderr[-2000:]
        assert "Traceback" not in done.stderr
        report = json.loads(done.stdout)
        statuses = {o["status"] for o in report["obligations"]}
        assert statuses <= {Status.PROVED, Status.NOT_APPLICABLE}
        proved = [o for o in report["obligations"] if o["status"] == "proved"]
        assert proved and all(
            o["detail"].startswith("non-vacuous") for o in proved if o["kind"] != "rejection"
        )
    # Deposits of the set's own quote asset: conservation of it is an obligation.
    conservation = {
        o["invariant"]
        for o in json.loads(
            _prove(
                "--params", str(SETS / f"{name}.json"), "--only", "deposit-quote/inductive/conservation"
            ).stdout
        )["obligations"]
    }
    assert conservation == {f"conservation[{a}]" for a in params.asset_by_id}


def test_a_missing_kind_is_not_applicable_and_prove_exits_zero() -> None:
    done = _prove("--params", str(SETS / "quote-only.json"), "--only", "collateral")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    # deposit-, withdraw-, liquidate-collateral and liquidate-collateral-positions
    assert report["summary"]["not_applicable"] == report["summary"]["total"] == 4
    for row in report["obligations"]:
        assert row["status"] == Status.NOT_APPLICABLE
        assert row["detail"] == "the parameter set has no collateral asset besides the quote asset"


def test_each_missing_role_is_reported_by_the_runner_and_check_case() -> None:
    base = example_params()
    socialise = tuple(replace(m, deficit_policy=DeficitPolicy.SOCIALISE) for m in base.markets)
    no_dated = tuple(m for m in base.markets if m.kind is MarketKind.PERPETUAL)
    only_dated = tuple(m for m in base.markets if m.kind is MarketKind.DATED)
    variants = {
        "deleverage": revise(base, markets=socialise),
        "settle-expiry": revise(base, markets=no_dated),
        "trade-buy": revise(base, markets=only_dated),
    }
    for name, params in variants.items():
        assert name not in {u.case for u in units(None, params)}
        rows = {r["transition"]: r for r in not_applicable(None, params)}
        assert rows[name]["status"] == Status.NOT_APPLICABLE
        (result,) = check_case(_case(name), params)
        assert (result.status, result.detail) == (Status.NOT_APPLICABLE, rows[name]["detail"])
    assert "liquidate" in {r["transition"] for r in not_applicable(None, variants["trade-buy"])}
    # Every case that applies still traces: nothing the world lacks is reached.
    variants["oracle-update"] = revise(base, assets=base.assets[:1], feeds=(), markets=())
    for params in variants.values():
        for case in (c for c in CASES if c.applies(params)):
            try:
                trace_case(case, params)
            except ClearingError as error:
                assert error.code is case.rejects, (case.name, error)
    assert [c.name for c in CASES if c.applies(variants["oracle-update"])] == [
        "deposit-quote",
        "withdraw-quote",
        "transfer",
        "transfer-self",
        "advance-time",
        "fund-insurance",
        "report-negative",
        "cover-bad-debt",
        "deposit-new-account",
        "withdraw-flat",
    ]


def test_a_role_the_world_resolves_is_what_the_case_acts_on() -> None:
    params = _load("three-perps")
    roles = resolve(params)
    # The first perpetual socialises: the one that deleverages must hold positions too.
    assert roles.perpetual == "BTC-PERP" and roles.deleverage == "ETH-PERP"
    assert roles.perpetuals == ("BTC-PERP", "ETH-PERP")
    world, _, _ = trace_case(_case("deleverage"), params)
    assert world.action.market == roles.of(Role.DELEVERAGE) == "ETH-PERP"
    assert set(world.ledger.accounts["a1"].positions) == {"BTC-PERP", "ETH-PERP"}
    # Every market of the set has a symbolic state, held or not.
    assert z3.is_expr(world.ledger.markets["SOL-PERP"].pool)


def test_a_renamed_quote_asset_is_not_vacuous_and_a_broken_fee_is_caught(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Renaming the quote asset once made every deposit 'always rejected'; now its
    proofs are real: a flipped fee sign is a confirmed counterexample about the
    renamed asset's fee pool."""
    params = _load("renamed")
    (accepted,) = check_case(_case("deposit-quote"), params, goal_filter="acceptance")
    assert (accepted.status, accepted.detail) == ("proved", "non-vacuous: some state accepts the action")

    def flipped(notional_amount: int, rate_ppm: int) -> int:
        return -k.mul_div_ceil(notional_amount, rate_ppm, 1_000_000)

    monkeypatch.setattr(trading, "fill_fee", flipped)
    results = check_case(_case("trade-buy"), params, goal_filter="inductive/fee-pool[EURQ]")
    assert [(r.status, bool(r.counterexample and r.counterexample["confirmed"])) for r in results] == [
        ("counterexample", True)
    ]


def test_a_tick_no_price_can_meet_is_refused_naming_the_field() -> None:
    base = example_params()
    market = base.markets[1]
    huge = revise(base, markets=(base.markets[0], replace(market, tick_size=MAX_AMOUNT + 1, step_size=10**6)))
    with pytest.raises(ClearingError) as raised:
        resolve(huge)
    assert raised.value.code is ErrorCode.INVALID_PARAMS
    assert "params.markets[1].tick_size" in str(raised.value)
    assert witness_price(base, "BTC-USD") == 600_000_000  # the example set's own (60,000 one-dollar ticks)


def _write(tmp_path: Path, data: Any) -> Path:
    path = tmp_path / "set.json"
    path.write_text(json.dumps(data))
    return path


def test_a_malformed_or_unsupported_set_exits_2_naming_the_field(tmp_path: Path) -> None:
    data = params_to_json(example_params())
    data["markets"][0]["tiers"][0]["up_to_size"] = "one coin"
    done = _prove("--params", str(_write(tmp_path, data)), "--only", "deposit-quote")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "params.markets[0].tiers[0].up_to_size" in done.stderr
    data = params_to_json(example_params())
    data["markets"][1].update(tick_size=str(MAX_AMOUNT + 1), step_size="1000000")
    done = _prove("--params", str(_write(tmp_path, data)), "--only", "deposit-quote")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "params.markets[1].tick_size" in done.stderr


@pytest.mark.parametrize("name", ["renamed", "decimals"])
def test_the_safe_region_search_takes_the_set_and_replays_on_its_ids(name: str) -> None:
    """PAR-5 on a set with no example id or unusual decimals: the counterexample
    starts at the feed's witness price and replays through the set's own reporters."""
    params = _load(name)
    market = params.markets[0]
    verdict = decide(params, position_component(params, market.market_id))
    example = verdict.counterexample
    assert not verdict.safe and example is not None and example.confirmed, verdict
    assert example.price_before == resolve(params).witness_prices[market.feed]
    table = counterexample_table(example, params.quote_asset)
    assert f"balance {params.quote_asset}" in table and "USDC" not in table


@pytest.mark.parametrize(("name", "quote", "base"), [("renamed", 6, 8), ("decimals", 2, 18)])
def test_the_simulator_replays_the_built_in_crash_on_the_sets_own_feeds(
    name: str, quote: int, base: int, tmp_path: Path
) -> None:
    params = _load(name)
    args = ["--params", str(SETS / f"{name}.json"), "--accounts", "20", "--bars", "60"]
    args += ["--quote-decimals", str(quote), "--base-decimals", str(base)]
    assert main(["simulate", *args, "--no-plots", "--quiet", "--out", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "report.json").read_text())
    (path,) = [p for p in report["inputs"]["paths"] if p["file"].startswith("2024-08-05_BTCUSDT")]
    assert path["feed"] == params.markets[0].feed
    # BTC opened near 58,000 USD that day: P / 10**price_decimals quote units per
    # base unit is P * 10**base / 10**(price_decimals + quote) dollars per coin.
    decimals = params.feed_by_id[path["feed"]].price_decimals
    assert 50_000 <= int(path["open"]) * 10**base // 10 ** (decimals + quote) <= 60_000, path
