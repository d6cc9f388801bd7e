"""Malformed input, one flaw per case (spec: vectors.md, VEC-3 and VEC-4).

Each case starts from a valid action (or a valid state or parameter set) and
breaks exactly one thing about it, Wycheproof-style; the id and description
say which. Action flaws are step rejections (the state is unchanged, and a
valid action follows to show it); state and parameter flaws refuse the case.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

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
    PremiumSample,
    ReportNegativeCollateral,
    SettleExpiry,
    SettleTrades,
    Side,
    Transfer,
    Withdraw,
)
from clearspec.state import Ledger
from clearspec.transition import apply
from clearspec_tools.examples import USD, example_genesis, signed_update, usd_price
from clearspec_tools.vectors.codec import INTEGER_LIMIT, encode_action, encode_params, encode_state
from clearspec_tools.vectors.generate import Draft

MALFORMED = "MALFORMED_INPUT"
NON_CANONICAL = "NON_CANONICAL_INTEGER"
OUT_OF_RANGE = "INTEGER_OUT_OF_RANGE"
INVALID_STATE = "INVALID_STATE"

# (label, value, code) for a field that holds an integer.
BAD_INTEGERS: tuple[tuple[str, Any, str], ...] = (
    ("json-number", 5, MALFORMED),
    ("json-float", 5.0, MALFORMED),
    ("null", None, MALFORMED),
    ("boolean", True, MALFORMED),
    ("plus-sign", "+5", NON_CANONICAL),
    ("leading-zero", "05", NON_CANONICAL),
    ("negative-zero", "-0", NON_CANONICAL),
    ("exponent", "5e3", NON_CANONICAL),
    ("decimal-point", "5.0", NON_CANONICAL),
    ("whitespace", " 5", NON_CANONICAL),
    ("hex", "0x5", NON_CANONICAL),
    ("empty", "", NON_CANONICAL),
    ("two-to-the-255", str(INTEGER_LIMIT), OUT_OF_RANGE),
    ("minus-two-to-the-255-minus-one", str(-INTEGER_LIMIT - 1), OUT_OF_RANGE),
)
# (label, value, code) for a field that holds an identifier.
BAD_IDENTIFIERS: tuple[tuple[str, Any, str], ...] = (
    ("number", 7, MALFORMED),
    ("empty", "", MALFORMED),
    ("space", "al ice", MALFORMED),
    ("non-ascii", "alic\u00e9", MALFORMED),
    ("too-long", "a" * 65, MALFORMED),
    ("slash", "a/b", MALFORMED),
)


def _base() -> Ledger:
    ledger = example_genesis()
    for action in (
        Deposit("alice", "USDC", 10_000 * USD),
        Deposit("bob", "USDC", 10_000 * USD),
        SettleTrades((Fill("BTC-PERP", "bob", "alice", Side.BUY, 10_000_000, usd_price(60_000), 0, 0),)),
    ):
        ledger = apply(ledger, action)
    return ledger


def _valid_actions(ledger: Ledger) -> list[Action]:
    fill = Fill("BTC-PERP", "bob", "alice", Side.BUY, 1_000_000, usd_price(60_000), 0, 0)
    return [
        Deposit("alice", "USDC", 5 * USD),
        Withdraw("alice", "USDC", 5 * USD),
        Transfer("alice", "bob", "USDC", 5 * USD),
        AdvanceTime(ledger.now + 5),
        signed_update("BTC-USD", [usd_price(60_100)] * 3, ledger.now, 1),
        SettleTrades((fill,)),
        PremiumSample("BTC-PERP", 100),
        ApplyFunding("BTC-PERP"),
        Liquidate("BTC-PERP", "alice", "bob", 1_000_000, usd_price(60_000), 0),
        LiquidateCollateral("alice", "bob", "BTC", 5 * USD, 1_000),
        Deleverage("BTC-PERP", "alice", ("bob",)),
        CoverBadDebt("alice"),
        ReportNegativeCollateral("alice"),
        FundInsurance("alice", 5 * USD),
        SettleExpiry("BTC-DEC", ("alice",)),
    ]


def _step_draft(ledger: Ledger, id_: str, description: str, raw: Any, code: str, rule: str) -> Draft:
    # The flawed action, then a valid deposit, which must see the state unchanged.
    follow = encode_action(Deposit("alice", "USDC", 1))
    return Draft(
        id=f"wire/action/{id_}",
        description=description,
        source="generator:wire",
        params=encode_params(ledger.params),
        pre_state=encode_state(ledger),
        actions=(raw, follow),
        intended=(code, None),
        extra_rules=(rule, "PRF-3"),  # decoding: one of CrossHair's targets
    )


def action_drafts(ledger: Ledger) -> Iterator[Draft]:
    """Every field of every action type: missing, of a wrong type, non-canonical."""
    for action in _valid_actions(ledger):
        good = encode_action(action)
        kind = good["type"]
        yield _step_draft(
            ledger,
            f"{kind}/unknown-field",
            f"{kind} with an extra field",
            {**good, "memo": "x"},
            MALFORMED,
            "VEC-4",
        )
        for name, value in good.items():
            if name == "type":
                continue
            missing = {k: v for k, v in good.items() if k != name}
            yield _step_draft(
                ledger, f"{kind}/{name}/missing", f"{kind} without its {name}", missing, MALFORMED, "VEC-4"
            )
            if isinstance(value, str) and (value.lstrip("-").isdigit()):
                for label, bad, code in BAD_INTEGERS:
                    yield _step_draft(
                        ledger,
                        f"{kind}/{name}/{label}",
                        f"{kind} whose {name} is {bad!r}: integers are canonical decimal strings",
                        {**good, name: bad},
                        code,
                        "VEC-3",
                    )
            elif isinstance(value, str):
                for label, bad, code in BAD_IDENTIFIERS[:3]:
                    yield _step_draft(
                        ledger,
                        f"{kind}/{name}/{label}",
                        f"{kind} whose {name} is {bad!r}: not an identifier",
                        {**good, name: bad},
                        code,
                        "VEC-3",
                    )
            elif isinstance(value, list):
                yield _step_draft(
                    ledger,
                    f"{kind}/{name}/not-a-list",
                    f"{kind} whose {name} is an object, not a list",
                    {**good, name: {}},
                    MALFORMED,
                    "VEC-4",
                )
    yield from _special_action_drafts(ledger)


def _special_action_drafts(ledger: Ledger) -> Iterator[Draft]:
    deposit = encode_action(Deposit("alice", "USDC", 5))
    for label, bad, code in BAD_IDENTIFIERS:
        yield _step_draft(
            ledger,
            f"deposit/account-id/{label}",
            f"a deposit to the account {bad!r}",
            {**deposit, "account": bad},
            code,
            "VEC-3",
        )
    cases: list[tuple[str, str, Any]] = [
        ("not-an-object", "an action that is a list", [deposit]),
        ("string", "an action that is a string", "deposit"),
        ("unknown-type", "an action of an unknown type", {**deposit, "type": "mint"}),
        ("type-missing", "an action without a type", {k: v for k, v in deposit.items() if k != "type"}),
        ("type-case", "the type in capitals", {**deposit, "type": "DEPOSIT"}),
    ]
    for label, description, raw in cases:
        yield _step_draft(ledger, f"shape/{label}", description, raw, MALFORMED, "VEC-4")
    update = encode_action(signed_update("BTC-USD", [usd_price(60_100)] * 3, ledger.now, 1))
    report = update["reports"][0]
    for label, signature in (
        ("uppercase-hex", report["signature"].upper()),
        ("odd-length", report["signature"][:-1]),
        ("too-long", report["signature"] + "00"),
        ("not-hex", "zz" * 64),
    ):
        bad_update = copy.deepcopy(update)
        bad_update["reports"][0]["signature"] = signature
        yield _step_draft(
            ledger,
            f"oracle_update/signature/{label}",
            f"a report whose signature is {label.replace('-', ' ')}",
            bad_update,
            MALFORMED,
            "VEC-3",
        )
    # ORA-2: a report of the first format carries no deployment and no decimals.
    old_format = copy.deepcopy(update)
    for old_report in old_format["reports"]:
        del old_report["deployment"], old_report["decimals"]
    yield _step_draft(
        ledger,
        "oracle_update/report/first-format",
        "reports of the retired first format (no deployment, no decimals): a wire flaw",
        old_format,
        MALFORMED,
        "ORA-2",
    )
    for label, field, value in (
        ("deployment-not-an-id", "deployment", "two words"),
        ("decimals-a-number", "decimals", 6),
    ):
        flawed = copy.deepcopy(update)
        flawed["reports"][0][field] = value
        yield _step_draft(
            ledger,
            f"oracle_update/report/{label}",
            f"a report whose {field} is {value!r}",
            flawed,
            MALFORMED,
            "VEC-3",
        )
    fill = encode_action(SettleTrades((Fill("BTC-PERP", "bob", "alice", Side.BUY, 1_000_000, 1, 0, 0),)))
    for label, side in (("capitals", "BUY"), ("unknown", "long"), ("number", 1)):
        bad_fill = copy.deepcopy(fill)
        bad_fill["fills"][0]["taker_side"] = side
        yield _step_draft(
            ledger,
            f"settle_trades/taker_side/{label}",
            f"a fill whose side is {side!r}",
            bad_fill,
            MALFORMED,
            "VEC-4",
        )


def _state_draft(
    ledger: Ledger, id_: str, description: str, state: Any, code: str, params: Any = None
) -> Draft:
    return Draft(
        id=f"wire/{id_}",
        description=description,
        source="generator:wire",
        params=encode_params(ledger.params) if params is None else params,
        pre_state=state,
        actions=(encode_action(Deposit("alice", "USDC", 1)),),
        case_error=code,
        extra_rules=("VEC-2",),
    )


def state_drafts(ledger: Ledger) -> Iterator[Draft]:
    """States and parameter sets that must be refused, one flaw each."""
    good = encode_state(ledger)

    def edited(path: tuple[str, ...], value: Any) -> Any:
        state = copy.deepcopy(good)
        target = state
        for key in path[:-1]:
            target = target[key]
        if value is _DELETE:
            del target[path[-1]]
        else:
            target[path[-1]] = value
        return state

    flaws: list[tuple[str, str, tuple[str, ...], Any, str]] = [
        (
            "unknown-asset",
            "a balance in an unlisted asset",
            ("accounts", "alice", "balances", "DOGE"),
            "5",
            INVALID_STATE,
        ),
        (
            "zero-balance",
            "a zero balance written out",
            ("accounts", "alice", "balances", "BTC"),
            "0",
            INVALID_STATE,
        ),
        (
            "negative-collateral",
            "a negative BTC balance",
            ("accounts", "alice", "balances", "BTC"),
            "-1",
            INVALID_STATE,
        ),
        (
            "unknown-market",
            "a position in an unlisted market",
            ("accounts", "alice", "positions", "DOGE-PERP"),
            good["accounts"]["alice"]["positions"]["BTC-PERP"],
            INVALID_STATE,
        ),
        (
            "zero-position",
            "a position of size zero",
            ("accounts", "alice", "positions", "BTC-PERP", "size"),
            "0",
            INVALID_STATE,
        ),
        ("missing-feed", "no price for a feed", ("prices", "ETH-USD"), _DELETE, INVALID_STATE),
        ("zero-price", "a price of zero", ("prices", "BTC-USD", "price"), "0", INVALID_STATE),
        ("missing-total", "no fee-pool total for an asset", ("fee_pool", "ETH"), _DELETE, INVALID_STATE),
        (
            "extra-market",
            "state for an unlisted market",
            ("markets", "DOGE-PERP"),
            good["markets"]["BTC-PERP"],
            INVALID_STATE,
        ),
        (
            "old-usage",
            "liquidation usage of an earlier block",
            ("liquidation_usage", "alice"),
            {"at": "-1", "notional": "0", "insurance_lost": "0", "positions": {}},
            INVALID_STATE,
        ),
        ("missing-field", "a state without its clock", ("now",), _DELETE, MALFORMED),
        ("unknown-field", "a state with an extra field", ("version",), "1", MALFORMED),
        ("number-clock", "the clock as a JSON number", ("now",), 0, MALFORMED),
        ("non-canonical-clock", "the clock as '00'", ("now",), "00", NON_CANONICAL),
        (
            "huge-balance",
            "a balance beyond 256 bits",
            ("accounts", "alice", "balances", "USDC"),
            str(2**300),
            OUT_OF_RANGE,
        ),
        (
            "bad-account-id",
            "an account id with a space",
            ("accounts", "al ice"),
            good["accounts"]["alice"],
            MALFORMED,
        ),
        (
            "settlement-price-type",
            "a settlement price that is a list",
            ("markets", "BTC-DEC", "settlement_price"),
            [],
            MALFORMED,
        ),
    ]
    for label, description, path, value, code in flaws:
        yield _state_draft(ledger, f"state/{label}", description, edited(path, value), code)
    yield _state_draft(ledger, "state/not-an-object", "a state that is a list", [good], MALFORMED)
    params = encode_params(ledger.params)
    bad_quorum = copy.deepcopy(params)
    bad_quorum["oracle"]["quorum"] = "0"
    yield _state_draft(
        ledger, "params/zero-quorum", "a parameter set with a quorum of 0", good, "INVALID_PARAMS", bad_quorum
    )
    number = copy.deepcopy(params)
    number["max_batch_fills"] = 64
    yield _state_draft(ledger, "params/json-number", "a parameter as a JSON number", good, MALFORMED, number)
    bad_id = copy.deepcopy(params)
    bad_id["quote_asset"] = "US DC"
    bad_id["assets"][0]["asset_id"] = "US DC"
    yield _state_draft(ledger, "params/bad-asset-id", "an asset id with a space", good, MALFORMED, bad_id)


class _Delete:
    """Marks a field to remove in a state flaw."""


_DELETE = _Delete()


def wire_drafts() -> Iterator[Draft]:
    """All the wire cases."""
    ledger = _base()
    yield from action_drafts(ledger)
    yield from state_drafts(ledger)
