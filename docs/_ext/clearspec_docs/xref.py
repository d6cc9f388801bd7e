"""Links between pages that Sphinx checks: every link the extension makes is a
``pending_xref`` resolved at write time, and an unresolved one is a warning
(so, with ``-W``, a failed build).

Two kinds: ``clearspec-label`` (a label in the standard domain: a rule's
anchor, an obligation's row, a source line) and ``clearspec-py`` (an object of
the API reference, falling back to its line in the source pages).
"""

from __future__ import annotations

from typing import Any

from docutils import nodes  # type: ignore[import-untyped]
from sphinx import addnodes
from sphinx.application import Sphinx
from sphinx.environment import BuildEnvironment

LABEL = "clearspec-label"
PY = "clearspec-py"
DOC = "clearspec-doc"


def docname_of(env: BuildEnvironment) -> str:
    """The document being read (Sphinx 9 moved it to ``current_document``)."""
    current = getattr(env, "current_document", None)
    name = getattr(current, "docname", None) if current is not None else None
    return str(name if name else env.docname)


def register_label(env: BuildEnvironment, label: str, docname: str, anchor: str, title: str = "") -> None:
    """Make ``label`` a link target: ``docname#anchor``."""
    std: Any = env.domains["std"]
    std.anonlabels[label] = (docname, anchor)
    if title:
        std.labels[label] = (docname, anchor, title)


def source_label(path: str, line: int | None = None) -> str:
    """The label of a source page (or of one of its lines)."""
    return f"src:{path}" if line is None else f"src:{path}:{line}"


def link(env: BuildEnvironment, kind: str, target: str, content: Any, warn: bool = True, **extra: Any) -> Any:
    """A checked link to ``target`` around ``content`` (a node or a string)."""
    if isinstance(content, str):
        content = nodes.inline(content, content)
    node = addnodes.pending_xref(
        "",
        content,
        refdomain="",
        reftype=kind,
        reftarget=target,
        refexplicit=True,
        refwarn=warn,
        refdoc=docname_of(env),
    )
    for key, value in extra.items():
        node[key] = value
    return node


def label_link(env: BuildEnvironment, label: str, content: Any) -> Any:
    return link(env, LABEL, label, content)


def doc_link(env: BuildEnvironment, docname: str, content: Any) -> Any:
    return link(env, DOC, docname, content)


def api_link(env: BuildEnvironment, dotted: str, content: Any, warn: bool = True, fallback: str = "") -> Any:
    """A link to the API entry of ``dotted``; else to ``fallback`` (a label); else
    (``warn`` false) no link at all."""
    return link(env, PY, dotted, content, warn=warn, clearspec_fallback=fallback)


def _uri(app: Sphinx, fromdoc: str, todoc: str, anchor: str) -> str:
    uri = app.builder.get_relative_uri(fromdoc, todoc)
    if anchor:
        uri = f"{uri}#{anchor}"
    return uri


def _reference(app: Sphinx, node: Any, contnode: Any, todoc: str, anchor: str) -> Any:
    ref = nodes.reference("", "", internal=True, refuri=_uri(app, node["refdoc"], todoc, anchor))
    ref.append(contnode)
    return ref


def _label(env: BuildEnvironment, name: str) -> tuple[str, str] | None:
    std: Any = env.domains["std"]
    found = std.anonlabels.get(name)
    return (str(found[0]), str(found[1])) if found and found[0] else None


def resolve(app: Sphinx, env: BuildEnvironment, node: Any, contnode: Any) -> Any:
    """The ``missing-reference`` handler for both kinds."""
    kind = node.get("reftype")
    if kind not in (LABEL, PY, DOC):
        return None
    target = str(node["reftarget"])
    if kind == DOC:
        return _reference(app, node, contnode, target, "") if target in env.all_docs else None
    if kind == LABEL:
        found = _label(env, target)
        return _reference(app, node, contnode, *found) if found else None
    python: Any = env.domains["py"]
    entry = python.objects.get(target)
    if entry is not None:
        return _reference(app, node, contnode, entry.docname, entry.node_id)
    fallback = node.get("clearspec_fallback")
    if fallback:
        found = _label(env, str(fallback))
        if found:
            return _reference(app, node, contnode, *found)
    if not node.get("refwarn"):
        return contnode
    return None


def setup(app: Sphinx) -> None:
    app.connect("missing-reference", resolve)
