"""A small conformance suite built from the example scenarios (spec: vectors.md, VEC-1, VEC-5).

Not the suite (``clearspec vectors generate`` writes that): a few dozen cases
that the runner's tests and benchmark use when no generated suite is at hand.
Every step of the basic and the crash scenario becomes a one-step case from the
state reached before it, each scenario is also one long case, and a few cases
probe the wire (VEC-3): an undecodable action, a refused pre-state and
parameter set. Expectations come from :func:`clearspec_tools.vectors.case.answer`,
as the generator's do.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from clearspec.actions import Action, AdvanceTime, Deposit, LiquidateCollateral
from clearspec.state import Ledger
from clearspec.transition import step
from clearspec_tools.examples import (
    BTC,
    USD,
    crash_scenario,
    example_genesis,
    example_params,
    example_scenario,
    signed_update,
    usd_price,
    with_loan,
)
from clearspec_tools.vectors.case import FORMAT, SUITE_VERSION, answer
from clearspec_tools.vectors.codec import digest, encode_action, encode_params, encode_state

# The rules a step of each action type exercises first (enough for a report).
RULES = {
    "deposit": ["COL-3"],
    "withdraw": ["COL-4"],
    "transfer": ["COL-5"],
    "advance_time": ["CLK-1"],
    "oracle_update": ["ORA-1"],
    "settle_trades": ["TRD-1"],
    "premium_sample": ["FND-1"],
    "apply_funding": ["FND-2"],
    "liquidate": ["LIQ-1"],
    "liquidate_collateral": ["CLQ-1"],
    "deleverage": ["ADL-1"],
    "cover_bad_debt": ["INS-4"],
    "report_negative_collateral": ["INS-6"],
    "fund_insurance": ["INS-1"],
    "settle_expiry": ["EXP-1"],
}


def make_case(
    case_id: str,
    description: str,
    rules: list[str],
    params: Any,
    pre_state: Any,
    actions: list[Any],
    source: str = "sample",
) -> dict[str, Any]:
    """VEC-1: a case file's content, its expectation computed by the reference."""
    request = {"id": case_id, "params": params, "pre_state": pre_state, "actions": actions}
    reply = answer(request)
    case: dict[str, Any] = {
        "format": FORMAT,
        "suite_version": SUITE_VERSION,
        "id": case_id,
        "description": description,
        "rules": rules,
        "source": source,
        "params": params,
        "pre_state": pre_state,
        "pre_digest": digest(pre_state),
        "steps": [],
    }
    if "error" in reply:
        case["expected_error"] = reply["error"]
    else:
        case["steps"] = [
            {"action": action, "expected": result}
            for action, result in zip(actions, reply["results"], strict=True)
        ]
    return case


def _scenario_cases(name: str, actions: list[Action], genesis: Ledger, params: Any) -> list[dict[str, Any]]:
    cases = []
    ledger = genesis
    for i, action in enumerate(actions):
        encoded = encode_action(action)
        kind = encoded["type"]
        cases.append(
            make_case(
                f"sample/{name}/{i:02d}-{kind.replace('_', '-')}",
                f"step {i} of the {name} scenario: {kind}",
                [*RULES[kind], "STA-1"],
                params,
                encode_state(ledger),
                [encoded],
                source=f"scenario:{name}",
            )
        )
        ledger = step(ledger, action).ledger
    whole = [encode_action(a) for a in actions]
    cases.append(
        make_case(
            f"sample/{name}/whole",
            f"the {name} scenario in one case",
            ["STA-1", "STA-2"],
            params,
            encode_state(genesis),
            whole,
            source=f"scenario:{name}",
        )
    )
    return cases


def _borrowed(genesis: Ledger) -> Ledger:
    """spec/collateral-liquidation.md's example: Dave holds 1 BTC and owes 54,000 USD."""
    return with_loan(genesis, "dave", "bob", "BTC", 1 * BTC, 54_000 * USD)


def _collateral_scenario() -> list[Action]:
    """CLQ-1..CLQ-7 on the chapter's example: BTC falls to 59,000 USD; above the
    close factor (refused), half the debt at the full bonus (accepted), then one
    more that finds him above maintenance again (refused)."""
    return [
        Deposit("carol", "USDC", 100_000 * USD),
        AdvanceTime(10),
        signed_update("BTC-USD", [usd_price(59_000)] * 3, 10, 1),
        LiquidateCollateral("dave", "carol", "BTC", 27_000 * USD + 1, 1_000),
        LiquidateCollateral("dave", "carol", "BTC", 27_000 * USD, 48_050_847),
        LiquidateCollateral("dave", "carol", "BTC", 1_000 * USD, BTC // 10),
    ]


def sample_cases() -> list[dict[str, Any]]:
    """The sample suite, sorted by id."""
    params = example_params()
    wire_params = encode_params(params)
    genesis = example_genesis(params)
    pre = encode_state(genesis)
    cases = [
        *_scenario_cases("basic", example_scenario(), genesis, wire_params),
        *_scenario_cases("crash", crash_scenario(), genesis, wire_params),
        *_scenario_cases("collateral", _collateral_scenario(), _borrowed(genesis), wire_params),
    ]
    deposit = encode_action(example_scenario()[0])
    number = {**deposit, "amount": 5}  # a JSON number where an integer string belongs
    cases.append(
        make_case(
            "sample/wire/json-number", "an amount as a JSON number", ["VEC-3"], wire_params, pre, [number]
        )
    )
    padded = {**deposit, "amount": "007"}
    cases.append(
        make_case(
            "sample/wire/leading-zeros", "an amount with leading zeros", ["VEC-3"], wire_params, pre, [padded]
        )
    )
    bad_state = {**pre, "fee_pool": {}}
    cases.append(
        make_case(
            "sample/wire/state-missing-totals",
            "a state without its fee totals",
            ["VEC-2"],
            wire_params,
            bad_state,
            [],
        )
    )
    bad_params = {**wire_params, "quote_asset": "DOGE"}
    cases.append(
        make_case(
            "sample/wire/params-unknown-quote",
            "the quote asset is not listed",
            ["PAR-4"],
            bad_params,
            pre,
            [],
        )
    )
    return sorted(cases, key=lambda c: c["id"])


def write_bundle(path: Path, cases: list[dict[str, Any]]) -> Path:
    """Write ``cases`` as a ``bundle.jsonl`` (VEC-1), one canonical line each."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="ascii") as stream:
        for case in cases:
            stream.write(json.dumps(case, sort_keys=True, separators=(",", ":")) + "\n")
    return path
