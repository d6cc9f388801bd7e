"""Rule hubs: under every rule's heading in the specification, the links to the
model code that implements it, the contracts that state it, the proof
obligations that prove it (with their status), the conformance vectors that
exercise it and the tests that cite it. And the rule index, one row per rule.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from docutils import nodes  # type: ignore[import-untyped]
from sphinx.application import Sphinx
from sphinx.transforms import SphinxTransform
from sphinx.util.docutils import SphinxDirective

from clearspec_docs.catalog import Catalog, Citation, Contract, Obligation, Rule
from clearspec_docs.htmlnodes import badge, make_details
from clearspec_docs.state import catalog_of
from clearspec_docs.xref import api_link, doc_link, docname_of, label_link, source_label

# A field shows this many items inline; the rest fold into a <details>.
INLINE = 4
STATUS_ORDER = ("counterexample", "unknown", "proved")


def text(value: str) -> Any:
    return nodes.Text(value)


def literal(value: str) -> Any:
    return nodes.literal(value, value)


def short_name(dotted: str) -> str:
    """``clearspec.liquidation.fillable_price_allows`` -> ``liquidation.fillable_price_allows``."""
    parts = dotted.split(".")
    return ".".join(parts[1:]) if len(parts) > 2 else dotted


def code_link(env: Any, catalog: Catalog, dotted: str) -> Any:
    """The API entry of a function named in the spec or cited in code; its source line
    when the API does not document it."""
    fallback = ""
    if dotted in catalog.functions:
        path, line = catalog.functions[dotted]
        fallback = source_label(path, line)
    else:
        module = dotted
        while "." in module and not fallback:
            module = module.rsplit(".", 1)[0]
            for rel in catalog.source_files:
                if _module_of(rel) == module:
                    fallback = source_label(rel)
    return api_link(env, dotted, literal(short_name(dotted)), warn=True, fallback=fallback)


def _module_of(rel: str) -> str | None:
    from clearspec_docs.catalog import module_name

    return module_name(rel)


def line_link(env: Any, path: str, line: int, title: str | None = None) -> Any:
    return label_link(env, source_label(path, line), literal(title or f"{Path(path).name}:{line}"))


def joined(items: list[Any], separator: str = ", ") -> list[Any]:
    out: list[Any] = []
    for index, item in enumerate(items):
        if index:
            out.append(text(separator))
        out.append(item)
    return out


def folded(items: list[Any], noun: str, inline: int = INLINE) -> list[Any]:
    """Items as a comma-separated line; beyond ``inline`` of them, the rest in a details block."""
    if len(items) <= inline:
        return [nodes.paragraph("", "", *joined(items))]
    head = nodes.paragraph("", "", *joined(items[:inline]), text(", …"))
    rest = nodes.paragraph("", "", *joined([item.deepcopy() for item in items]))
    return [head, make_details(f"all {len(items)} {noun}", rest, classes=("cs-fold",))]


def field(name: str, *body: Any, classes: tuple[str, ...] = ()) -> Any:
    node = nodes.field("", nodes.field_name(name, name), nodes.field_body("", *body), classes=list(classes))
    return node


def note(value: str) -> Any:
    return nodes.paragraph("", "", nodes.emphasis(value, value))


# --- the hub ----------------------------------------------------------------------------------


def _citing_functions(citations: Iterable[Citation], area: str, exclude: set[str]) -> list[str]:
    seen: list[str] = []
    for c in citations:
        if c.area != area or not c.module or not c.symbol:
            continue
        dotted = f"{c.module}.{c.symbol}"
        if dotted not in exclude and dotted not in seen:
            seen.append(dotted)
    return seen


TOOLS = ("clearspec_tools",)


def _is_tool(citation: Citation) -> bool:
    return bool(citation.module) and str(citation.module).startswith(TOOLS)


def code_field(env: Any, catalog: Catalog, rule: Rule) -> Any:
    everything = catalog.citations.get(rule.id, [])
    cites = [c for c in everything if not _is_tool(c)]
    tools = [c for c in everything if _is_tool(c) and c.area == "model"]
    primary = list(rule.code)
    secondary = _citing_functions(cites, "model", set(primary))
    body: list[Any] = []
    if primary:
        body += folded([code_link(env, catalog, d) for d in primary], "functions")
    if secondary:
        items = [code_link(env, catalog, d) for d in secondary]
        label = "also cited by " if primary else "cited by "
        para = folded(items, "functions")
        para[0].insert(0, nodes.emphasis(label, label))
        body += para
    lines = [line_link(env, c.path, c.line) for c in cites if c.area == "model"]
    if lines:
        body.append(
            make_details(
                f"{len(lines)} citing lines", nodes.paragraph("", "", *joined(lines)), classes=("cs-fold",)
            )
        )
    if tools:
        items = [code_link(env, catalog, d) for d in _citing_functions(tools, "model", set())]
        body.append(
            make_details(
                f"cited by {len(items)} tool function{'s' if len(items) != 1 else ''} (vectors, simulation)",
                nodes.paragraph("", "", *joined(items)),
                classes=("cs-fold",),
            )
        )
    if not body:
        body.append(note("no model code names this rule"))
    return field("Code", *body)


def contract_line(env: Any, contract: Contract, with_function: bool = True) -> Any:
    para = nodes.paragraph(classes=["cs-contract"])
    para += badge(
        "pre" if contract.kind == "pre" else "post", "requires" if contract.kind == "pre" else "ensures"
    )
    para += text(" ")
    para += label_link(env, source_label(contract.path, contract.first_line), literal(contract.readable))
    if contract.description:
        para += text(" — ")
        para += nodes.emphasis(contract.description, contract.description)
    if with_function:
        para += text(" (")
        para += api_link(env, contract.target, literal(short_name(contract.target)), warn=False)
        para += text(")")
    return para


def contracts_field(env: Any, catalog: Catalog, rule: Rule) -> Any:
    found = catalog.contracts_for(rule.id)
    if not found:
        return field("Contracts", note("no contract names this rule"))
    lines = [contract_line(env, c) for c in found]
    if len(lines) <= 3:
        return field("Contracts", *lines)
    rest = [line.deepcopy() for line in lines[2:]]
    return field(
        "Contracts", *lines[:2], make_details(f"{len(rest)} more contracts", *rest, classes=("cs-fold",))
    )


def status_counts(obligations: list[Obligation]) -> Any:
    counts = Counter(o.status for o in obligations)
    para = nodes.paragraph()
    parts: list[Any] = []
    for status in STATUS_ORDER:
        if counts.get(status):
            parts.append(badge(status, f"{counts[status]} {status}"))
    for status, count in sorted(counts.items()):
        if status not in STATUS_ORDER:
            parts.append(badge("unknown", f"{count} {status}"))
    for item in joined(parts, " "):
        para += item
    return para


def obligation_link(env: Any, ob: Obligation) -> Any:
    return label_link(env, ob.anchor, literal(ob.id))


def proofs_field(env: Any, catalog: Catalog, rule: Rule) -> Any:
    body: list[Any] = []
    prover_lines = [c for c in catalog.citations.get(rule.id, []) if c.area == "proofs"]
    if catalog.prove is None:
        body.append(note("no proof results were provided to this build"))
    else:
        precise, case = catalog.obligations_for(rule.id)
        if precise:
            para = status_counts(precise)
            para.insert(0, text(f"{len(precise)} obligation{'s' if len(precise) != 1 else ''}: "))
            body.append(para)
            ordered = sorted(
                precise, key=lambda o: (STATUS_ORDER.index(o.status) if o.status in STATUS_ORDER else 0, o.id)
            )
            items = [
                nodes.paragraph(
                    "", "", badge(o.status, o.status[:1].upper()), text(" "), obligation_link(env, o)
                )
                for o in ordered
            ]
            body.append(
                make_details(f"the {len(precise)} obligations", *items, classes=("cs-fold", "cs-oblist"))
            )
        if case:
            transitions = sorted({o.transition for o in case})
            para = nodes.paragraph()
            para += text(
                f"{'and ' if precise else ''}{len(case)} obligation{'s' if len(case) != 1 else ''} of "
            )
            for item in joined([label_link(env, f"transition-{t}", literal(t)) for t in transitions]):
                para += item
            para += text(", whose rules include this one: ")
            for item in joined([status_counts(case)], ""):
                for child in item.children:
                    para += child.deepcopy()
            body.append(para)
        if not precise and not case:
            body.append(note("no obligation of the prover names this rule; see the coverage table"))
    if prover_lines:
        items = [line_link(env, c.path, c.line) for c in prover_lines]
        para = folded(items, "lines")
        para[0].insert(0, nodes.emphasis("prover code: ", "prover code: "))
        body += para
    checked = catalog.crosshair_for(rule.id)
    if checked:
        counts = Counter(item.status for item in checked)
        para = nodes.paragraph()
        para += nodes.emphasis("CrossHair: ", "CrossHair: ")
        for part in joined([badge(_crosshair_status(s), f"{n} {s}") for s, n in sorted(counts.items())], " "):
            para += part
        body.append(para)
        lines = []
        for item in checked:
            line = nodes.paragraph()
            line += badge(_crosshair_status(item.status), item.status)
            line += text(" ")
            line += api_link(env, item.target, literal(short_name(item.target)), warn=False)
            line += text(f" {item.condition}")
            lines.append(line)
        body.append(make_details(f"the {len(checked)} CrossHair conditions", *lines, classes=("cs-fold",)))
    return field("Proofs", *body)


def _crosshair_status(status: str) -> str:
    from clearspec_docs.report import _crosshair_class

    return _crosshair_class(status)


def vectors_field(env: Any, catalog: Catalog, rule: Rule) -> Any:
    if catalog.vectors is None:
        return field("Vectors", note("no conformance-vector suite was provided to this build"))
    from clearspec_docs.report import common_rules, specific_cases, vector_rule_label

    cases = catalog.vectors_for(rule.id)
    if not cases:
        return field("Vectors", note("no case of the suite names this rule"))
    para = nodes.paragraph()
    para += label_link(
        env,
        vector_rule_label(rule.label),
        nodes.inline("", f"{len(cases)} case{'s' if len(cases) != 1 else ''}"),
    )
    if rule.id in common_rules(catalog):
        para += text(" (more than half of the suite)")
    picks = specific_cases(catalog, rule.id, 4)
    para += text(", the most specific: " if len(cases) > len(picks) else ": ")
    for item in joined([label_link(env, c.anchor, literal(c.id)) for c in picks]):
        para += item
    return field("Vectors", para)


def tests_field(env: Any, catalog: Catalog, rule: Rule) -> Any | None:
    cites = [c for c in catalog.citations.get(rule.id, []) if c.area == "tests"]
    if not cites:
        return None
    by_test: dict[tuple[str, str], Citation] = {}
    for c in cites:
        by_test.setdefault((c.path, c.symbol or Path(c.path).name), c)
    items = [
        line_link(env, c.path, c.line, f"{Path(c.path).stem}.{symbol}" if c.symbol else Path(c.path).name)
        for (_, symbol), c in by_test.items()
    ]
    return field("Tests", *folded(items, "tests", inline=3))


def build_hub(env: Any, catalog: Catalog, rule: Rule) -> Any:
    """The full hub: a field list of links, placed at the end of the rule's section."""
    fields = nodes.field_list(classes=["cs-hub-fields"])
    fields += code_field(env, catalog, rule)
    fields += contracts_field(env, catalog, rule)
    fields += proofs_field(env, catalog, rule)
    fields += vectors_field(env, catalog, rule)
    tests = tests_field(env, catalog, rule)
    if tests is not None:
        fields += tests
    hub = nodes.container(classes=["cs-hub"], ids=[hub_id(rule)])
    title = f"{rule.id} in the code, the contracts, the proofs and the vectors"
    hub += nodes.paragraph("", "", nodes.strong(title, title), classes=["cs-hub-title"])
    hub += fields
    return hub


