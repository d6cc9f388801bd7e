"""Human-readable and JSON views of actions and ledgers (for the command line)."""

from __future__ import annotations

from typing import Any

from clearspec.actions import (
    Action,
    AdvanceTime,
    ApplyFunding,
    CoverBadDebt,
    Deleverage,
    Deposit,
    FundInsurance,
    Liquidate,
    LiquidateCollateral,
    OracleUpdate,
    PremiumSample,
    ReportNegativeCollateral,
    SettleExpiry,
    SettleTrades,
    Transfer,
    Withdraw,
)
from clearspec.margin import account_risk
from clearspec.state import Ledger


def describe(action: Action) -> str:
    """One line naming the action and its main fields."""
    match action:
        case Deposit(account, asset, amount):
            return f"deposit {amount} {asset} to {account}"
        case Withdraw(account, asset, amount):
            return f"withdraw {amount} {asset} from {account}"
        case Transfer(source, destination, asset, amount):
            return f"transfer {amount} {asset} {source} -> {destination}"
        case AdvanceTime(now):
            return f"advance clock to {now}"
        case OracleUpdate(feed, reports):
            return f"oracle update {feed}: {len(reports)} reports"
        case SettleTrades(fills):
            return f"settle {len(fills)} fill(s): " + ", ".join(
                f"{f.taker} {f.taker_side.value} {f.size} {f.market} @ {f.price} from {f.maker}"
                for f in fills
            )
        case PremiumSample(market, premium):
            return f"premium sample {market}: {premium} ppm"
        case ApplyFunding(market):
            return f"apply funding {market}"
        case Liquidate(market, liquidated, counterparty, size, price, _):
            return f"liquidate {size} of {liquidated} in {market} @ {price} against {counterparty}"
        case LiquidateCollateral(account, liquidator, asset, repay, seize):
            return f"liquidate {seize} {asset} of {account} for {repay} from {liquidator}"
        case Deleverage(market, account, counterparties):
            return f"deleverage {account} in {market} against {', '.join(counterparties) or '-'}"
        case CoverBadDebt(account):
            return f"cover bad debt of {account}"
        case ReportNegativeCollateral(account):
            return f"report negative collateral of {account}"
        case FundInsurance(account, amount):
            return f"{account} pays {amount} into the insurance fund"
        case SettleExpiry(market, accounts):
            return f"settle expiry of {market} for {len(accounts)} account(s)"


def ledger_json(ledger: Ledger) -> dict[str, Any]:
    """The ledger as JSON-ready data; integers travel as decimal strings."""
    accounts: dict[str, Any] = {}
    for name in sorted(ledger.accounts):
        account = ledger.accounts[name]
        risk = account_risk(ledger, account)
        accounts[name] = {
            "balances": {a: str(b) for a, b in sorted(account.balances.items())},
            "positions": {
                m: {"size": str(p.size), "quote": str(p.quote)} for m, p in sorted(account.positions.items())
            },
            "risk": {"nc": str(risk.nc), "imr": str(risk.imr), "mmr": str(risk.mmr)},
        }
    return {
        "now": str(ledger.now),
        "prices": {
            f: {
                "price": str(p.price),
                "round": str(p.round),
                "updated_at": str(p.updated_at),
                "reference": str(p.reference),
                "reference_at": str(p.reference_at),
            }
            for f, p in sorted(ledger.prices.items())
        },
        "accounts": accounts,
        "fee_pool": {a: str(v) for a, v in sorted(ledger.fee_pool.items())},
        "insurance_fund": {a: str(v) for a, v in sorted(ledger.insurance_fund.items())},
        "net_deposits": {a: str(v) for a, v in sorted(ledger.net_deposits.items())},
        "markets": {
            m: {
                "funding_index": str(st.funding_index),
                "loss_index": str(st.loss_index),
                "pool": str(st.pool),
                "open_interest": str(st.open_interest),
                "settlement_price": None if st.settlement_price is None else str(st.settlement_price),
            }
            for m, st in sorted(ledger.markets.items())
        },
        "gate_until": str(ledger.gate_until),
    }


def ledger_table(ledger: Ledger) -> str:
    """A plain-text table of accounts, risk and pools."""
    lines = [f"clock {ledger.now}"]
    lines += [f"price {f}: {p.price} (round {p.round})" for f, p in sorted(ledger.prices.items())]
    header = f"{'account':<10} {'balances':<36} {'positions':<34} {'NC':>14} {'IMR':>12} {'MMR':>12}"
    lines += ["", header, "-" * len(header)]
    for name in sorted(ledger.accounts):
        account = ledger.accounts[name]
        risk = account_risk(ledger, account)
        balances = " ".join(f"{a}={b}" for a, b in sorted(account.balances.items()))
        positions = " ".join(f"{m}={p.size}/{p.quote}" for m, p in sorted(account.positions.items())) or "-"
        lines.append(f"{name:<10} {balances:<36} {positions:<34} {risk.nc:>14} {risk.imr:>12} {risk.mmr:>12}")
    pools = " ".join(f"{a}={v}" for a, v in sorted(ledger.fee_pool.items()))
    fund = " ".join(f"{a}={v}" for a, v in sorted(ledger.insurance_fund.items()))
    lines += ["", f"fee pool: {pools}", f"insurance fund: {fund}"]
    return "\n".join(lines)
