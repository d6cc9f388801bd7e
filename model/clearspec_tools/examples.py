"""The built-in example: parameters, reporter keys and a scenario (spec: examples in each chapter).

Units: USDC has 6 decimals, BTC and ETH 8 (satoshi-like base units). A feed
price ``P`` with ``price_decimals = 6`` means ``P / 1e6`` USDC base units per
base unit, so BTC at 60,000 USD is ``P = 60_000 * 1e6 * 1e6 / 1e8 = 600_000_000``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import replace

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from immutables import Map

from clearspec import kernel as k
from clearspec.actions import (
    Action,
    AdvanceTime,
    ApplyFunding,
    Deleverage,
    Deposit,
    Fill,
    FundInsurance,
    Liquidate,
    OracleUpdate,
    PremiumSample,
    SettleTrades,
    Side,
    Transfer,
    Withdraw,
)
from clearspec.oracle import sign_report
from clearspec.params import (
    AssetParams,
    FeedParams,
    MarginTier,
    MarketKind,
    MarketParams,
    OracleParams,
    ProtocolParams,
    make_params,
)
from clearspec.state import Account, Ledger, genesis

USD = 10**6  # USDC base units per dollar
BTC = 10**8  # base units per coin
PRICE_DECIMALS = 6
# ORA-2: the example deployment's id, signed into every report.
DEPLOYMENT_ID = "clearspec-example"


def usd_price(dollars_per_coin: int) -> int:
    """The feed price of a coin quoted at ``dollars_per_coin`` USD (8-decimal asset)."""
    return k.div_floor(dollars_per_coin * USD * 10**PRICE_DECIMALS, BTC)


def reporter_keys(count: int = 5) -> list[tuple[str, Ed25519PrivateKey]]:
    """Deterministic example reporter keys (never use derived keys in production)."""
    keys = []
    for i in range(count):
        seed = hashlib.sha256(f"clearspec example reporter {i}".encode()).digest()
        keys.append((f"reporter-{i}", Ed25519PrivateKey.from_private_bytes(seed)))
    return keys


def _public(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def _tiers() -> tuple[MarginTier, ...]:
    return (
        MarginTier(1 * BTC, 50_000, 30_000),
        MarginTier(10 * BTC, 100_000, 60_000),
        MarginTier(None, 200_000, 120_000),
    )


def _market(market_id: str, feed: str, kind: MarketKind, expiry: int | None) -> MarketParams:
    return MarketParams(
        market_id=market_id,
        kind=kind,
        feed=feed,
        tiers=_tiers(),
        step_size=1_000,  # 0.00001 coin
        tick_size=usd_price(1),  # one dollar
        max_position=1_000 * BTC,
        price_band_ppm=50_000,
        max_fee_ppm=5_000,
        expiry=expiry,
    )


def example_params(reporters: int = 5, quorum: int = 3) -> ProtocolParams:
    """Two collateral assets, two perpetuals and one dated future, five reporters."""
    keys = reporter_keys(reporters)
    return make_params(
        quote_asset="USDC",
        assets=(
            AssetParams("USDC", None),
            # CLQ-4: Aave v3's usual bonus and protocol fee (5 % and 7.5 %; 10 % of the bonus).
            AssetParams("BTC", "BTC-USD", 800_000, 900_000, 50_000, 100_000),
            AssetParams("ETH", "ETH-USD", 750_000, 850_000, 75_000, 100_000),
        ),
        feeds=(FeedParams("BTC-USD", PRICE_DECIMALS), FeedParams("ETH-USD", PRICE_DECIMALS)),
        markets=(
            _market("BTC-PERP", "BTC-USD", MarketKind.PERPETUAL, None),
            _market("ETH-PERP", "ETH-USD", MarketKind.PERPETUAL, None),
            _market("BTC-DEC", "BTC-USD", MarketKind.DATED, 86_400 * 30),
        ),
        oracle=OracleParams(
            reporters=tuple((name, _public(key)) for name, key in keys),
            quorum=quorum,
            max_age=60,
            max_future_skew=5,
            report_band_ppm=20_000,
            max_deviation_ppm=250_000,
            max_round_step=100,
            breaker_interval=3_600,
            max_interval_move_ppm=250_000,
        ),
        deployment_id=DEPLOYMENT_ID,
    )


def example_genesis(params: ProtocolParams | None = None) -> Ledger:
    """An empty ledger at time 0 with BTC at 60,000 and ETH at 3,000 USD."""
    return genesis(
        params or example_params(),
        {"BTC-USD": usd_price(60_000), "ETH-USD": usd_price(3_000)},
    )


def with_loan(ledger: Ledger, borrower: str, lender: str, asset: str, amount: int, debt: int) -> Ledger:
    """``ledger`` with a new account ``borrower`` holding ``amount`` of collateral
    ``asset`` and a quote debt of ``debt`` owed to ``lender`` (credited ``debt``
    of quote), as a realised loss to ``lender`` would leave them (COL-2). The
    collateral counts as deposited, so every invariant holds (the CLQ examples,
    the simulator's borrowers)."""
    if borrower in ledger.accounts or borrower == lender:
        raise ValueError(f"{borrower!r} must be a new account, not the lender")
    quote = ledger.params.quote_asset
    lent = ledger.account(lender)
    lender_account = replace(lent, balances=lent.balances.set(quote, lent.balance(quote) + debt))
    borrower_account = Account(Map({quote: -debt, asset: amount}), Map())
    accounts = ledger.accounts.set(borrower, borrower_account).set(lender, lender_account)
    deposits = ledger.net_deposits.set(asset, ledger.net_deposits[asset] + amount)
    return replace(ledger, accounts=accounts, net_deposits=deposits)


def signed_update(
    feed: str,
    prices: Sequence[int],
    timestamp: int,
    round_: int,
    keys: Sequence[tuple[str, Ed25519PrivateKey]] | None = None,
    *,
    deployment: str = DEPLOYMENT_ID,
    decimals: int = PRICE_DECIMALS,
) -> OracleUpdate:
    """An oracle update with one report per price, signed by the first reporters
    for ``deployment`` and a feed of ``decimals`` decimals (the example's by default)."""
    keys = list(keys or reporter_keys())
    reports = tuple(
        sign_report(key, name, deployment, feed, decimals, price, timestamp, round_)
        for (name, key), price in zip(keys, prices, strict=False)
    )
    return OracleUpdate(feed, reports)


def example_scenario() -> list[Action]:
    """Deposits, a trade, a 10% drop in BTC, and a withdrawal that margin refuses."""
    drop = usd_price(54_000)
    return [
        Deposit("alice", "USDC", 10_000 * USD),
        Deposit("bob", "BTC", 1 * BTC),
        Deposit("bob", "USDC", 2_000 * USD),
        Deposit("carol", "USDC", 500 * USD),
        SettleTrades(
            (
                Fill(
                    "BTC-PERP",
                    maker="bob",
                    taker="alice",
                    taker_side=Side.BUY,
                    size=50_000_000,
                    price=usd_price(60_010),
                    maker_fee_ppm=-100,
                    taker_fee_ppm=500,
                ),
            )
        ),
        Transfer("alice", "carol", "USDC", 1_000 * USD),
        AdvanceTime(30),
        signed_update("BTC-USD", [drop - usd_price(20), drop, drop + usd_price(15)], 29, 1),
        Withdraw("alice", "USDC", 7_000 * USD),
        Withdraw("bob", "BTC", 10_000_000),
    ]


def _price_round(feed: str, dollars: int, at: int, round_: int) -> list[Action]:
    price = usd_price(dollars)
    return [
        AdvanceTime(at),
        signed_update(feed, [price - usd_price(5), price, price + usd_price(5)], at, round_),
    ]


def crash_scenario() -> list[Action]:
    """A leveraged long through a 23% crash: funding, a liquidation the fund
    covers with a fee, then a gap past bankruptcy that the small fund cannot
    cover, so the account is deleveraged against the ranked shorts."""
    actions: list[Action] = [
        Deposit("alice", "USDC", 700 * USD),
        Deposit("erin", "USDC", 750 * USD),
        Deposit("bob", "USDC", 50_000 * USD),
        Deposit("carol", "USDC", 50_000 * USD),
        Deposit("dave", "USDC", 1_000 * USD),
        FundInsurance("carol", 10 * USD),
        # alice and erin go long 0.1 BTC each; bob and dave are short.
        SettleTrades(
            (
                Fill("BTC-PERP", "bob", "alice", Side.BUY, 10_000_000, usd_price(60_000), 0, 500),
                Fill("BTC-PERP", "dave", "erin", Side.BUY, 10_000_000, usd_price(60_000), 0, 500),
            )
        ),
        PremiumSample("BTC-PERP", 100),
        *_price_round("BTC-USD", 60_000, 3_600, 1),
        ApplyFunding("BTC-PERP"),
        *_price_round("BTC-USD", 56_000, 3_660, 2),
        *_price_round("BTC-USD", 54_000, 3_720, 3),
        # erin is below maintenance: carol takes her long at the oracle price.
        Liquidate("BTC-PERP", "erin", "carol", 10_000_000, usd_price(54_000), 0),
        *_price_round("BTC-USD", 47_000, 3_780, 4),
        # alice is bankrupt and the fund cannot cover her: a liquidation is refused...
        Liquidate("BTC-PERP", "alice", "carol", 10_000_000, usd_price(47_000), 0),
        # ... so she is deleveraged against the shorts in ranking order.
        Deleverage("BTC-PERP", "alice", ("dave", "bob")),
        Withdraw("bob", "USDC", 1_000 * USD),  # refused: withdrawals are gated
    ]
    return actions
