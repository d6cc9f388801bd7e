"""Showing proof results to a person: a table, and counterexamples as files."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from clearspec_proofs.fields_read import FieldValue, worth_showing
from clearspec_proofs.status import Status


def print_table(results: list[dict[str, Any]], summary: dict[str, Any]) -> None:
    """One row per obligation (id, rule, status, seconds), failures explained."""
    width = max(len(r["id"]) for r in results)
    print(f"{'obligation':<{width}}  {'rule':<13} {'status':<14} {'seconds':>8}")
    for r in results:
        print(f"{r['id']:<{width}}  {r['rule']:<13} {r['status']:<14} {r['seconds']:>8.3f}")
    failures = [r for r in results if r["status"] != Status.PROVED]
    for r in failures:
        print(f"\n{r['status'].upper()}: {r['id']} ({r['rule']})")
        if r["detail"]:
            print(f"  {r['detail']}")
        example = r.get("counterexample")
        if example:
            for line in counterexample_lines(example):
                print(f"  {line}")
    print(
        f"\n{summary['proved']} of {summary['total']} proved, {summary['counterexample']} counterexample(s), "
        f"{summary['unknown']} unknown; solver time {summary['seconds']}s"
    )
    for path in summary["counterexample_files"]:
        print(f"counterexample saved: {path}")


def counterexample_lines(example: dict[str, Any], changes: int = 40) -> list[str]:
    """A counterexample for a person: the verdict of the replay, the action,
    the fields the broken condition reads before and after (base units), and
    the first ``changes`` lines of the ledger's diff. Reads any record, also
    one missing parts (files of older runs)."""
    lines: list[str] = []
    how = example.get("how", "")
    if example.get("confirmed"):
        lines.append(f"confirmed by replay: {how}")
    else:
        lines.append(f"NOT confirmed by replay: {how}")
    if example.get("message"):
        lines.append(f"contract: {example['message']}")
    if example.get("action"):
        lines.append(f"action: {example['action']}")
    if example.get("expected") or example.get("got"):
        lines.append(f"expected: {example.get('expected') or '-'}; got: {example.get('got') or '-'}")
    if example.get("minimised"):
        lines.append(f"minimised: {example['minimised']}")
    fields = example.get("fields") or []
    if fields:
        lines += _fields_table(fields)
    diff = example.get("diff") or []
    if diff:
        lines.append("changed by the action:")
        lines += [f"  {line}" for line in diff[:changes]]
        if len(diff) > changes:
            lines.append(f"  ... {len(diff) - changes} more")
    return lines


def _fields_table(fields: list[FieldValue]) -> list[str]:
    """The fields the broken condition reads (* marks the condition's own)."""
    kept, left_out = worth_showing(fields)
    rows = [(("* " if f["in_condition"] else "  ") + f["field"], f["before"], f["after"]) for f in kept]
    width = max(len(r[0]) for r in rows)
    digits = max(len("before"), *(len(r[1]) for r in rows))
    after = any(r[2] for r in rows)  # a lemma's variables have no "after"
    lines = ["fields read (base units; * read by the broken condition itself, the rest by its hypotheses):"]
    lines.append(
        f"  {'field':<{width}}  {'before' if after else 'value':>{digits}}{'  after' if after else ''}"
    )
    lines += [f"  {name:<{width}}  {before:>{digits}}  {later}".rstrip() for name, before, later in rows]
    if left_out:
        lines.append(f"  ({left_out} other field(s) read are 0 and unchanged)")
    return lines


def file_name(obligation: str) -> str:
    """A file name for an obligation id (ids contain '/', ' ' and ':')."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", obligation.replace("/", "__")) + ".json"


def save_counterexamples(results: list[dict[str, Any]], folder: Path) -> list[Path]:
    """Write every counterexample as a JSON file named after its obligation.

    The file is the counterexample record (``counterexample.Counterexample``)
    with the obligation id; when the record carries the inputs of a conformance
    case (``vector``: a state and an action the wire can carry), they are
    spliced in (VEC-1: ``description``, ``source``, ``rules``, ``params``,
    ``pre_state``, ``actions``), so that, copied into
    ``model/clearspec_tools/vectors/corpus/counterexamples/``, it becomes a regression
    vector that `clearspec vectors generate` answers with the reference. A
    record of any kind is saved, with or without a vector.
    """
    saved = []
    for r in results:
        example = r.get("counterexample")
        if not example:
            continue
        folder.mkdir(parents=True, exist_ok=True)
        content: dict[str, Any] = {key: value for key, value in example.items() if key != "vector"}
        content.update(obligation=r["id"], rule=r["rule"])
        vector = example.get("vector")
        if vector is not None:
            content.update(
                description=f"prover counterexample to {r['id']} ({example.get('how', '')})",
                source=f"counterexample:{r['id']}",
                rules=[r["rule"]] if re.fullmatch(r"[A-Z]+-[0-9]+", r["rule"]) else [],
                **vector,
            )
        path = folder / file_name(r["id"])
        path.write_text(json.dumps(content, indent=1, sort_keys=True) + "\n")
        saved.append(path)
    return saved
