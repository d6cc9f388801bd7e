"""Fuzzing the wire decoders (spec: vectors.md, VEC-2..VEC-5; issue 5, bad input at the boundary).

Inputs are valid encodings (states, actions, parameter sets, whole cases from
the example scenarios) with one to three mutations each (a wrong type, a
missing or unknown field, a non-canonical or oversized integer, a bad
identifier or signature, a random JSON value in place of a subtree), and plain
random JSON values. The property, per target:

* ``decode_action``, ``decode_state``, ``decode_params``: the input decodes, or
  the decoder raises ``ClearingError`` with a wire code (``INVALID_STATE`` for
  states, ``INVALID_PARAMS`` for parameter sets too); never another exception.
  What decodes is canonical: encoding it again gives back the input exactly.
* ``case.answer``: never raises; answers ``{"error": CODE}`` or one result per
  action, each accepted with a state and its digest, or rejected with a code.

Every draw comes from a ``random.Random``, so the same functions serve the
Hypothesis tests (which pass their own ``Random``) and the benchmark's long
run (a seeded one, ``bench/bench_vectors.py --fuzz N``).
"""

from __future__ import annotations

import copy
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from clearspec.actions import (
    Action,
    AdvanceTime,
    ApplyFunding,
    CoverBadDebt,
    Deleverage,
    FundInsurance,
    Liquidate,
    LiquidateCollateral,
    PremiumSample,
    ReportNegativeCollateral,
    SettleExpiry,
    Withdraw,
)
from clearspec.errors import ClearingError, ErrorCode
from clearspec.params import ProtocolParams
from clearspec.transition import step
from clearspec_tools.examples import crash_scenario, example_genesis, example_params, example_scenario
from clearspec_tools.vectors.case import ParamsCache, answer
from clearspec_tools.vectors.codec import (
    ACTION_TYPES,
    INTEGER,
    decode_action,
    decode_params,
    decode_state,
    digest,
    encode_action,
    encode_params,
    encode_state,
)

WIRE = frozenset({ErrorCode.MALFORMED_INPUT, ErrorCode.NON_CANONICAL_INTEGER, ErrorCode.INTEGER_OUT_OF_RANGE})
ALLOWED = {
    "action": WIRE,
    "state": WIRE | {ErrorCode.INVALID_STATE},
    "params": WIRE | {ErrorCode.INVALID_PARAMS},
    "case": WIRE | {ErrorCode.INVALID_STATE, ErrorCode.INVALID_PARAMS},
}
TARGETS = tuple(ALLOWED)
ACTION_NAMES = tuple(ACTION_TYPES)
CODES = frozenset(code.value for code in ErrorCode)

# VEC-3's traps: each a string some parser would take for an integer.
NASTY_INTEGERS = (
    "+1",
    "01",
    "-0",
    "00",
    " 1",
    "1 ",
    "1\n",
    "1e3",
    "1.0",
    "0x10",
    "1_000",
    "\uff11",  # a full-width digit: str.isdigit() says yes
    "\u0661",  # an Arabic-Indic digit: int() accepts it
    "",
    "-",
    "--1",
    str(2**255 - 1),
    str(-(2**255)),
    str(2**255),
    str(-(2**255) - 1),
    str(10**30),
    str(10**30 + 1),
    "9" * 100,
    "9" * 5000,  # int() refuses more than 4300 digits
    "-1",
    "0",
)
NASTY_IDS = ("", " ", "a b", "caf\u00e9", "x" * 65, "a/b", "A\n", "\u0000", "..", "-")
NASTY_HEX = ("0", "GG", "ABCD", "00" * 65, "0x00", " 00")


class FuzzViolation(AssertionError):
    """An input that broke the property: the decoder raised something else,
    accepted something it cannot give back, or ``answer`` misanswered."""

    def __init__(self, target: str, detail: str, value: Any) -> None:
        super().__init__(f"{target}: {detail}; input: {_clip(value)}")
        self.target = target
        self.value = value


def _clip(value: Any, limit: int = 400) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


# --- seeds: valid encodings -------------------------------------------------------------------


@dataclass(frozen=True)
class Seeds:
    """Valid encodings to mutate, all under the example parameters."""

    params: ProtocolParams
    wire_params: dict[str, Any]
    states: list[dict[str, Any]]
    actions: list[dict[str, Any]]
    cases: list[dict[str, Any]]


