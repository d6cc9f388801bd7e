"""The conformance suite's generator (spec: vectors.md, VEC-1..VEC-5).

The suite is generated once per test session in a subprocess with slow checks
off (as `clearspec vectors generate` runs), and a second time concurrently under
another hash seed to show the output is byte-identical.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from clearspec.actions import Deposit
from clearspec.errors import ErrorCode
from clearspec_tools.examples import example_genesis
from clearspec_tools.vectors.case import ParamsCache, answer
from clearspec_tools.vectors.generate import Draft, GeneratorError, build_case, draft_from, rules_covered

ROOT = Path(__file__).resolve().parent.parent
GENERATE = (
    "import sys; from pathlib import Path; from clearspec_tools.vectors.generate import write_suite; "
    "print(write_suite(Path(sys.argv[1])))"
)


def _start(out: Path, seed: str) -> subprocess.Popen[str]:
    env = {**os.environ, "CLEARSPEC_SLOW_CHECKS": "0", "PYTHONHASHSEED": seed}
    return subprocess.Popen(
        [sys.executable, "-c", GENERATE, str(out)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.fixture(scope="module")
def suites(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    first, second = tmp_path_factory.mktemp("suite-a"), tmp_path_factory.mktemp("suite-b")
    runs = [_start(first, "1"), _start(second, "2")]
    for run in runs:
        _, err = run.communicate(timeout=600)
        assert run.returncode == 0, err
    yield first, second


def _index(suite: Path) -> dict[str, object]:
    data = json.loads((suite / "index.json").read_text())
    assert isinstance(data, dict)
    return data


def test_vec1_at_least_3000_cases_with_stable_unique_ids(suites: tuple[Path, Path]) -> None:
    index = _index(suites[0])
    cases = index["cases"]
    assert isinstance(cases, list)
    assert index["count"] == len(cases) >= 3_000
    ids = [c["id"] for c in cases]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    sources = {c["id"].split("/")[0] for c in cases}
    assert sources == {"unit", "scenario", "boundary", "wire", "walk", "counterexample"}


def test_vec1_regeneration_is_byte_identical(suites: tuple[Path, Path]) -> None:
    first, second = suites
    files_a = sorted(p.relative_to(first) for p in first.rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(second) for p in second.rglob("*") if p.is_file())
    assert files_a == files_b
    for relative in files_a:
        assert (first / relative).read_bytes() == (second / relative).read_bytes(), relative


def test_vec1_index_hashes_and_bundle_match_the_files(suites: tuple[Path, Path]) -> None:
    suite = suites[0]
    index = _index(suite)
    bundle = (suite / "bundle.jsonl").read_text().splitlines()
    cases = index["cases"]
    assert isinstance(cases, list) and len(bundle) == len(cases)
    for entry, line in zip(cases, bundle, strict=True):
        data = (suite / entry["path"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"]
        assert json.loads(data) == json.loads(line)


def test_every_error_code_and_every_rule_is_exercised(suites: tuple[Path, Path]) -> None:
    suite = suites[0]
    seen: set[str] = set()
    for line in (suite / "bundle.jsonl").read_text().splitlines():
        case = json.loads(line)
        seen.update(s["expected"]["error"] for s in case["steps"] if not s["expected"]["accepted"])
        if "expected_error" in case:
            seen.add(case["expected_error"])
    assert sorted(code.value for code in ErrorCode if code.value not in seen) == []
    spec_rules: set[str] = set()
    for chapter in (ROOT / "spec").glob("*.md"):
        spec_rules |= set(re.findall(r"^\(([A-Z]+-\d+)\)=", chapter.read_text(), re.M))
    assert sorted(spec_rules - set(rules_covered(_index(suite)))) == []


def test_vec5_every_expectation_is_the_references_answer(suites: tuple[Path, Path]) -> None:
    # A sample across sources: the stored expectation is what the reference answers now.
    cache = ParamsCache()
    lines = (suites[0] / "bundle.jsonl").read_text().splitlines()
    for line in lines[:: max(1, len(lines) // 300)]:
        case = json.loads(line)
        request = {
            "id": case["id"],
            "params": case["params"],
            "pre_state": case["pre_state"],
            "actions": [s["action"] for s in case["steps"]],
        }
        reply = answer(request, cache)
        if "expected_error" in case:
            assert reply == {"error": case["expected_error"]}
        else:
            assert reply["results"] == [s["expected"] for s in case["steps"]], case["id"]


def test_generator_refuses_a_case_that_passes_for_the_wrong_reason() -> None:
    ledger = example_genesis()
    meant = draft_from(
        "t/x",
        "a deposit meant to be too large",
        "test",
        ledger,
        [Deposit("a", "USDC", 5)],
        ("AMOUNT_TOO_LARGE",),
    )
    with pytest.raises(GeneratorError, match="intended"):
        build_case(meant, ParamsCache())
    state_meant = Draft(
        "t/y",
        "a valid state meant to be refused",
        "test",
        meant.params,
        meant.pre_state,
        meant.actions,
        case_error="INVALID_STATE",
    )
    with pytest.raises(GeneratorError, match="meant to be refused"):
        build_case(state_meant, ParamsCache())


def test_vec2_digest_names_the_canonical_bytes(suites: tuple[Path, Path]) -> None:
    from clearspec_tools.vectors.codec import canonical_bytes

    case = json.loads((suites[0] / "cases" / "scenario" / "crash" / "from-step-00.json").read_text())
    assert case["pre_digest"] == hashlib.sha256(canonical_bytes(case["pre_state"])).hexdigest()
    last = case["steps"][-1]["expected"]
    accepted = [s["expected"] for s in case["steps"] if s["expected"]["accepted"]]
    assert accepted and all(
        s["post_digest"] == hashlib.sha256(canonical_bytes(s["post_state"])).hexdigest() for s in accepted
    )
    assert last == {"accepted": False, "error": "WITHDRAWALS_GATED"}
