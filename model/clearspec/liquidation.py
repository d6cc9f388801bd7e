"""Liquidation (spec: liquidation.md, rules LIQ-*) and the insurance fund's part in it (INS-*).

Formulas follow dYdX v4 (``x/clob/keeper/liquidations.go``), in integers:

* bankruptcy quote of a closing delta: ``-DNNV - floor(TNC * |DMMR| / TMMR)``,
  the quote the account must receive so that its NC/MMR ratio does not fall;
* fillable price: ``(PNNV - ABR * SMMR * PMMR) / PS`` with
  ``ABR = clamp(BA * (1 - TNC / TMMR), 0, 1)``, compared by cross-multiplying;
* insurance fund delta: ``quote received - bankruptcy quote``; when positive,
  the account pays it as a fee capped at ``max_liquidation_fee_ppm`` of the quote.
"""

from __future__ import annotations

from dataclasses import replace

import icontract
from immutables import Map

from clearspec import kernel as k
from clearspec.actions import Liquidate
from clearspec.errors import ErrorCode
from clearspec.invariants import ratio_not_lower
from clearspec.margin import (
    Risk,
    account_risk,
    is_liquidatable,
    mark_price,
    notional,
    tiered_requirement,
    update_allowed,
)
from clearspec.params import PPM, DeficitPolicy, MarketParams
from clearspec.positions import (
    LOSS_SCALE,
    check_position_rules,
    credit_quote,
    move_position,
    settle_account,
    sweep_if_closed,
)
from clearspec.state import Ledger, LiquidationUsage
from clearspec.trading import check_parties, check_price, fill_fee


def _scale(ledger: Ledger, market: MarketParams) -> int:
    return ledger.params.feed_by_id[market.feed].scale


@icontract.ensure(lambda result: k.holds(result >= 0), enabled=k.SLOW_CONTRACTS)
def positions_mmr(ledger: Ledger, name: str) -> int:
    """ADL-3: the maintenance requirement of the account's positions alone."""
    total = 0
    for market_id, position in ledger.accounts[name].positions.items():
        market = ledger.params.market_by_id[market_id]
        price = mark_price(ledger, market)
        total = total + tiered_requirement(market, k.abs_(position.size), price, _scale(ledger, market))[1]
    return total


@icontract.require(lambda total_mmr: k.holds(total_mmr > 0), "TMMR is positive")
@icontract.ensure(
    lambda ledger, name, market_id, delta, result: k.holds(k.implies(delta == 0, result == 0)),
    enabled=k.SLOW_CONTRACTS,
)
def bankruptcy_quote(ledger: Ledger, name: str, market_id: str, delta: int, nc: int, total_mmr: int) -> int:
    """LIQ-2: the quote the account must receive for the closing ``delta`` of its
    position so that NC/TMMR does not fall: ``-DNNV - floor(NC * |DMMR| / TMMR)``.

    The one division rounds down, so the quote rounds up, in the account's favour
    and against the insurance fund, exactly as dYdX v4 does.
    """
    market = ledger.params.market_by_id[market_id]
    price = mark_price(ledger, market)
    scale = _scale(ledger, market)
    size = ledger.accounts[name].positions[market_id].size
    dnnv = notional(size + delta, price, scale) - notional(size, price, scale)
    mmr_before = tiered_requirement(market, k.abs_(size), price, scale)[1]
    mmr_after = tiered_requirement(market, k.abs_(size + delta), price, scale)[1]
    return -dnnv - nc_released(nc, mmr_before - mmr_after, total_mmr)


@icontract.require(lambda total_mmr: k.holds(total_mmr > 0), "TMMR is positive", enabled=k.SLOW_CONTRACTS)
def nc_released(nc: int, released_mmr: int, total_mmr: int) -> int:
    """LIQ-2: the part ``floor(NC * DMMR / TMMR)`` of the account's NC that the
    closed part of the position carries. Rounded down, so the account keeps the
    remainder (proved by the lemma ``LIQ-2/nc-released-rounds-down``)."""
    return k.div_floor(nc * released_mmr, total_mmr)


