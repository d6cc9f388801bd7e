"""The data pages: the proof report (``{proof-report}``), the conformance-vector
catalogue (``{vector-catalog}``) and the CrossHair results (``{crosshair-report}``).

Each states plainly when its data was not provided to the build; none of them
makes a link that could break.
"""

from __future__ import annotations

import json
import shutil
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any, ClassVar

from docutils import nodes  # type: ignore[import-untyped]
from docutils.parsers.rst import directives  # type: ignore[import-untyped]
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective

import clearspec
from clearspec_docs.catalog import Catalog, Obligation, VectorCase
from clearspec_docs.htmlnodes import badge, make_details
from clearspec_docs.hubs import joined, literal, note, status_counts, text
from clearspec_docs.state import catalog_of
from clearspec_docs.xref import doc_link, docname_of, label_link, register_label, source_label

KIND_ORDER = ("acceptance", "inductive", "delta-sum", "frame", "contract", "rejection", "lemma", "theorem")


def table(headers: list[str], rows: list[list[Any]], widths: list[int], classes: tuple[str, ...] = ()) -> Any:
    """A docutils table; a cell is a node, a string or a list of inline nodes. A row may
    carry ids (for anchors) as an attribute ``ids`` on its first cell, given as a tuple
    ``(ids, cells)``."""
    # colwidths-given: docutils then writes the widths, so columns are not left to chance.
    node = nodes.table(classes=["cs-table", "colwidths-given", *classes])
    group = nodes.tgroup(cols=len(headers))
    node += group
    for width in widths:
        group += nodes.colspec(colwidth=width)
    head = nodes.thead()
    group += head
    row = nodes.row()
    for title in headers:
        row += nodes.entry("", nodes.paragraph("", title))
    head += row
    body = nodes.tbody()
    group += body
    for cells in rows:
        ids: list[str] = []
        if isinstance(cells, tuple):
            ids, cells = cells
        row = nodes.row(ids=list(ids))
        for cell in cells:
            entry = nodes.entry()
            if isinstance(cell, nodes.Node) and not isinstance(cell, nodes.Inline | nodes.Text):
                entry += cell
            else:
                para = nodes.paragraph()
                for item in cell if isinstance(cell, list) else [cell]:
                    para += item if isinstance(item, nodes.Node) else nodes.Text(str(item))
                entry += para
            row += entry
        body += row
    return node


def section(title: str, ident: str, *children: Any) -> Any:
    node = nodes.section(ids=[ident], names=[ident])
    node += nodes.title(title, title)
    for child in children:
        node += child
    return node


def rule_literal(rid: str) -> Any:
    return nodes.literal(rid, rid, classes=["cs-rule-id"])


def _seconds(value: float) -> str:
    return f"{value:.3f}" if value < 10 else f"{value:.1f}"


def _runs(ids: list[str]) -> list[list[str]]:
    """Consecutive ids of one prefix grouped: ORA-1, ORA-2, ORA-3 -> [[ORA-1, ORA-2, ORA-3]]."""
    runs: list[list[str]] = []
    for rid in ids:
        prefix, _, number = rid.partition("-")
        if runs and number.isdigit():
            last = runs[-1][-1]
            last_prefix, _, last_number = last.partition("-")
            if last_prefix == prefix and last_number.isdigit() and int(last_number) + 1 == int(number):
                runs[-1].append(rid)
                continue
        runs.append([rid])
    return runs


def _rule_links(env: Any, catalog: Catalog, ids: tuple[str, ...] | list[str]) -> list[Any]:
    """Links to rules; a run of three or more consecutive ids is one link, ``ORA-1…9``."""
    items: list[Any] = []
    for run in _runs(list(ids)):
        if len(run) >= 3:
            shown = f"{run[0]}…{run[-1].partition('-')[2]}"
            rule = catalog.rules.get(run[0])
            items.append(label_link(env, rule.label, rule_literal(shown)) if rule else rule_literal(shown))
            continue
        for rid in run:
            rule = catalog.rules.get(rid)
            items.append(label_link(env, rule.label, rule_literal(rid)) if rule else rule_literal(rid))
    return joined(items, " ")


def _meta(data_dir: Path) -> dict[str, Any]:
    path = data_dir / "prove.meta.json"
    if not path.is_file():
        return {}
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        return {}
    return loaded if isinstance(loaded, dict) else {}