def hub_id(rule: Rule) -> str:
    return f"{rule.label}-hub"


def build_bar(env: Any, catalog: Catalog, rule: Rule) -> Any:
    """One line under the rule's heading: how much of each kind there is, and the proof
    status, each a link to the hub at the end of the section."""
    cites = catalog.citations.get(rule.id, [])
    code = len(set(rule.code) | set(_citing_functions([c for c in cites if not _is_tool(c)], "model", set())))
    contracts = len(catalog.contracts_for(rule.id))
    tests = len({(c.path, c.symbol) for c in cites if c.area == "tests"})
    bar = nodes.paragraph(classes=["cs-hub-bar"])
    items: list[Any] = []

    def item(label: str, value: str, status: str = "neutral") -> None:
        ref = nodes.reference("", "", internal=True, refuri=f"#{hub_id(rule)}", classes=["cs-bar-item"])
        ref += nodes.inline(label, label, classes=["cs-bar-label"])
        ref += badge(status, value)
        items.append(ref)

    item("code", str(code))
    item("contracts", str(contracts))
    if catalog.prove is None:
        item("proofs", "no data", "missing")
    else:
        precise, case = catalog.obligations_for(rule.id)
        group = precise or case
        if group:
            proved = sum(1 for o in group if o.status == "proved")
            status = (
                "proved"
                if proved == len(group)
                else ("counterexample" if any(o.status == "counterexample" for o in group) else "unknown")
            )
            item("proofs", f"{proved}/{len(group)} proved" + ("" if precise else " (transition)"), status)
        else:
            item("proofs", "none", "neutral")
    if catalog.vectors is None:
        item("vectors", "no data", "missing")
    else:
        item("vectors", str(len(catalog.vectors_for(rule.id))))
    item("tests", str(tests))
    for entry in items:
        bar += entry
    return bar


