"""Helpers for the crash state machine (tests/test_stateful_crash.py).

:class:`Book` is an independent re-statement, from ``spec/``, of the rules the
crash machine drives: collateral (COL-*), the clock, honest oracle rounds
(ORA-7, ORA-9), trades (TRD-*), funding (FND-*), liquidation (LIQ-*), the
insurance fund (INS-*), deleveraging and socialised loss (ADL-*) and expiry
settlement (EXP-*). It holds the ledger as plain ints, dicts and small
records, and uses none of the model's logic (not the kernel, the margin engine,
the positions helpers or the transitions), only its records (parameters,
actions) and error codes. The machine builds a book from the ledger before
every action, lets the book predict the verdict and the state after, and
compares them with the model's, field by field.

It also holds the builders the machine draws actions with: oracle rounds whose
median is an exact target, price paths that crash or rally over several rounds
(each within the circuit breaker), the fillable-price boundary of a
liquidation, and balanced or unbalanced expiry batches.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from hypothesis import strategies as st

from clearspec.actions import (
    Action,
    AdvanceTime,
    ApplyFunding,
    CoverBadDebt,
    Deleverage,
    Deposit,
    FundInsurance,
    Liquidate,
    OracleUpdate,
    PremiumSample,
    ReportNegativeCollateral,
    SettleExpiry,
    SettleTrades,
    Side,
    Transfer,
    Withdraw,
)
from clearspec.errors import ErrorCode
from clearspec.params import (
    MAX_AMOUNT,
    PPM,
    DeficitPolicy,
    LiquidationParams,
    MarketKind,
    MarketParams,
    ProtocolParams,
    revise,
    with_market,
)
from clearspec.state import Ledger
from clearspec_tools.examples import USD, example_params
from tests.strategies import KEYS, ceil_div, sign

LOSS_SCALE = 10**18  # ADL-6, restated here (spec/deleveraging.md)


def _crash_params() -> ProtocolParams:
    """The example parameters with one-second breaker intervals that bound a move
    to 100 % (ORA-10): a crash of several rounds, each within ORA-9, is accepted
    (rounds within one second are bounded together, and only a rise past twice
    the reference is refused), so the machine reaches the gaps past bankruptcy
    it is about."""
    base = example_params()
    return revise(base, oracle=replace(base.oracle, breaker_interval=1, max_interval_move_ppm=1_000_000))


DELEVERAGE_PARAMS: ProtocolParams = _crash_params()


def _socialise_params() -> ProtocolParams:
    """The example parameters with BTC-PERP's deficit policy set to ``socialise``."""
    return with_market(DELEVERAGE_PARAMS, "BTC-PERP", deficit_policy=DeficitPolicy.SOCIALISE)


SOCIALISE_PARAMS: ProtocolParams = _socialise_params()


def _limits_params() -> ProtocolParams:
    """The example parameters with the LIQ-5 block limits and TRD-8 minimum sizes
    switched on, and the dated BTC-DEC socialising its deficits (EXP-4)."""
    base = DELEVERAGE_PARAMS
    markets = tuple(
        replace(
            m,
            min_position_size=100_000,  # 0.001 coin
            deficit_policy=DeficitPolicy.SOCIALISE if m.expiry is not None else m.deficit_policy,
        )
        for m in base.markets
    )
    return revise(
        base,
        markets=markets,
        liquidation=LiquidationParams(
            max_position_portion_ppm=500_000,
            min_position_notional=2_000 * USD,
            max_notional_per_block=150_000 * USD,
            max_insurance_lost_per_block=300 * USD,
        ),
    )


LIMITS_PARAMS: ProtocolParams = _limits_params()

QUOTE = DELEVERAGE_PARAMS.quote_asset
PERPS: tuple[str, ...] = ("BTC-PERP", "ETH-PERP")
DATED_ID = "BTC-DEC"
MARKET_IDS: tuple[str, ...] = (*PERPS, DATED_ID)
TRADERS: tuple[str, ...] = ("alice", "bob", "carol", "dave", "erin", "frank")
LIQUIDATORS: tuple[str, ...] = ("lp-1", "lp-2")
GHOST = "ghost"


class Rejected(Exception):
    """The book refuses an action with ``code``."""

    def __init__(self, code: ErrorCode) -> None:
        super().__init__(code.value)
        self.code = code


def need(condition: bool, code: ErrorCode) -> None:
    """Refuse with ``code`` unless ``condition`` holds."""
    if not condition:
        raise Rejected(code)


def clamp(value: int, low: int, high: int) -> int:
    return min(max(value, low), high)


def allowed(before: tuple[int, int, int], after: tuple[int, int, int]) -> bool:
    """MRG-4 on (NC, IMR, MMR): at initial margin after, or not riskier."""
    nc0, _, mmr0 = before
    nc1, imr1, mmr1 = after
    if nc1 >= imr1:
        return True
    if mmr1 > mmr0:
        return False
    if mmr0 == 0 or mmr1 == 0:
        return mmr0 == 0 and mmr1 == 0 and nc1 > nc0
    return nc1 * mmr0 >= nc0 * mmr1


