"""Small builders shared by the unit tests."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from clearspec.actions import Action, Deposit, Fill, SettleTrades, Side
from clearspec.errors import ClearingError, ErrorCode
from clearspec.render import ledger_json
from clearspec.state import Ledger
from clearspec.transition import apply, step
from clearspec_tools.examples import BTC, USD, example_genesis, usd_price


def run(actions: Sequence[Action], ledger: Ledger | None = None) -> Ledger:
    """Apply actions in order; every one must be accepted."""
    ledger = ledger or example_genesis()
    for action in actions:
        ledger = apply(ledger, action)
    return ledger


def funded(usdc: int = 10_000, btc: int = 0, names: Sequence[str] = ("alice", "bob")) -> Ledger:
    """The example ledger with each named account holding ``usdc`` dollars and ``btc`` coins."""
    actions: list[Action] = []
    for name in names:
        actions.append(Deposit(name, "USDC", usdc * USD))
        if btc:
            actions.append(Deposit(name, "BTC", btc * BTC))
    return run(actions)


def fill(
    taker: str = "alice",
    maker: str = "bob",
    side: Side = Side.BUY,
    size: int = BTC // 10,
    dollars: int = 60_000,
    market: str = "BTC-PERP",
    maker_fee_ppm: int = 0,
    taker_fee_ppm: int = 0,
    price: int | None = None,
) -> Fill:
    """A fill of ``size`` base units at ``dollars`` per coin (or a raw ``price``)."""
    raw = usd_price(dollars) if price is None else price
    return Fill(market, maker, taker, side, size, raw, maker_fee_ppm, taker_fee_ppm)


def trade(*fills: Fill) -> SettleTrades:
    """A batch of fills."""
    return SettleTrades(tuple(fills))


def rejects(ledger: Ledger, action: Action, code: ErrorCode) -> None:
    """The action is rejected with exactly ``code`` and the ledger is untouched (STA-2)."""
    before = ledger_json(ledger)
    with pytest.raises(ClearingError) as caught:
        apply(ledger, action)
    assert caught.value.code is code, caught.value
    outcome = step(ledger, action)
    assert outcome.error is code and outcome.ledger is ledger
    assert ledger_json(ledger) == before


def move_price(ledger: Ledger, feed: str, dollars: int) -> Ledger:
    """Advance the clock one second and accept a unanimous oracle round at ``dollars``."""
    from clearspec.actions import AdvanceTime
    from clearspec_tools.examples import signed_update

    now = ledger.now + 1
    price = usd_price(dollars)
    round_ = ledger.prices[feed].round + 1
    return run([AdvanceTime(now), signed_update(feed, [price] * 3, now, round_)], ledger)