@icontract.require(lambda total_mmr: k.holds(total_mmr > 0), "TMMR is positive", enabled=k.SLOW_CONTRACTS)
@icontract.ensure(
    lambda ledger, name, market_id, price, result: k.holds(
        k.implies(
            price == mark_price(ledger, ledger.params.market_by_id[market_id]),
            result,
        )
    ),
    "the oracle price itself is always fillable",
    enabled=k.SLOW_CONTRACTS,
)
def fillable_price_allows(
    ledger: Ledger, name: str, market_id: str, price: int, nc: int, total_mmr: int
) -> bool:
    """LIQ-3: the fill price is no worse for the account than the fillable price
    ``FP = (PNNV - ABR * SMMR * PMMR) / PS``: a long is sold at ``>= FP``, a short
    bought at ``<= FP``. Both reduce to ``price * PS * D >= (PNNV * D - N) * scale``
    with ``ABR * SMMR * PMMR = N / D``, so no rational arithmetic is needed."""
    market = ledger.params.market_by_id[market_id]
    liq = ledger.params.liquidation
    oracle = mark_price(ledger, market)
    scale = _scale(ledger, market)
    size = ledger.accounts[name].positions[market_id].size
    pnnv = notional(size, oracle, scale)
    pmmr = tiered_requirement(market, k.abs_(size), oracle, scale)[1]
    abr_den = PPM * total_mmr
    abr_num = k.clamp(liq.bankruptcy_adjustment_ppm * (total_mmr - nc), 0, abr_den)
    spread_den = abr_den * PPM
    spread_num = abr_num * liq.spread_to_maintenance_ppm * pmmr
    return price * size * spread_den >= (pnnv * spread_den - spread_num) * scale


@icontract.ensure(
    lambda received, max_fee_ppm, result: k.holds(result * PPM <= k.abs_(received) * max_fee_ppm),
    "LIQ-4: the fund's fee is at most max_liquidation_fee_ppm of the fill's notional (rounded down)",
    enabled=k.SLOW_CONTRACTS,
)
@icontract.ensure(
    lambda received, bankruptcy, result: k.holds(result <= k.max_(received - bankruptcy, 0)),
    "the fund never takes more than the surplus",
    enabled=k.SLOW_CONTRACTS,
)
@icontract.ensure(
    lambda received, bankruptcy, result: k.holds(
        k.implies(received <= bankruptcy, result == received - bankruptcy)
    ),
    "below bankruptcy the fund pays the whole difference",
    enabled=k.SLOW_CONTRACTS,
)
def insurance_fund_delta(received: int, bankruptcy: int, max_fee_ppm: int) -> int:
    """LIQ-4: what the fund gains from the fill (negative: what it pays). A fill
    below the bankruptcy quote costs the fund the difference; above it, the
    account pays the surplus as a fee, at most ``max_fee_ppm`` of the quote."""
    surplus = received - bankruptcy
    fee = k.min_(k.mul_div_floor(k.abs_(received), max_fee_ppm, PPM), surplus)
    return k.ite(surplus <= 0, surplus, fee)


def _check_fill(ledger: Ledger, action: Liquidate) -> MarketParams:
    """LIQ-1: the identifiers and the fill's own numbers, in the order the spec fixes."""
    market = check_parties(ledger, action.market, action.liquidated, action.counterparty)
    k.require(action.size > 0, ErrorCode.TRADE_NON_POSITIVE_SIZE, str(action.size))
    k.require(k.divides(market.step_size, action.size), ErrorCode.TRADE_SIZE_NOT_STEP, str(action.size))
    check_price(market, action.price)
    k.require(
        k.and_(action.counterparty_fee_ppm >= 0, action.counterparty_fee_ppm <= market.max_fee_ppm),
        ErrorCode.TRADE_FEE_INVALID,
        f"counterparty {action.counterparty_fee_ppm} ppm",
    )
    return market


def _usage(ledger: Ledger, name: str) -> LiquidationUsage:
    usage = ledger.liquidation_usage.get(name)
    if usage is None or usage.at != ledger.now:
        return LiquidationUsage(ledger.now, 0, 0, Map())
    return usage


def _allowed_size(ledger: Ledger, market: MarketParams, initial_size: int) -> int:
    """LIQ-5: the size of a position that may be liquidated within one block."""
    liq = ledger.params.liquidation
    small = (
        notional(initial_size, ledger.price(market.feed), _scale(ledger, market)) <= liq.min_position_notional
    )
    portion = k.mul_div_floor(initial_size, liq.max_position_portion_ppm, PPM)
    stepped = k.max_(k.div_floor(portion, market.step_size) * market.step_size, market.step_size)
    # TRD-8: a portion that would leave less than the minimum position takes it all.
    leaves_dust = initial_size - stepped < k.max_(market.min_position_size, market.step_size)
    return k.ite(k.or_(small, leaves_dust), initial_size, stepped)