class ProofReport(SphinxDirective):
    """``{proof-report}``: every obligation of the latest ``clearspec prove --json``."""

    has_content = False
    option_spec: ClassVar[dict[str, Any]] = {"figure": directives.unchanged}

    def run(self) -> list[Any]:
        catalog = catalog_of(self.env.app)
        env = self.env
        docname = docname_of(env)
        prove = catalog.prove
        config = env.app.config
        data_dir = Path(config.clearspec_data_dir)
        if prove is None:
            for name in ("transition", "theorems", "lemmas"):
                register_label(env, f"proof-report-{name}", docname, "no-proof-data")
            return [
                section(
                    "No proof results",
                    "no-proof-data",
                    note(
                        "No proof results were provided to this build: no `clearspec prove --json` "
                        "document was given. Build with `python docs/build.py` (which runs the prover) "
                        "or pass `--prove-json FILE`."
                    ),
                    *[nodes.paragraph("", p) for p in catalog.problems],
                )
            ]
        out: list[Any] = []
        summary = prove.summary
        obligations = prove.obligations
        counts = Counter(o.status for o in obligations)
        para = nodes.paragraph(classes=["cs-report-summary"])
        para += nodes.strong(
            f"{counts.get('proved', 0)} of {len(obligations)} obligations proved",
            f"{counts.get('proved', 0)} of {len(obligations)} obligations proved",
        )
        para += text(". ")
        para += status_counts(obligations).children
        total_seconds = float(summary.get("seconds", sum(o.seconds for o in obligations)))
        para += text(f" Solver time {total_seconds:.1f} s (the sum over obligations).")
        out.append(para)
        meta = _meta(data_dir)
        provenance = nodes.paragraph(classes=["cs-provenance"])
        provenance += text("Spec version ")
        provenance += literal(prove.spec_version or "?")
        if meta:
            provenance += text("; produced by ")
            provenance += literal(str(meta.get("command", "clearspec prove --json")))
            if meta.get("finished"):
                provenance += text(f" on {meta['finished']}")
            if meta.get("wall_seconds") is not None:
                provenance += text(f" in {float(meta['wall_seconds']):.0f} s wall-clock time")
            if meta.get("source"):
                provenance += text(f" (read from {meta['source']})")
        provenance += text(".")
        out.append(provenance)
        if prove.spec_version and prove.spec_version != clearspec.SPEC_VERSION:
            warning = nodes.warning()
            warning += nodes.paragraph(
                "",
                f"These results are for spec version {prove.spec_version}, but the model is "
                f"{clearspec.SPEC_VERSION}: run the prover again.",
            )
            out.append(warning)
        failures = [o for o in obligations if o.status != "proved"]
        if failures:
            attention = nodes.attention()
            attention += nodes.paragraph("", f"{len(failures)} obligation(s) not proved:")
            items = nodes.bullet_list()
            for ob in failures:
                item = nodes.list_item()
                item += nodes.paragraph(
                    "", "", badge(ob.status), text(" "), label_link(env, ob.anchor, literal(ob.id))
                )
                items += item
            attention += items
            out.append(attention)
        figure = self.options.get("figure")
        if figure:
            out.append(_figure(figure, "Solver time per transition, by kind of obligation."))
        out.append(self._by_transition(catalog, obligations))
        out.append(self._theorems(catalog, obligations, data_dir))
        out.append(self._lemmas(catalog, obligations))
        out.append(self._transitions(catalog, obligations))
        return out

    def _by_transition(self, catalog: Catalog, obligations: list[Obligation]) -> Any:
        env = self.env
        docname = docname_of(env)
        grouped: dict[str, list[Obligation]] = defaultdict(list)
        for ob in obligations:
            grouped[ob.transition].append(ob)
        rows: list[Any] = []
        for name in sorted(grouped, key=lambda t: (t == "lemma", t)):
            group = grouped[name]
            counts = Counter(o.status for o in group)
            slowest = max(group, key=lambda o: o.seconds)
            target = "proof-report-lemmas" if name == "lemma" else f"transition-{name}"
            rows.append(
                [
                    label_link(env, target, literal(name)),
                    str(len(group)),
                    [badge("proved", str(counts.get("proved", 0)))] if counts.get("proved") else "0",
                    [badge("counterexample", str(counts["counterexample"]))]
                    if counts.get("counterexample")
                    else "0",
                    [badge("unknown", str(counts["unknown"]))] if counts.get("unknown") else "0",
                    _seconds(sum(o.seconds for o in group)),
                    [
                        label_link(env, slowest.anchor, literal(slowest.invariant or slowest.id)),
                        text(f" {_seconds(slowest.seconds)} s"),
                    ],
                ]
            )
        register_label(env, "proof-report-by-transition", docname, "by-transition")
        return section(
            "By transition",
            "by-transition",
            table(
                ["transition", "obligations", "proved", "counter­example", "unknown", "seconds", "slowest"],
                rows,
                [16, 7, 6, 8, 6, 7, 40],
                classes=("cs-wide",),
            ),
        )

    def _obligation_rows(self, catalog: Catalog, obligations: list[Obligation]) -> list[Any]:
        """Rows of four cells: obligation (kind, name, source), rules, status and time, detail."""
        env = self.env
        docname = docname_of(env)
        rows: list[Any] = []
        for ob in sorted(
            obligations, key=lambda o: (KIND_ORDER.index(o.kind) if o.kind in KIND_ORDER else 99, o.id)
        ):
            register_label(env, ob.anchor, docname, ob.anchor)
            name = nodes.paragraph()
            name += nodes.inline(ob.kind, ob.kind, classes=["cs-kind"])
            name += text(" ")
            name += literal(ob.invariant or ob.id)
            if ob.where is not None:
                path, line = ob.where
                name += text(" ")
                name += label_link(
                    env, source_label(path, line), nodes.inline("", "[source]", classes=["cs-srclink"])
                )
            if ob.rules:
                rules: Any = _rule_links(env, catalog, list(ob.rules))
            elif ob.case_rules and ob.case_rules[0] in catalog.rules:
                # A whole transition's range, shown as written, leading to its first rule.
                rules = [label_link(env, catalog.rules[ob.case_rules[0]].label, rule_literal(ob.rule))]
            else:
                rules = "—"
            status = nodes.paragraph()
            status += badge(ob.status)
            status += nodes.inline("", f" {_seconds(ob.seconds)} s", classes=["cs-seconds"])
            detail = nodes.container(classes=["cs-detail"])
            if ob.detail:
                detail += nodes.paragraph("", ob.detail)
            if ob.counterexample:
                detail += _counterexample(ob.counterexample)
            rows.append(
                ([ob.anchor], [name, rules, status, detail if ob.detail or ob.counterexample else "—"])
            )
        return rows

    def _theorems(self, catalog: Catalog, obligations: list[Obligation], data_dir: Path) -> Any:
        env = self.env
        docname = docname_of(env)
        theorems = [o for o in obligations if o.kind == "theorem"]
        register_label(env, "proof-report-theorems", docname, "parameter-theorems")
        children: list[Any] = [
            nodes.paragraph(
                "",
                "Theorems about the parameters rather than about one transition: PAR-5 (the maintenance "
                "fraction covers the largest price move the circuit breaker allows) and ORA-8 (the median "
                "of a quorum lies within the honest reports).",
            )
        ]
        if theorems:
            children.append(
                table(
                    ["theorem", "rules", "status", "detail"],
                    self._obligation_rows(catalog, theorems),
                    [44, 12, 16, 28],
                )
            )
        else:
            children.append(note("The proof results hold no theorem."))
        plots = sorted((data_dir / "plots").glob("*.png")) if (data_dir / "plots").is_dir() else []
        if plots:
            for plot in plots:
                caption = _plot_caption(plot)
                children.append(_figure(_in_srcdir(env, plot), caption))
        else:
            children.append(
                note(
                    "No safe-region plot was provided to this build (`clearspec params safe --plot FILE` "
                    "writes one; `python docs/build.py` runs it when the command is available)."
                )
            )
        return section("Parameter theorems", "parameter-theorems", *children)

    def _lemmas(self, catalog: Catalog, obligations: list[Obligation]) -> Any:
        env = self.env
        register_label(env, "proof-report-lemmas", docname_of(env), "lemmas")
        lemmas = [o for o in obligations if o.kind == "lemma"]
        if not lemmas:
            return section("Lemmas", "lemmas", note("The proof results hold no lemma."))
        return section(
            "Lemmas",
            "lemmas",
            nodes.paragraph(
                "",
                "Facts about the kernel and the fee, ratio and median arithmetic, proved once on free "
                "integers.",
            ),
            table(
                ["lemma", "rules", "status", "detail"],
                self._obligation_rows(catalog, lemmas),
                [44, 12, 16, 28],
            ),
        )

    def _transitions(self, catalog: Catalog, obligations: list[Obligation]) -> Any:
        env = self.env
        docname = docname_of(env)
        grouped: dict[str, list[Obligation]] = defaultdict(list)
        for ob in obligations:
            if ob.transition != "lemma":
                grouped[ob.transition].append(ob)
        children: list[Any] = [
            nodes.paragraph(
                "",
                "Every obligation of every transition: acceptance (some state accepts the action), "
                "inductive (an invariant is preserved), delta-sum and frame (the step holds for any number "
                "of accounts), contract (a pre- or postcondition the run evaluated) and rejection (a check "
                "rejects exactly as the spec orders). [source] opens the condition's line.",
            )
        ]
        for name in sorted(grouped):
            ident = f"transition-{name}"
            register_label(env, ident, docname, ident)
            group = grouped[name]
            counts = status_counts(group)
            counts.insert(0, text(f"{len(group)} obligations, {_seconds(sum(o.seconds for o in group))} s: "))
            children.append(
                section(
                    name,
                    ident,
                    counts,
                    table(
                        ["obligation", "rules", "status", "detail"],
                        self._obligation_rows(catalog, group),
                        [46, 14, 15, 25],
                        classes=("cs-wide", "cs-obligations"),
                    ),
                )
            )
        return section("Obligations by transition", "obligations-by-transition", *children)


