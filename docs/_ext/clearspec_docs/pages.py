"""The generated pages under ``docs/_generated``: one API page per module, one
source page per Python file. A file is rewritten only when its text changes, and
pages of modules or files that are gone are removed."""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path

from clearspec_docs.apidoc import API_DIR, SOURCE_DIR, api_docname, source_docname
from clearspec_docs.catalog import Catalog

VECTOR_DIR = "_generated/vectors"


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.is_file() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")


def _prune(folder: Path, keep: set[Path]) -> None:
    if not folder.is_dir():
        return
    for path in folder.rglob("*.md"):
        if path not in keep:
            path.unlink()


def _first_line(module: str) -> str:
    doc = inspect.getdoc(importlib.import_module(module)) or ""
    line = doc.strip().splitlines()[0] if doc.strip() else ""
    return line.rstrip(".")


def _plain(text: str) -> str:
    """A heading that Markdown leaves alone (``__init__`` is not bold)."""
    return text.replace("\\", "\\\\").replace("_", "\\_").replace("*", "\\*")


def api_page(module: str) -> str:
    summary = _first_line(module)
    title = _plain(module)
    lines = [
        f"# {title}",
        "",
        f"```{{module-header}} {module}",
        "```",
        "",
        # autodoc writes reStructuredText, so it must run inside eval-rst.
        "```{eval-rst}",
        f".. automodule:: {module}",
        "   :members:",
        "   :private-members:",
        "   :undoc-members:",
        "   :ignore-module-all:",
        "```",
        "",
    ]
    if summary:
        lines.insert(1, "")
        lines.insert(2, f"% {summary}")
    return "\n".join(lines)


def source_page(rel: str) -> str:
    # Orphans: reached from the source index, the hubs and the API, not from the
    # navigation (which would list a hundred files on every page).
    return "\n".join(
        ["---", "orphan: true", "---", "", f"# {_plain(rel)}", "", f"```{{source-listing}} {rel}", "```", ""]
    )


def write_generated_pages(catalog: Catalog, docs: Path) -> None:
    keep: set[Path] = set()
    for module in catalog.modules:
        path = docs / f"{api_docname(module)}.md"
        _write(path, api_page(module))
        keep.add(path)
    _prune(docs / API_DIR, keep)
    keep = set()
    for rel in catalog.source_files:
        path = docs / f"{source_docname(rel)}.md"
        _write(path, source_page(rel))
        keep.add(path)
    _prune(docs / SOURCE_DIR, keep)
    keep = set()
    groups = (
        sorted({c.id.split("/", 1)[0] if "/" in c.id else "cases" for c in catalog.vectors.cases})
        if catalog.vectors
        else []
    )
    for group in groups:
        path = docs / VECTOR_DIR / f"{group}.md"
        _write(
            path,
            "\n".join([f"# Vector cases: {_plain(group)}", "", f"```{{vector-group}} {group}", "```", ""]),
        )
        keep.add(path)
    _prune(docs / VECTOR_DIR, keep)