@icontract.ensure(
    lambda ledger, action, result: (
        k.is_symbolic(result.accounts[action.liquidated].balance(ledger.params.quote_asset))
        or ratio_not_lower(*_risks(ledger, action, result)[:2])
    ),
    "LIQ-6: liquidation never lowers the account's NC/MMR ratio (checked on concrete runs; "
    "the prover composes the step below with the lemma LIQ-6/ratio)",
    enabled=k.SLOW_CONTRACTS,
)
@icontract.ensure(
    lambda ledger, action, result: k.holds(_ratio_step(*_risks(ledger, action, result))),
    "LIQ-6 step: MMR falls by d in [0, MMR] and NC by at most floor(NC * d / MMR)",
    enabled=k.SLOW_CONTRACTS,
)
@icontract.ensure(
    lambda ledger, result: k.holds(result.insurance_fund[ledger.params.quote_asset] >= 0),
    "INS-3: the fund is never negative",
    enabled=k.SLOW_CONTRACTS,
)
def liquidate(ledger: Ledger, action: Liquidate) -> Ledger:
    """LIQ-1..LIQ-7: close part or all of a liquidatable account's position
    through a fill from the matching engine, with the insurance fund covering a
    fill below the bankruptcy price (INS-2) and collecting a capped fee above it
    (INS-1)."""
    market = _check_fill(ledger, action)
    params = ledger.params
    quote_asset = params.quote_asset
    name = action.liquidated
    settled = settle_account(settle_account(ledger, name), action.counterparty)
    risk = account_risk(settled, settled.accounts[name])
    k.require(is_liquidatable(risk), ErrorCode.NOT_LIQUIDATABLE, name)
    position = settled.accounts[name].positions.get(action.market)
    # A position entry of size zero is no position (symbolic ledgers keep such
    # entries where a concrete one has none; found by the precondition obligations).
    k.require(
        position is not None and position.size != 0, ErrorCode.NO_POSITION, f"{name} in {action.market}"
    )
    assert position is not None
    # LIQ-7: a liquidation fill only closes: never a larger or flipped position.
    k.require(
        action.size <= k.abs_(position.size),
        ErrorCode.LIQUIDATION_INCREASES_RISK,
        f"{action.size} > |{position.size}|",
    )
    k.require(
        fillable_price_allows(settled, name, action.market, action.price, risk.nc, risk.mmr),
        ErrorCode.LIQUIDATION_PRICE_WORSE_THAN_FILLABLE,
        str(action.price),
    )
    closing_sign = k.ite(position.size > 0, -1, 1)
    delta = closing_sign * action.size
    amount = notional(action.size, action.price, _scale(ledger, market))
    received = -closing_sign * amount
    bankrupt = bankruptcy_quote(settled, name, action.market, delta, risk.nc, risk.mmr)
    fund_delta = insurance_fund_delta(received, bankrupt, params.liquidation.max_liquidation_fee_ppm)
    fund = settled.insurance_fund[quote_asset]
    fund_paid = k.min_(k.max_(-fund_delta, 0), fund)
    shortfall = k.max_(-fund_delta, 0) - fund_paid
    if market.deficit_policy is DeficitPolicy.DELEVERAGE:
        k.require(shortfall == 0, ErrorCode.INSURANCE_FUND_INSUFFICIENT, f"needs {-fund_delta}, has {fund}")

    usage = _usage(settled, name)
    initial, done = usage.positions.get(action.market, (k.abs_(position.size), 0))
    k.require(
        k.and_(
            done + action.size <= _allowed_size(settled, market, initial),
            usage.notional + amount <= params.liquidation.max_notional_per_block,
            usage.insurance_lost + fund_paid <= params.liquidation.max_insurance_lost_per_block,
        ),
        ErrorCode.LIQUIDATION_LIMIT_EXCEEDED,
        f"{name} in {action.market} at {ledger.now}",
    )

    after = move_position(settled, name, action.market, delta, received)
    after = move_position(after, action.counterparty, action.market, -delta, -received)
    after = credit_quote(after, name, -fund_delta)
    maker_fee = fill_fee(amount, action.counterparty_fee_ppm)
    after = credit_quote(after, action.counterparty, -maker_fee)
    after = replace(
        after,
        fee_pool=after.fee_pool.set(quote_asset, after.fee_pool[quote_asset] + maker_fee),
        insurance_fund=after.insurance_fund.set(quote_asset, fund + k.max_(fund_delta, 0) - fund_paid),
    )
    after = _socialise(after, market, shortfall)
    after = sweep_if_closed(after, action.market)
    check_position_rules(after, name, [action.market])
    check_position_rules(after, action.counterparty, [action.market])
    k.require(
        update_allowed(
            account_risk(settled, settled.accounts[action.counterparty]),
            account_risk(after, after.accounts[action.counterparty]),
        ),
        ErrorCode.MARGIN_INSUFFICIENT,
        f"{action.counterparty} would fall below initial margin and is not reducing risk",
    )
    positions = usage.positions.set(action.market, (initial, done + action.size))
    usage = LiquidationUsage(ledger.now, usage.notional + amount, usage.insurance_lost + fund_paid, positions)
    after = replace(after, liquidation_usage=after.liquidation_usage.set(name, usage))
    return gate_if_negative(after, risk.nc)


