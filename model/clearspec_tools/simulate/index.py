"""The health index: which accounts can have become liquidatable since they were last looked at.

Scanning every account after every oracle update costs O(accounts) per update.
Instead each account gets, when it is examined, a *band* per coordinate of the
ledger it depends on, inside which it provably cannot become liquidatable; an
update of one coordinate re-examines only the accounts whose band edge it
crossed (a bisect in a sorted list).

Coordinates are what moves an account's health without an action naming it:
the price of each feed, and each market's funding index (FND-3) and loss index
(ADL-6). Everything else that changes an account is an action that names it,
after which the engine examines it again.

Why a band is conservative. Write ``g = NC - MMR`` for the settled account
(MRG-1, MRG-6: liquidatable means ``MMR > 0`` and ``g < 0``). Every term of
``g`` depends on one coordinate ``x`` and is, up to rounding, linear in it:

* a position of size ``s`` on a feed of scale ``S``: ``floor(s*p/S) + quote -
  ceil(W*p/(S*PPM))`` with ``W`` its weighted maintenance fraction (MRG-2);
  slope ``(s*PPM - W)/(S*PPM)``, rounding at most 2 against the account;
* a collateral balance ``b`` of weight ``w`` (MRG-1): ``floor(b*p*w/(S*PPM))``;
  slope ``b*w/(S*PPM)``, rounding at most 1;
* funding owed since the position last settled (FND-3):
  ``-ceil(s*(I - I0)/(PPM*S))``; slope ``-s/(PPM*S)``, rounding at most 1;
* socialised loss owed (ADL-6): ``-ceil(|s|*(L - L0)/LOSS_SCALE)``; slope
  ``-|s|/LOSS_SCALE``, rounding at most 1.

So after coordinates move by ``dx``, ``g' >= g + sum(slope_c * dx_c) - R`` with
``R`` the summed rounding. The slack ``g - R`` is shared out as budgets ``B_c``
(``sum B_c <= g - R``), and coordinate ``c`` gets the half-line where
``slope_c * dx_c >= -B_c``. While every coordinate stays in its half-line,
``g' >= 0``: the account is not liquidatable, whatever the others do. An
account with ``g < R`` sits on the edge and is examined on every move of any
coordinate it depends on. ``tests/test_simulate_index.py`` checks this against a
brute-force scan of random populations.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass

from clearspec.margin import Risk, account_risk, is_liquidatable, tiered_requirement
from clearspec.params import PPM
from clearspec.positions import LOSS_SCALE, funding_owed, loss_owed
from clearspec.state import Ledger

Coordinate = tuple[str, str]
"""``("price", feed)``, ``("funding", market)`` or ``("loss", market)``."""

# Shares of the slack: the funding and loss indices move rarely and little, so
# they get a small fixed part; the prices share the rest by exposure.
INDEX_SHARE_DIVISOR = 32


def coordinates(ledger: Ledger) -> dict[Coordinate, int]:
    """The current value of every coordinate of the ledger."""
    values: dict[Coordinate, int] = {("price", feed): p.price for feed, p in ledger.prices.items()}
    for market, state in ledger.markets.items():
        values[("funding", market)] = state.funding_index
        values[("loss", market)] = state.loss_index
    return values


@dataclass(frozen=True, slots=True)
class Health:
    """An examined account: its settled NC and MMR and, unless it is liquidatable,
    its band: ``(coordinate, falls_below, key)`` triples (an update fires when the
    coordinate goes below ``key`` if ``falls_below``, above it otherwise) and the
    coordinates on whose every move it must be examined (``edge``)."""

    liquidatable: bool
    nc: int
    mmr: int
    thresholds: tuple[tuple[Coordinate, bool, int], ...] = ()
    edge: tuple[Coordinate, ...] = ()


def settled_risk(ledger: Ledger, name: str) -> tuple[int, int]:
    """The account's NC and MMR as :func:`clearspec.positions.settle_account` would
    leave them (FND-3, ADL-6), without building the settled ledger: its risk at the
    ledger's prices less what its positions owe, by the model's ``funding_owed`` and
    ``loss_owed`` (settling moves exactly that out of the quote balance and changes
    nothing else the risk depends on)."""
    account = ledger.accounts[name]
    risk = account_risk(ledger, account)
    owed = 0
    params = ledger.params
    for market_id, position in account.positions.items():
        state = ledger.markets[market_id]
        scale = params.feed_by_id[params.market_by_id[market_id].feed].scale
        owed += funding_owed(position, state, scale) + loss_owed(position, state)
    return risk.nc - owed, risk.mmr


def derive(ledger: Ledger, name: str) -> Health | None:
    """Examine an account: ``None`` if it has no position (it cannot be liquidated),
    else its health and, if it is not liquidatable, its band (see the module)."""
    account = ledger.accounts[name]
    if not account.positions:
        return None
    nc, mmr = settled_risk(ledger, name)
    if is_liquidatable(Risk(nc, 0, mmr)):
        return Health(True, nc, mmr)
    params = ledger.params
    slopes: dict[Coordinate, tuple[int, int]] = {}
    reserve = 0

    def add(coordinate: Coordinate, numerator: int, denominator: int) -> None:
        old = slopes.get(coordinate, (0, denominator))[0]
        slopes[coordinate] = (old + numerator, denominator)

    for market_id, position in account.positions.items():
        market = params.market_by_id[market_id]
        scale = params.feed_by_id[market.feed].scale
        state = ledger.markets[market_id]
        if state.settlement_price is None:  # EXP-1: a fixed final price does not move
            weighted = tiered_requirement(market, abs(position.size), scale * PPM, scale)[1]
            add(("price", market.feed), position.size * PPM - weighted, scale * PPM)
            reserve += 2
        add(("funding", market_id), -position.size, PPM * scale)
        add(("loss", market_id), -abs(position.size), LOSS_SCALE)
        reserve += 2
    for asset_id, balance in account.balances.items():
        feed = params.asset_by_id[asset_id].feed
        if feed is None or balance == 0:
            continue
        scale = params.feed_by_id[feed].scale
        add(("price", feed), balance * params.asset_by_id[asset_id].maintenance_weight_ppm, scale * PPM)
        reserve += 1
    budget = nc - mmr - reserve
    if budget < 0:
        return Health(False, nc, mmr, edge=tuple(slopes))
    values = coordinates(ledger)
    indices = [c for c, (n, _) in slopes.items() if c[0] != "price" and n != 0]
    prices = [c for c, (n, _) in slopes.items() if c[0] == "price" and n != 0]
    budgets: dict[Coordinate, int] = {}
    small = budget // INDEX_SHARE_DIVISOR if prices else budget
    for c in indices:
        budgets[c] = small // len(indices)
    rest = budget - sum(budgets.values())
    weights = {c: abs(slopes[c][0]) * values[c] // slopes[c][1] + 1 for c in prices}
    total = sum(weights.values())
    for c in prices:
        budgets[c] = rest * weights[c] // total
    thresholds = []
    for c, share in budgets.items():
        numerator, denominator = slopes[c]
        reach = share * denominator // abs(numerator)
        if numerator > 0:
            thresholds.append((c, True, values[c] - reach))
        else:
            thresholds.append((c, False, values[c] + reach))
    return Health(False, nc, mmr, tuple(thresholds))


class _Sorted:
    """Keys in ascending order with a parallel list of ``(name, version)`` entries."""

    __slots__ = ("entries", "keys")

    def __init__(self) -> None:
        self.keys: list[int] = []
        self.entries: list[tuple[str, int]] = []

    def insert(self, key: int, entry: tuple[str, int]) -> None:
        at = bisect_right(self.keys, key)
        self.keys.insert(at, key)
        self.entries.insert(at, entry)

    def pop_above(self, value: int) -> list[tuple[str, int]]:
        """Remove and return the entries whose key is greater than ``value``."""
        at = bisect_right(self.keys, value)
        found = self.entries[at:]
        del self.keys[at:], self.entries[at:]
        return found

    def pop_below(self, value: int) -> list[tuple[str, int]]:
        """Remove and return the entries whose key is less than ``value``."""
        at = bisect_left(self.keys, value)
        found = self.entries[:at]
        del self.keys[:at], self.entries[:at]
        return found

    def compact(self, live: dict[str, int]) -> None:
        kept = [(k, e) for k, e in zip(self.keys, self.entries, strict=True) if live.get(e[0]) == e[1]]
        self.keys = [k for k, _ in kept]
        self.entries = [e for _, e in kept]


class HealthIndex:
    """Bands of the examined accounts by coordinate, in sorted lists.

    :meth:`place` files an account's band (replacing any earlier one);
    :meth:`move` reports a coordinate's new value and returns the accounts whose
    band it left, which are then no longer filed until placed again. Removal is
    lazy: a placement bumps the account's version, and entries of older versions
    are skipped and, now and then, compacted away.
    """

    def __init__(self) -> None:
        self._below: dict[Coordinate, _Sorted] = {}  # fires when the value falls below the key
        self._above: dict[Coordinate, _Sorted] = {}  # fires when the value rises above the key
        self._edge: dict[Coordinate, set[str]] = {}
        self._edge_of: dict[str, tuple[Coordinate, ...]] = {}
        self._version: dict[str, int] = {}
        self._filed = 0

    def __contains__(self, name: str) -> bool:
        return name in self._version

    def __len__(self) -> int:
        return len(self._version)

    def forget(self, name: str) -> None:
        """Take an account out of the index (it has no band)."""
        if self._version.pop(name, None) is not None:
            for c in self._edge_of.pop(name, ()):
                self._edge[c].discard(name)

    def place(self, name: str, health: Health) -> None:
        """File a healthy account's band (an earlier band of it is dropped)."""
        assert not health.liquidatable
        self.forget(name)
        self._filed += 1
        version = self._filed
        self._version[name] = version
        for c, falls_below, key in health.thresholds:
            table = self._below if falls_below else self._above
            side = table.get(c)
            if side is None:
                side = table[c] = _Sorted()
            side.insert(key, (name, version))
            if len(side.keys) > 2 * len(self._version) + 1_024:
                side.compact(self._version)
        if health.edge:
            self._edge_of[name] = health.edge
            for c in health.edge:
                self._edge.setdefault(c, set()).add(name)

    def move(self, coordinate: Coordinate, value: int) -> list[str]:
        """The accounts whose band ``coordinate`` left at ``value`` (sorted, each
        once); they are taken out of the index."""
        found: set[str] = set()
        below = self._below.get(coordinate)
        if below is not None:
            found.update(n for n, v in below.pop_above(value) if self._version.get(n) == v)
        above = self._above.get(coordinate)
        if above is not None:
            found.update(n for n, v in above.pop_below(value) if self._version.get(n) == v)
        found.update(self._edge.get(coordinate, ()))
        for name in found:
            self.forget(name)
        return sorted(found)
