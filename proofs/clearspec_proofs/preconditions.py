"""The spec's own list of checks per action type (ERR-1; spec/errors.md,
"Order of checks per action"), written independently of the model's guards.

For each action type, :data:`TABLE` gives a function that lists the checks of
one action in the order spec/errors.md fixes: ``(ErrorCode, condition)`` where
the condition *holds when the check passes*. Conditions are restated from the
spec text on the pre-state (every field read from the ledger: the clock, the
gate, the liquidation usage, the prices), with the kernel's helpers, so the same
table evaluates on concrete values (to confirm a counterexample) and on Z3
terms (to state the ``precondition`` obligations of ``engine.check_case``).

Conditions about the state after the action (MRG-3/4/5 margin, LIQ-3's fillable
price, the counterparty's checks of a liquidation) use the model's arithmetic
helpers (``account_risk``, ``settle_account``, ``move_position``, ...) on the
settled state or on the model's result ledger, but every comparison is restated
here from spec/margin.md and spec/liquidation.md, never delegated to
``meets_initial``, ``update_allowed`` or ``is_liquidatable``: a mutant of those
helpers then disagrees with this table.

The table is per action type, so any case of that type (a self-transfer, a
cover-bad-debt of an account with positions, ...) is covered. Lists with one
entry per item (reports, fills, touched accounts, counterparties, listed
accounts) are expanded from the action. Evaluation is lazy: it stops after the
first check that is false on concrete values, since later checks need not be
defined (an unknown account has no balance to read).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

from clearspec import kernel as k
from clearspec import oracle
from clearspec.actions import (
    Action,
    AdvanceTime,
    ApplyFunding,
    CoverBadDebt,
    Deleverage,
    Deposit,
    Fill,
    FundInsurance,
    Liquidate,
    LiquidateCollateral,
    OracleUpdate,
    PremiumSample,
    PriceReport,
    ReportNegativeCollateral,
    SettleExpiry,
    SettleTrades,
    Transfer,
    Withdraw,
)
from clearspec.errors import ErrorCode
from clearspec.margin import Risk, account_risk, mark_price, notional, tiered_requirement
from clearspec.params import MAX_AMOUNT, PPM, DeficitPolicy, MarketKind
from clearspec.positions import credit_quote, move_position, position_size, settle_account
from clearspec.state import Account, Ledger, with_balance

E = ErrorCode


@dataclass(frozen=True)
class SpecCheck:
    """One check of the spec's list: passes when ``condition`` holds."""

    code: ErrorCode
    condition: bool
    note: str = ""
    # True for checks the fixed-order oracle world makes true by construction
    # (signatures valid, reports sorted): not evidence about the model here.
    by_construction: bool = False


@dataclass(frozen=True)
class Context:
    """What a check may read: the pre-state, the action and the model's result
    ledger (the traced ``apply`` with its guards taken as holding; only post-state
    checks read it, and only when every earlier check passes)."""

    ledger: Ledger
    action: Any
    after: Ledger | None = None

    def result(self) -> Ledger:
        if self.after is None:
            raise ValueError("this check needs the model's result ledger")
        return self.after


Step = tuple[ErrorCode, Callable[[], bool], str]
Builder = Callable[[Context], Iterator[Step]]


def _within_ppm(value: int, reference: int, band_ppm: int) -> bool:
    """ORA-7/ORA-9/TRD-3, restated: ``|value - reference| * PPM <= reference * band``."""
    return k.abs_(value - reference) * PPM <= reference * band_ppm


def initial_met(risk: Risk) -> bool:
    """MRG-3: ``NC >= IMR``."""
    return risk.nc >= risk.imr


def update_rule(before: Risk, after: Risk) -> bool:
    """MRG-4 as spec/margin.md writes it (products, no division)."""
    either_zero = k.or_(before.mmr == 0, after.mmr == 0)
    zero_case = k.and_(before.mmr == 0, after.mmr == 0, after.nc > before.nc)
    ratio = after.nc * before.mmr >= before.nc * after.mmr
    return k.or_(
        after.nc >= after.imr,
        k.and_(
            after.mmr <= before.mmr, k.or_(k.and_(either_zero, zero_case), k.and_(k.not_(either_zero), ratio))
        ),
    )


def _amount(amount: int) -> Iterator[Step]:
    yield E.NON_POSITIVE_AMOUNT, lambda: amount > 0, "COL-1"
    yield E.AMOUNT_TOO_LARGE, lambda: amount <= MAX_AMOUNT, "PAR-1"


def _deposit(c: Context) -> Iterator[Step]:
    a: Deposit = c.action
    yield E.UNKNOWN_ASSET, lambda: a.asset in c.ledger.params.asset_by_id, "COL-1"
    yield from _amount(a.amount)


def _leaves_initial(ledger: Ledger, name: str, asset: str, amount: int) -> bool:
    """MRG-5: after settling (FND-3) and taking ``amount`` of ``asset`` out, NC >= IMR."""
    settled = settle_account(ledger, name)
    account = settled.accounts[name]
    return initial_met(account_risk(settled, with_balance(account, asset, account.balance(asset) - amount)))