def _risks(ledger: Ledger, action: Liquidate, result: Ledger) -> tuple[Risk, Risk, int]:
    """(settled risk before, risk after, the position's MMR decrease d) of the
    liquidated account: what LIQ-6's contracts compare."""
    settled = settle_account(ledger, action.liquidated)
    market = ledger.params.market_by_id[action.market]
    price, scale = mark_price(ledger, market), _scale(ledger, market)
    size_before = settled.accounts[action.liquidated].positions[action.market].size
    position_after = result.accounts[action.liquidated].positions.get(action.market)
    size_after = 0 if position_after is None else position_after.size
    decrease = (
        tiered_requirement(market, k.abs_(size_before), price, scale)[1]
        - tiered_requirement(market, k.abs_(size_after), price, scale)[1]
    )
    before = account_risk(settled, settled.accounts[action.liquidated])
    return before, account_risk(result, result.accounts[action.liquidated]), decrease


def _ratio_step(before: Risk, after: Risk, decrease: int) -> bool:
    """LIQ-6, first step (linear over the model's terms): the requirement falls by
    ``d`` with ``0 <= d <= MMR``, and NC falls by at most ``floor(NC * d / MMR)``.
    The lemma LIQ-6/ratio turns this into NC'/MMR' >= NC/MMR."""
    return k.and_(
        decrease >= 0,
        decrease <= before.mmr,
        after.mmr == before.mmr - decrease,
        after.nc >= before.nc - k.div_floor(before.nc * decrease, k.max_(before.mmr, 1)),
    )


def _socialise(ledger: Ledger, market: MarketParams, shortfall: int) -> Ledger:
    """ADL-6: the market pool pays ``shortfall`` now and charges it to every open
    position, pro rata to size, through the loss index (rounded up)."""
    if k.definitely(shortfall == 0):
        return ledger
    state = ledger.markets[market.market_id]
    total_size = 2 * state.open_interest
    # Guarded by "shortfall is not zero" too: on a symbolic run the early return
    # above is not taken, and the trace must not assume open interest where the
    # concrete code does not check it (found by the ERR-1 rejection obligations).
    k.require(
        k.or_(shortfall == 0, total_size > 0),
        ErrorCode.INSURANCE_FUND_INSUFFICIENT,
        "no position left to share the loss",
    )
    increase = k.mul_div_ceil(shortfall, LOSS_SCALE, k.max_(total_size, 1))
    updated = replace(state, pool=state.pool - shortfall, loss_index=state.loss_index + increase)
    return replace(ledger, markets=ledger.markets.set(market.market_id, updated))


@icontract.ensure(
    lambda ledger, nc, result: k.holds(k.implies(nc >= 0, result.gate_until == ledger.gate_until)),
    "INS-6: a non-negative NC leaves the gate as it was",
    enabled=k.SLOW_CONTRACTS,
)
@icontract.ensure(
    lambda ledger, nc, result: k.holds(
        k.implies(nc < 0, result.gate_until >= ledger.now + ledger.params.liquidation.withdrawal_gate_seconds)
    ),
    "INS-6: a negative NC gates withdrawals until at least now + withdrawal_gate_seconds",
    enabled=k.SLOW_CONTRACTS,
)
@icontract.ensure(
    lambda ledger, result: k.holds(result.gate_until >= ledger.gate_until),
    "INS-6: the gate never falls",
    enabled=k.SLOW_CONTRACTS,
)
def gate_if_negative(ledger: Ledger, nc: int) -> Ledger:
    """INS-6: seeing an account with negative NC gates withdrawals for a while."""
    gate = k.max_(ledger.gate_until, ledger.now + ledger.params.liquidation.withdrawal_gate_seconds)
    return replace(ledger, gate_until=k.ite(nc < 0, gate, ledger.gate_until))
