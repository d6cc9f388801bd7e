"""The specification's worked examples are tests: every ``>>>`` example in spec/*.md must pass.

Also checks the chapters' cross-references, so that a broken rule id is caught
without building the Sphinx site.
"""

from __future__ import annotations

import doctest
import re
from collections import Counter
from pathlib import Path

import pytest

from clearspec.errors import ErrorCode

SPEC_DIR = Path(__file__).resolve().parent.parent / "spec"
CHAPTERS = sorted(SPEC_DIR.glob("*.md"))
OPTIONS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE

TARGET = re.compile(r"^\(([A-Za-z0-9_-]+)\)=\s*$", re.MULTILINE)
RULE_TARGET = re.compile(r"^\(([A-Z]{3}-\d+)\)=\s*\n### (\S+) ", re.MULTILINE)
REF = re.compile(r"\{ref\}`(?:[^`<]*<([^`>]+)>|([^`<]+))`")


@pytest.mark.parametrize("chapter", CHAPTERS, ids=[path.name for path in CHAPTERS])
def test_chapter_examples(chapter: Path) -> None:
    """Run the chapter's doctests; a chapter with examples must run at least one."""
    results = doctest.testfile(str(chapter), module_relative=False, optionflags=OPTIONS, report=False)
    assert results.failed == 0, f"{results.failed} of {results.attempted} examples failed in {chapter.name}"
    if ">>>" in chapter.read_text(encoding="utf-8"):
        assert results.attempted > 0, f"{chapter.name} has examples but none ran"


def test_rule_ids_defined_once() -> None:
    """Every target is defined once, and a rule's target sits right above its heading."""
    text = {path.name: path.read_text(encoding="utf-8") for path in CHAPTERS}
    targets = Counter(name for body in text.values() for name in TARGET.findall(body))
    duplicates = sorted(name for name, count in targets.items() if count > 1)
    assert not duplicates, f"targets defined more than once: {duplicates}"
    for name, body in text.items():
        for target, heading in RULE_TARGET.findall(body):
            assert target == heading, f"{name}: target ({target})= heads the section of {heading}"
        rule_targets = {t for t in TARGET.findall(body) if re.fullmatch(r"[A-Z]{3}-\d+", t)}
        headed = {t for t, _ in RULE_TARGET.findall(body)}
        assert rule_targets == headed, f"{name}: rule targets without a heading: {rule_targets - headed}"


def test_references_resolve() -> None:
    """Every {ref} names a target defined somewhere in spec/."""
    bodies = [path.read_text(encoding="utf-8") for path in CHAPTERS]
    targets = {name for body in bodies for name in TARGET.findall(body)}
    missing = sorted({explicit or bare for body in bodies for explicit, bare in REF.findall(body)} - targets)
    assert not missing, f"references to undefined targets: {missing}"


def test_error_table_lists_every_code() -> None:
    """errors.md has a table row for every error code."""
    errors = SPEC_DIR / "errors.md"
    if not errors.exists():
        pytest.skip("spec/errors.md not written yet")
    rows = set(re.findall(r"^\| `([A-Z_]+)` \|", errors.read_text(encoding="utf-8"), re.MULTILINE))
    assert rows == {code.value for code in ErrorCode}