def _extra_actions() -> list[Action]:
    """One of each action type the scenarios lack, so every decoder branch is seeded."""
    return [
        Withdraw("alice", "USDC", 1),
        AdvanceTime(7),
        PremiumSample("ETH-PERP", -250),
        ApplyFunding("ETH-PERP"),
        Liquidate("BTC-PERP", "erin", "carol", 1_000, 600_000_000, 10),
        LiquidateCollateral("erin", "carol", "BTC", 1_000, 1),
        Deleverage("BTC-PERP", "alice", ("dave", "bob")),
        CoverBadDebt("alice"),
        ReportNegativeCollateral("alice"),
        FundInsurance("carol", 5),
        SettleExpiry("BTC-DEC", ("alice", "bob")),
    ]


@cache
def seeds() -> Seeds:
    """The seeds (built once: a few dozen steps of the reference)."""
    params = example_params()
    ledger = example_genesis(params)
    states = [encode_state(ledger)]
    actions: list[Action] = []
    for scenario in (example_scenario(), crash_scenario()):
        ledger = example_genesis(params)
        for i, action in enumerate(scenario):
            actions.append(action)
            ledger = step(ledger, action).ledger
            if i % 4 == 3:
                states.append(encode_state(ledger))
        states.append(encode_state(ledger))
    actions.extend(_extra_actions())
    wire_params = encode_params(params)
    encoded = [encode_action(a) for a in actions]
    cases = []
    for i, state in enumerate(states):
        chosen = [encoded[(i * 5 + j) % len(encoded)] for j in range(1 + i % 2)]
        cases.append({"id": f"fuzz/{i}", "params": wire_params, "pre_state": state, "actions": chosen})
    return Seeds(params, wire_params, states, encoded, cases)


# --- random values and mutations --------------------------------------------------------------


