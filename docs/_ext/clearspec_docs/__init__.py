"""Sphinx extension of the clearspec site: rule hubs, the rule index, the API
reference with contracts, source pages, the proof report, the vector catalogue
and the figures computed from the model.

When the builder starts it links ``docs/spec`` and ``docs/guides`` to the
chapters at the top of the repository, reads the :class:`~catalog.Catalog`
(spec, code, contracts, and the data files named by the ``clearspec_*``
configuration values), writes the generated pages into ``docs/_generated`` and
draws the figures.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from docutils.parsers.rst import directives  # type: ignore[import-untyped]
from sphinx.application import Sphinx
from sphinx.config import Config
from sphinx.directives.other import TocTree
from sphinx.environment import BuildEnvironment
from sphinx.util import logging

from clearspec_docs import apidoc, htmlnodes, hubs, overview, report, xref
from clearspec_docs.catalog import build_catalog, spec_chapters
from clearspec_docs.pages import write_generated_pages
from clearspec_docs.state import catalog_of, set_catalog

logger = logging.getLogger(__name__)

# Documents whose content depends on the data files (or on code outside docs/).
DATA_PAGES = (
    "index",
    "rules",
    "proof-report",
    "vector-suite",
    "overview",
    "tutorial",
    "guides",
    "source",
    "api",
)


def _link(docs: Path, name: str) -> None:
    """``docs/NAME`` -> ``../NAME``, so the top-level chapters render in place."""
    target = docs.parent / name
    link = docs / name
    if not target.is_dir():
        if link.is_symlink():
            link.unlink()
        return
    if link.is_symlink() and os.readlink(link) == f"../{name}":
        return
    if link.is_symlink():
        link.unlink()
    elif link.exists():
        logger.warning(
            "docs/%s exists and is not a link to ../%s; the chapters there are not rendered", name, name
        )
        return
    link.symlink_to(f"../{name}", target_is_directory=True)


def _path(config: Config, name: str) -> Path | None:
    value = getattr(config, name)
    return Path(value) if value else None


def config_inited(app: Sphinx, config: Config) -> None:
    docs = Path(app.srcdir)
    for name in ("spec", "guides"):
        _link(docs, name)
    data = Path(config.clearspec_data_dir) if config.clearspec_data_dir else docs / "_generated" / "data"
    config.clearspec_data_dir = str(data)
    for name, default in (
        ("clearspec_prove_json", data / "prove.json"),
        ("clearspec_vectors_dir", data / "vectors"),
        ("clearspec_crosshair_json", data / "crosshair.json"),
    ):
        if not getattr(config, name):
            setattr(config, name, str(default))


def builder_inited(app: Sphinx) -> None:
    config = app.config
    root = Path(config.clearspec_root)
    catalog = build_catalog(
        root,
        prove_json=_path(config, "clearspec_prove_json"),
        vectors_dir=_path(config, "clearspec_vectors_dir"),
        crosshair_json=_path(config, "clearspec_crosshair_json"),
    )
    for problem in catalog.problems:
        logger.warning("clearspec data: %s", problem)
    set_catalog(app, catalog)
    docs = Path(app.srcdir)
    write_generated_pages(catalog, docs)
    overview.draw_figures(catalog, docs / "_generated" / "figures")


def source_read(app: Sphinx, docname: str, source: list[str]) -> None:
    """spec/index lists its chapters in a toctree; a chapter added since is appended to
    it, so every spec/*.md is in the site without editing the index."""
    if docname != "spec/index":
        return
    text = source[0]
    match = re.search(r"```\{toctree\}[^\n]*\n(.*?)```", text, re.DOTALL)
    listed = set()
    if match:
        listed = {
            line.strip()
            for line in match.group(1).splitlines()
            if line.strip() and not line.strip().startswith(":")
        }
    root = Path(app.config.clearspec_root)
    missing = [p.stem for p in spec_chapters(root) if p.stem != "index" and p.stem not in listed]
    if not missing:
        return
    addition = "".join(f"{name}\n" for name in missing)
    if match:
        source[0] = text[: match.end(1)] + addition + text[match.end(1) :]
    else:
        source[0] = text + "\n\n```{toctree}\n:maxdepth: 1\n\n" + addition + "```\n"


def env_get_outdated(
    app: Sphinx, env: BuildEnvironment, added: set[str], changed: set[str], removed: set[str]
) -> list[str]:
    """Pages drawn from the catalog are read again on every build: the catalog may have
    changed without their source changing."""
    return [
        d
        for d in env.found_docs
        if d in DATA_PAGES or d.startswith(("spec/", "_generated/")) or d.startswith("guides/")
    ]


class OptionalTocTree(TocTree):
    """``{optional-toctree}``: a globbing toctree that says so, instead of warning, when
    nothing matches (``guides/*`` before the first guide exists)."""

    option_spec = {**TocTree.option_spec, "empty": directives.unchanged}  # noqa: RUF012 (docutils reads it per class)

    def run(self) -> list[Any]:
        from docutils import nodes  # type: ignore[import-untyped]
        from sphinx.util.matching import patfilter

        patterns = [line.strip() for line in self.content if line.strip()]
        docs = sorted(self.env.found_docs)
        if any(patfilter(docs, pattern) for pattern in patterns):
            self.options["glob"] = True
            return list(super().run())
        message = str(self.options.get("empty", "Nothing here yet.")).strip()
        return [nodes.paragraph("", "", nodes.emphasis(message, message))] if message else []


def setup(app: Sphinx) -> dict[str, Any]:
    root = Path(__file__).resolve().parents[3]
    app.add_config_value("clearspec_root", str(root), "env")
    app.add_config_value("clearspec_data_dir", "", "env")
    app.add_config_value("clearspec_prove_json", os.environ.get("CLEARSPEC_DOCS_PROVE_JSON", ""), "env")
    app.add_config_value("clearspec_vectors_dir", os.environ.get("CLEARSPEC_DOCS_VECTORS", ""), "env")
    app.add_config_value("clearspec_crosshair_json", os.environ.get("CLEARSPEC_DOCS_CROSSHAIR", ""), "env")
    app.connect("config-inited", config_inited)
    app.connect("builder-inited", builder_inited)
    app.connect("source-read", source_read)
    app.connect("env-get-outdated", env_get_outdated)
    app.add_directive("optional-toctree", OptionalTocTree)
    for module in (htmlnodes, xref, hubs, report, apidoc, overview):
        module.setup(app)
    return {"version": "1", "parallel_read_safe": False, "parallel_write_safe": True, "env_version": 1}


__all__ = ["catalog_of", "setup"]