def _in_srcdir(env: Any, path: Path) -> str:
    """An image URI for ``path``; a file outside the source folder is copied in first."""
    srcdir = Path(env.srcdir).resolve()
    resolved = path.resolve()
    if not resolved.is_relative_to(srcdir):
        copy = srcdir / "_generated" / "figures" / "plots" / path.name
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(resolved, copy)
        resolved = copy
    return "/" + str(resolved.relative_to(srcdir))


def _plot_caption(plot: Path) -> str:
    side = plot.with_suffix(".txt")
    if side.is_file():
        return side.read_text(encoding="utf-8").strip()
    return f"Safe region: {plot.stem.replace('_', ' ').replace('-', ' ')}."


def _figure(uri: str, caption: str) -> Any:
    figure = nodes.figure(classes=["cs-figure"])
    figure += nodes.image(uri=uri, alt=caption)
    figure += nodes.caption(caption, caption)
    return figure


def _counterexample(example: dict[str, Any]) -> Any:
    # As `clearspec prove` prints it: the replay's verdict, the fields read, the diff.
    from clearspec_proofs.report import counterexample_lines

    lines = counterexample_lines(example, changes=1000)
    block = nodes.literal_block("\n".join(lines), "\n".join(lines))
    return make_details("counterexample", block, open_=True, classes=("cs-fold",))


