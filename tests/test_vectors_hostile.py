"""Hostile suites and output folders for ``clearspec vectors`` (spec: vectors.md, VEC-1).

``generate --out`` refuses a folder that is not an empty one or a previous
suite's (before deleting anything); a suite whose files nest too deeply, are
devices or leave the suite folder is a clear error; ``validate`` proves the
files and hashes only, so an expectation edited and re-hashed passes it, and
``confirm`` catches it by running the reference.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pytest

from clearspec_tools.cli import main
from clearspec_tools.vectors.generate import GeneratorError, check_replaceable
from clearspec_tools.vectors.runner import SuiteError, load_suite
from clearspec_tools.vectors.samples import sample_cases
from clearspec_tools.vectors.validate import validate_suite
from tests.test_vectors_runner import _write_suite_dir

DEPOSIT = "sample/basic/00-deposit"


@pytest.fixture(scope="module")
def cases() -> list[dict[str, Any]]:
    return [c for c in sample_cases() if c["id"].startswith("sample/basic/")][:6]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        status = main(list(argv))
    except SystemExit as exit_:  # argparse's own errors
        status = int(exit_.code or 0)
    captured = capsys.readouterr()
    return status, captured.out, captured.err


# --- generate --out ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("out", "words"),
    [
        ("", "--out: an empty path (write '.' for the current folder)"),
        ("/dev/null", "--out /dev/null: exists and is not a folder"),
        ("/proc/clearspec-suite", "--out /proc/clearspec-suite: cannot create the folder"),
        ("{file}/suite", "cannot create the folder: Not a directory"),
        ("{file}", "exists and is not a folder"),
    ],
    ids=["empty", "dev-null", "proc", "under-a-file", "a-file"],
)
def test_generate_refuses_an_unusable_out(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], out: str, words: str
) -> None:
    file = tmp_path / "a-file"
    file.write_text("keep me")
    status, _, err = run(capsys, "vectors", "generate", "--quiet", "--out", out.format(file=file))
    assert status == 2
    assert words in err and "Traceback" not in err
    assert file.read_text() == "keep me"


def test_generate_refuses_a_folder_with_foreign_files_and_deletes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "cases").mkdir()
    (tmp_path / "cases" / "my-notes.json").write_text("{}")
    (tmp_path / "thesis.tex").write_text("years of work")
    status, _, err = run(capsys, "vectors", "generate", "--quiet", "--out", str(tmp_path))
    assert status == 2 and "thesis.tex, which is not part of a suite" in err
    (tmp_path / "thesis.tex").unlink()
    status, _, err = run(capsys, "vectors", "generate", "--quiet", "--out", str(tmp_path))
    assert status == 2 and "has a cases/ folder but no suite index.json" in err
    assert (tmp_path / "cases" / "my-notes.json").read_text() == "{}"  # nothing deleted


def test_a_previous_suite_may_be_replaced_but_not_with_a_stranger_inside(
    tmp_path: Path, cases: list[dict[str, Any]]
) -> None:
    _write_suite_dir(tmp_path, cases)
    check_replaceable(tmp_path)  # a suite and nothing else: replaceable
    stranger = tmp_path / "cases" / "sample" / "mine.json"
    stranger.write_text("{}")
    with pytest.raises(GeneratorError, match=r"cases/sample/mine\.json is not a case of the suite"):
        check_replaceable(tmp_path)


# --- hostile suites ------------------------------------------------------------------------------


def test_a_deeply_nested_index_case_or_bundle_line_is_a_suite_error(
    tmp_path: Path, cases: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    deep = "[" * 100_000 + "]" * 100_000
    (tmp_path / "bundle.jsonl").write_text(json.dumps(cases[0]) + "\n" + deep + "\n")
    with pytest.raises(SuiteError, match=r"bundle.jsonl:2: JSON nested more than 64 levels"):
        load_suite(tmp_path / "bundle.jsonl")
    folder = tmp_path / "suite"
    folder.mkdir()
    (folder / "index.json").write_text(deep)
    status, _, err = run(capsys, "vectors", "run", "--reference", str(folder), "--quiet")
    assert status == 2 and "JSON nested more than 64 levels" in err and "Traceback" not in err
    status, out, _ = run(capsys, "vectors", "validate", str(folder), "--quiet")
    assert status == 1 and "JSON nested more than 64 levels" in out
    # Nested just past the limit, without recursion trouble: still refused by the depth check.
    (folder / "index.json").write_text("[" * 70 + "]" * 70)
    with pytest.raises(SuiteError, match="nested more than 64"):
        load_suite(folder)


def test_a_device_or_a_path_out_of_the_suite_is_a_suite_error(tmp_path: Path) -> None:
    with pytest.raises(SuiteError, match="a device, FIFO or socket"):
        load_suite(Path("/dev/zero"))
    fifo = tmp_path / "fifo.jsonl"
    os.mkfifo(fifo)
    with pytest.raises(SuiteError, match="a device, FIFO or socket"):  # never opened: no block
        load_suite(fifo)
    index = {"format": "clearspec-vectors/1", "cases": [{"id": "x", "path": "/etc/passwd"}]}
    (tmp_path / "index.json").write_text(json.dumps(index))
    with pytest.raises(SuiteError, match="leaves the suite folder"):
        load_suite(tmp_path)


# --- validate proves the files; confirm proves the expectations ----------------------------------


def test_an_expectation_edited_and_rehashed_validates_but_is_not_confirmed(
    tmp_path: Path, cases: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    _write_suite_dir(tmp_path, cases)
    status, out, _ = run(capsys, "vectors", "confirm", str(tmp_path), "--quiet")
    assert status == 0 and f"{len(cases)} cases confirmed against the reference, 0 problems" in out
    # A forger changes alice's deposit, recomputes the digest, the file's hash and the bundle.
    from clearspec_tools.vectors.codec import digest

    forged = [json.loads(json.dumps(c)) for c in cases]
    expected = forged[0]["steps"][0]["expected"]
    expected["post_state"]["accounts"]["alice"]["balances"]["USDC"] = "20000000000"
    expected["post_digest"] = digest(expected["post_state"])
    for path in (tmp_path / "cases").rglob("*.json"):
        path.unlink()
    for path in (tmp_path / "index.json", tmp_path / "bundle.jsonl"):
        path.unlink()
    for entry in (tmp_path / "schema").iterdir():
        entry.unlink()
    (tmp_path / "schema").rmdir()
    _write_suite_dir(tmp_path, forged)
    assert validate_suite(tmp_path) == ([], len(cases))  # every file and hash agrees
    status, out, _ = run(capsys, "vectors", "confirm", str(tmp_path), "--quiet")
    assert status == 1
    assert f"{DEPOSIT}: step 0: expectation is not the reference's" in out
    assert "1 problems" in out
    digest_of = hashlib.sha256((tmp_path / f"cases/{DEPOSIT}.json").read_bytes()).hexdigest()
    index = json.loads((tmp_path / "index.json").read_text())
    assert index["cases"][0]["sha256"] == digest_of  # the forgery re-hashed the index too


def test_confirm_refuses_a_suite_of_another_version(
    tmp_path: Path, cases: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    other = [{**c, "suite_version": "0.0.1"} for c in cases]
    _write_suite_dir(tmp_path, other)
    status, out, _ = run(capsys, "vectors", "confirm", str(tmp_path), "--quiet")
    assert status == 1 and "suite_version '0.0.1', this reference generates" in out
