"""Sphinx configuration of the clearspec documentation site.

Build it with ``python docs/build.py`` (see docs/build.md); a plain
``sphinx-build -W --keep-going -b html docs docs/_build/html`` works too and
renders whatever data files docs/_generated/data holds.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(DOCS / "_ext"))
for where in ("model", "proofs"):
    sys.path.insert(0, str(ROOT / where))
# Contracts in slow mode are attached only when this is set before the model is
# imported (ARI-5); the API reference must show every one of them.
os.environ["CLEARSPEC_SLOW_CHECKS"] = "1"

import clearspec  # noqa: E402

project = "clearspec"
author = "the clearspec authors"
copyright = "the clearspec authors"
version = clearspec.SPEC_VERSION
release = clearspec.SPEC_VERSION

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.githubpages",
    "clearspec_docs",
]

root_doc = "index"
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
exclude_patterns = ["_build", "README.md", "Thumbs.db", ".DS_Store"]
# myst: ``(LIQ-3)=`` targets, {ref} roles, fenced directives; colon fences for
# admonitions in the hand-written pages.
myst_enable_extensions = ["colon_fence", "deflist", "attrs_inline"]
myst_heading_anchors = 3
# The rules of a chapter are H3 under its H1 title in some chapters: a style
# the spec chose, not an error.
suppress_warnings = ["myst.header"]

html_theme = "furo"
html_title = f"clearspec {release}"
html_static_path = ["_static"]
html_css_files = ["clearspec.css"]
html_theme_options = {
    "navigation_with_keys": True,
    "sidebar_hide_name": False,
}
html_last_updated_fmt = None
html_show_sourcelink = False
html_copy_source = False

autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_default_options = {"members": True, "show-inheritance": False}
add_module_names = False
# Functions are not entries of the page tables of contents: with them, furo's
# navigation, rebuilt for every page, costs most of the build.
toc_object_entries = False
python_display_short_literal_types = True
