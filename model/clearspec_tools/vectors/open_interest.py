"""Boundary cases of MRG-7: the initial requirement scaled by open interest.

The example set with caps on BTC-PERP (1 and 3 coins): a withdrawal that leaves
an account exactly at its scaled initial requirement, and one unit more, with
the open interest below the lower cap, between the caps (at a size whose
requirement is not a whole number, so the rounding is seen) and above the
upper cap; a batch refused because of the open interest it leaves; and an
account that others' trades leave below initial margin, which may then only
reduce its risk. The thresholds come from the model's own ``account_risk``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

from clearspec.actions import Action, Deposit, Fill, SettleTrades, Side, Withdraw
from clearspec.margin import account_risk
from clearspec.params import ProtocolParams, with_market
from clearspec.state import Ledger
from clearspec.transition import apply
from clearspec_tools.examples import BTC, USD, example_genesis, example_params, usd_price
from clearspec_tools.vectors.generate import Draft, draft_from

LOWER_CAP, UPPER_CAP = 1 * BTC, 3 * BTC
PRICE = usd_price(60_000)
RULES = ("MRG-7", "MRG-2")


def capped_params() -> ProtocolParams:
    """The example set with open-interest caps of 1 and 3 coins on BTC-PERP."""
    return with_market(
        example_params(), "BTC-PERP", open_interest_lower_cap=LOWER_CAP, open_interest_upper_cap=UPPER_CAP
    )


def _run(ledger: Ledger, *actions: Action) -> Ledger:
    for action in actions:
        ledger = apply(ledger, action)
    return ledger


def _buy(buyer: str, seller: str, size: int) -> SettleTrades:
    return SettleTrades((Fill("BTC-PERP", seller, buyer, Side.BUY, size, PRICE, 0, 0),))


def _funded(dollars: int, *names: str) -> Ledger:
    ledger = replace(example_genesis(), params=capped_params())
    return _run(ledger, *(Deposit(name, "USDC", dollars * USD) for name in names))


def _withdraw_pair(name: str, what: str, ledger: Ledger) -> Iterator[Draft]:
    risk = account_risk(ledger, ledger.account("alice"))
    free = risk.nc - risk.imr
    assert free > 0, (name, risk)
    for suffix, amount, intended in (("at-edge", free, None), ("one-past", free + 1, "MARGIN_INSUFFICIENT")):
        yield draft_from(
            f"boundary/open-interest-{name}/{suffix}",
            f"{what}: a withdrawal leaving NC {'exactly at' if intended is None else 'one unit below'} "
            f"the scaled IMR ({risk.imr})",
            f"boundary:open-interest-{name}",
            ledger,
            [Withdraw("alice", "USDC", amount)],
            (intended,),
            (*RULES, "MRG-5"),
        )


def open_interest_drafts() -> Iterator[Draft]:
    """Every MRG-7 case."""
    below = _run(_funded(10_000, "alice", "bob"), _buy("alice", "bob", BTC // 2))
    yield from _withdraw_pair("below", "open interest 0.5 coin, below the lower cap: the tiers' IMR", below)
    # 1.23457 coins: share 0.117285 of the way from the tiers' IMR to the whole
    # notional; the exact requirement is not a whole number of base units.
    between = _run(_funded(100_000, "alice", "bob"), _buy("alice", "bob", 123_457_000))
    yield from _withdraw_pair("between", "open interest 1.23457 coins, between the caps", between)
    above = _run(_funded(300_000, "alice", "bob"), _buy("alice", "bob", 7 * BTC // 2))
    yield from _withdraw_pair(
        "above", "open interest 3.5 coins, above the upper cap: the whole notional", above
    )
    funded = _funded(10_000, "alice", "bob")
    yield draft_from(
        "boundary/open-interest-crossed/batch",
        "a second coin takes the open interest halfway between the caps: MARGIN_INSUFFICIENT "
        "(accepted without the caps)",
        "boundary:open-interest-crossed",
        funded,
        [_buy("alice", "bob", 1 * BTC), _buy("alice", "bob", 1 * BTC)],
        (None, "MARGIN_INSUFFICIENT"),
        (*RULES, "MRG-4"),
    )
    held = _run(_funded(10_000, "alice", "bob", "carol", "dave"), _buy("carol", "dave", 1 * BTC))
    reduce = SettleTrades((Fill("BTC-PERP", "dave", "carol", Side.SELL, BTC // 2, PRICE, 0, 0),))
    yield draft_from(
        "boundary/open-interest-untouched/reduce-only",
        "others raise the open interest to 1.5 coins: carol, untouched, is below initial margin, "
        "may not withdraw, may reduce",
        "boundary:open-interest-untouched",
        held,
        [_buy("alice", "bob", BTC // 2), Withdraw("carol", "USDC", 1), reduce],
        (None, "MARGIN_INSUFFICIENT", None),
        (*RULES, "MRG-4", "MRG-5"),
    )
