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

from immutables import Map

from clearspec import kernel as k
from clearspec.margin import Risk
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
    """INV-1 (global): balances + position quotes + fee pool + insurance fund (+
    market pools, for the quote asset) equal deposits minus withdrawals, exactly."""
    held = k.sum_(asset_claims(ledger, a, asset) for a in ledger.accounts.values())
    pools = ledger.fee_pool.get(asset, 0) + ledger.insurance_fund.get(asset, 0)
    if asset == ledger.params.quote_asset:
        pools = pools + k.sum_(state.pool for state in ledger.markets.values())
    return held + pools == ledger.net_deposits.get(asset, 0)


def zero_sum(ledger: Ledger, market: str) -> bool:
    """INV-2 (global): the positions of a market sum to zero."""
    return k.sum_(a.positions[market].size for a in ledger.accounts.values() if market in a.positions) == 0


def open_interest_matches(ledger: Ledger, market: str) -> bool:
    """INV-6 (global): the recorded open interest is the sum of long sizes, and a
    market with none has an empty pool (FND-4)."""
    longs = k.sum_(
        k.max_(a.positions[market].size, 0) for a in ledger.accounts.values() if market in a.positions
    )
    state = ledger.markets[market]
    return k.and_(longs == state.open_interest, k.implies(state.open_interest == 0, state.pool == 0))


def pool_covers_claims(ledger: Ledger, market: str) -> bool:
    """FND-5 (global): what the market's pool holds plus what its positions still
    owe it, exactly (before rounding), is not negative: the market never pays
    out more funding or socialised loss than it collects."""
    from clearspec.positions import LOSS_SCALE

    params = ledger.params.market_by_id[market]
    scale = ledger.params.feed_by_id[params.feed].scale
    state = ledger.markets[market]
    funding_den = 1_000_000 * scale
    owed = k.sum_(
        a.positions[market].size * (state.funding_index - a.positions[market].funding_index) * LOSS_SCALE
        + k.abs_(a.positions[market].size) * (state.loss_index - a.positions[market].loss_index) * funding_den
        for a in ledger.accounts.values()
        if market in a.positions
    )
    return state.pool * funding_den * LOSS_SCALE + owed >= 0


def positions_well_formed(ledger: Ledger, market: str) -> bool:
    """TRD-4, ADL-6 (global): a position of size zero carries no quote (it was
    realised when it closed), and no position's loss snapshot is ahead of its
    market's loss index, which only rises."""
    state = ledger.markets[market]
    return k.and_(
        *[
            k.and_(
                k.implies(a.positions[market].size == 0, a.positions[market].quote == 0),
                a.positions[market].loss_index <= state.loss_index,
            )
            for a in ledger.accounts.values()
            if market in a.positions
        ]
    )


def all_global_invariants(ledger: Ledger) -> bool:
    """INV-1, INV-2, INV-3, INV-6 and FND-5 over the whole ledger."""
    conditions = [conserved(ledger, a.asset_id) for a in ledger.params.assets]
    conditions += [zero_sum(ledger, m.market_id) for m in ledger.params.markets]
    conditions += [open_interest_matches(ledger, m.market_id) for m in ledger.params.markets]
    conditions += [pool_covers_claims(ledger, m.market_id) for m in ledger.params.markets]
    conditions += [positions_well_formed(ledger, m.market_id) for m in ledger.params.markets]
    conditions += [ledger.fee_pool[a.asset_id] >= 0 for a in ledger.params.assets]
    conditions += [ledger.insurance_fund[a.asset_id] >= 0 for a in ledger.params.assets]
    return k.all_hold(conditions, "INV global")


def _claims_by_asset(ledger: Ledger, account: Account | None) -> dict[str, int]:
    if account is None:
        return {}
    claims = dict(account.balances.items())
    quote = ledger.params.quote_asset
    for position in account.positions.values():
        claims[quote] = claims.get(quote, 0) + position.quote
    return claims


def _pool_deltas(before: Map[str, int], after: Map[str, int], into: dict[str, int]) -> None:
    if after is not before:
        for asset, value in after.items():
            into[asset] = into.get(asset, 0) + value - before.get(asset, 0)


def local_invariants(before: Ledger, after: Ledger, touched: Iterable[str]) -> bool:
    """INV-1, INV-2, INV-3 (local): over the touched accounts that changed, every
    asset's claims move exactly as the pools and net deposits say, every market's
    sizes cancel, and the pools are not negative. Costs O(touched accounts)."""
    return k.all_hold(local_conditions(before, after, touched), "INV-1..INV-3 local")


def local_conditions(before: Ledger, after: Ledger, touched: Iterable[str]) -> list[bool]:
    """The conditions of :func:`local_invariants`, unevaluated: the prover's
    delta-sum obligations, which hold for a ledger of any number of accounts."""
    claims: dict[str, int] = {}
    sizes: dict[str, int] = {}
    for name in dict.fromkeys(touched):
        old, new = before.accounts.get(name), after.accounts.get(name)
        if old is new:
            continue
        for sign, ledger, account in ((-1, before, old), (1, after, new)):
            for asset, amount in _claims_by_asset(ledger, account).items():
                claims[asset] = claims.get(asset, 0) + sign * amount
            if account is not None:
                for market, position in account.positions.items():
                    sizes[market] = sizes.get(market, 0) + sign * position.size
    pools: dict[str, int] = {}
    _pool_deltas(before.fee_pool, after.fee_pool, pools)
    _pool_deltas(before.insurance_fund, after.insurance_fund, pools)
    if after.markets is not before.markets:
        quote = before.params.quote_asset
        for market, state in after.markets.items():
            pools[quote] = pools.get(quote, 0) + state.pool - before.markets[market].pool
    deposits: dict[str, int] = {}
    _pool_deltas(before.net_deposits, after.net_deposits, deposits)
    conditions = [
        claims.get(a, 0) + pools.get(a, 0) == deposits.get(a, 0)
        for a in sorted(set(claims) | set(pools) | set(deposits))
    ]
    conditions += [delta == 0 for delta in sizes.values()]
    conditions += [after.fee_pool[a] >= 0 for a in pools]
    conditions += [after.insurance_fund[a] >= 0 for a in pools]
    return conditions


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


def ratio_not_lower(before: Risk, after: Risk) -> bool:
    """LIQ-6: ``NC_after / MMR_after >= NC_before / MMR_before`` with MMR not
    rising, by cross-multiplying (``MMR_before > 0``)."""
    return k.holds(k.and_(after.mmr <= before.mmr, after.nc * before.mmr >= before.nc * after.mmr))
