"""The protocol's invariants (spec: invariants.md, rules INV-*) as checkable functions.

Two kinds of check, both used as transition postconditions:

* local ones look only at the accounts an action names and cost O(those
  accounts); they always run when contracts are on;
* global ones sum over every account; they run in slow mode only
  (:func:`slow_checks`), which tests and CI switch on.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from clearspec import kernel as k
from clearspec.state import Account, Ledger

_SLOW = [os.environ.get("CLEARSPEC_SLOW_CHECKS", "0") == "1"]


def slow_checks() -> bool:
    """Whether global (O(accounts)) invariant checks run after every transition."""
    return _SLOW[0]


def set_slow_checks(enabled: bool) -> None:
    """Switch the global checks on or off at run time (tests switch them on)."""
    _SLOW[0] = enabled


def asset_claims(ledger: Ledger, account: Account, asset: str) -> int:
    """What the account holds of ``asset``: its balance, and for the quote asset
    also the quote amounts of its open positions (INV-1)."""
    claims = account.balance(asset)
    if asset == ledger.params.quote_asset:
        claims = claims + k.sum_(p.quote for p in account.positions.values())
    return claims


def conserved(ledger: Ledger, asset: str) -> bool:
    """INV-1 (global): balances + position quotes + fee pool + insurance fund equal
    deposits minus withdrawals, exactly."""
    held = k.sum_(asset_claims(ledger, a, asset) for a in ledger.accounts.values())
    pools = ledger.fee_pool.get(asset, 0) + ledger.insurance_fund.get(asset, 0)
    return held + pools == ledger.net_deposits.get(asset, 0)


def zero_sum(ledger: Ledger, market: str) -> bool:
    """INV-2 (global): the positions of a market sum to zero."""
    return k.sum_(a.positions[market].size for a in ledger.accounts.values() if market in a.positions) == 0


def all_global_invariants(ledger: Ledger) -> bool:
    """INV-1, INV-2 and INV-3 over the whole ledger."""
    conditions = [conserved(ledger, a.asset_id) for a in ledger.params.assets]
    conditions += [zero_sum(ledger, m.market_id) for m in ledger.params.markets]
    conditions += [ledger.fee_pool[a.asset_id] >= 0 for a in ledger.params.assets]
    conditions += [ledger.insurance_fund[a.asset_id] >= 0 for a in ledger.params.assets]
    return k.all_hold(conditions, "INV global")


def local_conservation(before: Ledger, after: Ledger, touched: Iterable[str]) -> bool:
    """INV-1 (local): over the touched accounts and the pools, the change of every
    asset's claims equals the change of net deposits."""
    names = list(dict.fromkeys(touched))
    conditions = []
    for asset in before.params.asset_by_id:
        moved = k.sum_(
            asset_claims(after, after.account(n), asset) - asset_claims(before, before.account(n), asset)
            for n in names
        )
        pools = (
            after.fee_pool[asset]
            - before.fee_pool[asset]
            + after.insurance_fund[asset]
            - before.insurance_fund[asset]
        )
        deposits = after.net_deposits[asset] - before.net_deposits[asset]
        conditions.append(moved + pools == deposits)
    return k.all_hold(conditions, "INV-1 local conservation")


def local_zero_sum(before: Ledger, after: Ledger, touched: Iterable[str]) -> bool:
    """INV-2 (local): the position changes of the touched accounts cancel per market."""
    names = list(dict.fromkeys(touched))
    conditions = []
    for market in before.params.market_by_id:
        delta = k.sum_(_size(after.account(n), market) - _size(before.account(n), market) for n in names)
        conditions.append(delta == 0)
    return k.all_hold(conditions, "INV-2 local zero-sum")


def frame(before: Ledger, after: Ledger, touched: Iterable[str]) -> bool:
    """INV-5 (global): accounts the action does not name are the same objects."""
    names = set(touched)
    if len(after.accounts) < len(before.accounts):
        return False
    return all(
        after.accounts.get(name) is account for name, account in before.accounts.items() if name not in names
    ) and all(name in before.accounts or name in names for name in after.accounts)


def _size(account: Account, market: str) -> int:
    position = account.positions.get(market)
    return 0 if position is None else position.size
