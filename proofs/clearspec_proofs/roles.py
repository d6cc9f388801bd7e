"""Which market, asset, feed and reporter of a parameter set plays each part in
the prover's world (spec: proofs.md, "The world of a parameter set").

The transition cases name what they act on by role (the quote asset, a
collateral asset, the first perpetual, a dated market, a market that
deleverages ...), never by id, so any valid parameter set can be proved. A role
the set does not have makes the cases that need it *not applicable*, with the
reason. The witness prices (a price per feed used only to find a model of the
hypotheses, never in a proof) are derived here too: on the tick of every market
the feed prices and within PAR-1's bounds.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from clearspec.errors import ClearingError, ErrorCode
from clearspec.params import MAX_AMOUNT, DeficitPolicy, MarketKind, ProtocolParams

# A witness price is this many (least common) ticks of its feed's markets: with
# the example set, 60,000 one-dollar ticks (BTC at 60,000 USD).
WITNESS_TICKS = 60_000
# The oracle-update case sends this many reports when the set has that many
# reporters and its quorum is not larger (a median over more than one report).
REPORTS = 3


class Role(StrEnum):
    """A part in the symbolic world. A shape or a case names a role; the world
    resolves it to an id of the parameter set (:meth:`Roles.of`)."""

    QUOTE = "<quote asset>"
    COLLATERAL = "<collateral asset>"  # an asset besides the quote (priced by the perpetual's feed if any)
    PERPETUAL = "<perpetual>"  # the first perpetual: trades, funding, liquidation
    PERPETUALS = "<perpetuals>"  # those holding positions in the world (one or two)
    DATED = "<dated market>"  # the first dated market: expiry settlement
    DELEVERAGE = "<deleverage market>"  # the first perpetual whose deficit policy is deleverage
    FEED = "<feed>"  # the feed the oracle-update case moves: the perpetual's, else the first


_MISSING = {
    Role.COLLATERAL: "the parameter set has no collateral asset besides the quote asset",
    Role.PERPETUAL: "the parameter set has no perpetual market",
    Role.DATED: "the parameter set has no dated market",
    Role.DELEVERAGE: "the parameter set has no perpetual market whose deficit_policy is deleverage",
    Role.FEED: "the parameter set has no feed",
}


_ROLE_NAMES = frozenset(role.value for role in Role)


class MissingRole(LookupError):
    """A case asked for a role the parameter set does not have (a prover defect:
    the case should have been reported not applicable)."""


@dataclass(frozen=True)
class Roles:
    """The ids each role resolves to, for one parameter set (see :func:`resolve`)."""

    quote: str
    collateral: str | None
    perpetual: str | None
    perpetuals: tuple[str, ...]
    dated: str | None
    deleverage: str | None
    feed: str | None
    reporters: tuple[str, ...]  # the ids of the oracle-update case's reports, in order
    witness_prices: Mapping[str, int]  # feed -> a price on the tick of every market it prices

    def optional(self, role: Role) -> str | None:
        """The id ``role`` resolves to, None if the set has no such market or asset."""
        if role is Role.PERPETUALS:
            raise MissingRole("PERPETUALS is a list of markets: use Roles.perpetuals")
        return {
            Role.QUOTE: self.quote,
            Role.COLLATERAL: self.collateral,
            Role.PERPETUAL: self.perpetual,
            Role.DATED: self.dated,
            Role.DELEVERAGE: self.deleverage,
            Role.FEED: self.feed,
        }[role]

    def of(self, role: Role) -> str:
        """The id ``role`` resolves to; :class:`MissingRole` if there is none."""
        found = self.optional(role)
        if found is None:
            raise MissingRole(_MISSING[role])
        return found

    def missing(self, needs: tuple[Role, ...]) -> str | None:
        """Why a case that needs ``needs`` does not apply, or None if it does."""
        reasons = [_MISSING[role] for role in needs if self.optional(role) is None]
        return "; ".join(reasons) if reasons else None

    def expand(self, names: tuple[str, ...]) -> tuple[str, ...]:
        """A shape's market or asset list with each role replaced by its ids
        (a role the set does not have contributes none)."""
        found: list[str] = []
        for name in names:
            if name == Role.PERPETUALS:
                found += self.perpetuals
            elif name in _ROLE_NAMES:
                one = self.optional(Role(name))
                found += [] if one is None else [one]
            else:
                found.append(name)
        return tuple(dict.fromkeys(found))

    def fill_witness_price(self) -> int | None:
        """The witness price of the perpetual's feed: a fill there at this price is
        on the tick and at the oracle price (TRD-3's band, LIQ-3's fillable price)."""
        return None if self.feed is None else self.witness_prices[self.feed]


def _unsupported(where: str, detail: str) -> ClearingError:
    return ClearingError(ErrorCode.INVALID_PARAMS, f"{where}: {detail}")


def witness_price(params: ProtocolParams, feed: str) -> int:
    """WITNESS_TICKS of the least common multiple of the ticks of the markets
    ``feed`` prices, lowered to a multiple of it within 1..MAX_AMOUNT (PAR-1); a
    feed no market trades has tick 1. Raises ``INVALID_PARAMS`` naming the tick
    field when no price on those ticks is within the bounds (no fill could ever
    be priced)."""
    tick = 1
    for index, market in enumerate(params.markets):
        if market.feed != feed:
            continue
        tick = math.lcm(tick, market.tick_size)
        if tick > MAX_AMOUNT:
            raise _unsupported(
                f"params.markets[{index}].tick_size",
                f"no price of feed {feed!r} on the tick of every market it prices is within "
                f"1..{MAX_AMOUNT} (PAR-1)",
            )
    return tick * min(WITNESS_TICKS, MAX_AMOUNT // tick)


def resolve(params: ProtocolParams) -> Roles:
    """The roles of ``params`` (module docstring). Raises ``INVALID_PARAMS`` for a
    set the world cannot be built for."""
    perpetuals = [m for m in params.markets if m.kind is MarketKind.PERPETUAL]
    perpetual = perpetuals[0] if perpetuals else None
    deleverage = next((m for m in perpetuals if m.deficit_policy is DeficitPolicy.DELEVERAGE), None)
    # Two perpetuals cover every path of an account's margin (the acted-on market
    # and another one); more markets only add terms of the same form and slow
    # the non-linear queries (spec: proofs.md). The deleveraging one must hold positions.
    second = deleverage if deleverage is not None and deleverage is not perpetual else None
    if second is None:
        second = next((m for m in perpetuals[1:]), None)
    held = tuple(m.market_id for m in (perpetual, second) if m is not None)
    feed = perpetual.feed if perpetual is not None else (params.feeds[0].feed_id if params.feeds else None)
    others = [a for a in params.assets if a.asset_id != params.quote_asset]
    # Collateral on the perpetual's feed: one oracle update then moves both.
    collateral = next((a for a in others if feed is not None and a.feed == feed), None)
    if collateral is None and others:
        collateral = others[0]
    dated = next((m for m in params.markets if m.kind is MarketKind.DATED), None)
    reporters = tuple(name for name, _ in params.oracle.reporters)
    count = min(len(reporters), max(params.oracle.quorum, REPORTS))
    return Roles(
        quote=params.quote_asset,
        collateral=collateral.asset_id if collateral is not None else None,
        perpetual=perpetual.market_id if perpetual is not None else None,
        perpetuals=held,
        dated=dated.market_id if dated is not None else None,
        deleverage=deleverage.market_id if deleverage is not None else None,
        feed=feed,
        reporters=reporters[:count],
        witness_prices={f.feed_id: witness_price(params, f.feed_id) for f in params.feeds},
    )