_COMMON: dict[int, set[str]] = {}


def common_rules(catalog: Catalog) -> set[str]:
    """Rules that more than half of the cases name (the format's own, the invariants
    checked after every step): listed once, not on every row."""
    if catalog.vectors is None or not catalog.vectors.cases:
        return set()
    if id(catalog) not in _COMMON:
        counts = Counter(r for c in catalog.vectors.cases for r in c.rules)
        _COMMON[id(catalog)] = {r for r, n in counts.items() if 2 * n > len(catalog.vectors.cases)}
    return _COMMON[id(catalog)]


def specific_cases(catalog: Catalog, rule: str, limit: int) -> list[VectorCase]:
    """The cases of a rule that name the fewest other rules: the ones that probe it most directly."""
    cases = catalog.vectors_for(rule)
    compact = rule.lower().replace("-", "")

    def mentions(case: VectorCase) -> bool:
        haystack = f"{case.id} {case.source}".lower().replace("-", "").replace("_", "")
        return compact in haystack or rule in case.description

    return sorted(cases, key=lambda c: (not mentions(c), len(c.rules), c.id))[:limit]


def vector_rule_label(rule_label: str) -> str:
    return f"vectors-rule-{rule_label}"


class VectorCatalog(SphinxDirective):
    """``{vector-catalog}``: every case of the conformance suite, with its rules."""

    has_content = False

    def run(self) -> list[Any]:
        catalog = catalog_of(self.env.app)
        env = self.env
        docname = docname_of(env)
        vectors = catalog.vectors
        if vectors is None:
            for rule in catalog.rules.values():
                register_label(env, vector_rule_label(rule.label), docname, "")
            return [
                note(
                    "No conformance-vector suite was provided to this build. `python docs/build.py` "
                    "generates one with `clearspec vectors generate` when that command is available, "
                    "or takes an existing suite with `--vectors DIR`."
                )
            ]
        out: list[Any] = []
        para = nodes.paragraph()
        para += text(f"{len(vectors.cases)} cases, format ")
        para += literal(vectors.format)
        para += text(", suite version ")
        para += literal(vectors.suite_version)
        sources = Counter(c.source.split(":", 1)[0] for c in vectors.cases if c.source)
        if sources:
            para += text(". Where they come from: " + ", ".join(f"{n} {s}" for s, n in sources.most_common()))
        para += text(".")
        out.append(para)
        common = common_rules(catalog)
        if common:
            para = nodes.paragraph()
            para += text("Rules that more than half of the cases exercise, not repeated on each row: ")
            para += _rule_links(env, catalog, sorted(common, key=_rule_sort))
            para += text(".")
            out.append(para)
        out.append(self._by_rule(catalog, common))
        groups = Counter(vector_group(c.id) for c in vectors.cases)
        rows = [
            [doc_link(env, vector_group_docname(g), literal(g)), str(n), GROUP_NOTES.get(g, "")]
            for g, n in sorted(groups.items())
        ]
        out.append(
            section(
                "Cases by group",
                "vector-groups",
                table(["group", "cases", "what they are"], rows, [16, 8, 76], classes=("cs-wide",)),
            )
        )
        return out

    def _by_rule(self, catalog: Catalog, common: set[str]) -> Any:
        env = self.env
        docname = docname_of(env)
        rows: list[Any] = []
        for rule in sorted(catalog.rules.values(), key=lambda r: _rule_sort(r.id)):
            ident = vector_rule_label(rule.label)
            register_label(env, ident, docname, ident)
            cases = catalog.vectors_for(rule.id)
            picks = specific_cases(catalog, rule.id, 4)
            shown: list[Any] = joined([label_link(env, c.anchor, literal(c.id)) for c in picks], "; ")
            if len(cases) > len(picks):
                shown.append(text(f" and {len(cases) - len(picks)} more"))
            rows.append(
                (
                    [ident],
                    [
                        label_link(env, rule.label, rule_literal(rule.id)),
                        str(len(cases)) if cases else "—",
                        shown or "—",
                    ],
                )
            )
        return section(
            "Cases by rule",
            "vectors-by-rule",
            nodes.paragraph(
                "",
                "For each rule, how many cases name it, and those that name the fewest other rules: "
                "the ones that probe it most directly.",
            ),
            table(["rule", "cases", "the most specific cases"], rows, [10, 8, 82], classes=("cs-wide",)),
        )


