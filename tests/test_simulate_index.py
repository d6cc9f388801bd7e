"""The crash replay's health index (clearspec_tools.simulate.index) against a brute-force scan.

The index lets an oracle update re-examine only the accounts whose band it
crossed. That is safe only if a band is conservative: no account may become
liquidatable (MRG-6) while every coordinate it depends on stays inside its
band. Here random populations (cross-margined, some with coin collateral) are
moved through random price, funding-index (FND-3) and loss-index (ADL-6)
changes, and after every move a brute-force scan with the model's own
``settle_account`` and ``account_risk`` must find no liquidatable account the
index did not report. A deliberately loosened band must be caught by the same
comparison, so the test can fail.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import replace

import pytest

from clearspec.margin import account_risk
from clearspec.positions import settle_account
from clearspec.state import Ledger
from clearspec_tools.examples import example_params
from clearspec_tools.simulate.engine import SimConfig, Simulation
from clearspec_tools.simulate.index import Coordinate, Health, HealthIndex, coordinates, derive, settled_risk
from clearspec_tools.simulate.runner import load_paths, make_population, resolve_inputs

PARAMS = example_params()
CONFIG = SimConfig()


def populated_ledger(accounts: int, seed: int) -> Ledger:
    """A ledger after the replay's set-up: deposits (some in BTC or ETH), the fund, and
    every account's opening positions against the backstop, all through the model."""
    inputs = resolve_inputs([], "2024-08-05", PARAMS, None, 5)
    paths = load_paths(inputs, PARAMS, CONFIG)
    population = make_population([PARAMS], paths, accounts, seed, CONFIG)
    simulation = Simulation(PARAMS, paths, population, CONFIG)
    simulation.setup()
    return simulation.ledger


def model_liquidatable(ledger: Ledger, name: str) -> bool:
    """MRG-6 on the settled account, by the model's own functions (no shortcut)."""
    settled = settle_account(ledger, name)
    risk = account_risk(settled, settled.accounts[name])
    return risk.mmr > 0 and risk.nc < risk.mmr


