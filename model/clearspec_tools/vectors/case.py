"""A conformance case and how the reference answers it (spec: vectors.md, VEC-1, VEC-5).

A case is a parameter set, a pre-state and a list of actions. The answer is,
per step, either the post-state or the one error code of the rejection; a
pre-state or parameter set that does not decode is answered for the whole case
by its wire code. ``answer`` is what the reference adapter sends back over the
runner protocol, and what the generator writes into the vector as expected.
"""

from __future__ import annotations

import hashlib
from typing import Any

from clearspec import SPEC_VERSION
from clearspec.errors import ClearingError, ErrorCode
from clearspec.invariants import all_global_invariants
from clearspec.params import ProtocolParams
from clearspec.state import Ledger
from clearspec.transition import step
from clearspec_tools.vectors.codec import (
    canonical_bytes,
    decode_action,
    decode_params,
    decode_state,
    digest,
    encode_state,
)

FORMAT = "clearspec-vector/1"
SUITE_VERSION = SPEC_VERSION
CASE_FIELDS = ("id", "params", "pre_state", "actions")


class ParamsCache:
    """Decoded parameter sets by the digest of their JSON: a suite uses a handful
    of sets thousands of times, and validating one costs more than a step."""

    def __init__(self, size: int = 64) -> None:
        self._size = size
        self._sets: dict[bytes, ProtocolParams] = {}

    def get(self, raw: Any) -> ProtocolParams:
        key = hashlib.sha256(canonical_bytes(raw)).digest()
        found = self._sets.get(key)
        if found is None:
            found = decode_params(raw)
            if len(self._sets) >= self._size:
                self._sets.pop(next(iter(self._sets)))
            self._sets[key] = found
        return found


_DEFAULT_CACHE = ParamsCache()


def step_answer(ledger: Ledger, raw_action: Any, where: str) -> tuple[Ledger, dict[str, Any]]:
    """VEC-5: one step: the action decoded and applied, or its one error code.
    A rejected or undecodable action leaves the ledger as it was (STA-2)."""
    try:
        action = decode_action(raw_action, where)
    except ClearingError as error:
        return ledger, {"accepted": False, "error": error.code.value}
    outcome = step(ledger, action)
    if outcome.error is not None:
        return ledger, {"accepted": False, "error": outcome.error.value}
    post = encode_state(outcome.ledger)
    return outcome.ledger, {"accepted": True, "post_state": post, "post_digest": digest(post)}


def answer(case: Any, cache: ParamsCache | None = None) -> dict[str, Any]:
    """VEC-5: the reference's answer to a case ``{"id", "params", "pre_state", "actions"}``:
    ``{"results": [...]}`` or, when the parameters or the pre-state do not
    decode, ``{"error": CODE}``. Never raises on any JSON value."""
    cache = _DEFAULT_CACHE if cache is None else cache
    if not isinstance(case, dict) or set(case) != set(CASE_FIELDS):
        return {"error": ErrorCode.MALFORMED_INPUT.value}
    actions = case["actions"]
    if not isinstance(actions, list):
        return {"error": ErrorCode.MALFORMED_INPUT.value}
    try:
        params = cache.get(case["params"])
        ledger = decode_state(case["pre_state"], params, "pre_state")
    except ClearingError as error:
        return {"error": error.code.value}
    if not all_global_invariants(ledger):
        # A state no sequence of actions reaches (INV-1..INV-6 broken): the
        # model's contracts assume the invariants, so it is refused up front.
        return {"error": ErrorCode.INVALID_STATE.value}
    results = []
    for i, raw_action in enumerate(actions):
        ledger, result = step_answer(ledger, raw_action, f"actions[{i}]")
        results.append(result)
    return {"results": results}
