"""The quick hostile-input campaign (bench/bench_fuzz.py): every kind of hostile
input through every command, each under a timeout, ends in a clear error (or,
for an input that may be valid, a success): no traceback, no hang, and no
success for an input no command may accept."""

from __future__ import annotations

from typing import Any

import pytest
from bench.bench_fuzz import campaign

KINDS = {"params-file", "price-file", "option", "output", "suite", "invariants"}


@pytest.fixture(scope="module")
def quick() -> dict[str, Any]:
    return campaign(seed=1, mutations=10, timeout=120.0)


def test_no_traceback_hang_or_wrong_success(quick: dict[str, Any]) -> None:
    assert quick["bad"] == []
    assert quick["outcomes"]["traceback"] == quick["outcomes"]["hang"] == 0
    assert quick["outcomes"]["wrong-success"] == 0


def test_every_kind_of_input_is_covered_and_mostly_refused(quick: dict[str, Any]) -> None:
    assert set(quick["by_kind"]) == KINDS
    assert 200 <= quick["inputs"] <= 400
    for kind, counts in quick["by_kind"].items():
        assert counts.get("clear-error", 0) > 0, kind


def test_a_clear_error_names_what_was_wrong(quick: dict[str, Any]) -> None:
    refused = [r for r in quick["results"] if r["outcome"] == "clear-error" and r["status"] == 2]
    assert refused
    for result in refused:
        assert result["message"].startswith(("clearspec", "usage: clearspec")), result
        assert len(result["message"]) <= 300