def _outflow(c: Context, name: str, asset: str, amount: int) -> Iterator[Step]:
    yield E.WITHDRAWALS_GATED, lambda: c.ledger.now >= c.ledger.gate_until, "INS-6"
    yield (
        E.INSUFFICIENT_BALANCE,
        lambda: settle_account(c.ledger, name).accounts[name].balance(asset) >= amount,
        "COL-4/COL-5 after FND-3",
    )
    yield E.MARGIN_INSUFFICIENT, lambda: _leaves_initial(c.ledger, name, asset, amount), "MRG-5"


def _withdraw(c: Context) -> Iterator[Step]:
    a: Withdraw = c.action
    yield E.UNKNOWN_ACCOUNT, lambda: a.account in c.ledger.accounts, "the account"
    yield E.UNKNOWN_ASSET, lambda: a.asset in c.ledger.params.asset_by_id, "COL-1"
    yield from _amount(a.amount)
    yield from _outflow(c, a.account, a.asset, a.amount)


def _transfer(c: Context) -> Iterator[Step]:
    a: Transfer = c.action
    yield E.UNKNOWN_ACCOUNT, lambda: a.source in c.ledger.accounts, "the source"
    yield E.UNKNOWN_ACCOUNT, lambda: a.destination in c.ledger.accounts, "the destination"
    yield E.SELF_TRANSFER, lambda: a.source != a.destination, "COL-5"
    yield E.UNKNOWN_ASSET, lambda: a.asset in c.ledger.params.asset_by_id, "COL-1"
    yield from _amount(a.amount)
    yield from _outflow(c, a.source, a.asset, a.amount)


def _advance_time(c: Context) -> Iterator[Step]:
    a: AdvanceTime = c.action
    yield E.CLOCK_NOT_MONOTONIC, lambda: a.now >= c.ledger.now, "CLK-1"


def _report(c: Context, i: int, r: PriceReport) -> Iterator[Step]:
    """ORA-3..ORA-6: the checks of the ``i``-th report, in the spec's order."""
    a: OracleUpdate = c.action
    ledger = c.ledger
    cfg = ledger.params.oracle
    seen = {x.reporter for x in a.reports[:i]}
    key = ledger.params.reporter_keys.get(r.reporter)
    where = f"report {i}"
    yield E.ORACLE_FEED_MISMATCH, lambda: r.feed == a.feed, where
    yield E.ORACLE_UNKNOWN_REPORTER, lambda: key is not None, where
    yield E.ORACLE_UNSIGNED_REPORT, lambda: len(r.signature) > 0, where
    yield (
        E.ORACLE_BAD_SIGNATURE,
        lambda: key is not None and oracle.signature_valid(key, r),
        f"{where} (fixed-order world: true by construction)",
    )
    yield E.ORACLE_WRONG_DEPLOYMENT, lambda: r.deployment == ledger.params.deployment_id, f"{where} ORA-2"
    yield (
        E.ORACLE_WRONG_DECIMALS,
        lambda: r.decimals == ledger.params.feed_by_id[a.feed].price_decimals,
        f"{where} ORA-2",
    )
    yield E.ORACLE_DUPLICATE_REPORTER, lambda: r.reporter not in seen, where
    yield E.ORACLE_NON_POSITIVE_PRICE, lambda: r.price > 0, where
    yield E.AMOUNT_TOO_LARGE, lambda: r.price <= MAX_AMOUNT, f"{where} price"
    yield E.ORACLE_REPLAYED_ROUND, lambda: r.round > ledger.prices[a.feed].round, where
    yield (
        E.ORACLE_ROUND_TOO_FAR,
        lambda: r.round <= ledger.prices[a.feed].round + cfg.max_round_step,
        f"{where} ORA-4",
    )
    yield E.ORACLE_ROUND_MISMATCH, lambda: r.round == a.reports[0].round, where
    yield E.ORACLE_FUTURE_REPORT, lambda: r.timestamp <= ledger.now + cfg.max_future_skew, f"{where} ORA-6"
    yield E.ORACLE_STALE_REPORT, lambda: ledger.now - r.timestamp <= cfg.max_age, f"{where} ORA-6"


def _in_band(c: Context, i: int, r: PriceReport) -> Iterator[Step]:
    """ORA-7: the report lies within ``report_band_ppm`` of the lower median
    (fixed-order world: the reports come sorted)."""
    a: OracleUpdate = c.action
    band = c.ledger.params.oracle.report_band_ppm
    yield (
        E.ORACLE_OUT_OF_BAND,
        lambda: _within_ppm(r.price, oracle.lower_median([x.price for x in a.reports]), band),
        f"report {i}",
    )


def _oracle_update(c: Context) -> Iterator[Step]:
    a: OracleUpdate = c.action
    params, ledger = c.ledger.params, c.ledger
    yield E.UNKNOWN_FEED, lambda: a.feed in params.feed_by_id, "ORA-1"
    yield E.ORACLE_NO_REPORTS, lambda: len(a.reports) > 0, "ORA-1"
    for i, r in enumerate(a.reports):
        yield from _report(c, i, r)
    yield E.ORACLE_QUORUM_NOT_MET, lambda: len(a.reports) >= params.oracle.quorum, "ORA-7"
    for i, r in enumerate(a.reports):
        yield from _in_band(c, i, r)
    yield (
        E.ORACLE_CIRCUIT_BREAKER,
        lambda: _within_ppm(
            oracle.lower_median([x.price for x in a.reports]),
            ledger.prices[a.feed].price,
            params.oracle.max_deviation_ppm,
        ),
        "ORA-9",
    )
    yield (
        E.ORACLE_INTERVAL_BREAKER,
        lambda: _within_ppm(
            oracle.lower_median([x.price for x in a.reports]),
            interval_reference(ledger, a.feed),
            params.oracle.max_interval_move_ppm,
        ),
        "ORA-10",
    )


