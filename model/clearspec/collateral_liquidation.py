"""Collateral liquidation (spec: collateral-liquidation.md, rules CLQ-*).

An account with no position whose quote debt is backed only by haircut
collateral is below maintenance as soon as its weighted collateral no longer
covers the debt. A liquidator repays part of the debt and takes collateral at
the oracle price plus the asset's bonus, as in Aave v3's ``liquidationCall``:

* close factor: at most ``close_factor_ppm`` of the debt (rounded down), all of
  it when the health factor is at or below ``close_factor_hf_threshold_ppm`` or
  the debt or the collateral is below ``collateral_dust_threshold`` (CLQ-3);
* bonus: at most ``floor(repay * (1 + bonus) / P)`` of the asset (CLQ-4);
* protocol fee: ``ceil(bonus value * fee share)`` in quote, from the
  liquidator to the insurance fund (CLQ-6);
* ratio: the account's NC/MMR does not fall, unless the asset is taken whole (CLQ-5).

Every rounding is against the liquidator: the account keeps what rounding leaves
and the fund gets its fee rounded up. Where this differs from Aave v3 (one debt,
a named seized amount, the ratio rule, no forced cleanup, visible bad debt) is
CLQ-8.
"""

from __future__ import annotations

from dataclasses import replace

import icontract

from clearspec import kernel as k
from clearspec.actions import LiquidateCollateral
from clearspec.errors import ErrorCode
from clearspec.liquidation import gate_if_negative
from clearspec.margin import Risk, account_risk, is_liquidatable, meets_initial, notional
from clearspec.params import MAX_AMOUNT, PPM, AssetParams
from clearspec.positions import holds_no_position, settle_account
from clearspec.state import Account, Ledger, with_balance


@icontract.ensure(
    lambda debt, result: k.holds(k.implies(debt >= 0, k.and_(result >= 0, result <= debt))),
    "CLQ-3: never more than the debt",
    enabled=k.SLOW_CONTRACTS,
)
def max_repay(ledger: Ledger, risk: Risk, debt: int, collateral_value: int) -> int:
    """CLQ-3: the most of ``debt`` one collateral liquidation may repay.

    With no position, ``NC - MMR + debt`` is the weighted collateral, so the
    health factor ``HF = (NC - MMR + debt) / debt`` is compared by
    cross-multiplying: ``HF <= threshold`` is
    ``(NC - MMR + debt) * PPM <= threshold_ppm * debt``.
    """
    liq = ledger.params.liquidation
    weighted = risk.nc - risk.mmr + debt
    deep = weighted * PPM <= liq.close_factor_hf_threshold_ppm * debt
    dust = k.or_(debt < liq.collateral_dust_threshold, collateral_value < liq.collateral_dust_threshold)
    return k.ite(k.or_(deep, dust), debt, k.mul_div_floor(debt, liq.close_factor_ppm, PPM))


@icontract.require(lambda price: k.holds(price > 0), enabled=k.SLOW_CONTRACTS)
@icontract.ensure(
    lambda repay, price, scale, bonus_ppm, result: k.holds(
        result * price * PPM <= repay * (PPM + bonus_ppm) * scale
    ),
    "CLQ-4: the seized value is at most the repayment plus the bonus",
    enabled=k.SLOW_CONTRACTS,
)
def max_seize(repay: int, price: int, scale: int, bonus_ppm: int) -> int:
    """CLQ-4: the most collateral ``repay`` buys: its oracle value plus the bonus,
    ``floor(repay * (PPM + bonus) * S / (P * PPM))``, rounded down (the account
    keeps the remainder)."""
    return k.mul_div_floor(repay * (PPM + bonus_ppm), scale, price * PPM)


@icontract.ensure(lambda result: k.holds(result >= 0), enabled=k.SLOW_CONTRACTS)
def protocol_fee(repay: int, seize: int, price: int, scale: int, fee_ppm: int) -> int:
    """CLQ-6: the fund's share of the bonus, in quote: the oracle value of the
    seized collateral above the repayment, times the asset's fee share,
    ``ceil(max(seize * P - repay * S, 0) * fee_ppm / (S * PPM))`` (rounded up:
    the fund's favour)."""
    bonus = k.max_(seize * price - repay * scale, 0)
    return k.mul_div_ceil(bonus, fee_ppm, scale * PPM)


def ratio_kept(before: Risk, after: Risk) -> bool:
    """CLQ-5: MMR not higher and ``NC / MMR`` not lower, by cross-multiplying
    (``before.mmr > 0``: the account is liquidatable)."""
    return k.and_(after.mmr <= before.mmr, after.nc * before.mmr >= before.nc * after.mmr)


