"""Showing proof results to a person: a table, and counterexamples as files."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any


def print_table(results: list[dict[str, Any]], summary: dict[str, Any]) -> None:
    """One row per obligation (id, rule, status, seconds), failures explained."""
    width = max(len(r["id"]) for r in results)
    print(f"{'obligation':<{width}}  {'rule':<13} {'status':<14} {'seconds':>8}")
    for r in results:
        print(f"{r['id']:<{width}}  {r['rule']:<13} {r['status']:<14} {r['seconds']:>8.3f}")
    failures = [r for r in results if r["status"] != "proved"]
    for r in failures:
        print(f"\n{r['status'].upper()}: {r['id']} ({r['rule']})")
        if r["detail"]:
            print(f"  {r['detail']}")
        example = r.get("counterexample")
        if example:
            verdict = "confirmed" if example.get("confirmed") else "NOT confirmed"
            print(f"  {verdict} by replay: {example.get('how')}")
            print(f"  action: {example.get('action')}")
            for line in example.get("diff", [])[:40]:
                print(f"    {line}")
    print(
        f"\n{summary['proved']} of {summary['total']} proved, {summary['counterexample']} counterexample(s), "
        f"{summary['unknown']} unknown; solver time {summary['seconds']}s"
    )
    for path in summary["counterexample_files"]:
        print(f"counterexample saved: {path}")


def file_name(obligation: str) -> str:
    """A file name for an obligation id (ids contain '/', ' ' and ':')."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", obligation.replace("/", "__")) + ".json"


def save_counterexamples(results: list[dict[str, Any]], folder: Path) -> list[Path]:
    """Write every counterexample as a JSON file named after its obligation.

    The file is also a conformance-case input (VEC-1: ``description``,
    ``source``, ``rules``, ``params``, ``pre_state``, ``actions``): copied into
    ``model/clearspec_tools/vectors/corpus/counterexamples/``, it becomes a regression
    vector that `clearspec vectors generate` answers with the reference.
    """
    saved = []
    for r in results:
        example = r.get("counterexample")
        if not example:
            continue
        folder.mkdir(parents=True, exist_ok=True)
        content: dict[str, Any] = {"obligation": r["id"], "rule": r["rule"], **example}
        vector = example.get("vector")
        if vector is not None:
            content.update(
                description=f"prover counterexample to {r['id']} ({example.get('how', '')})",
                source=f"counterexample:{r['id']}",
                rules=[r["rule"]] if re.fullmatch(r"[A-Z]+-[0-9]+", r["rule"]) else [],
                **vector,
            )
        del content["vector"]
        path = folder / file_name(r["id"])
        path.write_text(json.dumps(content, indent=1, sort_keys=True) + "\n")
        saved.append(path)
    return saved