GROUP_NOTES = {
    "boundary": "The solver's boundary cases: exact thresholds, fee caps, an empty fund.",
    "counterexample": "Prover counterexamples turned into regression cases.",
    "scenario": "The built-in scenarios, step by step.",
    "unit": "Situations recorded from the unit and stateful tests.",
    "walk": "Random walks of actions under several parameter sets.",
    "wire": "Malformed inputs that a decoder must refuse, each with its wire code.",
}


def vector_group(case_id: str) -> str:
    return case_id.split("/", 1)[0] if "/" in case_id else "cases"


def vector_group_docname(group: str) -> str:
    return f"_generated/vectors/{group}"


class VectorGroup(SphinxDirective):
    """``{vector-group} NAME``: every case of one group of the suite."""

    required_arguments = 1

    def run(self) -> list[Any]:
        catalog = catalog_of(self.env.app)
        env = self.env
        docname = docname_of(env)
        group = self.arguments[0]
        if catalog.vectors is None:
            return [note("No conformance-vector suite was provided to this build.")]
        common = common_rules(catalog)
        cases = [c for c in catalog.vectors.cases if vector_group(c.id) == group]
        rows: list[Any] = []
        for case in cases:
            register_label(env, case.anchor, docname, case.anchor)
            own = [r for r in case.rules if r not in common]
            rows.append(
                (
                    [case.anchor],
                    [
                        literal(case.id.split("/", 1)[1] if "/" in case.id else case.id),
                        _rule_links(env, catalog, own) or "—",
                        case.description or "—",
                        case.source or "—",
                        literal(case.sha256[:12]),
                    ],
                )
            )
        intro = nodes.paragraph()
        intro += text(f"{len(cases)} cases, files under ")
        intro += literal(f"cases/{group}/")
        intro += text(" of the suite. " + GROUP_NOTES.get(group, ""))
        if common:
            intro += text(" Rules that more than half of the suite's cases name are left out of each row (")
            intro += doc_link(env, "vector-suite", nodes.inline("", "see the catalogue"))
            intro += text(").")
        return [
            intro,
            table(
                ["case", "rules", "description", "source", "sha256"],
                rows,
                [26, 20, 32, 13, 9],
                classes=("cs-wide", "cs-vectors"),
            ),
        ]


