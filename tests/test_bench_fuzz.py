"""The quick hostile-input campaign (bench/bench_fuzz.py): every kind of hostile
input through every command, each under a timeout, ends in a clear error (or,
for an input that may be valid, a success): no traceback, no hang, and no
success for an input no command may accept. And the campaign's own parts: the
drawn inputs differ from one another and depend on the seed alone, and the
classification calls each way a run can end what it is."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from bench.bench_fuzz import campaign
from bench.fuzz_inputs import Case, Inputs
from bench.fuzz_run import classify

KINDS = {"params-file", "price-file", "option", "output", "suite", "invariants", "process"}


@pytest.fixture(scope="module")
def quick() -> dict[str, Any]:
    return campaign(seed=1, inputs=300, timeout=120.0)


def test_no_traceback_hang_or_wrong_success(quick: dict[str, Any]) -> None:
    assert quick["bad"] == []
    assert quick["outcomes"]["traceback"] == quick["outcomes"]["hang"] == 0
    assert quick["outcomes"]["wrong-success"] == 0


def test_every_kind_of_input_is_covered_and_mostly_refused(quick: dict[str, Any]) -> None:
    assert set(quick["by_kind"]) == KINDS
    assert quick["inputs"] == 300 and quick["complete"]
    for kind, counts in quick["by_kind"].items():
        assert counts.get("clear-error", 0) > 0, kind


def test_a_clear_error_names_what_was_wrong(quick: dict[str, Any]) -> None:
    refused = [r for r in quick["results"] if r["outcome"] == "clear-error" and r["status"] == 2]
    assert refused
    for result in refused:
        assert result["message"].startswith(("clearspec", "usage: clearspec")), result
        assert len(result["message"]) <= 300


def _drawn(folder: Path, seed: int, count: int) -> list[Case]:
    """``count`` drawn cases, written under ``folder`` (the same one each time, since
    names carry paths), which is emptied afterwards."""
    folder.mkdir()
    try:
        inputs = Inputs(folder, seed)
        # Three stand-in cases: the drawn suites are cut from these, no suite generated.
        inputs.suite_cases = [({"id": f"c{i}", "path": f"cases/c{i}.json"}, "{}", "{}") for i in range(3)]
        inputs.suite_schema.mkdir(parents=True)
        return list(inputs.drawn(count))
    finally:
        shutil.rmtree(folder)


def test_drawn_inputs_are_many_different_ones_fixed_by_the_seed(tmp_path: Path) -> None:
    work = tmp_path / "work"
    first, again, other = _drawn(work, 1, 400), _drawn(work, 1, 400), _drawn(work, 2, 400)
    names = [c.name for c in first]
    assert names == [c.name for c in again]  # the seed alone decides
    assert names != [c.name for c in other]
    # Not a few hundred inputs repeated: the edits themselves vary.
    edits = {name.split(": ", 1)[-1] for name in names}
    assert len(edits) > 0.6 * len(names)
    assert {c.kind for c in first} >= {"params-file", "price-file", "option", "output", "suite", "invariants"}


def test_the_classification_of_each_ending() -> None:
    refuse = Case("option", "x", ("simulate",), must_fail=True)
    accept = Case("option", "x", ("simulate",), must_fail=False)
    assert classify(refuse, None, "", False, False) == "hang"
    assert classify(refuse, 2, "clearspec: bad\n", False, False) == "clear-error"
    assert classify(refuse, 2, "", False, False) == "traceback"  # refused without a word
    assert classify(refuse, 1, "Traceback (most recent call last):\n", False, False) == "traceback"
    assert classify(refuse, 70, "clearspec: x\n", False, False) == "traceback"
    assert classify(refuse, 0, "", True, False) == "wrong-success"
    assert classify(accept, 0, "", True, False) == "success"
    interrupt = Case("process", "x", ("simulate",), True, "signal:2")
    assert classify(interrupt, 130, "clearspec: interrupted\n", False, True) == "clear-error"
    assert classify(interrupt, 0, "", False, True) == "wrong-success"  # it ignored the signal
    assert classify(interrupt, 0, "", False, False) == "success"  # it ended before the signal
    closed = Case("process", "x", ("example",), False, "close-stdout:10")
    assert classify(closed, 1, "", False, False) == "clear-error"


def test_the_json_figures_name_the_load() -> None:
    text = (Path(__file__).resolve().parent.parent / "bench" / "results" / "fuzz.json").read_text()
    data = json.loads(text)
    assert data["inputs"] == sum(sum(k.values()) for k in data["by_kind"].values())
    assert {"cpu_seconds", "load_average_before", "load_average_after", "niceness"} <= set(data)