def random_json(rng: random.Random, depth: int = 0) -> Any:
    """A random JSON-like value, biased towards what a decoder trips on."""
    roll = rng.random()
    if depth > 3 or roll < 0.45:
        return rng.choice(
            [
                None,
                True,
                False,
                0,
                -1,
                2**64,
                rng.randint(-(10**40), 10**40),
                1.5,
                float("nan"),
                float("inf"),
                rng.choice(NASTY_INTEGERS),
                rng.choice(NASTY_IDS),
                rng.choice(NASTY_HEX),
                str(rng.randint(-(10**6), 10**6)),
                "".join(rng.choice("abcXYZ019-_.:/\u00e9 ") for _ in range(rng.randint(0, 12))),
            ]
        )
    if roll < 0.7:
        return [random_json(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    keys = ["type", "amount", "account", "asset", "now", "accounts", "balances", "price", "x", ""]
    return {rng.choice(keys): random_json(rng, depth + 1) for _ in range(rng.randint(0, 4))}


def _paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path]
    if isinstance(value, dict):
        for key, item in value.items():
            found.extend(_paths(item, (*path, key)))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found.extend(_paths(item, (*path, i)))
    return found


def _get(value: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        value = value[part]
    return value


def _replacement(rng: random.Random, old: Any) -> Any:
    roll = rng.random()
    integer = isinstance(old, str) and INTEGER.fullmatch(old) is not None and len(old) < 100
    if integer and roll < 0.3:
        # Another canonical integer: it decodes, and the model meets a state or
        # an action no test wrote (an unreachable state included).
        return str(rng.choice([0, 1, -1, 2**255 - 1, -(2**255), 10**30, rng.randint(-(10**12), 10**12)]))
    if isinstance(old, str) and roll < 0.6:
        return rng.choice(NASTY_INTEGERS if integer else NASTY_IDS + NASTY_HEX + NASTY_INTEGERS)
    if integer and roll < 0.65:
        return int(old)  # the same integer as a JSON number
    if roll < 0.7:
        return random_json(rng)
    if roll < 0.8:
        return [old]
    return rng.choice([None, {}, [], "", 0, False])


def mutate(value: Any, rng: random.Random, rounds: int | None = None) -> Any:
    """``value`` (not changed) with one to three random flaws."""
    result = copy.deepcopy(value)
    for _ in range(rounds if rounds is not None else rng.randint(1, 3)):
        paths = _paths(result)
        path = rng.choice(paths)
        if not path:
            result = _replacement(rng, result)
            continue
        parent, last = _get(result, path[:-1]), path[-1]
        roll = rng.random()
        if isinstance(parent, dict) and roll < 0.15:
            del parent[last]
        elif isinstance(parent, dict) and roll < 0.25:
            parent[rng.choice([*NASTY_IDS, "extra", "type", "amount"])] = random_json(rng)
        elif isinstance(parent, dict) and roll < 0.35:
            parent[rng.choice((*NASTY_IDS, "BTC", "DOGE", "acct-x", "ETH-PERP"))] = parent.pop(last)
        elif isinstance(parent, list) and roll < 0.2:
            parent.pop(last)
        elif isinstance(parent, list) and roll < 0.3:
            parent.append(copy.deepcopy(parent[last]))
        else:
            parent[last] = _replacement(rng, parent[last])
    return result


def draw(target: str, rng: random.Random) -> Any:
    """One fuzz input for ``target``: mostly a mutated seed, sometimes random JSON."""
    if rng.random() < 0.1:
        return random_json(rng)
    s = seeds()
    if target == "case":
        # Mutate one part, mostly the state and the actions: the parameters are
        # most of a case's nodes, and their flaws stop a case before the model.
        case = dict(rng.choice(s.cases))
        part = rng.choices(["params", "pre_state", "actions", "id"], [2, 5, 5, 1])[0]
        case[part] = mutate(case[part], rng)
        return case if rng.random() < 0.95 else mutate(case, rng, 1)
    pool = {"action": s.actions, "state": s.states, "params": [s.wire_params]}[target]
    return mutate(rng.choice(pool), rng)


# --- the property -----------------------------------------------------------------------------


def check(target: str, value: Any, cache_: ParamsCache | None = None) -> str:
    """Feed ``value`` to ``target``; return ``accepted`` or the rejection code,
    or raise :class:`FuzzViolation`."""
    allowed = ALLOWED[target]
    try:
        if target == "action":
            action = decode_action(value)
            if encode_action(action) != value:
                raise FuzzViolation(target, "decoded an input that is not canonical", value)
        elif target == "state":
            ledger = decode_state(value, seeds().params)
            if encode_state(ledger) != value:
                raise FuzzViolation(target, "decoded an input that is not canonical", value)
        elif target == "params":
            params = decode_params(value)
            if decode_params(encode_params(params)) != params:
                raise FuzzViolation(target, "decoded parameters do not round-trip", value)
        else:
            return _check_answer(value, cache_)
    except ClearingError as error:
        if error.code not in allowed:
            raise FuzzViolation(target, f"rejected with {error.code}, not a wire code", value) from None
        return error.code.value
    except FuzzViolation:
        raise
    except Exception as error:
        raise FuzzViolation(target, f"raised {type(error).__name__}: {error}", value) from error
    return "accepted"


def _check_answer(value: Any, cache_: ParamsCache | None) -> str:
    reply = answer(value, cache_)
    if set(reply) == {"error"}:
        if reply["error"] not in {code.value for code in ALLOWED["case"]}:
            raise FuzzViolation("case", f"refused with {reply['error']}", value)
        return str(reply["error"])
    results = reply.get("results")
    if set(reply) != {"results"} or not isinstance(results, list) or len(results) != len(value["actions"]):
        raise FuzzViolation("case", f"answered {_clip(reply)}", value)
    for result in results:
        if result.get("accepted") is True:
            if result["post_digest"] != digest(result["post_state"]):
                raise FuzzViolation("case", "a post_digest is not its state's", value)
        elif result.get("error") not in CODES:
            raise FuzzViolation("case", f"a result {_clip(result)}", value)
    return "answered"


@dataclass
class FuzzReport:
    """What a run fed and what came back."""

    inputs: int = 0
    seconds: float = 0.0
    outcomes: dict[str, Counter[str]] = field(default_factory=dict)
    violations: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "inputs": self.inputs,
            "seconds": round(self.seconds, 2),
            "inputs_per_second": round(self.inputs / self.seconds) if self.seconds else None,
            "violations": len(self.violations),
            "first_violations": self.violations[:10],
            "outcomes": {target: dict(counter.most_common()) for target, counter in self.outcomes.items()},
        }


def run_fuzz(
    count: int, seed: int = 0, progress: Callable[[int, int], None] | None = None, stop_after: int = 10
) -> FuzzReport:
    """Feed ``count`` inputs, spread over the targets, from a seeded generator."""
    rng = random.Random(seed)
    report = FuzzReport(outcomes={target: Counter() for target in TARGETS})
    cache_ = ParamsCache()
    began = last = time.perf_counter()
    for n in range(1, count + 1):
        target = TARGETS[n % len(TARGETS)]
        value = draw(target, rng)
        try:
            report.outcomes[target][check(target, value, cache_)] += 1
        except FuzzViolation as violation:
            report.violations.append(str(violation))
            if len(report.violations) >= stop_after:
                report.inputs = n
                break
        report.inputs = n
        now = time.perf_counter()
        if progress is not None and (now - last >= 2.0 or n == count):
            last = now
            progress(n, count)
    report.seconds = time.perf_counter() - began
    return report