def link_code_literals(env: Any, catalog: Catalog, document: Any) -> None:
    """``clearspec.liquidation.liquidate`` written as code in the spec becomes a link to
    its API entry (or its source line); a name the API lacks stays plain text."""
    for node in list(document.findall(nodes.literal)):
        value = node.astext()
        if not DOTTED_NAME.fullmatch(value) or isinstance(node.parent, nodes.reference):
            continue
        fallback = ""
        if value in catalog.functions:
            path, line = catalog.functions[value]
            fallback = source_label(path, line)
        node.replace_self(api_link(env, value, node.deepcopy(), warn=False, fallback=fallback))


DOTTED_NAME = re.compile(r"clearspec(?:_proofs)?(?:\.[A-Za-z_][A-Za-z0-9_]*)+")


class InsertHubs(SphinxTransform):
    """Under every rule's heading in a spec chapter, its bar; at the end of its
    section, its hub."""

    default_priority = 400

    def apply(self, **kwargs: Any) -> None:
        docname = docname_of(self.env)
        if not docname.startswith(("spec/", "guides/")) and docname not in ("overview", "tutorial"):
            return
        catalog = catalog_of(self.app)
        link_code_literals(self.env, catalog, self.document)
        if not docname.startswith("spec/"):
            return
        by_label = {r.label: r for r in catalog.rules.values() if r.docname == docname}
        for section in list(self.document.findall(nodes.section)):
            rule = next((by_label[n] for n in section["names"] if n in by_label), None)
            if rule is None:
                rule = next((by_label[i] for i in section["ids"] if i in by_label), None)
            if rule is None:
                continue
            section.insert(1, build_bar(self.env, catalog, rule))
            position = next(
                (i for i, child in enumerate(section.children) if isinstance(child, nodes.section)),
                len(section.children),
            )
            section.insert(position, build_hub(self.env, catalog, rule))
            section["classes"].append("cs-rule")