@dataclass
class Pos:
    """An open position: signed size, quote, funding and loss snapshots."""

    size: int
    quote: int
    f: int
    l: int  # noqa: E741 (the spec's name for the loss snapshot)


@dataclass
class Mkt:
    """A market's accumulated state (MarketState, restated)."""

    funding_index: int
    loss_index: int
    premium_sum: int
    premium_count: int
    last_funding_at: int
    pool: int
    open_interest: int
    settlement_price: int | None


Usage = tuple[int, int, int, dict[str, tuple[int, int]]]  # at, notional, insurance lost, per market


@dataclass
class Book:
    """The ledger as plain data, with the rules written out again from spec/."""

    params: ProtocolParams = field(compare=False, repr=False)
    now: int
    prices: dict[
        str, tuple[int, int, int, int, int]
    ]  # feed -> (price, round, updated_at, reference, reference_at)
    balances: dict[str, dict[str, int]]
    positions: dict[str, dict[str, Pos]]
    markets: dict[str, Mkt]
    fund: dict[str, int]
    fee_pool: dict[str, int]
    net_deposits: dict[str, int]
    gate_until: int
    usage: dict[str, Usage]

    # -- reading the model's ledger, comparing ----------------------------------------

    @staticmethod
    def of(ledger: Ledger) -> Book:
        """The ledger's content as a book (a fresh copy: the book may be changed)."""
        return Book(
            params=ledger.params,
            now=ledger.now,
            prices={
                f: (p.price, p.round, p.updated_at, p.reference, p.reference_at)
                for f, p in ledger.prices.items()
            },
            balances={n: dict(a.balances.items()) for n, a in ledger.accounts.items()},
            positions={
                n: {m: Pos(p.size, p.quote, p.funding_index, p.loss_index) for m, p in a.positions.items()}
                for n, a in ledger.accounts.items()
            },
            markets={
                m: Mkt(
                    s.funding_index,
                    s.loss_index,
                    s.premium_sum,
                    s.premium_count,
                    s.last_funding_at,
                    s.pool,
                    s.open_interest,
                    s.settlement_price,
                )
                for m, s in ledger.markets.items()
            },
            fund=dict(ledger.insurance_fund.items()),
            fee_pool=dict(ledger.fee_pool.items()),
            net_deposits=dict(ledger.net_deposits.items()),
            gate_until=ledger.gate_until,
            usage={
                n: (u.at, u.notional, u.insurance_lost, dict(u.positions.items()))
                for n, u in ledger.liquidation_usage.items()
            },
        )

    def copy(self) -> Book:
        return Book(
            params=self.params,
            now=self.now,
            prices=dict(self.prices),
            balances={n: dict(b) for n, b in self.balances.items()},
            positions={n: {m: replace(p) for m, p in ps.items()} for n, ps in self.positions.items()},
            markets={m: replace(state) for m, state in self.markets.items()},
            fund=dict(self.fund),
            fee_pool=dict(self.fee_pool),
            net_deposits=dict(self.net_deposits),
            gate_until=self.gate_until,
            usage={n: (at, notional, lost, dict(u)) for n, (at, notional, lost, u) in self.usage.items()},
        )

    def differences(self, other: Book) -> list[str]:
        """Where two books differ, field by field, zero balances aside (empty: equal)."""
        found = []
        for name in ("now", "prices", "markets", "fund", "fee_pool", "net_deposits", "gate_until", "usage"):
            if getattr(self, name) != getattr(other, name):
                found.append(f"{name}: {getattr(self, name)} != {getattr(other, name)}")
        for name in sorted(set(self.balances) | set(other.balances)):
            mine = {a: b for a, b in self.balances.get(name, {}).items() if b != 0}
            theirs = {a: b for a, b in other.balances.get(name, {}).items() if b != 0}
            if mine != theirs:
                found.append(f"balances[{name}]: {mine} != {theirs}")
            if self.positions.get(name) != other.positions.get(name):
                found.append(f"positions[{name}]: {self.positions.get(name)} != {other.positions.get(name)}")
        return found

    # -- reading ------------------------------------------------------------------------

    def market(self, market_id: str) -> MarketParams:
        return self.params.market_by_id[market_id]

    def mark(self, market: MarketParams) -> int:
        """MRG-1, EXP-1: the oracle price, or the final price once fixed."""
        fixed = self.markets[market.market_id].settlement_price
        return self.price(market.feed) if fixed is None else fixed

    def scale(self, feed: str) -> int:
        return int(10 ** self.params.feed_by_id[feed].price_decimals)

    def price(self, feed: str) -> int:
        return self.prices[feed][0]

    def size(self, name: str, market_id: str) -> int:
        position = self.positions.get(name, {}).get(market_id)
        return 0 if position is None else position.size

    def live(self, market_id: str) -> bool:
        expiry = self.market(market_id).expiry
        return expiry is None or self.now < expiry

    def tiered(self, market: MarketParams, abs_size: int, price: int) -> tuple[int, int]:
        """MRG-2: (IMR, MMR) of a position of ``abs_size``, each rounded up."""
        lower = initial = maintenance = 0
        for tier in market.tiers:
            upper = abs_size if tier.up_to_size is None else min(abs_size, tier.up_to_size)
            part = max(upper - lower, 0)
            initial += part * tier.initial_ppm
            maintenance += part * tier.maintenance_ppm
            if tier.up_to_size is not None:
                lower = tier.up_to_size
        scale = self.scale(market.feed)
        return ceil_div(initial * price, scale * PPM), ceil_div(maintenance * price, scale * PPM)

    def risk(self, name: str) -> tuple[int, int, int]:
        """MRG-1: (NC, IMR, MMR) as the account stands (without unsettled funding)."""
        nc = imr = mmr = 0
        for asset, balance in self.balances[name].items():
            if asset == QUOTE:
                nc += balance
                continue
            params = self.params.asset_by_id[asset]
            assert params.feed is not None
            exact, scale = balance * self.price(params.feed), self.scale(params.feed)
            value = exact // scale
            nc += value
            imr += value - exact * params.initial_weight_ppm // (scale * PPM)
            mmr += value - exact * params.maintenance_weight_ppm // (scale * PPM)
        for market_id, position in self.positions[name].items():
            market = self.market(market_id)
            price = self.mark(market)
            nc += position.size * price // self.scale(market.feed) + position.quote
            initial, maintenance = self.tiered(market, abs(position.size), price)
            imr += initial
            mmr += maintenance
        return nc, imr, mmr

    def positions_mmr(self, name: str) -> int:
        """ADL-3: the maintenance requirement of the account's positions alone."""
        total = 0
        for market_id, position in self.positions[name].items():
            market = self.market(market_id)
            total += self.tiered(market, abs(position.size), self.mark(market))[1]
        return total

    def liquidatable(self, name: str) -> bool:
        """MRG-6, on the settled account."""
        settled = self.copy()
        settled.settle(name)
        nc, _, mmr = settled.risk(name)
        return mmr > 0 and nc < mmr

    # -- small state changes ------------------------------------------------------------

    def settle(self, name: str) -> None:
        """FND-3: what each position owes since its snapshots, rounded up, into the pool."""
        for market_id, position in self.positions[name].items():
            state = self.markets[market_id]
            scale = self.scale(self.market(market_id).feed)
            owed = ceil_div(position.size * (state.funding_index - position.f), PPM * scale)
            owed += ceil_div(abs(position.size) * (state.loss_index - position.l), LOSS_SCALE)
            self.credit(name, -owed)
            state.pool += owed
            position.f, position.l = state.funding_index, state.loss_index

    def credit(self, name: str, amount: int) -> None:
        balances = self.balances[name]
        balances[QUOTE] = balances.get(QUOTE, 0) + amount

    def move(self, name: str, market_id: str, size_delta: int, quote_delta: int) -> None:
        """TRD-4: change a settled position; at zero its quote is realised."""
        state = self.markets[market_id]
        held = self.positions[name]
        old = held.get(market_id, Pos(0, 0, state.funding_index, state.loss_index))
        new_size, new_quote = old.size + size_delta, old.quote + quote_delta
        if new_size == 0:
            self.credit(name, new_quote)
            held.pop(market_id, None)
        else:
            held[market_id] = Pos(new_size, new_quote, old.f, old.l)
        state.open_interest += max(new_size, 0) - max(old.size, 0)

    def sweep(self, market_id: str) -> None:
        """FND-4: an empty market's pool goes to the fund."""
        state = self.markets[market_id]
        if state.open_interest == 0:
            self.fund[QUOTE] += state.pool
            state.pool = 0

    def gate(self, nc: int) -> None:
        """INS-6."""
        if nc < 0:
            self.gate_until = max(self.gate_until, self.now + self.params.liquidation.withdrawal_gate_seconds)

    def position_rules(self, name: str, markets: Iterable[str]) -> None:
        """TRD-6, TRD-8."""
        for market_id in markets:
            market = self.market(market_id)
            size = abs(self.size(name, market_id))
            need(size <= market.max_position, ErrorCode.POSITION_LIMIT_EXCEEDED)
            need(
                size == 0 or size >= max(market.min_position_size, market.step_size),
                ErrorCode.POSITION_BELOW_MINIMUM,
            )

    # -- predicting ---------------------------------------------------------------------

    def predict(self, action: Action) -> tuple[ErrorCode | None, Book | None]:
        """The verdict on ``action`` and, if accepted, the book after it."""
        after = self.copy()
        try:
            after._apply(action)
        except Rejected as rejection:
            return rejection.code, None
        return None, after

    def _apply(self, action: Action) -> None:
        match action:
            case Deposit(name, asset, amount):
                self._amount(asset, amount)
                self.balances.setdefault(name, {})
                self.positions.setdefault(name, {})
                self.balances[name][asset] = self.balances[name].get(asset, 0) + amount
                self.net_deposits[asset] += amount
            case Withdraw(name, asset, amount):
                need(name in self.balances, ErrorCode.UNKNOWN_ACCOUNT)
                self._debit(name, asset, amount)
                self.net_deposits[asset] -= amount
            case Transfer(source, destination, asset, amount):
                need(source in self.balances and destination in self.balances, ErrorCode.UNKNOWN_ACCOUNT)
                need(source != destination, ErrorCode.SELF_TRANSFER)
                self._debit(source, asset, amount)
                self.balances[destination][asset] = self.balances[destination].get(asset, 0) + amount
            case AdvanceTime(now):
                need(now >= self.now, ErrorCode.CLOCK_NOT_MONOTONIC)
                self.now = now
            case OracleUpdate():
                self._oracle(action)
            case SettleTrades():
                self._trades(action)
            case PremiumSample(market_id, premium):
                market = self._perpetual(market_id)
                need(abs(premium) <= MAX_AMOUNT, ErrorCode.AMOUNT_TOO_LARGE)
                spread = market.tiers[0].initial_ppm - market.tiers[0].maintenance_ppm
                bound = market.premium_clamp_factor_ppm * spread // PPM
                state = self.markets[market_id]
                state.premium_sum += clamp(premium, -bound, bound)
                state.premium_count += 1
            case ApplyFunding(market_id):
                self._funding(market_id)
            case Liquidate():
                self._liquidate(action)
            case Deleverage():
                self._deleverage(action)
            case CoverBadDebt(name):
                need(name in self.balances, ErrorCode.UNKNOWN_ACCOUNT)
                need(all(p.size == 0 for p in self.positions.get(name, {}).values()), ErrorCode.HAS_POSITIONS)
                nc = self.risk(name)[0]
                need(nc < 0, ErrorCode.NO_BAD_DEBT)
                need(self.fund[QUOTE] > 0, ErrorCode.INSURANCE_FUND_INSUFFICIENT)
                paid = min(self.fund[QUOTE], -nc)
                self.credit(name, paid)
                self.fund[QUOTE] -= paid
                self.gate(nc)
            case ReportNegativeCollateral(name):
                need(name in self.balances, ErrorCode.UNKNOWN_ACCOUNT)
                self.settle(name)
                nc = self.risk(name)[0]
                need(nc < 0, ErrorCode.NOT_BANKRUPT)
                self.gate(nc)
            case FundInsurance(name, amount):
                need(name in self.balances, ErrorCode.UNKNOWN_ACCOUNT)
                need(amount > 0, ErrorCode.NON_POSITIVE_AMOUNT)
                need(amount <= MAX_AMOUNT, ErrorCode.AMOUNT_TOO_LARGE)
                self.settle(name)
                need(self.balances[name].get(QUOTE, 0) >= amount, ErrorCode.INSUFFICIENT_BALANCE)
                self.credit(name, -amount)
                nc, imr, _ = self.risk(name)
                need(nc >= imr, ErrorCode.MARGIN_INSUFFICIENT)
                self.fund[QUOTE] += amount
            case SettleExpiry():
                self._expiry(action)

    def _amount(self, asset: str, amount: int) -> None:
        need(asset in self.params.asset_by_id, ErrorCode.UNKNOWN_ASSET)
        need(amount > 0, ErrorCode.NON_POSITIVE_AMOUNT)
        need(amount <= MAX_AMOUNT, ErrorCode.AMOUNT_TOO_LARGE)

    def _debit(self, name: str, asset: str, amount: int) -> None:
        """COL-4/COL-5: amount, gate, settle, balance, initial margin."""
        self._amount(asset, amount)
        need(self.now >= self.gate_until, ErrorCode.WITHDRAWALS_GATED)
        self.settle(name)
        need(self.balances[name].get(asset, 0) >= amount, ErrorCode.INSUFFICIENT_BALANCE)
        self.balances[name][asset] = self.balances[name].get(asset, 0) - amount
        nc, imr, _ = self.risk(name)
        need(nc >= imr, ErrorCode.MARGIN_INSUFFICIENT)

    def _oracle(self, update: OracleUpdate) -> None:
        """Only what the machine's honest rounds can break: replay, ORA-9 and
        ORA-10. The median is the lower one (ORA-7)."""
        need(len(update.reports) > 0, ErrorCode.ORACLE_NO_REPORTS)
        previous, last_round, _, reference, reference_at = self.prices[update.feed]
        oracle = self.params.oracle
        need(all(r.round > last_round for r in update.reports), ErrorCode.ORACLE_REPLAYED_ROUND)
        median = sorted(r.price for r in update.reports)[(len(update.reports) - 1) // 2]
        need(
            abs(median - previous) * PPM <= previous * oracle.max_deviation_ppm,
            ErrorCode.ORACLE_CIRCUIT_BREAKER,
        )
        start = self.now // oracle.breaker_interval * oracle.breaker_interval
        if reference_at < start:  # ORA-10: a new interval, from the price in force
            reference, reference_at = previous, start
        need(
            abs(median - reference) * PPM <= reference * oracle.max_interval_move_ppm,
            ErrorCode.ORACLE_INTERVAL_BREAKER,
        )
        self.prices[update.feed] = (median, update.reports[0].round, self.now, reference, reference_at)

    def _trades(self, action: SettleTrades) -> None:
        """TRD-1..TRD-8, for the well-formed batches the machine sends."""
        need(len(action.fills) > 0, ErrorCode.TRADE_EMPTY_BATCH)
        for f in action.fills:
            market = self.market(f.market)
            need(f.maker in self.balances and f.taker in self.balances, ErrorCode.UNKNOWN_ACCOUNT)
            need(f.maker != f.taker, ErrorCode.TRADE_SELF_MATCH)
            need(self.live(f.market), ErrorCode.MARKET_EXPIRED)
            need(f.size > 0, ErrorCode.TRADE_NON_POSITIVE_SIZE)
            need(f.size <= market.max_position, ErrorCode.POSITION_LIMIT_EXCEEDED)
            need(f.size % market.step_size == 0, ErrorCode.TRADE_SIZE_NOT_STEP)
            need(f.price > 0, ErrorCode.TRADE_NON_POSITIVE_PRICE)
            need(f.price % market.tick_size == 0, ErrorCode.TRADE_PRICE_NOT_TICK)
            oracle = self.price(market.feed)
            need(
                abs(f.price - oracle) * PPM <= oracle * market.price_band_ppm,
                ErrorCode.TRADE_PRICE_OUT_OF_BAND,
            )
            cap = market.max_fee_ppm
            need(
                f.maker_fee_ppm + f.taker_fee_ppm >= 0
                and abs(f.maker_fee_ppm) <= cap
                and abs(f.taker_fee_ppm) <= cap,
                ErrorCode.TRADE_FEE_INVALID,
            )
        touched = list(dict.fromkeys(n for f in action.fills for n in (f.maker, f.taker)))
        for name in touched:
            self.settle(name)
        before = {name: self.risk(name) for name in touched}
        for f in action.fills:
            amount = f.size * f.price // self.scale(self.market(f.market).feed)
            maker_fee = ceil_div(amount * f.maker_fee_ppm, PPM)
            taker_fee = ceil_div(amount * f.taker_fee_ppm, PPM)
            sign_ = 1 if f.taker_side is Side.BUY else -1
            self.move(f.taker, f.market, sign_ * f.size, -sign_ * amount)
            self.move(f.maker, f.market, -sign_ * f.size, sign_ * amount)
            self.credit(f.taker, -taker_fee)
            self.credit(f.maker, -maker_fee)
            self.fee_pool[QUOTE] += maker_fee + taker_fee
        traded = list(dict.fromkeys(f.market for f in action.fills))
        for market_id in traded:
            self.sweep(market_id)
        for name in touched:
            self.position_rules(name, traded)
            need(allowed(before[name], self.risk(name)), ErrorCode.MARGIN_INSUFFICIENT)

    def _perpetual(self, market_id: str) -> MarketParams:
        need(market_id in self.params.market_by_id, ErrorCode.UNKNOWN_MARKET)
        market = self.market(market_id)
        need(market.kind is MarketKind.PERPETUAL, ErrorCode.FUNDING_NOT_PERPETUAL)
        return market

    def _funding(self, market_id: str) -> None:
        """FND-2."""
        market = self._perpetual(market_id)
        state = self.markets[market_id]
        need(self.now >= state.last_funding_at + market.funding_interval, ErrorCode.FUNDING_TOO_EARLY)
        spread = market.tiers[0].initial_ppm - market.tiers[0].maintenance_ppm
        # FND-2: the factor bounds the rate per 8 hours; one interval gets its share.
        bound = market.funding_clamp_factor_ppm * spread * market.funding_interval // (PPM * 28_800)
        average = state.premium_sum // max(state.premium_count, 1)
        rate = clamp(average + market.funding_interest_ppm, -bound, bound)
        state.funding_index += rate * self.price(market.feed)
        state.premium_sum = state.premium_count = 0
        state.last_funding_at = self.now

    # -- liquidation (LIQ-*) ------------------------------------------------------------

    def bankruptcy(self, name: str, market_id: str, delta: int, nc: int, total_mmr: int) -> int:
        """LIQ-2: ``-DNNV - floor(TNC * |DMMR| / TMMR)``."""
        market = self.market(market_id)
        price, scale = self.mark(market), self.scale(market.feed)
        size = self.size(name, market_id)
        dnnv = (size + delta) * price // scale - size * price // scale
        dmmr = self.tiered(market, abs(size), price)[1] - self.tiered(market, abs(size + delta), price)[1]
        return -dnnv - nc * dmmr // total_mmr

    def _fillable(self, name: str, market_id: str) -> tuple[int, int]:
        """LIQ-3 as ``price * PS * D >= X``: returns (X, PS * D), for the settled account."""
        market = self.market(market_id)
        liq = self.params.liquidation
        price, scale = self.mark(market), self.scale(market.feed)
        nc, _, total_mmr = self.risk(name)
        size = self.size(name, market_id)
        pnnv = size * price // scale
        pmmr = self.tiered(market, abs(size), price)[1]
        denominator = PPM * total_mmr * PPM
        abr = clamp(liq.bankruptcy_adjustment_ppm * (total_mmr - nc), 0, PPM * total_mmr)
        spread = abr * liq.spread_to_maintenance_ppm * pmmr
        return (pnnv * denominator - spread) * scale, size * denominator

    def fillable_boundary(self, name: str, market_id: str) -> int:
        """The worst tick-aligned price LIQ-3 allows for the settled account's position:
        the lowest for a long (sold), the highest for a short (bought)."""
        tick = self.market(market_id).tick_size
        bound, weight = self._fillable(name, market_id)
        if weight > 0:
            return ceil_div(bound, weight * tick) * tick
        return (-bound) // (-weight * tick) * tick

    def _liquidate(self, action: Liquidate) -> None:
        """LIQ-1's checks in order, then LIQ-4, ADL-6, FND-4, LIQ-5, INS-6."""
        need(action.market in self.params.market_by_id, ErrorCode.UNKNOWN_MARKET)
        market = self.market(action.market)
        name, other = action.liquidated, action.counterparty
        need(name in self.balances, ErrorCode.UNKNOWN_ACCOUNT)
        need(other in self.balances, ErrorCode.UNKNOWN_ACCOUNT)
        need(name != other, ErrorCode.TRADE_SELF_MATCH)
        need(self.live(action.market), ErrorCode.MARKET_EXPIRED)
        need(action.size > 0, ErrorCode.TRADE_NON_POSITIVE_SIZE)
        need(action.size % market.step_size == 0, ErrorCode.TRADE_SIZE_NOT_STEP)
        need(action.price > 0, ErrorCode.TRADE_NON_POSITIVE_PRICE)
        need(action.price <= MAX_AMOUNT, ErrorCode.AMOUNT_TOO_LARGE)
        need(action.price % market.tick_size == 0, ErrorCode.TRADE_PRICE_NOT_TICK)
        need(0 <= action.counterparty_fee_ppm <= market.max_fee_ppm, ErrorCode.TRADE_FEE_INVALID)
        self.settle(name)
        self.settle(other)
        nc, _, total_mmr = self.risk(name)
        need(total_mmr > 0 and nc < total_mmr, ErrorCode.NOT_LIQUIDATABLE)
        size = self.size(name, action.market)
        need(size != 0, ErrorCode.NO_POSITION)
        need(action.size <= abs(size), ErrorCode.LIQUIDATION_INCREASES_RISK)
        bound, weight = self._fillable(name, action.market)
        need(action.price * weight >= bound, ErrorCode.LIQUIDATION_PRICE_WORSE_THAN_FILLABLE)
        delta = -action.size if size > 0 else action.size
        amount = action.size * action.price // self.scale(market.feed)
        received = amount if size > 0 else -amount
        surplus = received - self.bankruptcy(name, action.market, delta, nc, total_mmr)
        liq = self.params.liquidation
        fund_delta = surplus if surplus <= 0 else min(amount * liq.max_liquidation_fee_ppm // PPM, surplus)
        fund = self.fund[QUOTE]
        paid = min(max(-fund_delta, 0), fund)
        shortfall = max(-fund_delta, 0) - paid
        if market.deficit_policy is DeficitPolicy.DELEVERAGE:
            need(shortfall == 0, ErrorCode.INSURANCE_FUND_INSUFFICIENT)
        at, notional, lost, usage = self.usage.get(name, (self.now, 0, 0, {}))
        if at != self.now:
            at, notional, lost, usage = self.now, 0, 0, {}
        initial, done = usage.get(action.market, (abs(size), 0))
        need(
            done + action.size <= self._allowed_size(market, initial)
            and notional + amount <= liq.max_notional_per_block
            and lost + paid <= liq.max_insurance_lost_per_block,
            ErrorCode.LIQUIDATION_LIMIT_EXCEEDED,
        )
        other_before = self.risk(other)
        self.move(name, action.market, delta, received)
        self.move(other, action.market, -delta, -received)
        self.credit(name, -fund_delta)
        fee = ceil_div(amount * action.counterparty_fee_ppm, PPM)
        self.credit(other, -fee)
        self.fee_pool[QUOTE] += fee
        self.fund[QUOTE] = fund + max(fund_delta, 0) - paid
        if shortfall > 0:  # ADL-6
            state = self.markets[action.market]
            need(state.open_interest > 0, ErrorCode.INSURANCE_FUND_INSUFFICIENT)
            state.loss_index += ceil_div(shortfall * LOSS_SCALE, 2 * state.open_interest)
            state.pool -= shortfall
        self.sweep(action.market)
        self.position_rules(name, [action.market])
        self.position_rules(other, [action.market])
        need(allowed(other_before, self.risk(other)), ErrorCode.MARGIN_INSUFFICIENT)
        usage = {**usage, action.market: (initial, done + action.size)}
        self.usage[name] = (self.now, notional + amount, lost + paid, usage)
        self.gate(nc)

    def _allowed_size(self, market: MarketParams, initial: int) -> int:
        """LIQ-5: the size of a position that may go within one block."""
        liq = self.params.liquidation
        value = initial * self.price(market.feed) // self.scale(market.feed)
        stepped = max(
            initial * liq.max_position_portion_ppm // PPM // market.step_size * market.step_size,
            market.step_size,
        )
        minimum = max(market.min_position_size, market.step_size)
        return initial if value <= liq.min_position_notional or initial - stepped < minimum else stepped

    # -- deleveraging (ADL-*) -----------------------------------------------------------

    def adl_score(self, name: str, market_id: str) -> int:
        """ADL-2: ``floor(upnl * |value| / max(NC, 1))`` as the account stands."""
        market = self.market(market_id)
        position = self.positions[name][market_id]
        value = position.size * self.mark(market) // self.scale(market.feed)
        return (value + position.quote) * abs(value) // max(self.risk(name)[0], 1)

    def ranking(self, market_id: str, side: int) -> list[str]:
        """ADL-2: the holders of ``side``, highest score first, ties by id."""
        holders = [n for n in self.positions if self.size(n, market_id) * side > 0]
        return sorted(holders, key=lambda n: (-self.adl_score(n, market_id), n))

    def _deleverage(self, action: Deleverage) -> None:
        """ADL-4's checks in order, then ADL-3's offsets with skips, FND-4, ADL-5."""
        need(action.market in self.params.market_by_id, ErrorCode.UNKNOWN_MARKET)
        name = action.account
        need(name in self.balances, ErrorCode.UNKNOWN_ACCOUNT)
        need(
            self.market(action.market).deficit_policy is DeficitPolicy.DELEVERAGE,
            ErrorCode.DELEVERAGING_DISABLED,
        )
        self.settle(name)
        nc = self.risk(name)[0]
        need(nc < 0, ErrorCode.NOT_BANKRUPT)
        need(self.fund[QUOTE] < -nc, ErrorCode.FUND_CAN_COVER)
        size = self.size(name, action.market)
        need(size != 0, ErrorCode.NO_POSITION)
        side = 1 if size > 0 else -1
        previous: tuple[int, str] | None = None
        seen: set[str] = set()
        for other in action.counterparties:
            need(
                other in self.balances and other != name and other not in seen, ErrorCode.ADL_BAD_COUNTERPARTY
            )
            seen.add(other)
            need(self.size(other, action.market) * side < 0, ErrorCode.ADL_BAD_COUNTERPARTY)
            key = (-self.adl_score(other, action.market), other)
            need(previous is None or previous <= key, ErrorCode.ADL_RANKING_VIOLATED)
            previous = key
        # ADL-2: the list is the whole opposite side (counted here by scanning the book).
        opposite = {n for n in self.positions if self.size(n, action.market) * side < 0}
        need(opposite <= set(action.counterparties), ErrorCode.ADL_RANKING_VIOLATED)
        offset_any = False
        for other in action.counterparties:
            remaining = abs(self.size(name, action.market))
            if remaining == 0:
                break
            trial = self.copy()
            try:
                trial._offset(name, action.market, other, side, remaining)
            except Rejected:
                continue  # skipped, its settlement discarded too
            self.__dict__.update(trial.__dict__)
            offset_any = True
        need(offset_any, ErrorCode.ADL_NO_VALID_COUNTERPARTY)
        self.sweep(action.market)
        self.gate(nc)

    def _offset(self, name: str, market_id: str, other: str, side: int, remaining: int) -> None:
        self.settle(other)
        taken = min(remaining, abs(self.size(other, market_id)))
        delta = -side * taken
        quote = self.bankruptcy(name, market_id, delta, self.risk(name)[0], self.positions_mmr(name))
        other_before = self.risk(other)
        self.move(name, market_id, delta, quote)
        self.move(other, market_id, -delta, -quote)
        self.position_rules(other, [market_id])
        need(allowed(other_before, self.risk(other)), ErrorCode.MARGIN_INSUFFICIENT)

    # -- expiry (EXP-*) -----------------------------------------------------------------

    def _expiry(self, action: SettleExpiry) -> None:
        need(action.market in self.params.market_by_id, ErrorCode.UNKNOWN_MARKET)
        market = self.market(action.market)
        need(market.kind is MarketKind.DATED, ErrorCode.MARKET_NOT_DATED)
        assert market.expiry is not None
        need(self.now >= market.expiry, ErrorCode.EXPIRY_NOT_REACHED)
        state = self.markets[action.market]
        price, _, updated_at, _, _ = self.prices[market.feed]
        need(
            state.settlement_price is not None or updated_at >= market.expiry,
            ErrorCode.EXPIRY_PRICE_NOT_FINAL,
        )
        if state.settlement_price is None:
            state.settlement_price = price
        final = state.settlement_price
        net = 0
        for name in action.accounts:
            need(name in self.balances, ErrorCode.UNKNOWN_ACCOUNT)
            size = self.size(name, action.market)
            need(size != 0, ErrorCode.NO_POSITION)
            net += size
            self.settle(name)
            value = size * final // self.scale(market.feed)
            self.move(name, action.market, -size, value)
            state.pool -= value
            nc = self.risk(name)[0]
            if not self.positions[name]:  # EXP-4
                deficit = max(-nc, 0)
                if market.deficit_policy is DeficitPolicy.DELEVERAGE:
                    need(deficit <= self.fund[QUOTE], ErrorCode.INSURANCE_FUND_INSUFFICIENT)
                paid = min(deficit, self.fund[QUOTE])
                self.credit(name, paid)
                self.fund[QUOTE] -= paid
            self.gate(nc)
        need(net == 0, ErrorCode.EXPIRY_UNBALANCED)
        self.sweep(action.market)

    # -- sizing trades ------------------------------------------------------------------

    def largest_trade(self, long: str, short: str, market_id: str, price: int) -> int:
        """The largest size (in steps) at which ``long`` buying from ``short`` at
        ``price`` without fees leaves both at or above initial margin (0: none)."""
        market = self.market(market_id)
        scale = self.scale(market.feed)
        settled = self.copy()
        for name in (long, short):
            settled.settle(name)

        def fits(size: int) -> bool:
            amount = size * price // scale
            for name, sign_ in ((long, 1), (short, -1)):
                held = settled.positions[name]
                old = held.get(market_id)
                new_size = sign_ * size + (0 if old is None else old.size)
                new_quote = -sign_ * amount + (0 if old is None else old.quote)
                if new_size == 0:
                    held.pop(market_id, None)
                    settled.credit(name, new_quote)
                else:
                    held[market_id] = Pos(new_size, new_quote, 0, 0)
                nc, imr, _ = settled.risk(name)
                if new_size == 0:
                    settled.credit(name, -new_quote)
                if old is None:
                    held.pop(market_id, None)
                else:
                    held[market_id] = old
                if nc < imr:
                    return False
            return True

        low, high = 0, market.max_position // market.step_size // 4
        while low < high:
            middle = (low + high + 1) // 2
            if fits(middle * market.step_size):
                low = middle
            else:
                high = middle - 1
        return low * market.step_size


# --- oracle rounds and price paths ---------------------------------------------------


def oracle_round(feed: str, target: int, now: int, round_: int, count: int, spread_ppm: int) -> OracleUpdate:
    """A valid round of ``count`` distinct reporters whose (lower) median is exactly
    ``target``: some reports ``spread_ppm`` below, one at it, the rest above."""
    offset = target * spread_ppm // PPM
    lows = (count - 1) // 2
    prices = [target - offset] * lows + [target] + [target + offset] * (count - 1 - lows)
    reports = tuple(sign(i, feed, p, now, round_) for i, p in enumerate(prices))
    return OracleUpdate(feed, reports)


@st.composite
def round_shapes(draw: st.DrawFn) -> tuple[int, int]:
    """(number of reports, spread in ppm) of an honest round."""
    return draw(st.integers(3, len(KEYS))), draw(st.sampled_from([0, 1_000, 9_000]))


@st.composite
def price_path(draw: st.DrawFn, start: int, genesis: int) -> list[int]:
    """A crash or a rally over one to four rounds, each within the 25 % circuit
    breaker: together they gap far past maintenance and bankruptcy of a
    leveraged position. Turned back toward genesis when the price drifted far."""
    direction = draw(st.sampled_from([-1, 1]))
    if (start > 2 * genesis and direction > 0) or (start * 2 < genesis and direction < 0):
        direction = -direction
    rounds = draw(st.integers(1, 4))
    path, price = [], start
    for _ in range(rounds):
        move = draw(
            st.one_of(
                st.sampled_from([30_000, 60_000, 120_000, 200_000, 240_000]), st.integers(5_000, 240_000)
            )
        )
        price = price + direction * (price * move // PPM)
        path.append(price)
    return path


# --- expiry batches ------------------------------------------------------------------


def balanced_batches(sizes: dict[str, int]) -> list[tuple[str, ...]]:
    """Every group of two or more holders whose positions sum to zero (few holders)."""
    names = sorted(sizes)
    return [
        group
        for r in range(2, len(names) + 1)
        for group in itertools.combinations(names, r)
        if sum(sizes[n] for n in group) == 0
    ]


def unbalanced_batches(sizes: dict[str, int]) -> list[tuple[str, ...]]:
    """Non-empty groups of holders whose positions do not sum to zero (up to three)."""
    names = sorted(sizes)
    return [
        group
        for r in range(1, min(len(names), 3) + 1)
        for group in itertools.combinations(names, r)
        if sum(sizes[n] for n in group) != 0
    ]


def tick_floor(price: int, tick: int) -> int:
    return price // tick * tick