def random_move(rng: random.Random, ledger: Ledger) -> tuple[Ledger, Coordinate, int]:
    """A new value of one coordinate: a price move of up to 7 % either way, a funding
    index step of up to 2 % of the price either way, or a loss index rise."""
    kind = rng.choices(["price", "funding", "loss"], weights=[7, 2, 1])[0]
    if kind == "price":
        feed = rng.choice(sorted(ledger.prices))
        old = ledger.prices[feed]
        value = max(1, old.price + old.price * rng.randint(-70_000, 70_000) // 1_000_000)
        return (
            replace(ledger, prices=ledger.prices.set(feed, replace(old, price=value))),
            ("price", feed),
            value,
        )
    market = rng.choice(["BTC-PERP", "ETH-PERP"])
    state = ledger.markets[market]
    if kind == "funding":
        price = ledger.price(PARAMS.market_by_id[market].feed)
        value = state.funding_index + rng.randint(-20_000, 20_000) * price
        updated = replace(state, funding_index=value)
    else:
        value = state.loss_index + rng.randint(0, 10**16)
        updated = replace(state, loss_index=value)
    return replace(ledger, markets=ledger.markets.set(market, updated)), (kind, market), value


def replay_moves(
    ledger: Ledger, seed: int, moves: int, band: Callable[[Ledger, str], Health | None] = derive
) -> tuple[list[str], int, int]:
    """Drive the index through random moves; return the accounts the brute-force scan
    found liquidatable but the index did not report, the number of examinations and
    the number of (account, move) pairs."""
    rng = random.Random(seed)
    index = HealthIndex()
    known: set[str] = set()  # liquidatable when last examined: the engine handles these
    names = [n for n, a in ledger.accounts.items() if a.positions]

    def examine(name: str) -> None:
        health = band(ledger, name)
        if health is None:
            return
        if health.liquidatable:
            known.add(name)
            index.forget(name)
        else:
            known.discard(name)
            index.place(name, health)

    for name in names:
        examine(name)
    missed: list[str] = []
    examined = 0
    for _ in range(moves):
        ledger, coordinate, value = random_move(rng, ledger)
        reported = index.move(coordinate, value)
        examined += len(reported)
        for name in names:
            if model_liquidatable(ledger, name) and name not in known and name not in reported:
                missed.append(name)
        for name in reported:
            examine(name)
        # Liquidatable accounts stay flagged until a move makes them healthy again.
        for name in list(known):
            examine(name)
    return missed, examined, moves * len(names)


@pytest.fixture(scope="module")
def ledgers() -> list[Ledger]:
    return [populated_ledger(120, seed) for seed in (3, 4)]


def test_settled_risk_is_the_models_settled_risk(ledgers: list[Ledger]) -> None:
    """FND-3: the shortcut (risk less what the positions owe) equals settling then
    measuring, for every account, also after the funding and loss indices moved."""
    rng = random.Random(7)
    ledger = ledgers[0]
    moved: set[str] = set()
    while moved != {"price", "funding", "loss"}:
        ledger, coordinate, _ = random_move(rng, ledger)
        moved.add(coordinate[0])
        for name in ledger.accounts:
            settled = settle_account(ledger, name)
            risk = account_risk(settled, settled.accounts[name])
            assert settled_risk(ledger, name) == (risk.nc, risk.mmr), name


@pytest.mark.parametrize("which", [0, 1])
def test_index_agrees_with_a_brute_force_scan(ledgers: list[Ledger], which: int) -> None:
    """MRG-6: after every random move, every account the brute-force scan finds
    liquidatable is one the index reported (or already knew); and the index reports
    far fewer accounts than a scan examines."""
    missed, examined, scanned = replay_moves(ledgers[which], seed=11 + which, moves=30)
    assert missed == []
    assert examined < scanned // 3, (examined, scanned)


def test_the_comparison_catches_a_band_that_is_too_wide(ledgers: list[Ledger]) -> None:
    """The same comparison fails for bands widened by 5 % of the coordinate: the
    brute-force check has teeth."""

    def too_wide(ledger: Ledger, name: str) -> Health | None:
        health = derive(ledger, name)
        if health is None or health.liquidatable:
            return health
        widened = tuple(
            (c, below, key - abs(key) // 20 if below else key + abs(key) // 20)
            for c, below, key in health.thresholds
        )
        return replace(health, thresholds=widened)

    missed, _, _ = replay_moves(ledgers[0], seed=11, moves=30, band=too_wide)
    assert missed


def test_a_band_is_derived_from_the_slack() -> None:
    """A long's price band lies below the price, a short's above; the funding band of a
    long lies above the index (it pays when the index rises)."""
    ledger = populated_ledger(40, 5)
    values = coordinates(ledger)
    seen = set()
    for name, account in ledger.accounts.items():
        health = derive(ledger, name)
        if health is None or health.liquidatable or health.edge or len(account.positions) != 1:
            continue
        if any(a != PARAMS.quote_asset for a, b in account.balances.items() if b):
            continue
        ((market_id, position),) = account.positions.items()
        feed = PARAMS.market_by_id[market_id].feed
        price = {c: (below, key) for c, below, key in health.thresholds}[("price", feed)]
        funding = {c: (below, key) for c, below, key in health.thresholds}[("funding", market_id)]
        long = position.size > 0
        assert price[0] is long and (price[1] < values[("price", feed)]) is long
        assert funding[0] is not long and (funding[1] > values[("funding", market_id)]) is long
        seen.add(long)
    assert seen == {True, False}


def test_health_index_files_and_reports() -> None:
    """place / move / forget: a crossed band is reported once and leaves the index; a
    re-placed account's old band no longer fires; edge accounts fire on any move."""
    index = HealthIndex()
    price: Coordinate = ("price", "BTC-USD")
    index.place("a", Health(False, 10, 5, ((price, True, 100),)))
    index.place("b", Health(False, 10, 5, ((price, True, 90),)))
    index.place("c", Health(False, 10, 5, ((price, False, 120),)))
    index.place("d", Health(False, 1, 1, edge=(price,)))
    assert index.move(price, 100) == ["d"]
    assert index.move(price, 95) == ["a"]
    assert "a" not in index and "b" in index
    index.place("b", Health(False, 10, 5, ((price, True, 50),)))  # re-derived: the 90 band is gone
    assert index.move(price, 80) == []
    assert index.move(price, 130) == ["c"]
    assert index.move(price, 40) == ["b"]
    assert len(index) == 0
    for i in range(3_000):  # compaction keeps only live entries
        index.place("e", Health(False, 10, 5, ((price, True, i),)))
    assert index.move(price, -1) == ["e"]