def interval_reference(ledger: Ledger, feed: str) -> int:
    """ORA-10, restated: the price in force when the interval holding ``now``
    began, the interval ``[j * I, (j + 1) * I)`` with ``j = floor(now / I)``: the
    stored reference if the feed's interval began at or after ``j * I``, else
    the last accepted price (no update was accepted in the interval yet)."""
    state = ledger.prices[feed]
    interval = ledger.params.oracle.breaker_interval
    begun = k.div_floor(ledger.now, interval) * interval
    return k.ite(state.reference_at >= begun, state.reference, state.price)


def _parties(c: Context, market_id: str, first: str, second: str) -> Iterator[Step]:
    """TRD-2 / LIQ-1 checks 1..5."""
    params = c.ledger.params
    yield E.UNKNOWN_MARKET, lambda: market_id in params.market_by_id, "TRD-2/LIQ-1"
    yield E.UNKNOWN_ACCOUNT, lambda: first in c.ledger.accounts, "the maker / liquidated account"
    yield E.UNKNOWN_ACCOUNT, lambda: second in c.ledger.accounts, "the taker / counterparty"
    yield E.TRADE_SELF_MATCH, lambda: first != second, "TRD-2"
    market = params.market_by_id[market_id]
    expiry = market.expiry
    # Dated markets only: a perpetual passes (the check keeps its number).
    yield E.MARKET_EXPIRED, lambda: expiry is None or c.ledger.now < expiry, "dated markets only"


def _on_grid(step: int, value: int) -> bool:
    return k.divides(step, value)


def _price(c: Context, market_id: str, price: int) -> Iterator[Step]:
    tick = c.ledger.params.market_by_id[market_id].tick_size
    yield E.TRADE_NON_POSITIVE_PRICE, lambda: price > 0, "TRD-2"
    yield E.AMOUNT_TOO_LARGE, lambda: price <= MAX_AMOUNT, "the price"
    yield E.TRADE_PRICE_NOT_TICK, lambda: _on_grid(tick, price), "TRD-2"


def _fill(c: Context, f: Fill) -> Iterator[Step]:
    """TRD-2, TRD-3, TRD-5: the checks of one fill, in the spec's order."""
    yield from _parties(c, f.market, f.maker, f.taker)
    market = c.ledger.params.market_by_id[f.market]
    yield E.TRADE_NON_POSITIVE_SIZE, lambda: f.size > 0, "TRD-2"
    yield E.POSITION_LIMIT_EXCEEDED, lambda: f.size <= market.max_position, "the fill's size"
    yield E.TRADE_SIZE_NOT_STEP, lambda: _on_grid(market.step_size, f.size), "TRD-2"
    yield from _price(c, f.market, f.price)
    yield (
        E.TRADE_PRICE_OUT_OF_BAND,
        lambda: _within_ppm(f.price, c.ledger.price(market.feed), market.price_band_ppm),
        "TRD-3",
    )
    yield (
        E.TRADE_FEE_INVALID,
        lambda: k.and_(
            f.maker_fee_ppm + f.taker_fee_ppm >= 0,
            k.abs_(f.maker_fee_ppm) <= market.max_fee_ppm,
            k.abs_(f.taker_fee_ppm) <= market.max_fee_ppm,
        ),
        "TRD-5",
    )


def _touched(c: Context, name: str, traded: list[str]) -> Iterator[Step]:
    """TRD-6, TRD-8 per traded market, then MRG-4, for one touched account: its
    settled state before against the model's result ledger."""
    for market_id in traded:
        yield from _position_rules_lazy(c, name, market_id)

    def mrg4() -> bool:
        settled = settle_account(c.ledger, name)
        before = account_risk(settled, settled.accounts[name])
        return update_rule(before, account_risk(c.result(), c.result().accounts[name]))

    yield E.MARGIN_INSUFFICIENT, mrg4, f"MRG-4 {name}"


def _settle_trades(c: Context) -> Iterator[Step]:
    a: SettleTrades = c.action
    params = c.ledger.params
    yield E.TRADE_EMPTY_BATCH, lambda: len(a.fills) > 0, "TRD-1"
    yield E.TRADE_BATCH_TOO_LARGE, lambda: len(a.fills) <= params.max_batch_fills, "TRD-1"
    for f in a.fills:
        yield from _fill(c, f)
    traded = list(dict.fromkeys(f.market for f in a.fills))
    for name in dict.fromkeys(n for f in a.fills for n in (f.maker, f.taker)):  # STA-3 order
        yield from _touched(c, name, traded)


def _perpetual(c: Context, market_id: str) -> Iterator[Step]:
    params = c.ledger.params
    yield E.UNKNOWN_MARKET, lambda: market_id in params.market_by_id, "FND-1/FND-2"
    yield (
        E.FUNDING_NOT_PERPETUAL,
        lambda: params.market_by_id[market_id].kind is MarketKind.PERPETUAL,
        "FND-1/FND-2",
    )


