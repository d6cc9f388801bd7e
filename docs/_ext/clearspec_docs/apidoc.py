"""The API reference with its contracts, and the source pages.

* ``{source-listing} PATH``: a highlighted source file with an anchor per line
  (``#L-97``) and every rule id linked to its hub;
* ``{module-header} MODULE``: the source link and rules of an API page;
* an autodoc hook appends ``.. clearspec-contracts:: NAME`` to every documented
  function: its source line and each pre- and postcondition, rendered readably,
  with the rules it states and the status of the proof obligations that check it.
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path
from typing import Any

from docutils import nodes  # type: ignore[import-untyped]
from pygments import highlight  # type: ignore[import-untyped]
from pygments.formatters import HtmlFormatter  # type: ignore[import-untyped]
from pygments.lexers import PythonLexer  # type: ignore[import-untyped]
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective

from clearspec_docs.catalog import RULE_MENTION, Catalog, Contract, Obligation, module_name
from clearspec_docs.htmlnodes import badge, make_details
from clearspec_docs.hubs import joined, literal, text
from clearspec_docs.state import catalog_of
from clearspec_docs.xref import doc_link, docname_of, label_link, register_label, source_label

SOURCE_DIR = "_generated/source"
API_DIR = "_generated/api"


def source_docname(rel: str) -> str:
    return f"{SOURCE_DIR}/{rel}"


def api_docname(module: str) -> str:
    area = "proofs" if module.startswith("clearspec_proofs") else "model"
    return f"{API_DIR}/{area}/{module}"


def interesting_lines(catalog: Catalog, rel: str) -> set[int]:
    """Lines of ``rel`` that other pages link to."""
    lines = {c.line for cites in catalog.citations.values() for c in cites if c.path == rel}
    lines |= {line for path, line in catalog.functions.values() if path == rel}
    lines |= {c.first_line for c in catalog.contracts if c.path == rel}
    if catalog.prove is not None:
        lines |= {o.where[1] for o in catalog.prove.obligations if o.where is not None and o.where[0] == rel}
    return lines


_TAG_OR_TEXT = re.compile(r"(<[^>]+>)|([^<]+)")


def link_rules_in_html(fragment: str, hrefs: dict[str, str]) -> str:
    """Rule ids in the text (not the tags) of highlighted HTML become links."""

    def fix_text(segment: str) -> str:
        def replace(match: re.Match[str]) -> str:
            whole = match.group(0)
            prefix, first = match.group(1), match.group(2)
            rid = f"{prefix}-{first}"
            if rid not in hrefs:
                return whole
            return f'<a class="cs-rule-ref" href="{hrefs[rid]}">{whole}</a>'

        return RULE_MENTION.sub(replace, segment)

    out = []
    for match in _TAG_OR_TEXT.finditer(fragment):
        tag, body = match.group(1), match.group(2)
        out.append(tag if tag is not None else fix_text(body))
    return "".join(out)


class SourceListing(SphinxDirective):
    """``{source-listing} model/clearspec/liquidation.py``"""

    required_arguments = 1
    has_content = False

    def run(self) -> list[Any]:
        catalog = catalog_of(self.env.app)
        env = self.env
        docname = docname_of(env)
        rel = self.arguments[0]
        path = catalog.root / rel
        self.env.note_dependency(str(path))
        code = path.read_text(encoding="utf-8")
        formatter = HtmlFormatter(
            linenos="inline", lineanchors="L", anchorlinenos=True, cssclass="highlight cs-source"
        )
        rendered = highlight(code, PythonLexer(), formatter)
        builder = env.app.builder
        hrefs = {
            rid: f"{builder.get_relative_uri(docname, rule.docname)}#{rule.label}"
            for rid, rule in catalog.rules.items()
        }
        rendered = link_rules_in_html(rendered, hrefs)
        register_label(env, source_label(rel), docname, "")
        for line in interesting_lines(catalog, rel):
            register_label(env, source_label(rel, line), docname, f"L-{line}")
        out: list[Any] = []
        intro = nodes.paragraph(classes=["cs-source-intro"])
        module = module_name(rel)
        if module is not None and (catalog.root / rel).parent.name != "tests":
            intro += text("API reference: ")
            intro += doc_link(env, api_docname(module), literal(module))
            intro += text(". ")
        cited = sorted(
            {c_rule for c_rule, cites in catalog.citations.items() for c in cites if c.path == rel},
            key=_rule_key,
        )
        if cited:
            intro += text("Rules cited here: ")
            intro += joined([label_link(env, catalog.rules[r].label, literal(r)) for r in cited], " ")
            intro += text(". ")
        intro += text(f"{code.count(chr(10))} lines; the line numbers are anchors (#L-12).")
        out.append(intro)
        out.append(nodes.raw("", rendered, format="html"))
        return out


class SourceIndex(SphinxDirective):
    """``{source-index}``: every source page, by area, with the rules each file cites."""

    def run(self) -> list[Any]:
        from clearspec_docs.report import section, table

        catalog = catalog_of(self.env.app)
        env = self.env
        cited: dict[str, set[str]] = defaultdict(set)
        for rid, cites in catalog.citations.items():
            for c in cites:
                cited[c.path].add(rid)
        out: list[Any] = []
        titles = {
            "model": "The model",
            "proofs": "The prover",
            "tests": "The tests",
            "docs": "Examples in the documentation",
        }
        for area, title in titles.items():
            rows = []
            for rel in catalog.source_files:
                if rel.split("/", 1)[0] != area:
                    continue
                rules = sorted(cited.get(rel, set()), key=_rule_key)
                lines = (catalog.root / rel).read_text(encoding="utf-8").count("\n")
                shown = rel.split("/", 1)[1]
                rule_cell: list[Any] = joined(
                    [label_link(env, catalog.rules[r].label, literal(r)) for r in rules[:12]], " "
                )
                if len(rules) > 12:
                    rule_cell.append(text(f" and {len(rules) - 12} more"))
                rows.append(
                    [doc_link(env, source_docname(rel), literal(shown)), str(lines), rule_cell or "—"]
                )
            out.append(
                section(
                    title,
                    f"source-{area}",
                    table(["file", "lines", "rules cited"], rows, [30, 6, 64], classes=("cs-wide",)),
                )
            )
        return out


def _rule_key(rid: str) -> tuple[str, int]:
    prefix, _, number = rid.partition("-")
    return prefix, int(number) if number.isdigit() else 0


class ModuleHeader(SphinxDirective):
    """``{module-header} clearspec.liquidation``: source link, rules, contract count."""

    required_arguments = 1

    def run(self) -> list[Any]:
        catalog = catalog_of(self.env.app)
        env = self.env
        module = self.arguments[0]
        rel = next((f for f in catalog.source_files if module_name(f) == module), None)
        para = nodes.paragraph(classes=["cs-module-header"])
        if rel is not None:
            para += text("Source: ")
            para += label_link(env, source_label(rel), literal(rel))
            para += text(". ")
        contracts = [c for c in catalog.contracts if c.module == module]
        if contracts:
            para += text(f"{len(contracts)} contracts on {len({c.qualname for c in contracts})} functions. ")
        cited = sorted(
            {r for r, cites in catalog.citations.items() for c in cites if c.path == rel}, key=_rule_key
        )
        if cited:
            para += text("Rules: ")
            para += joined([label_link(env, catalog.rules[r].label, literal(r)) for r in cited], " ")
            para += text(".")
        return [para]


def _obligations_by_contract(catalog: Catalog) -> dict[tuple[str, int], list[Obligation]]:
    found: dict[tuple[str, int], list[Obligation]] = defaultdict(list)
    if catalog.prove is not None:
        for ob in catalog.prove.obligations:
            if ob.contract is not None:
                found[(ob.contract.path, ob.contract.first_line)].append(ob)
    return found


def _as_written(contract: Contract) -> str:
    decorator = "icontract.require" if contract.kind == "pre" else "icontract.ensure"
    description = f", {contract.description!r}" if contract.description else ""
    return f"@{decorator}({contract.source}{description})"


class Contracts(SphinxDirective):
    """``.. clearspec-contracts:: dotted.name`` (appended by the autodoc hook)."""

    required_arguments = 1

    def run(self) -> list[Any]:
        catalog = catalog_of(self.env.app)
        env = self.env
        name = self.arguments[0]
        out: list[Any] = []
        location = catalog.functions.get(name)
        contracts = [c for c in catalog.contracts if c.target == name]
        if location is not None:
            para = nodes.paragraph(classes=["cs-api-meta"])
            path, line = location
            para += label_link(
                env,
                source_label(path, line),
                nodes.inline("", f"[source: {Path(path).name}:{line}]", classes=["cs-srclink"]),
            )
            rules = sorted({r for c in contracts for r in c.rules}, key=_rule_key)
            if rules:
                para += text("  rules: ")
                para += joined([label_link(env, catalog.rules[r].label, literal(r)) for r in rules], " ")
            out.append(para)
        if not contracts:
            return out
        by_contract = _obligations_by_contract(catalog)
        box = nodes.container(classes=["cs-contracts"])
        title = "Contract" if len(contracts) == 1 else f"Contracts ({len(contracts)})"
        box += nodes.paragraph("", "", nodes.strong(title, title))
        for contract in sorted(contracts, key=lambda c: (c.kind != "pre", c.first_line)):
            box += self._one(catalog, contract, by_contract.get((contract.path, contract.first_line), []))
        sources = "\n".join(_as_written(c) for c in contracts)
        box += make_details(
            "as written in Python",
            nodes.literal_block(sources, sources, language="python"),
            classes=("cs-fold",),
        )
        out.append(box)
        return out

    def _one(self, catalog: Catalog, contract: Contract, obligations: list[Obligation]) -> Any:
        env = self.env
        para = nodes.paragraph(classes=["cs-contract"])
        para += badge(
            "pre" if contract.kind == "pre" else "post", "requires" if contract.kind == "pre" else "ensures"
        )
        para += text(" ")
        para += literal(contract.readable)
        if contract.description:
            para += text(" — ")
            para += nodes.emphasis(contract.description, contract.description)
        extras: list[Any] = []
        if contract.rules:
            extras += joined(
                [
                    label_link(env, catalog.rules[r].label, literal(r))
                    for r in contract.rules
                    if r in catalog.rules
                ],
                " ",
            )
        if contract.slow_only:
            extras.append(nodes.inline("", "slow mode", classes=["cs-tag"]))
        if obligations:
            statuses = sorted({o.status for o in obligations})
            status = (
                "proved"
                if statuses == ["proved"]
                else ("counterexample" if "counterexample" in statuses else "unknown")
            )
            label = "Z3: " + ("proved" if status == "proved" else status)
            extras.append(badge(status, label))
            extras.append(text(" in "))
            extras += joined([label_link(env, o.anchor, literal(o.transition)) for o in obligations])
        if extras:
            para += text("  ")
            para += nodes.inline("", "", *joined(extras, " "), classes=["cs-contract-extras"])
        return para


# --- docstrings ---------------------------------------------------------------------------------

_LITERAL_SPAN = re.compile(r"(``.+?``|:[a-z:]+:`[^`]+`|`[^`]+`_?)")


def _escape_outside_literals(line: str, rules: dict[str, str]) -> str:
    """Characters that rst reads as markup (``*``, ``|``, a trailing ``_``) become plain
    text, and rule ids become links, except inside literal spans and roles."""
    parts = _LITERAL_SPAN.split(line)
    out = []
    for index, part in enumerate(parts):
        if index % 2 == 1:
            out.append(part)
            continue
        escaped = part.replace("\\", "\\\\").replace("*", "\\*").replace("|", "\\|")
        escaped = re.sub(r"(\w)_(\W|$)", r"\1\\_\2", escaped)

        def link(match: re.Match[str]) -> str:
            rid = f"{match.group(1)}-{match.group(2)}"
            whole = match.group(0)
            if rid not in rules or match.group(3):
                return whole
            return f":ref:`{whole} <{rules[rid]}>`"

        out.append(RULE_MENTION.sub(link, escaped))
    return "".join(out)


def _bullet(line: str) -> tuple[str, str]:
    match = re.match(r"^(\s*(?:[*\-+]|\d+[.)])\s+)(.*)$", line)
    return (match.group(1), match.group(2)) if match else ("", line)


def process_docstring(app: Sphinx, what: str, name: str, obj: Any, options: Any, lines: list[str]) -> None:
    """Make a docstring safe to parse as rst, link its rule ids, and append its contracts."""
    catalog = catalog_of(app)
    rules = {rid: rule.label for rid, rule in catalog.rules.items()}
    in_block = False
    for index, line in enumerate(lines):
        stripped = line.strip()
        if in_block:
            if stripped and not line.startswith((" ", "\t")):
                in_block = False
            else:
                continue
        if stripped.startswith(">>>") or stripped.endswith("::"):
            in_block = stripped.endswith("::")
            if stripped.startswith(">>>"):
                continue
        marker, rest = _bullet(line)
        lines[index] = marker + _escape_outside_literals(rest, rules)
    if what in ("function", "method", "class", "staticmethod", "classmethod") and (
        name in catalog.functions or any(c.target == name for c in catalog.contracts)
    ):
        lines += ["", f".. clearspec-contracts:: {name}", ""]


def setup(app: Sphinx) -> None:
    app.add_directive("source-listing", SourceListing)
    app.add_directive("source-index", SourceIndex)
    app.add_directive("module-header", ModuleHeader)
    app.add_directive("clearspec-contracts", Contracts)
    app.connect("autodoc-process-docstring", process_docstring)
