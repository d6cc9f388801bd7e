"""Checking an answer against a case's expectation (spec: vectors.md, VEC-5..VEC-7).

Two stages. :func:`check_shape` decides whether an answer is an answer at all
(the right ``seq``, one result per action, each result shaped like VEC-5's
``expected``); an answer that is not raises ``ProtocolFailure("bad-shape")``,
an ``error`` verdict. :func:`first_difference` then compares a well-shaped
answer with the expectation and returns the first difference, or ``None``: the
steps in order; per step first the outcome (accepted or not), then the error
code, then the state: digest first, and when the digests differ the first JSON
path (keys in sorted order, as in the canonical bytes) whose values differ.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from clearspec_tools.vectors.codec import digest
from clearspec_tools.vectors.protocol import ProtocolFailure

MISSING = "(missing)"  # a placeholder no canonical value can equal: values are numbers or ids
_PLAIN_KEY = re.compile(r"[A-Za-z0-9_-]+")
_RESULT_ACCEPTED = frozenset({"accepted", "post_state", "post_digest", "detail"})
_RESULT_REJECTED = frozenset({"accepted", "error", "detail"})


@dataclass(frozen=True)
class Answer:
    """A well-shaped answer: exactly one of ``results``, ``error``, ``skipped``."""

    results: list[dict[str, Any]] | None = None
    error: str | None = None
    skipped: str | None = None
    detail: str | None = None


@dataclass(frozen=True)
class Difference:
    """VEC-7: the first place where an answer differs from the expectation."""

    path: str
    expected: Any
    actual: Any
    step: int | None = None
    expected_digest: str | None = None
    actual_digest: str | None = None
    detail: str | None = None  # the implementation's own words, if it gave any

    def summary(self) -> str:
        """One line for the text report."""
        text = f"{self.path}: expected {show(self.expected)}, got {show(self.actual)}"
        if self.expected_digest and self.actual_digest and self.expected_digest != self.actual_digest:
            text += f" (digest {self.expected_digest[:12]}.. vs {self.actual_digest[:12]}..)"
        return text


def show(value: Any, limit: int = 160) -> str:
    """A value for the report: JSON, shortened."""
    text = (
        value if value == MISSING else json.dumps(value, separators=(",", ":"), sort_keys=True, default=str)
    )
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _bad(detail: str) -> ProtocolFailure:
    return ProtocolFailure("bad-shape", detail)


def check_shape(message: dict[str, Any], seq: int, actions: int) -> Answer:
    """VEC-6: the answer to request ``seq`` of a case with ``actions`` actions, or bad-shape."""
    got = message.get("seq")
    if type(got) is not int or got != seq:
        raise _bad(f"seq {show(got)} in the answer to request {seq}")
    kinds = [key for key in ("results", "error", "skipped") if key in message]
    if len(kinds) != 1:
        raise _bad(f"expected exactly one of results, error, skipped; got keys {sorted(message)}")
    allowed = {"seq", kinds[0], *(("detail",) if kinds[0] == "error" else ())}
    extra = set(message) - allowed
    if extra:
        raise _bad(f"unexpected field(s) {sorted(extra)}")
    detail = message.get("detail")
    if detail is not None and not isinstance(detail, str):
        raise _bad("detail is not a string")
    if kinds[0] == "error":
        if not isinstance(message["error"], str):
            raise _bad("error is not a string")
        return Answer(error=message["error"], detail=detail)
    if kinds[0] == "skipped":
        if not isinstance(message["skipped"], str):
            raise _bad("skipped is not a string")
        return Answer(skipped=message["skipped"])
    results = message["results"]
    if not isinstance(results, list):
        raise _bad("results is not a list")
    if len(results) != actions:
        raise _bad(f"{len(results)} results for {actions} actions")
    for i, result in enumerate(results):
        _check_result(result, i)
    return Answer(results=results)


def _check_result(result: Any, i: int) -> None:
    if not isinstance(result, dict):
        raise _bad(f"results[{i}] is not an object")
    accepted = result.get("accepted")
    if accepted is True:
        allowed = _RESULT_ACCEPTED
        if not isinstance(result.get("post_state"), dict):
            raise _bad(f"results[{i}] is accepted without a post_state object")
        if "post_digest" in result and not isinstance(result["post_digest"], str):
            raise _bad(f"results[{i}].post_digest is not a string")
    elif accepted is False:
        allowed = _RESULT_REJECTED
        if not isinstance(result.get("error"), str):
            raise _bad(f"results[{i}] is rejected without an error string")
    else:
        raise _bad(f"results[{i}].accepted is not true or false")
    extra = set(result) - allowed
    if extra:
        raise _bad(f"results[{i}] has unexpected field(s) {sorted(extra)}")
    if "detail" in result and not isinstance(result["detail"], str):
        raise _bad(f"results[{i}].detail is not a string")


def expected_answer(case: dict[str, Any]) -> Answer:
    """VEC-5: a case file's expectation in the shape of an answer."""
    if "expected_error" in case:
        return Answer(error=case["expected_error"])
    return Answer(results=[step["expected"] for step in case["steps"]])