def _premium_sample(c: Context) -> Iterator[Step]:
    a: PremiumSample = c.action
    yield from _perpetual(c, a.market)
    yield E.AMOUNT_TOO_LARGE, lambda: k.abs_(a.premium_ppm) <= MAX_AMOUNT, "|premium_ppm|"


def _apply_funding(c: Context) -> Iterator[Step]:
    a: ApplyFunding = c.action
    yield from _perpetual(c, a.market)
    yield (
        E.FUNDING_TOO_EARLY,
        lambda: (
            c.ledger.now
            >= c.ledger.markets[a.market].last_funding_at
            + c.ledger.params.market_by_id[a.market].funding_interval
        ),
        "FND-2",
    )


def _allowed(ledger: Ledger, market_id: str, initial: int) -> int:
    """LIQ-5's ``allowed(initial)``, restated from spec/liquidation.md."""
    market = ledger.params.market_by_id[market_id]
    liq = ledger.params.liquidation
    scale = ledger.params.feed_by_id[market.feed].scale
    portion = k.mul_div_floor(initial, liq.max_position_portion_ppm, PPM)
    stepped = k.max_(k.div_floor(portion, market.step_size) * market.step_size, market.step_size)
    small = k.mul_div_floor(initial, ledger.price(market.feed), scale) <= liq.min_position_notional
    dust = initial - stepped < max(market.min_position_size, market.step_size)
    return k.ite(k.or_(small, dust), initial, stepped)


@dataclass(frozen=True)
class _Liquidation:
    """The settled ledger and the numbers LIQ-1's later checks compare."""

    settled: Ledger
    risk: Risk
    size: int  # the liquidated position's signed size, settled
    fund_paid: int
    shortfall: int
    amount: int  # N: the fill's notional at the fill price


def _liquidation(c: Context) -> _Liquidation:
    from clearspec.liquidation import bankruptcy_quote, insurance_fund_delta  # LIQ-2, LIQ-4 formulas

    a: Liquidate = c.action
    settled = settle_account(settle_account(c.ledger, a.liquidated), a.counterparty)
    risk = account_risk(settled, settled.accounts[a.liquidated])
    size = position_size(settled.accounts[a.liquidated], a.market)
    market = c.ledger.params.market_by_id[a.market]
    scale = c.ledger.params.feed_by_id[market.feed].scale
    closing = k.ite(size > 0, -1, 1)
    amount = notional(a.size, a.price, scale)
    bankrupt = bankruptcy_quote(settled, a.liquidated, a.market, closing * a.size, risk.nc, risk.mmr)
    delta = insurance_fund_delta(
        -closing * amount, bankrupt, c.ledger.params.liquidation.max_liquidation_fee_ppm
    )
    fund = settled.insurance_fund[c.ledger.params.quote_asset]
    owed = k.max_(-delta, 0)
    paid = k.min_(owed, fund)
    return _Liquidation(settled, risk, size, paid, owed - paid, amount)


def _fillable(c: Context, liq: _Liquidation) -> bool:
    """LIQ-3: ``price * PS * D >= (PNNV * D - N_fp) * S`` (spec/liquidation.md)."""
    a: Liquidate = c.action
    params = c.ledger.params
    market = params.market_by_id[a.market]
    scale = params.feed_by_id[market.feed].scale
    oracle_price = mark_price(liq.settled, market)
    pnnv = notional(liq.size, oracle_price, scale)
    pmmr = tiered_requirement(market, k.abs_(liq.size), oracle_price, scale)[1]
    tnc, tmmr = liq.risk.nc, liq.risk.mmr
    d = PPM * tmmr * PPM
    abr_n = k.clamp(params.liquidation.bankruptcy_adjustment_ppm * (tmmr - tnc), 0, PPM * tmmr)
    n_fp = abr_n * params.liquidation.spread_to_maintenance_ppm * pmmr
    return a.price * liq.size * d >= (pnnv * d - n_fp) * scale


def _limits(c: Context, liq: _Liquidation) -> bool:
    """LIQ-5, with the block usage read from the ledger (a new block starts at zero)."""
    a: Liquidate = c.action
    ledger = c.ledger
    params = ledger.params.liquidation
    usage = ledger.liquidation_usage.get(a.liquidated)
    fresh = usage is None or usage.at != ledger.now
    used_notional = 0 if fresh or usage is None else usage.notional
    used_fund = 0 if fresh or usage is None else usage.insurance_lost
    entry = None if fresh or usage is None else usage.positions.get(a.market)
    initial, done = (k.abs_(liq.size), 0) if entry is None else entry
    return k.and_(
        done + a.size <= _allowed(liq.settled, a.market, initial),
        used_notional + liq.amount <= params.max_notional_per_block,
        used_fund + liq.fund_paid <= params.max_insurance_lost_per_block,
    )