# --- the rule index ---------------------------------------------------------------------------


def _count_cell(value: Any) -> Any:
    entry = nodes.entry()
    entry += value if isinstance(value, nodes.Node) else nodes.paragraph("", str(value))
    return entry


class RuleIndex(SphinxDirective):
    """``{rule-index}``: one row per rule, grouped by chapter."""

    has_content = False

    def run(self) -> list[Any]:
        catalog = catalog_of(self.env.app)
        out: list[Any] = []
        chapters: dict[str, list[Rule]] = {}
        for rule in catalog.rules.values():
            chapters.setdefault(rule.docname, []).append(rule)
        out.append(self._legend(catalog))
        table = nodes.table(classes=["cs-rule-index", "cs-wide"])
        group = nodes.tgroup(cols=7)
        table += group
        for width in (9, 34, 8, 9, 20, 8, 8):
            group += nodes.colspec(colwidth=width)
        head = nodes.thead()
        group += head
        row = nodes.row()
        for title in ("rule", "title", "code", "contracts", "obligations", "vectors", "tests"):
            row += nodes.entry("", nodes.paragraph("", title))
        head += row
        body = nodes.tbody()
        group += body
        for docname in sorted(chapters, key=lambda d: _chapter_order(catalog, d)):
            chapter_row = nodes.row(classes=["cs-chapter-row"])
            entry = nodes.entry(morecols=6)
            para = nodes.paragraph()
            para += doc_link(
                self.env, docname, nodes.strong(catalog.chapters[docname], catalog.chapters[docname])
            )
            entry += para
            chapter_row += entry
            body += chapter_row
            for rule in sorted(chapters[docname], key=lambda r: r.line):
                body += self._row(catalog, rule)
        out.append(table)
        return out

    def _legend(self, catalog: Catalog) -> Any:
        total = len(catalog.rules)
        para = nodes.paragraph()
        para += text(f"{total} rules. ")
        if catalog.prove is None:
            para += nodes.emphasis(
                "No proof results were provided to this build. ",
                "No proof results were provided to this build. ",
            )
        if catalog.vectors is None:
            para += nodes.emphasis(
                "No conformance-vector suite was provided to this build.",
                "No conformance-vector suite was provided to this build.",
            )
        return para

    def _row(self, catalog: Catalog, rule: Rule) -> Any:
        env = self.env
        row = nodes.row()
        para = nodes.paragraph()
        para += label_link(env, rule.label, nodes.literal(rule.id, rule.id, classes=["cs-rule-id"]))
        row += _count_cell(para)
        row += _count_cell(nodes.paragraph("", rule.title))
        cites = catalog.citations.get(rule.id, [])
        code = len(
            set(rule.code) | set(_citing_functions([c for c in cites if not _is_tool(c)], "model", set()))
        )
        row += _count_cell(code or "—")
        row += _count_cell(len(catalog.contracts_for(rule.id)) or "—")
        if catalog.prove is None:
            row += _count_cell("no data")
        else:
            precise, case = catalog.obligations_for(rule.id)
            if precise:
                row += _count_cell(status_counts(precise))
            elif case:
                para = status_counts(case)
                para.insert(0, nodes.emphasis("via transition: ", "via transition: "))
                row += _count_cell(para)
            else:
                row += _count_cell("—")
        row += _count_cell(
            "no data" if catalog.vectors is None else (len(catalog.vectors_for(rule.id)) or "—")
        )
        tests = {(c.path, c.symbol) for c in cites if c.area == "tests"}
        row += _count_cell(len(tests) or "—")
        return row


def _chapter_order(catalog: Catalog, docname: str) -> tuple[int, str]:
    order = catalog_chapter_order(catalog)
    return (order.index(docname) if docname in order else len(order), docname)


def catalog_chapter_order(catalog: Catalog) -> list[str]:
    """Chapters in the order of spec/index.md's toctree, then the rest by name."""
    index = catalog.root / "spec" / "index.md"
    listed: list[str] = []
    if index.is_file():
        for line in index.read_text(encoding="utf-8").splitlines():
            name = line.strip()
            if name and f"spec/{name}" in catalog.chapters and f"spec/{name}" not in listed:
                listed.append(f"spec/{name}")
    return listed + sorted(d for d in catalog.chapters if d not in listed)


def setup(app: Sphinx) -> None:
    app.add_transform(InsertHubs)
    app.add_directive("rule-index", RuleIndex)