def _outcome(result: dict[str, Any]) -> str:
    return "accepted" if result["accepted"] else f"rejected {result['error']}"


def first_difference(expected: Answer, actual: Answer) -> Difference | None:
    """VEC-7: the first difference between two well-shaped answers (not skipped)."""
    if expected.results is None or actual.results is None:
        if expected.error == actual.error and expected.results is None and actual.results is None:
            return None
        want = f"refused {expected.error}" if expected.error is not None else "results"
        got = f"refused {actual.error}" if actual.error is not None else "results"
        return Difference("error", want, got, detail=actual.detail)
    for i, (want_step, got_step) in enumerate(zip(expected.results, actual.results, strict=True)):
        found = _step_difference(i, want_step, got_step)
        if found is not None:
            return found
    return None


def _step_difference(i: int, want: dict[str, Any], got: dict[str, Any]) -> Difference | None:
    detail = got.get("detail")
    if want["accepted"] != got["accepted"]:
        return Difference(f"results[{i}].accepted", _outcome(want), _outcome(got), step=i, detail=detail)
    if not want["accepted"]:
        if want["error"] == got["error"]:
            return None
        return Difference(f"results[{i}].error", want["error"], got["error"], step=i, detail=detail)
    expected_state, actual_state = want["post_state"], got["post_state"]
    expected_digest = want.get("post_digest") or digest(expected_state)
    # Dict equality is exact here: canonical values are strings, null and objects.
    if expected_state == actual_state:
        claimed = got.get("post_digest")
        if claimed is None or claimed == expected_digest:
            return None
        # Same state, other digest: the implementation's canonical bytes differ (VEC-2).
        return Difference(
            f"results[{i}].post_digest",
            expected_digest,
            claimed,
            step=i,
            expected_digest=expected_digest,
            actual_digest=claimed,
            detail=detail,
        )
    path, want_value, got_value = json_difference(expected_state, actual_state, f"results[{i}].post_state")
    return Difference(
        path,
        want_value,
        got_value,
        step=i,
        expected_digest=expected_digest,
        actual_digest=_safe_digest(actual_state),
        detail=detail,
    )


def _safe_digest(value: Any) -> str | None:
    try:
        return digest(value)
    except (ValueError, TypeError, RecursionError):
        return None


def _key_path(path: str, key: str) -> str:
    return f"{path}.{key}" if _PLAIN_KEY.fullmatch(key) else f"{path}[{json.dumps(key)}]"


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    return type(value).__name__


def json_difference(expected: Any, actual: Any, path: str) -> tuple[str, Any, Any]:
    """The first JSON path at which two unequal JSON values differ, with both values there."""
    if _kind(expected) != _kind(actual):
        return path, expected, actual
    if isinstance(expected, dict):
        for key in sorted(set(expected) | set(actual)):
            where = _key_path(path, key)
            if key not in actual:
                return where, expected[key], MISSING
            if key not in expected:
                return where, MISSING, actual[key]
            if expected[key] != actual[key] or _kind(expected[key]) != _kind(actual[key]):
                return json_difference(expected[key], actual[key], where)
        return path, expected, actual  # pragma: no cover - the values were unequal
    if isinstance(expected, list):
        for i, (want, got) in enumerate(zip(expected, actual, strict=False)):
            if want != got or _kind(want) != _kind(got):
                return json_difference(want, got, f"{path}[{i}]")
        shorter = min(len(expected), len(actual))
        return (
            f"{path}[{shorter}]",
            expected[shorter] if shorter < len(expected) else MISSING,
            actual[shorter] if shorter < len(actual) else MISSING,
        )
    return path, expected, actual