def _liquidate(c: Context) -> Iterator[Step]:
    a: Liquidate = c.action
    params = c.ledger.params
    yield from _parties(c, a.market, a.liquidated, a.counterparty)
    market = params.market_by_id[a.market]
    yield E.TRADE_NON_POSITIVE_SIZE, lambda: a.size > 0, "LIQ-1"
    yield E.TRADE_SIZE_NOT_STEP, lambda: _on_grid(market.step_size, a.size), "LIQ-1"
    yield from _price(c, a.market, a.price)
    yield (
        E.TRADE_FEE_INVALID,
        lambda: k.and_(a.counterparty_fee_ppm >= 0, a.counterparty_fee_ppm <= market.max_fee_ppm),
        "the counterparty's rate",
    )
    cache: list[_Liquidation] = []

    def liq() -> _Liquidation:
        if not cache:
            cache.append(_liquidation(c))
        return cache[0]

    yield E.NOT_LIQUIDATABLE, lambda: k.and_(liq().risk.mmr > 0, liq().risk.nc < liq().risk.mmr), "MRG-6"
    yield E.NO_POSITION, lambda: liq().size != 0, "LIQ-1"
    yield E.LIQUIDATION_INCREASES_RISK, lambda: a.size <= k.abs_(liq().size), "LIQ-7"
    yield E.LIQUIDATION_PRICE_WORSE_THAN_FILLABLE, lambda: _fillable(c, liq()), "LIQ-3"
    # Checks 16 and 18 apply to one deficit policy each; in the other they pass.
    deleverage = market.deficit_policy is DeficitPolicy.DELEVERAGE
    yield (
        E.INSURANCE_FUND_INSUFFICIENT,
        lambda: True if not deleverage else liq().shortfall == 0,
        "deleverage markets: LIQ-4",
    )
    yield E.LIQUIDATION_LIMIT_EXCEEDED, lambda: _limits(c, liq()), "LIQ-5"
    yield (
        E.INSURANCE_FUND_INSUFFICIENT,
        lambda: (
            True
            if deleverage
            else k.or_(liq().shortfall == 0, c.result().markets[a.market].open_interest > 0)
        ),
        "socialise markets: ADL-6",
    )
    # Check 19, the liquidated account's TRD-8; its TRD-6 cannot fail (the
    # position only shrinks), so the first of its position rules is skipped.
    yield from list(_position_rules_lazy(c, a.liquidated, a.market))[1:]
    yield from _position_rules_lazy(c, a.counterparty, a.market)

    def mrg4() -> bool:
        settled = liq().settled
        before = account_risk(settled, settled.accounts[a.counterparty])
        return update_rule(before, account_risk(c.result(), c.result().accounts[a.counterparty]))

    yield E.MARGIN_INSUFFICIENT, mrg4, "MRG-4 the counterparty (LIQ-7)"


def _liquidate_collateral(c: Context) -> Iterator[Step]:
    """CLQ-1's checks, restated from spec/collateral-liquidation.md."""
    a: LiquidateCollateral = c.action
    ledger, params = c.ledger, c.ledger.params
    quote = params.quote_asset
    yield E.UNKNOWN_ACCOUNT, lambda: a.account in ledger.accounts, "the account"
    yield E.UNKNOWN_ACCOUNT, lambda: a.liquidator in ledger.accounts, "the liquidator"
    yield E.TRADE_SELF_MATCH, lambda: a.account != a.liquidator, "CLQ-1"
    yield E.UNKNOWN_ASSET, lambda: a.asset in params.asset_by_id, "CLQ-1"
    yield from _amount(a.repay)
    yield from _amount(a.seize)

    def account() -> Account:
        return ledger.accounts[a.account]

    def risk() -> Risk:
        return account_risk(ledger, account())

    yield E.HAS_POSITIONS, lambda: k.and_(*[p.size == 0 for p in account().positions.values()]), "CLQ-2"
    yield E.NOT_LIQUIDATABLE, lambda: k.and_(risk().mmr > 0, risk().nc < risk().mmr), "MRG-6"
    asset = params.asset_by_id.get(a.asset)
    feed = None if asset is None else asset.feed

    def held() -> int:
        return account().balance(a.asset)

    yield E.COLLATERAL_NOT_HELD, lambda: False if feed is None else held() > 0, "CLQ-1"
    # Read only when the checks above pass (a listed non-quote asset): codes_of
    # lists the codes of any asset.
    price = 1 if feed is None else ledger.price(feed)
    scale = 1 if feed is None else params.feed_by_id[feed].scale
    bonus_ppm = 0 if asset is None else asset.liquidation_bonus_ppm
    fee_ppm = 0 if asset is None else asset.liquidation_protocol_fee_ppm
    yield E.INSUFFICIENT_BALANCE, lambda: a.seize <= held(), "the account's collateral"
    liq = params.liquidation

    def within_close_factor() -> bool:
        """CLQ-3: ``W * PPM <= threshold * D``, or the debt or the collateral
        below the dust threshold, allows the whole debt; else ``floor(D * cf / PPM)``."""
        debt = -account().balance(quote)
        weighted = risk().nc - risk().mmr + debt
        full = k.or_(
            weighted * PPM <= liq.close_factor_hf_threshold_ppm * debt,
            debt < liq.collateral_dust_threshold,
            k.mul_div_floor(held(), price, scale) < liq.collateral_dust_threshold,
        )
        return k.ite_bool(full, a.repay <= debt, a.repay * PPM <= debt * liq.close_factor_ppm)

    yield E.CLOSE_FACTOR_EXCEEDED, within_close_factor, "CLQ-3"
    yield (
        E.SEIZE_ABOVE_BONUS,
        # CLQ-4: seize <= floor(repay * (PPM + bonus) * S / (P * PPM)), as a product.
        lambda: a.seize * price * PPM <= a.repay * (PPM + bonus_ppm) * scale,
        "CLQ-4",
    )

    def ratio() -> bool:
        after = account_risk(
            ledger,
            with_balance(
                with_balance(account(), quote, account().balance(quote) + a.repay), a.asset, held() - a.seize
            ),
        )
        before = risk()
        return k.or_(
            held() == a.seize,
            k.and_(after.mmr <= before.mmr, after.nc * before.mmr >= before.nc * after.mmr),
        )

    yield E.LIQUIDATION_LOWERS_RATIO, ratio, "CLQ-5"

    def fee() -> int:
        bonus = k.max_(a.seize * price - a.repay * scale, 0)
        return k.div_ceil(bonus * fee_ppm, scale * PPM)

    def liquidator_after() -> Ledger:
        settled = settle_account(ledger, a.liquidator)
        taker = settled.accounts[a.liquidator]
        paid = with_balance(taker, quote, taker.balance(quote) - a.repay - fee())
        return replace(
            settled,
            accounts=settled.accounts.set(
                a.liquidator, with_balance(paid, a.asset, paid.balance(a.asset) + a.seize)
            ),
        )

    yield (
        E.INSUFFICIENT_BALANCE,
        lambda: settle_account(ledger, a.liquidator).accounts[a.liquidator].balance(quote) >= a.repay + fee(),
        "the liquidator's quote after FND-3",
    )
    yield (
        E.MARGIN_INSUFFICIENT,
        lambda: initial_met(account_risk(liquidator_after(), liquidator_after().accounts[a.liquidator])),
        "MRG-5 the liquidator",
    )