def _rule_sort(rid: str) -> tuple[str, int]:
    prefix, _, number = rid.partition("-")
    return prefix, int(number) if number.isdigit() else 0


class CrossHairReport(SphinxDirective):
    """``{crosshair-report}``: the conditions of the latest CrossHair run."""

    has_content = False

    def run(self) -> list[Any]:
        catalog = catalog_of(self.env.app)
        env = self.env
        results = catalog.crosshair
        if results is None:
            return [
                note(
                    "No CrossHair results were provided to this build (out/crosshair.json, or "
                    "`python docs/build.py --crosshair FILE`)."
                )
            ]
        if not results:
            return [note("The CrossHair results provided to this build are empty.")]
        counts = Counter(r.status for r in results)
        para = nodes.paragraph()
        para += text(f"{len(results)} conditions: ")
        para += joined([badge(_crosshair_class(s), f"{n} {s}") for s, n in sorted(counts.items())], " ")
        rows = []
        from clearspec_docs.hubs import short_name
        from clearspec_docs.xref import api_link

        for r in results:
            rows.append(
                [
                    api_link(env, r.target, literal(short_name(r.target)), warn=False),
                    literal(r.condition) if r.condition else "—",
                    [badge(_crosshair_class(r.status), r.status)],
                    r.message or "—",
                ]
            )
        return [
            para,
            table(["target", "condition", "status", "message"], rows, [28, 38, 12, 22], classes=("cs-wide",)),
        ]


class StatusSummary(SphinxDirective):
    """``{status-summary}``: one line each for the spec, the proofs, the vectors and CrossHair."""

    def run(self) -> list[Any]:
        catalog = catalog_of(self.env.app)
        env = self.env
        items = nodes.bullet_list(classes=["cs-status-list"])

        def add(*parts: Any) -> None:
            item = nodes.list_item()
            para = nodes.paragraph()
            for part in parts:
                para += part if isinstance(part, nodes.Node) else text(str(part))
            item += para
            items.append(item)

        from clearspec_docs.xref import doc_link

        add(
            nodes.strong("Specification ", "Specification "),
            literal(clearspec.SPEC_VERSION),
            text(": "),
            doc_link(env, "rules", nodes.inline("", f"{len(catalog.rules)} rules")),
            text(f" in {len(catalog.chapters)} chapters; {len(catalog.contracts)} contracts in the code."),
        )
        if catalog.prove is None:
            add(
                nodes.strong("Proofs: ", "Proofs: "),
                badge("missing", "no data"),
                text(" no proof results were provided to this build."),
            )
        else:
            obligations = catalog.prove.obligations
            proved = sum(1 for o in obligations if o.status == "proved")
            meta = _meta(Path(env.app.config.clearspec_data_dir))
            status = "proved" if proved == len(obligations) else "counterexample"
            when = f" ({meta['finished']})" if meta.get("finished") else ""
            add(
                nodes.strong("Proofs: ", "Proofs: "),
                badge(status, f"{proved} of {len(obligations)} proved"),
                text(" — "),
                doc_link(env, "proof-report", nodes.inline("", "the proof report")),
                text(when + "."),
            )
        if catalog.vectors is None:
            add(
                nodes.strong("Vectors: ", "Vectors: "),
                badge("missing", "no data"),
                text(" no conformance-vector suite was provided to this build."),
            )
        else:
            add(
                nodes.strong("Vectors: ", "Vectors: "),
                doc_link(env, "vector-suite", nodes.inline("", f"{len(catalog.vectors.cases)} cases")),
                text(f", suite version {catalog.vectors.suite_version}."),
            )
        if catalog.crosshair is not None:
            counts = Counter(_crosshair_class(r.status) for r in catalog.crosshair)
            add(
                nodes.strong("CrossHair: ", "CrossHair: "),
                badge(
                    "proved" if not counts.get("counterexample") else "counterexample",
                    f"{counts.get('proved', 0)} of {len(catalog.crosshair)} confirmed",
                ),
                text("."),
            )
        return [items]


