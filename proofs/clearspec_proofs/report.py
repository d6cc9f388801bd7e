"""Showing proof results to a person: a table, and counterexamples as files."""

from __future__ import annotations

import json
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


def save_counterexamples(results: list[dict[str, Any]], folder: Path) -> list[Path]:
    """Write every counterexample as a JSON file named after its obligation."""
    saved = []
    for r in results:
        example = r.get("counterexample")
        if not example:
            continue
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / (r["id"].replace("/", "__").replace(" ", "_").replace(":", "_") + ".json")
        path.write_text(json.dumps({"obligation": r["id"], "rule": r["rule"], **example}, indent=1) + "\n")
        saved.append(path)
    return saved