def _position_rules_lazy(c: Context, name: str, market_id: str) -> Iterator[Step]:
    """TRD-6 and TRD-8 on the result ledger, read only when evaluated."""
    market = c.ledger.params.market_by_id[market_id]
    minimum = max(market.min_position_size, market.step_size)

    def size() -> int:
        return k.abs_(position_size(c.result().accounts[name], market_id))

    yield E.POSITION_LIMIT_EXCEEDED, lambda: size() <= market.max_position, f"TRD-6 {name}"
    yield E.POSITION_BELOW_MINIMUM, lambda: k.or_(size() == 0, size() >= minimum), f"TRD-8 {name}"


def _counterparty(
    c: Context, i: int, name: str, settled: Callable[[], Ledger], size: Callable[[], int]
) -> Iterator[Step]:
    """ADL-2: the ``i``-th listed counterparty exists, is not the bankrupt
    account, is listed once, holds the opposite side, and is not ranked above
    the one before it (score ``(-adl_score, id)`` not lower than its predecessor's)."""
    from clearspec.deleveraging import adl_score  # ADL-2's score formula

    a: Deleverage = c.action
    before = a.counterparties[:i]
    yield (
        E.ADL_BAD_COUNTERPARTY,
        lambda: name in c.ledger.accounts and name != a.account and name not in before,
        f"{name}: unknown, the bankrupt account or listed twice",
    )
    yield (
        E.ADL_BAD_COUNTERPARTY,
        lambda: position_size(settled().accounts[name], a.market) * size() < 0,
        f"{name}: the opposite side",
    )

    def ranked() -> bool:
        if not before:
            return True
        previous = before[-1]
        mine, theirs = adl_score(settled(), name, a.market), adl_score(settled(), previous, a.market)
        return k.or_(theirs > mine, k.and_(theirs == mine, previous <= name))

    yield E.ADL_RANKING_VIOLATED, ranked, f"{name} ADL-2"


def _deleverage(c: Context) -> Iterator[Step]:
    a: Deleverage = c.action
    params = c.ledger.params
    yield E.UNKNOWN_MARKET, lambda: a.market in params.market_by_id, "ADL-4"
    yield E.UNKNOWN_ACCOUNT, lambda: a.account in c.ledger.accounts, "the bankrupt account"
    yield (
        E.DELEVERAGING_DISABLED,
        lambda: params.market_by_id[a.market].deficit_policy is DeficitPolicy.DELEVERAGE,
        "ADL-1",
    )

    def settled() -> Ledger:
        return settle_account(c.ledger, a.account)

    def nc() -> int:
        return account_risk(settled(), settled().accounts[a.account]).nc

    yield E.NOT_BANKRUPT, lambda: nc() < 0, "ADL-4 after FND-3"
    yield E.FUND_CAN_COVER, lambda: settled().insurance_fund[params.quote_asset] < -nc(), "ADL-4"

    def size() -> int:
        return position_size(settled().accounts[a.account], a.market)

    yield E.NO_POSITION, lambda: size() != 0, "ADL-4"
    for i, name in enumerate(a.counterparties):
        yield from _counterparty(c, i, name, settled, size)

    def whole_side() -> bool:
        """ADL-2: the list is the whole opposite side: the sizes it lists add up
        to the open interest, the size of either side (INV-2, INV-6)."""
        listed = k.sum_(k.abs_(position_size(settled().accounts[n], a.market)) for n in a.counterparties)
        return listed == settled().markets[a.market].open_interest

    yield E.ADL_RANKING_VIOLATED, whole_side, "ADL-2: the list skips a holder of the opposite side"

    def some_offset() -> bool:
        """ADL-3: some offset was made. Each made offset shrinks the bankrupt
        position by ``taken > 0``, and a skipped one leaves it as it was, so an
        offset was made exactly when the position in the model's result ledger
        is smaller than the settled one."""
        after = k.abs_(position_size(c.result().accounts[a.account], a.market))
        return after < k.abs_(size())

    yield E.ADL_NO_VALID_COUNTERPARTY, some_offset, "ADL-3"


