"""PAR-1..PAR-3: parameter validation."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from clearspec.errors import ClearingError, ErrorCode
from clearspec.params import (
    AssetParams,
    MarginTier,
    MarketKind,
    ProtocolParams,
    revise,
)
from clearspec_tools.examples import example_params

BASE = example_params()


def rebuild(**changes: Any) -> ProtocolParams:
    return revise(BASE, **changes)


def market(**changes: Any) -> tuple[Any, ...]:
    return (replace(BASE.markets[0], **changes), *BASE.markets[1:])


def test_par2_example_is_valid_and_lookups_work() -> None:
    params = rebuild()
    assert params == BASE
    assert params.market_by_id["BTC-DEC"].kind is MarketKind.DATED


@pytest.mark.parametrize(
    "changes",
    [
        {"quote_asset": "EUR"},
        {"assets": (*BASE.assets, AssetParams("SOL", "SOL-USD"))},
        {"assets": (*BASE.assets, BASE.assets[1])},
        {"assets": (AssetParams("USDC", "BTC-USD"), *BASE.assets[1:])},
        {"assets": (BASE.assets[0], AssetParams("BTC", "BTC-USD", 950_000, 900_000))},
        {"assets": (BASE.assets[0], AssetParams("BTC", "BTC-USD", 800_000, 1_000_001))},
        {"markets": market(tiers=())},
        {"markets": market(tiers=(MarginTier(None, 50_000, 60_000),))},
        {"markets": market(tiers=(MarginTier(None, 50_000, 0),))},
        {
            "markets": market(
                tiers=(
                    MarginTier(10, 50_000, 30_000),
                    MarginTier(5, 60_000, 40_000),
                    MarginTier(None, 70_000, 50_000),
                )
            )
        },
        {"markets": market(tiers=(MarginTier(10, 50_000, 30_000), MarginTier(None, 40_000, 30_000)))},
        {"markets": market(tiers=(MarginTier(None, 50_000, 30_000), MarginTier(10, 60_000, 40_000)))},
        {"markets": market(step_size=0)},
        {"markets": market(tick_size=-1)},
        {"markets": market(max_position=0)},
        {"markets": market(step_size=3, tick_size=7)},  # PAR-3
        {"markets": market(price_band_ppm=1_000_001)},
        {"markets": market(expiry=100)},
        {"markets": market(feed="SOL-USD")},
        {"markets": (*BASE.markets, BASE.markets[0])},
        {"oracle": replace(BASE.oracle, quorum=0)},
        {"oracle": replace(BASE.oracle, quorum=6)},
        {"oracle": replace(BASE.oracle, max_age=0)},
        {"oracle": replace(BASE.oracle, reporters=(("x", b"short"),))},
        {"oracle": replace(BASE.oracle, reporters=BASE.oracle.reporters[:1] * 2)},
        {"feeds": (*BASE.feeds, BASE.feeds[0])},
        {"max_batch_fills": 0},
    ],
)
def test_par2_invalid_parameters_are_rejected(changes: dict[str, Any]) -> None:
    with pytest.raises(ClearingError) as caught:
        rebuild(**changes)
    assert caught.value.code is ErrorCode.INVALID_PARAMS
    assert caught.value.detail


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"feeds": (replace(BASE.feeds[0], feed_id="XAU/EUR"), *BASE.feeds[1:])}, "feed id 'XAU/EUR'"),
        ({"assets": (*BASE.assets, AssetParams("SO L", "BTC-USD"))}, "asset id 'SO L'"),
        ({"markets": market(market_id="BTC\nPERP")}, "market id 'BTC\\nPERP'"),
        (
            {"oracle": replace(BASE.oracle, reporters=(("r\u202e", BASE.oracle.reporters[0][1]),))},
            "reporter id",
        ),
        ({"markets": market(market_id="M" * 65)}, "market id"),
    ],
)
def test_par2_every_id_is_an_identifier(changes: dict[str, Any], named: str) -> None:
    """PAR-2: an id no action could name (VEC-3's grammar) is refused, naming it."""
    with pytest.raises(ClearingError) as caught:
        rebuild(**changes)
    assert caught.value.code is ErrorCode.INVALID_PARAMS
    assert named in caught.value.detail and "is not an identifier" in caught.value.detail