class TutorialOutput(SphinxDirective):
    """``{tutorial-output} NAME``: the saved output of a tutorial command (docs/build.py runs
    them), or a plain note that this build did not run it."""

    required_arguments = 1

    def run(self) -> list[Any]:
        path = Path(self.env.app.config.clearspec_data_dir) / "tutorial" / f"{self.arguments[0]}.txt"
        if not path.is_file():
            return [
                note(
                    "This build did not run the tutorial's commands (`python docs/build.py` runs them), "
                    "so their output is not shown here."
                )
            ]
        self.env.note_dependency(str(path))
        content = path.read_text(encoding="utf-8")
        block = nodes.literal_block(content, content, language="text", classes=["cs-terminal"])
        return [block]


AUDIENCES = (
    (
        "New to the protocol",
        "learn how an account lives and dies",
        [
            ("overview", "Overview: the life of an account"),
            ("spec/index", "Specification: reading order"),
            ("spec/errors", "Errors"),
        ],
    ),
    (
        "Protocol designer",
        "change a rule or a parameter and ask whether the protocol stays solvent",
        [
            ("tutorial", "Tutorial: change a parameter, run the prover"),
            ("spec/parameters", "Parameters"),
            ("spec/proofs", "What the prover proves"),
            ("proof-report", "Proof report"),
        ],
    ),
    (
        "Implementer",
        "build the protocol in another language and prove it clears the same",
        [
            ("spec/implementers", "Implementer's guide"),
            ("spec/vectors", "The vector format"),
            ("vector-suite", "The vector catalogue"),
            ("api", "API reference with contracts"),
        ],
    ),
    (
        "Risk analyst",
        "replay a crash, tune margins",
        [("guides", "Guides"), ("spec/parameters", "Parameters"), ("overview", "The crash scenario")],
    ),
    (
        "Reader, auditor",
        "check a rule against its code, contracts and proofs",
        [
            ("rules", "Rule index"),
            ("spec/invariants", "Invariants"),
            ("proof-report", "Proof report"),
            ("source", "Source code"),
        ],
    ),
)


class StartHere(SphinxDirective):
    """``{start-here}``: by audience, the pages to read first (only pages that exist)."""

    def run(self) -> list[Any]:
        from clearspec_docs.xref import doc_link

        env = self.env
        rows: list[Any] = []
        for who, what, pages in AUDIENCES:
            links = [
                doc_link(env, docname, nodes.inline("", title))
                for docname, title in pages
                if docname in env.found_docs
            ]
            rows.append([nodes.strong(who, who), what, joined(links, " · ") or "—"])
        return [
            table(["you are", "you want to", "read"], rows, [18, 34, 48], classes=("cs-wide", "cs-start"))
        ]


def _crosshair_class(status: str) -> str:
    lowered = status.lower()
    if lowered in ("confirmed", "proved", "ok", "passed", "pass"):
        return "proved"
    if lowered in ("refuted", "counterexample", "failed", "fail", "error"):
        return "counterexample"
    return "unknown"


def setup(app: Sphinx) -> None:
    app.add_directive("proof-report", ProofReport)
    app.add_directive("vector-catalog", VectorCatalog)
    app.add_directive("vector-group", VectorGroup)
    app.add_directive("crosshair-report", CrossHairReport)
    app.add_directive("status-summary", StatusSummary)
    app.add_directive("tutorial-output", TutorialOutput)
    app.add_directive("start-here", StartHere)