def _cover_bad_debt(c: Context) -> Iterator[Step]:
    a: CoverBadDebt = c.action
    yield E.UNKNOWN_ACCOUNT, lambda: a.account in c.ledger.accounts, "INS-4"
    yield (
        E.HAS_POSITIONS,
        lambda: k.and_(*[p.size == 0 for p in c.ledger.accounts[a.account].positions.values()]),
        "INS-4",
    )
    yield (
        E.NO_BAD_DEBT,
        lambda: account_risk(c.ledger, c.ledger.accounts[a.account]).nc < 0,
        "INS-4",
    )
    yield (
        E.INSURANCE_FUND_INSUFFICIENT,
        lambda: c.ledger.insurance_fund[c.ledger.params.quote_asset] > 0,
        "INS-4",
    )


def _report_negative(c: Context) -> Iterator[Step]:
    a: ReportNegativeCollateral = c.action
    yield E.UNKNOWN_ACCOUNT, lambda: a.account in c.ledger.accounts, "INS-6"

    def nc() -> int:
        settled = settle_account(c.ledger, a.account)
        return account_risk(settled, settled.accounts[a.account]).nc

    yield E.NOT_BANKRUPT, lambda: nc() < 0, "INS-6 after FND-3"


def _fund_insurance(c: Context) -> Iterator[Step]:
    a: FundInsurance = c.action
    quote = c.ledger.params.quote_asset
    yield E.UNKNOWN_ACCOUNT, lambda: a.account in c.ledger.accounts, "INS-1"
    yield from _amount(a.amount)
    yield (
        E.INSUFFICIENT_BALANCE,
        lambda: settle_account(c.ledger, a.account).accounts[a.account].balance(quote) >= a.amount,
        "the quote balance after FND-3",
    )
    yield E.MARGIN_INSUFFICIENT, lambda: _leaves_initial(c.ledger, a.account, quote, a.amount), "MRG-5"


@dataclass
class _Expiry:
    """EXP-2..EXP-4 run account by account on the ledger the earlier ones left."""

    ledger: Ledger
    final: int
    net: int = 0


def _close(c: Context, run: _Expiry, name: str) -> bool:
    """EXP-2..EXP-4 for one listed account: close its position at the final price
    (paid from the pool), and if it has no position left, the fund pays its
    deficit; in a ``deleverage`` market the fund must cover it (EXP-4)."""
    a: SettleExpiry = c.action
    params = c.ledger.params
    market = params.market_by_id[a.market]
    ledger = settle_account(run.ledger, name)
    size = position_size(ledger.accounts[name], a.market)
    value = notional(size, run.final, params.feed_by_id[market.feed].scale)
    run.net = run.net + size
    ledger = move_position(ledger, name, a.market, -size, value)
    state = ledger.markets[a.market]
    ledger = replace(ledger, markets=ledger.markets.set(a.market, replace(state, pool=state.pool - value)))
    account = ledger.accounts[name]
    nc = account_risk(ledger, account).nc
    flat = k.and_(*[p.size == 0 for p in account.positions.values()])
    deficit = k.max_(-nc, 0)
    fund = ledger.insurance_fund[params.quote_asset]
    paid = k.ite(flat, k.min_(deficit, fund), 0)
    ledger = credit_quote(ledger, name, paid)
    run.ledger = replace(ledger, insurance_fund=ledger.insurance_fund.set(params.quote_asset, fund - paid))
    if market.deficit_policy is not DeficitPolicy.DELEVERAGE:
        return True
    return k.implies(flat, deficit <= fund)


def _listed(c: Context, run: _Expiry, name: str) -> Iterator[Step]:
    a: SettleExpiry = c.action
    yield E.UNKNOWN_ACCOUNT, lambda: name in run.ledger.accounts, f"{name} EXP-2"
    yield E.NO_POSITION, lambda: position_size(run.ledger.accounts[name], a.market) != 0, f"{name} EXP-2"
    yield E.INSURANCE_FUND_INSUFFICIENT, lambda: _close(c, run, name), f"{name} EXP-4"


def _settle_expiry(c: Context) -> Iterator[Step]:
    a: SettleExpiry = c.action
    params = c.ledger.params
    yield E.UNKNOWN_MARKET, lambda: a.market in params.market_by_id, "EXP-1"
    market = params.market_by_id[a.market]
    yield E.MARKET_NOT_DATED, lambda: market.kind is MarketKind.DATED, "EXP-1"
    expiry = market.expiry if market.expiry is not None else 0
    yield E.EXPIRY_NOT_REACHED, lambda: c.ledger.now >= expiry, "EXP-1"
    state = c.ledger.markets[a.market]
    price = c.ledger.prices[market.feed]
    yield (
        E.EXPIRY_PRICE_NOT_FINAL,
        lambda: state.settlement_price is not None or price.updated_at >= expiry,
        "EXP-1",
    )
    final = price.price if state.settlement_price is None else state.settlement_price
    fixed = replace(state, settlement_price=final)
    run = _Expiry(replace(c.ledger, markets=c.ledger.markets.set(a.market, fixed)), final)
    for name in a.accounts:
        yield from _listed(c, run, name)
    yield E.EXPIRY_UNBALANCED, lambda: run.net == 0, "EXP-2"


