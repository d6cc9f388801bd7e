"""``clearspec vectors validate DIR``: is a suite what VEC-1 says it is (spec: vectors.md, VEC-1, VEC-2)?

Checks, and lists every problem found (not only the first):

* ``index.json``: its format, its count, ids unique and sorted;
* each case file: present, its SHA-256 the index's, valid JSON, valid against
  the shipped ``case.schema.json``, its id, rules, description and source the
  index's, its digests (``pre_digest``, every ``post_digest``) those of its states;
* ``bundle.jsonl``: the same cases in the same order;
* ``schema/case.schema.json``: the schema this package ships.

What it proves, and what it does not: the files are well formed and agree with
each other and with the index's hashes. It does not prove the expectations are
the reference's: a case whose expected result was edited, its digests and its
index hash recomputed, passes. ``clearspec vectors confirm DIR`` checks the
expectations, by running every case through the reference model in process.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator  # type: ignore[import-untyped]

from clearspec_tools.inputs import MAX_SUITE_FILE_BYTES, InputError, decode_utf8, parse_json, read_bytes
from clearspec_tools.vectors import schemas
from clearspec_tools.vectors.codec import digest
from clearspec_tools.vectors.runner import INDEX_FORMAT


def _load(path: Path, problems: list[str]) -> tuple[bytes, Any] | None:
    """A suite file through the input boundary (size, UTF-8, JSON depth)."""
    try:
        raw = read_bytes(path, "suite file", MAX_SUITE_FILE_BYTES)
        return raw, parse_json(decode_utf8(raw, str(path)), str(path))
    except InputError as error:
        problems.append(str(error))
        return None


def _digests(case: dict[str, Any], where: str, problems: list[str]) -> None:
    if "pre_digest" in case and case["pre_digest"] != digest(case.get("pre_state")):
        problems.append(f"{where}: pre_digest is not the digest of pre_state (VEC-2)")
    for i, step in enumerate(case.get("steps") or []):
        expected = step.get("expected") if isinstance(step, dict) else None
        if not isinstance(expected, dict) or expected.get("accepted") is not True:
            continue
        if expected.get("post_digest") != digest(expected.get("post_state")):
            problems.append(f"{where}: steps[{i}].expected.post_digest is not the digest of its post_state")


_LEAVES = ("int", "id", "hex", "digest", "error_code")


def _inline_leaves(node: Any, defs: dict[str, Any]) -> Any:
    """The schema with its leaf ``$ref`` s (integers, ids, ...) written out:
    the same schema, validated twice as fast (jsonschema resolves every ref)."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if len(node) == 1 and isinstance(ref, str) and ref.rsplit("/", 1)[-1] in _LEAVES:
            return defs[ref.rsplit("/", 1)[-1]]
        return {key: _inline_leaves(value, defs) for key, value in node.items()}
    if isinstance(node, list):
        return [_inline_leaves(item, defs) for item in node]
    return node


def case_validator() -> Draft202012Validator:
    """A validator of case files against the shipped ``case.schema.json``."""
    schema = schemas.load(schemas.CASE_SCHEMA)
    return Draft202012Validator(_inline_leaves(schema, schema["$defs"]))


def validate_suite(folder: Path, progress: Callable[[int, int], None] | None = None) -> tuple[list[str], int]:
    """The problems found in the suite at ``folder`` and the number of cases checked."""
    problems: list[str] = []
    loaded = _load(folder / "index.json", problems)
    if loaded is None:
        return problems, 0
    index = loaded[1]
    if not isinstance(index, dict) or not isinstance(index.get("cases"), list):
        return [f"{folder / 'index.json'}: expected an object with a 'cases' list"], 0
    if index.get("format") != INDEX_FORMAT:
        problems.append(f"index.json: format {index.get('format')!r}, expected {INDEX_FORMAT!r}")
    entries = [e for e in index["cases"] if isinstance(e, dict)]
    if len(entries) != len(index["cases"]):
        problems.append("index.json: every entry of 'cases' is an object")
    if index.get("count") != len(entries):
        problems.append(f"index.json: count {index.get('count')!r} but {len(entries)} cases listed")
    ids = [e.get("id") for e in entries]
    if len(set(map(str, ids))) != len(ids):
        problems.append("index.json: case ids are not unique")
    if [str(i) for i in ids] != sorted(str(i) for i in ids):
        problems.append("index.json: cases are not sorted by id")

    validator = case_validator()
    cases: list[Any] = []
    last = time.perf_counter()
    for n, entry in enumerate(entries, 1):
        path = entry.get("path")
        where = f"cases[{n - 1}] ({entry.get('id')})"
        if not isinstance(path, str) or ".." in Path(path).parts or Path(path).is_absolute():
            problems.append(f"{where}: no usable path")
            cases.append(None)
            continue
        found = _load(folder / path, problems)
        if found is None:
            cases.append(None)
            continue
        raw, case = found
        cases.append(case)
        if hashlib.sha256(raw).hexdigest() != entry.get("sha256"):
            problems.append(f"{path}: its SHA-256 is not the index's")
        for error in sorted(validator.iter_errors(case), key=lambda e: list(e.absolute_path))[:3]:
            at = "/".join(str(p) for p in error.absolute_path) or "(top)"
            problems.append(f"{path}: schema: at {at}: {error.message[:200]}")
        if isinstance(case, dict):
            for name in ("id", "rules", "description", "source"):
                if name in entry and entry[name] != case.get(name):
                    problems.append(f"{path}: {name} differs from the index entry")
            if "suite_version" in index and case.get("suite_version") != index["suite_version"]:
                problems.append(f"{path}: suite_version differs from the index's")
            _digests(case, str(path), problems)
        now = time.perf_counter()
        if progress is not None and (now - last >= 5.0 or n == len(entries)):
            last = now
            progress(n, len(entries))

    bundle = folder / "bundle.jsonl"
    if bundle.is_file():
        try:
            lines = [
                line
                for line in read_bytes(bundle, "suite file", MAX_SUITE_FILE_BYTES).splitlines()
                if line.strip()
            ]
        except InputError as error:
            problems.append(str(error))
            lines = []
        if len(lines) != len(entries):
            problems.append(f"bundle.jsonl: {len(lines)} lines for {len(entries)} cases")
        for i, (line, case) in enumerate(zip(lines, cases, strict=False)):
            try:
                same = parse_json(decode_utf8(line, "bundle.jsonl"), "bundle.jsonl") == case
            except InputError:
                same = False
            if not same and case is not None:
                problems.append(f"bundle.jsonl:{i + 1}: not the case file {entries[i].get('path')}")
    else:
        problems.append("bundle.jsonl: missing")

    shipped = folder / "schema" / schemas.CASE_SCHEMA
    if not shipped.is_file():
        problems.append(f"schema/{schemas.CASE_SCHEMA}: missing")
    elif shipped.read_text(encoding="utf-8") != schemas.shipped_text(schemas.CASE_SCHEMA):
        problems.append(f"schema/{schemas.CASE_SCHEMA}: not the schema this version of clearspec ships")
    return problems, len(entries)
