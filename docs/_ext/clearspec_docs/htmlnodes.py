"""Two HTML elements docutils lacks: ``<details>``/``<summary>`` (long lists folded
away) and a status badge. Other builders render their content plainly."""

from __future__ import annotations

from typing import Any

from docutils import nodes  # type: ignore[import-untyped]
from sphinx.application import Sphinx


class details(nodes.General, nodes.Element):  # type: ignore[misc]
    """A folded block; its first child is a :class:`summary`."""


class summary(nodes.TextElement):  # type: ignore[misc]
    """The always-visible line of a :class:`details`."""


def make_details(title: str, *children: Any, open_: bool = False, classes: tuple[str, ...] = ()) -> Any:
    node = details(open=open_, classes=list(classes))
    node += summary(title, title)
    for child in children:
        node += child
    return node


def badge(status: str, text: str | None = None) -> Any:
    """An inline status mark: proved, counterexample, unknown, missing, ..."""
    label = text if text is not None else status
    return nodes.inline(label, label, classes=["cs-badge", f"cs-{status.replace(' ', '-')}"])


def _visit_details(self: Any, node: Any) -> None:
    attributes = {"open": "open"} if node.get("open") else {}
    self.body.append(self.starttag(node, "details", **attributes))


def _depart_details(self: Any, node: Any) -> None:
    self.body.append("</details>\n")


def _visit_summary(self: Any, node: Any) -> None:
    self.body.append(self.starttag(node, "summary", ""))


def _depart_summary(self: Any, node: Any) -> None:
    self.body.append("</summary>\n")


def _skip(self: Any, node: Any) -> None:
    pass


def setup(app: Sphinx) -> None:
    app.add_node(
        details,
        html=(_visit_details, _depart_details),
        text=(_skip, _skip),
        latex=(_skip, _skip),
        man=(_skip, _skip),
        texinfo=(_skip, _skip),
    )
    app.add_node(
        summary,
        html=(_visit_summary, _depart_summary),
        text=(_skip, _skip),
        latex=(_skip, _skip),
        man=(_skip, _skip),
        texinfo=(_skip, _skip),
    )