TABLE: dict[type[Action], Builder] = {
    Deposit: _deposit,
    Withdraw: _withdraw,
    Transfer: _transfer,
    AdvanceTime: _advance_time,
    OracleUpdate: _oracle_update,
    SettleTrades: _settle_trades,
    PremiumSample: _premium_sample,
    ApplyFunding: _apply_funding,
    Liquidate: _liquidate,
    LiquidateCollateral: _liquidate_collateral,
    Deleverage: _deleverage,
    FundInsurance: _fund_insurance,
    ReportNegativeCollateral: _report_negative,
    CoverBadDebt: _cover_bad_debt,
    SettleExpiry: _settle_expiry,
}

BY_CONSTRUCTION = {ErrorCode.ORACLE_BAD_SIGNATURE}  # in the fixed-order oracle world


def spec_checks(ledger: Ledger, action: Action, after: Ledger | None = None) -> list[SpecCheck]:
    """The spec's checks of ``action`` on ``ledger``, in order, up to and
    including the first that is false on concrete values. Symbolic runs must be
    inside ``kernel.tracing()`` (the helpers record their own obligations)."""
    context = Context(ledger, action, after)
    checks: list[SpecCheck] = []
    for code, condition, note in TABLE[type(action)](context):
        value = condition()
        checks.append(SpecCheck(code, value, note, code in BY_CONSTRUCTION))
        if value is False or (not k.is_symbolic(value) and not value):
            break
    return checks


def expected_code(ledger: Ledger, action: Action, after: Ledger | None = None) -> ErrorCode | None:
    """ERR-1 on concrete values: the code of the first failing check, None when all pass."""
    for check in spec_checks(ledger, action, after):
        if not check.condition:
            return check.code
    return None


def codes_of(action_type: type[Action], ledger: Ledger, action: Action) -> list[ErrorCode]:
    """The codes the table lists for ``action`` (for the spec-coverage test), every
    check counted whether it would pass or not."""
    context = Context(ledger, action, ledger)
    return [code for code, _, _ in TABLE[action_type](context)]


# --- the ``precondition`` obligations (engine.check_case) ------------------------------


def _valid_offsets(trace: k.Trace) -> Any:
    """ADL-3: the skippable guards grouped by counterparty (the first word of
    their detail); an offset is made when some group holds entirely."""
    import z3

    groups: dict[str, list[Any]] = {}
    for position in sorted(trace.skippable):
        condition, _, detail = trace.guards[position]
        groups.setdefault(detail.split(" ")[0], []).append(condition)
    return z3.Or(*[z3.And(*conditions) for conditions in groups.values()])


def model_checks(trace: k.Trace) -> list[tuple[Any, ErrorCode]]:
    """The model's checks as the trace recorded them, in order: every guard but
    the skippable ones (ADL-3: a failure skips a counterparty), and in their place
    one check "some offset was made" with ``ADL_NO_VALID_COUNTERPARTY``."""
    checks: list[tuple[Any, ErrorCode]] = []
    last_skippable = max(trace.skippable, default=-1)
    for position, (condition, code, _) in enumerate(trace.guards):
        if position not in trace.skippable:
            checks.append((condition, code))
        if position == last_skippable:
            checks.append((_valid_offsets(trace), ErrorCode.ADL_NO_VALID_COUNTERPARTY))
    return checks


def rejects_with(checks: list[tuple[Any, ErrorCode]], code: ErrorCode) -> Any:
    """The model rejects with ``code``: the first failing check has that code."""
    import z3

    cases: list[Any] = []
    before: list[Any] = []
    for condition, named in checks:
        if named is code:
            cases.append(z3.And(*before, z3.Not(condition)))
        before.append(condition)
    return z3.Or(*cases)


@dataclass(eq=False)
class Obligation:
    ident: str
    check: str
    premise: Any
    goal: Any
    code: ErrorCode | None  # None: the "accepts" obligation


def _bool(value: Any) -> Any:
    import z3

    return z3.BoolVal(value) if isinstance(value, bool) else value


def obligations(case_name: str, checks: list[SpecCheck], trace: k.Trace) -> list[Obligation]:
    """The obligations of one traced transition, in the spec's order; a check
    that holds in every state of this world has ``premise`` None (no obligation)."""
    import z3

    model = model_checks(trace)
    found: list[Obligation] = []
    passed: list[Any] = []
    for number, check in enumerate(checks, start=1):
        label = f"{number} {check.code.value}"
        ident = f"{case_name}/precondition/{label}"
        condition = _bool(check.condition)
        if z3.is_true(z3.simplify(condition)):
            note = " (by construction)" if check.by_construction else ""
            found.append(Obligation(ident, label + note, None, None, check.code))
        else:
            premise = z3.And(*passed, z3.Not(condition))
            found.append(Obligation(ident, label, premise, rejects_with(model, check.code), check.code))
        passed.append(condition)
    complete = not checks or not z3.is_false(z3.simplify(_bool(checks[-1].condition)))
    if complete:
        accepted = z3.And(*[c for c, _ in model]) if model else z3.BoolVal(True)
        found.append(
            Obligation(f"{case_name}/precondition/accepts", "accepts", z3.And(*passed), accepted, None)
        )
    return found