def _check_action(ledger: Ledger, action: LiquidateCollateral) -> None:
    """CLQ-1 checks 1..8: the identifiers and the action's own numbers."""
    k.require(action.account in ledger.accounts, ErrorCode.UNKNOWN_ACCOUNT, action.account)
    k.require(action.liquidator in ledger.accounts, ErrorCode.UNKNOWN_ACCOUNT, action.liquidator)
    k.require(action.account != action.liquidator, ErrorCode.TRADE_SELF_MATCH, action.account)
    k.require(action.asset in ledger.params.asset_by_id, ErrorCode.UNKNOWN_ASSET, action.asset)
    for name, amount in (("repay", action.repay), ("seize", action.seize)):
        k.require(amount > 0, ErrorCode.NON_POSITIVE_AMOUNT, f"{name} {amount}")
        k.require(amount <= MAX_AMOUNT, ErrorCode.AMOUNT_TOO_LARGE, f"{name} {amount}")


def _seized(account: Account, quote: str, asset: str, action: LiquidateCollateral) -> Account:
    """CLQ-7: the account's debt falls by ``repay`` and its collateral by ``seize``."""
    repaid = with_balance(account, quote, account.balance(quote) + action.repay)
    return with_balance(repaid, asset, account.balance(asset) - action.seize)


@icontract.ensure(
    lambda ledger, action, result: k.holds(
        k.or_(
            result.accounts[action.account].balance(action.asset) == 0,
            ratio_kept(
                account_risk(ledger, ledger.accounts[action.account]),
                account_risk(result, result.accounts[action.account]),
            ),
        )
    ),
    "CLQ-5: the account's NC/MMR ratio is not lower afterwards, or the asset is taken whole",
    enabled=k.SLOW_CONTRACTS,
)
@icontract.ensure(
    lambda ledger, result: k.holds(
        result.insurance_fund[ledger.params.quote_asset] >= ledger.insurance_fund[ledger.params.quote_asset]
    ),
    "CLQ-6/INS-3: the fund only gains",
    enabled=k.SLOW_CONTRACTS,
)
def liquidate_collateral(ledger: Ledger, action: LiquidateCollateral) -> Ledger:
    """CLQ-1..CLQ-7: a liquidator repays part of a position-less account's quote
    debt and takes collateral at the oracle price plus the asset's bonus; the
    fund receives its share of the bonus."""
    _check_action(ledger, action)
    params = ledger.params
    quote = params.quote_asset
    account = ledger.accounts[action.account]
    # CLQ-2: positions are liquidated first (LIQ-1); their margin is not this rule's.
    k.require(holds_no_position(account), ErrorCode.HAS_POSITIONS, action.account)
    risk = account_risk(ledger, account)
    k.require(is_liquidatable(risk), ErrorCode.NOT_LIQUIDATABLE, action.account)
    asset: AssetParams = params.asset_by_id[action.asset]
    held = account.balance(action.asset)
    k.require(
        k.and_(asset.feed is not None, held > 0),
        ErrorCode.COLLATERAL_NOT_HELD,
        f"{action.account} holds no {action.asset} collateral",
    )
    assert asset.feed is not None
    k.require(action.seize <= held, ErrorCode.INSUFFICIENT_BALANCE, f"{action.account} holds {held}")
    price, scale = ledger.price(asset.feed), params.feed_by_id[asset.feed].scale
    debt = -account.balance(quote)
    limit = max_repay(ledger, risk, debt, notional(held, price, scale))
    k.require(action.repay <= limit, ErrorCode.CLOSE_FACTOR_EXCEEDED, f"{action.repay} > {limit}")
    k.require(
        action.seize <= max_seize(action.repay, price, scale, asset.liquidation_bonus_ppm),
        ErrorCode.SEIZE_ABOVE_BONUS,
        f"{action.seize} {action.asset} for {action.repay}",
    )
    seized = _seized(account, quote, action.asset, action)
    k.require(
        k.or_(held - action.seize == 0, ratio_kept(risk, account_risk(ledger, seized))),
        ErrorCode.LIQUIDATION_LOWERS_RATIO,
        action.account,
    )
    settled = settle_account(ledger, action.liquidator)
    liquidator = settled.accounts[action.liquidator]
    fee = protocol_fee(action.repay, action.seize, price, scale, asset.liquidation_protocol_fee_ppm)
    cash = liquidator.balance(quote)
    k.require(cash >= action.repay + fee, ErrorCode.INSUFFICIENT_BALANCE, f"{action.liquidator} holds {cash}")
    paid = with_balance(liquidator, quote, cash - action.repay - fee)
    taker = with_balance(paid, action.asset, paid.balance(action.asset) + action.seize)
    k.require(
        meets_initial(account_risk(settled, taker)),
        ErrorCode.MARGIN_INSUFFICIENT,
        f"{action.liquidator} would fall below initial margin",
    )
    after = replace(
        settled,
        accounts=settled.accounts.set(action.account, seized).set(action.liquidator, taker),
        insurance_fund=settled.insurance_fund.set(quote, settled.insurance_fund[quote] + fee),
    )
    return gate_if_negative(after, risk.nc)
