"""Spec, code and tests point at each other by rule id: every rule defined in spec/
is cited by the model and by a test, and nothing cites a rule the spec lacks."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFINITION = re.compile(r"^\(([A-Z]{3}-\d+)\)=\s*$", re.MULTILINE)
# "ORA-3" or a range "ORA-3..ORA-6".
CITATION = re.compile(r"\b([A-Z]{3})-(\d+)(?:\.\.\1-(\d+))?\b")
TEST_NAME = re.compile(r"\btest_([a-z]{3})(\d+)_")


def defined_rules() -> set[str]:
    return {m for path in (ROOT / "spec").glob("*.md") for m in DEFINITION.findall(path.read_text())}


def cited(text: str) -> set[str]:
    found = set()
    for prefix, first, last in CITATION.findall(text):
        for number in range(int(first), int(last or first) + 1):
            found.add(f"{prefix}-{number}")
    for prefix, number in TEST_NAME.findall(text):
        found.add(f"{prefix.upper()}-{number}")
    return found


def cited_in(folder: str) -> set[str]:
    return set().union(*(cited(p.read_text()) for p in (ROOT / folder).rglob("*.py")))


def test_spec_defines_rules() -> None:
    assert len(defined_rules()) >= 40


def test_every_rule_is_cited_by_the_model() -> None:
    """The code is the model, plus the prover for the rules about proofs (PRF-*)."""
    rules = defined_rules()
    assert sorted(rules - cited_in("model") - cited_in("proofs")) == []


def test_every_rule_is_cited_by_a_test() -> None:
    rules = defined_rules()
    own = {"tests/test_rules_cited.py"}
    text = "".join(
        p.read_text() for p in (ROOT / "tests").rglob("*.py") if str(p.relative_to(ROOT)) not in own
    )
    assert sorted(rules - cited(text)) == []


def test_no_citation_of_an_undefined_rule() -> None:
    known_prefixes = {r.split("-")[0] for r in defined_rules()}
    citations = cited_in("model") | cited_in("proofs")
    dangling = {r for r in citations if r.split("-")[0] in known_prefixes} - defined_rules()
    assert sorted(dangling) == []


def test_citation_parser_expands_ranges_and_test_names() -> None:
    assert cited("see ORA-3..ORA-5 and def test_col2_x") == {"ORA-3", "ORA-4", "ORA-5", "COL-2"}
