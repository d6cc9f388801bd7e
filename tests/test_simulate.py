"""The crash replay (clearspec_tools.simulate): price files, the population, the engine.

CI-sized: a few dozen to a hundred accounts over a slice of the built-in
2024-08-05 path around the ETH crash of 01:10Z, and a synthetic gap of -37 %
in one bar. The kernel's contracts are on (tests/conftest.py); the model's
global checks after *every* action (slow mode) are switched off for most
replays because the replay itself checks every global invariant at every bar
here (``check_every=1``); one run keeps slow mode on to show the two agree.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterable, Iterator
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from clearspec import invariants, transition
from clearspec.deleveraging import adl_ranking
from clearspec.errors import ErrorCode
from clearspec.params import DeficitPolicy, ProtocolParams, revise, with_market
from clearspec.state import Ledger
from clearspec_tools.examples import example_params
from clearspec_tools.simulate.engine import Check, SimConfig, SimResult, Simulation, initial_ledger
from clearspec_tools.simulate.paths import (
    EXAMPLES,
    Bar,
    PricePath,
    PricePathError,
    example_file,
    infer_feed,
    parse_time,
    read_path,
    scaled_decimal,
)
from clearspec_tools.simulate.population import accepted, generate
from clearspec_tools.simulate.runner import Inputs, PathSpec, load_paths, make_population, resolve_inputs

PARAMS = example_params()
CONFIG = SimConfig(check_every=1)
HEADER = "timestamp_utc,open,high,low,close,volume\n"


@pytest.fixture(autouse=True)
def _replay_checks_instead_of_slow_mode() -> Iterator[None]:
    previous = invariants.slow_checks()
    invariants.set_slow_checks(False)
    yield
    invariants.set_slow_checks(previous)


def crash_paths(start: str = "2024-08-05T00:55:00Z", bars: int = 30) -> list[PricePath]:
    """BTC and ETH from the built-in example, a window around the ETH crash (-9.7 % in
    the 01:10Z minute)."""
    return load_paths(resolve_inputs([], "2024-08-05", PARAMS, start, bars), PARAMS, CONFIG)


def gap_csv(folder: Path) -> Path:
    """A synthetic BTC path: a 5 % slide, then -37 % inside one minute, then calm."""
    rows = [
        ("00:00", "60000", "60100", "59900", "60000"),
        ("00:01", "60000", "60000", "57000", "57000"),
        ("00:02", "57000", "57000", "36000", "38000"),
        ("00:03", "38000", "39000", "37500", "39000"),
        ("00:04", "39000", "39500", "38800", "39200"),
        ("00:05", "39200", "39300", "39000", "39100"),
    ]
    path = folder / "gap_BTCUSDT_1m.csv"
    path.write_text(HEADER + "".join(f"2024-01-01T{t}:00Z,{o},{h},{lo},{c},1\n" for t, o, h, lo, c in rows))
    return path


def gap_paths(folder: Path) -> list[PricePath]:
    inputs = Inputs((PathSpec("BTC-USD", str(gap_csv(folder))),), None, 0, "gap")
    return load_paths(inputs, PARAMS, CONFIG)


def replay(
    paths: list[PricePath],
    accounts: int,
    *,
    seed: int = 1,
    params: ProtocolParams = PARAMS,
    config: SimConfig = CONFIG,
    checks: list[Check] | None = None,
) -> tuple[Simulation, SimResult]:
    population = make_population([params], paths, accounts, seed, config)
    simulation = Simulation(params, paths, population, config, checks=checks)
    return simulation, simulation.run()


def no_fee_params(policy: DeficitPolicy = DeficitPolicy.DELEVERAGE) -> ProtocolParams:
    """No liquidation fee (LIQ-4), so an empty fund stays empty and deficits go to
    deleveraging (ADL-1) or are socialised (ADL-6); and a breaker interval that
    lets the gap through in one hour (ORA-10: 50 % instead of the example's 25 %)."""
    params = revise(
        PARAMS,
        liquidation=replace(PARAMS.liquidation, max_liquidation_fee_ppm=0),
        oracle=replace(PARAMS.oracle, max_interval_move_ppm=500_000),
    )
    return with_market(params, "BTC-PERP", deficit_policy=policy)


@pytest.fixture(scope="module")
def crash() -> tuple[Simulation, SimResult]:
    previous = invariants.slow_checks()
    invariants.set_slow_checks(False)
    try:
        return replay(crash_paths(), 100)
    finally:
        invariants.set_slow_checks(previous)


# -- price files -------------------------------------------------------------------------------


def test_scaled_decimal_is_exact_string_arithmetic() -> None:
    assert scaled_decimal("60697.99", 4) == (606_979_900, True)
    assert scaled_decimal("2111", 4) == (21_110_000, True)
    assert scaled_decimal("1.5e-3", 4) == (15, True)
    assert scaled_decimal("1.23456", 4) == (12_346, False)  # 12345.6 rounds up
    assert scaled_decimal("0.00005", 4) == (0, False)  # a tie rounds to even
    assert scaled_decimal("0.00015", 4) == (2, False)
    assert scaled_decimal("123456789012345678901234567890.1", 0) == (123456789012345678901234567890, False)
    for bad in ("abc", "-1", "1,5", "", "1.2.3", "nan"):
        with pytest.raises(ValueError):
            scaled_decimal(bad, 4)


@pytest.mark.parametrize("name", sorted({f for e in EXAMPLES.values() for f in e.files.values()}))
def test_builtin_paths_read_exactly(name: str) -> None:
    """Every price of the shipped files equals the decimal string times 10**4 (checked
    with Decimal, independently of the reader); the stated lows are there."""
    path = read_path(example_file(name), "BTC-USD", 4)
    lines = example_file(name).read_text().splitlines()[1:]
    assert len(path.bars) == len(lines) and path.rounded == 0
    for bar, line in zip(path.bars, lines, strict=True):
        fields = line.split(",")
        expected = [int(Decimal(x) * 10**4) for x in fields[1:5]]
        assert [bar.open, bar.high, bar.low, bar.close] == expected
        assert bar.time == parse_time(fields[0])
    lows = {"2024-08-05_BTCUSDT": 49_000, "2024-08-05_ETHUSDT": 2_111, "2021-05-19_BTCUSDT": 30_000}
    low = min(b.low for b in path.bars)
    assert low == lows[name[:18]] * 10**4
    assert path.spacing == (300 if "_5m" in name else 60)


BAD_FILES = [
    ("", "empty file"),
    ("time,open,high,low,close,volume\n", ":1: expected the header"),
    (HEADER + "2024-01-01T00:00:00Z,1,2,0.5\n", ":2: expected 6 to 32 columns"),
    (HEADER + "yesterday,1,2,0.5,1,0\n", ":2: not an ISO 8601 timestamp"),
    (HEADER + "2024-01-01T00:00:00Z,1,two,0.5,1,0\n", ":2: high: not a decimal number"),
    (HEADER + "2024-01-01T00:00:00Z,0,1,0,1,0\n", ":2: open '0' is not a positive price"),
    (HEADER + "2024-01-01T00:00:00Z,1,2,1.5,1,0\n", ":2: inconsistent bar"),
    (
        HEADER + "2024-01-01T00:01:00Z,1,2,1,1,0\n2024-01-01T00:00:00Z,1,2,1,1,0\n",
        ":3: timestamps must increase",
    ),
    (
        HEADER + "".join(f"2024-01-01T00:0{m}:00Z,1,2,1,1,0\n" for m in (0, 1, 3)),
        ":4: bar spacing changes from 60 s to 120 s",
    ),
    (HEADER + "2024-01-01T00:00:00Z,1,2,1,1,0\n", "need at least two bars"),
]


@pytest.mark.parametrize(("text", "message"), BAD_FILES)
def test_bad_csv_is_a_typed_error_naming_the_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "prices.csv"
    path.write_text(text)
    with pytest.raises(PricePathError, match=r"prices\.csv") as caught:
        read_path(path, "BTC-USD", 4)
    assert message in str(caught.value)


def test_missing_file_and_unknown_feed_are_typed_errors(tmp_path: Path) -> None:
    with pytest.raises(PricePathError, match="no such file"):
        read_path(tmp_path / "nope.csv", "BTC-USD", 4)
    with pytest.raises(PricePathError, match="cannot tell which feed"):
        resolve_inputs([str(tmp_path / "prices.csv")], None, PARAMS, None, None)
    with pytest.raises(PricePathError, match="unknown example"):
        resolve_inputs([], "1929-10-24", PARAMS, None, None)
    with pytest.raises(PricePathError, match="no bar at or after"):
        load_paths(resolve_inputs([], "2021-05-19", PARAMS, "2030-01-01T00:00:00Z", 5), PARAMS, CONFIG)


def test_feed_inferred_from_the_file_name() -> None:
    feeds = list(PARAMS.feed_by_id)
    assert infer_feed("2024-08-05_BTCUSDT_binance-spot_1m.csv", feeds) == "BTC-USD"
    assert infer_feed("/data/eth-usd.csv", feeds) == "ETH-USD"
    with pytest.raises(PricePathError):
        infer_feed("BTCUSDT_ETHUSDT_spread.csv", feeds)


def test_bar_steps_see_both_extremes_in_the_bars_direction() -> None:
    """ORA-7 inputs: a down bar is replayed open, high, low, close; an up bar open, low,
    high, close; repeated prices once."""
    assert Bar(0, 10, 12, 7, 8).steps() == [(0, 10), (1, 12), (2, 7), (3, 8)]
    assert Bar(0, 10, 12, 7, 11).steps() == [(0, 10), (1, 7), (2, 12), (3, 11)]
    assert Bar(0, 10, 10, 9, 9).steps() == [(0, 10), (2, 9)]


# -- the population ----------------------------------------------------------------------------


def test_population_is_seeded_and_every_account_opens_at_initial_margin() -> None:
    paths = crash_paths(bars=2)
    ledgers = [initial_ledger(PARAMS, paths)]
    feeds = [p.feed for p in paths]
    first = generate(200, 9, ledgers, feeds)
    assert first == generate(200, 9, ledgers, feeds)
    assert first.accounts != generate(200, 10, ledgers, feeds).accounts
    stats = first.stats()
    assert stats["with_positions"] >= 190 and stats["coin_collateral"] > 20
    assert 0.5 < stats["long_positions"] / stats["positions"] < 0.7  # long_share 0.6
    for spec in first.accounts:
        assert accepted(ledgers, spec), spec.name  # MRG-3 with MRG-2's tiers
        for market_id, size in spec.positions:
            assert size % PARAMS.market_by_id[market_id].step_size == 0
    # Under a stricter parameter set the same seed yields smaller positions, accepted by both.
    strict = with_market(
        PARAMS, "ETH-PERP", tiers=tuple(replace(t, initial_ppm=400_000) for t in PARAMS.markets[1].tiers)
    )
    both = generate(200, 9, [*ledgers, initial_ledger(strict, paths)], feeds)
    assert all(accepted([*ledgers, initial_ledger(strict, paths)], spec) for spec in both.accounts)
    assert sum(abs(s) for a in both.accounts for m, s in a.positions if m == "ETH-PERP") < sum(
        abs(s) for a in first.accounts for m, s in a.positions if m == "ETH-PERP"
    )


# -- the replay --------------------------------------------------------------------------------


def test_crash_liquidates_and_every_invariant_holds_at_every_bar(crash: tuple[Simulation, SimResult]) -> None:
    _, result = crash
    assert result.passed, result.checks.failures
    assert result.totals["liquidations"] >= 10
    longs = sum(1 for e in result.events if e.kind == "liquidation" and e.size > 0)
    assert longs > result.totals["liquidations"] // 2  # a crash liquidates longs
    # Global checks at every bar (check_every=1) and all passed; fast checks on every action.
    assert result.bars == 30
    assert set(result.checks.runs.values()) == {30}
    assert result.checks.passed == result.checks.runs
    assert "no_liquidatable_account_left" in result.checks.runs
    assert result.fast_checks == sum(result.actions.values()) > result.updates
    # The fund took liquidation fees (LIQ-4) and its recorded path ends where the ledger does.
    assert result.series.fund[-1] == result.final_ledger.insurance_fund["USDC"] > result.initial_fund
    assert result.fund_min[0] <= min(result.series.fund) and result.fund_min[0] <= result.initial_fund
    assert result.totals["liquidation_fees"] > 0
    # The index examined far fewer accounts than a scan after every update would have.
    holders = sum(1 for a in result.final_ledger.accounts.values() if a.positions)
    assert result.examined < result.updates * holders // 4


def test_liquidations_are_priced_within_the_fillable_price(crash: tuple[Simulation, SimResult]) -> None:
    """LIQ-3: by default the backstop fills at the fillable price, at or below the oracle
    price for a long (at most the tick above it, where the fillable price lies within a
    tick of the oracle) and at or above it for a short; the model accepted every one."""
    _, result = crash
    fills = [e for e in result.events if e.kind == "liquidation"]
    assert fills and result.actions["liquidate"] == len(fills)
    for e in fills:
        tick = PARAMS.market_by_id[e.market].tick_size
        if e.size > 0:
            assert e.price <= -(-e.oracle // tick) * tick
        else:
            assert e.price >= e.oracle // tick * tick
    assert any(e.price < e.oracle for e in fills if e.size > 0)


def test_index_and_brute_force_scan_replay_alike() -> None:
    """The replay with the index and with every account examined after every update
    (``use_index=False``) take the same actions and end in the same ledger."""
    paths = crash_paths("2024-08-05T01:06:00Z", 8)
    _, indexed = replay(paths, 40, seed=2)
    _, scanned = replay(paths, 40, seed=2, config=replace(CONFIG, use_index=False))
    assert indexed.totals["liquidations"] > 0
    assert indexed.events == scanned.events
    assert indexed.totals == scanned.totals
    assert indexed.final_ledger.accounts == scanned.final_ledger.accounts
    assert indexed.examined < scanned.examined


def test_a_gap_past_bankruptcy_is_deleveraged_when_the_fund_is_empty(tmp_path: Path) -> None:
    """A -37 % gap (split into updates within the 25 % circuit breaker, ORA-9) leaves
    accounts bankrupt; with no fund and no fee they are deleveraged against the
    ranked shorts (ADL-1..ADL-5), whose ranking is the model's adl_ranking."""
    params = no_fee_params()
    simulation, result = replay(
        gap_paths(tmp_path), 40, params=params, config=replace(CONFIG, insurance_fund=0)
    )
    assert result.passed, result.checks.failures
    assert result.totals["breaker_splits"] >= 1
    assert not any(key.startswith("oracle:") for key in result.rejections)
    assert result.totals["deleverages"] > 0 and result.bankrupt_accounts
    assert result.totals["passed_on"] > 0 and result.totals["bad_debt"] >= result.totals["passed_on"]
    assert result.series.fund == [0] * len(result.series.fund)
    for side in (1, -1):
        assert simulation.ranking("BTC-PERP", side) == adl_ranking(simulation.ledger, "BTC-PERP", side)


def test_a_socialising_market_charges_the_loss_index(tmp_path: Path) -> None:
    """ADL-6: in a socialise market the same gap raises the loss index; every holder's
    band moves with it (the loss coordinate) and every check still passes."""
    params = no_fee_params(DeficitPolicy.SOCIALISE)
    _, result = replay(gap_paths(tmp_path), 40, params=params, config=replace(CONFIG, insurance_fund=0))
    assert result.passed, result.checks.failures
    assert result.totals["socialised"] > 0 and result.totals["deleverages"] == 0
    assert result.final_ledger.markets["BTC-PERP"].loss_index > 0


def test_same_seed_same_replay_other_seed_other_replay(tmp_path: Path) -> None:
    paths = gap_paths(tmp_path)
    _, first = replay(paths, 30, seed=5)
    _, again = replay(paths, 30, seed=5)
    _, other = replay(paths, 30, seed=6)
    assert first.events == again.events and first.totals == again.totals
    assert first.final_ledger.accounts == again.final_ledger.accounts
    assert first.events != other.events


def test_slow_mode_runs_the_same_replay(tmp_path: Path) -> None:
    """With the model's global checks after every action (slow mode) the replay takes
    the same actions: the replay's own checks and the model's agree."""
    paths = gap_paths(tmp_path)
    _, fast = replay(paths, 20, seed=3)
    invariants.set_slow_checks(True)
    _, slow = replay(paths, 20, seed=3)
    assert slow.passed and slow.events == fast.events and slow.totals == fast.totals


def test_a_broken_global_invariant_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """INV-1 made to fail once the clock passes two minutes: the report names the
    check, its rule and the time, and the run does not pass."""
    real = invariants.conserved
    monkeypatch.setattr(
        invariants, "conserved", lambda ledger, asset: ledger.now < 120 and real(ledger, asset)
    )
    _, result = replay(gap_paths(tmp_path), 20)
    assert not result.passed
    failed = {(f["check"], f["rule"]) for f in result.checks.failures}
    assert ("conserved[USDC]", "INV-1") in failed
    assert min(f["time"] for f in result.checks.failures) >= 120
    assert result.checks.passed["conserved[USDC]"] == 2 < result.checks.runs["conserved[USDC]"]
    assert result.checks.passed["zero_sum[BTC-PERP]"] == result.checks.runs["zero_sum[BTC-PERP]"]


def test_a_custom_check_is_counted(tmp_path: Path) -> None:
    """Checks are data: a designer's own (here: the fund never falls below its seed,
    which an exhausted fund breaks) is run and reported like the model's."""
    check = Check("fund_never_used", "INS-2", lambda ledger: ledger.insurance_fund["USDC"] >= 200 * 10**6)
    params = no_fee_params()
    _, result = replay(
        gap_paths(tmp_path),
        40,
        params=params,
        config=replace(CONFIG, insurance_fund=200 * 10**6),
        checks=[check],
    )
    assert result.checks.runs["fund_never_used"] == 6
    assert result.checks.failures and result.checks.failures[0]["check"] == "fund_never_used"


def test_a_violated_transition_contract_stops_the_replay(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A local invariant (INV-1..INV-3, the postcondition of apply) made to fail on the
    first liquidation (the one action that records LIQ-5 usage) stops the replay
    there, and the result says which action."""

    def broken(before: Ledger, after: Ledger, touched: Iterable[str]) -> bool:
        unchanged = after.liquidation_usage is before.liquidation_usage
        return invariants.local_invariants(before, after, touched) and unchanged

    monkeypatch.setattr(transition, "local_invariants", broken)
    _, result = replay(gap_paths(tmp_path), 20)
    assert not result.passed
    assert result.aborted is not None and result.aborted.startswith("liquidate")
    assert "INV-1..INV-3" in result.aborted and "local_invariants" in result.aborted
    assert result.checks.failures[-1]["check"] == "transition contract"
    assert result.totals.get("liquidations", 0) == 0


def test_setup_errors_are_typed(tmp_path: Path) -> None:
    from clearspec_tools.simulate.engine import SimulationError

    paths = gap_paths(tmp_path)
    population = make_population([PARAMS], crash_paths(bars=2), 20, 1, CONFIG)
    assert any(m == "ETH-PERP" for a in population.accounts for m, _ in a.positions)
    with pytest.raises(SimulationError, match="no price path"):
        Simulation(PARAMS, paths, population, CONFIG)
    with pytest.raises(SimulationError, match="check_every"):
        Simulation(PARAMS, paths, population, replace(CONFIG, check_every=0))
    odd = revise(
        PARAMS,
        oracle=replace(PARAMS.oracle, reporters=((PARAMS.oracle.reporters[0][0], _unknown_key()),), quorum=1),
    )
    with pytest.raises(SimulationError, match="reporter"):
        Simulation(odd, paths, make_population([PARAMS], paths, 2, 1, CONFIG), CONFIG)


def _unknown_key() -> bytes:
    """A valid reporter key (PAR-2) that is none of the example's signing keys."""
    key = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def test_engine_and_model_agree_on_who_is_liquidatable(crash: tuple[Simulation, SimResult]) -> None:
    """The engine sends Liquidate only for accounts the model finds liquidatable (MRG-6):
    no NOT_LIQUIDATABLE rejection; and the population crosses a process boundary."""
    _, result = crash
    assert result.actions["liquidate"] > 0
    assert not any(k.endswith(ErrorCode.NOT_LIQUIDATABLE.value) for k in result.rejections)
    assert pickle.loads(pickle.dumps(result.population)) == result.population
