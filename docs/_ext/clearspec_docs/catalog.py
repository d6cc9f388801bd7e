"""What the documentation knows about every rule, gathered from the repository.

Pure Python (no Sphinx): the rules and their titles from ``spec/*.md``, the
places in ``model/``, ``proofs/`` and ``tests/`` that cite a rule id, the
icontract contracts of every model function, the proof obligations of a
``clearspec prove --json`` document, the cases of a conformance-vector suite and
the conditions of a CrossHair run. The Sphinx extension turns a :class:`Catalog`
into rule hubs, the rule index and the report pages.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import json
import pkgutil
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from clearspec_docs.conditions import readable_condition

RULE_TARGET = re.compile(r"^\(([A-Z]{2,5}-\d+)\)=[ \t]*\n(#{1,6})[ \t]+(\S+)[ \t]*(.*)$", re.MULTILINE)
CHAPTER_TARGET = re.compile(r"^\(([a-z][a-z0-9_-]*)\)=[ \t]*\n#[ \t]+(.+)$", re.MULTILINE)
HEADING = re.compile(r"^#{1,6}[ \t]", re.MULTILINE)
# `LIQ-3`, and ranges written `LIQ-1..LIQ-7` or `LIQ-1..7`.
RULE_MENTION = re.compile(r"\b([A-Z]{2,5})-(\d+)(?:\.\.(?:\1-)?(\d+))?\b")
DOTTED = re.compile(r"`(clearspec(?:_proofs)?(?:\.[A-Za-z_][A-Za-z0-9_]*)+)`")
CONTRACT_AT = re.compile(r"^contract at ([\w.]+\.py):(\d+)$")
# The kernel's label of a contract condition: "DESCRIPTION [module.function]"
# (clearspec.kernel._contract_label).
CONTRACT_OF = re.compile(r"^(?P<text>.*) \[(?P<module>\w+)\.(?P<qualname>[\w.]+)\]$")
PACKAGES = ("clearspec", "clearspec_tools", "clearspec_proofs")


@dataclass(frozen=True)
class Rule:
    """A numbered rule of the specification."""

    id: str
    title: str
    docname: str  # e.g. spec/liquidation
    chapter: str  # the chapter's title
    line: int
    code: tuple[str, ...]  # dotted names on the rule's "Code:" lines

    @property
    def label(self) -> str:
        """The Sphinx label of the rule's anchor (docutils lower-cases names)."""
        return self.id.lower()


@dataclass(frozen=True)
class Citation:
    """One line of code that names a rule id."""

    path: str  # relative to the repository root
    line: int
    symbol: str  # qualified name of the enclosing def/class, "" at module level
    module: str | None  # dotted module name, None outside the packages
    text: str

    @property
    def area(self) -> str:
        """model, proofs or tests."""
        return self.path.split("/", 1)[0]


@dataclass(frozen=True)
class Contract:
    """One icontract condition of a model function."""

    module: str
    qualname: str
    kind: str  # "pre", "post" or "invariant"
    description: str
    source: str  # the condition's lambda as written
    readable: str
    path: str
    first_line: int  # of the lambda
    last_line: int
    slow_only: bool  # enabled only in slow mode (CLEARSPEC_SLOW_CHECKS=1)
    rules: tuple[str, ...]

    @property
    def target(self) -> str:
        return f"{self.module}.{self.qualname}"


@dataclass
class Obligation:
    """One entry of ``clearspec prove --json``, with the rules it bears on."""

    id: str
    rule: str
    transition: str
    invariant: str
    kind: str
    status: str
    seconds: float
    detail: str
    counterexample: dict[str, Any] | None
    anchor: str = ""
    rules: tuple[str, ...] = ()  # the rules this obligation proves, precisely
    case_rules: tuple[str, ...] = ()  # a whole transition's rules, when nothing more precise is known
    contract: Contract | None = None
    where: tuple[str, int] | None = None  # (path, line) of the condition, when known


@dataclass(frozen=True)
class VectorCase:
    """One case of a conformance-vector suite's index.json."""

    id: str
    path: str
    rules: tuple[str, ...]
    description: str
    sha256: str
    source: str
    anchor: str


@dataclass(frozen=True)
class CrossHairCondition:
    """One condition of a CrossHair run (out/crosshair.json)."""

    target: str
    condition: str
    status: str
    message: str


@dataclass
class ProveData:
    spec_version: str
    summary: dict[str, Any]
    obligations: list[Obligation]


@dataclass
class VectorData:
    format: str
    suite_version: str
    cases: list[VectorCase]
    root: Path


@dataclass
class Catalog:
    """Everything the rule hubs show."""

    root: Path
    rules: dict[str, Rule]
    chapters: dict[str, str]  # docname -> title
    citations: dict[str, list[Citation]]
    contracts: list[Contract]
    functions: dict[str, tuple[str, int]]  # dotted name -> (path, line of def)
    source_files: list[str]  # repository-relative .py paths with a source page
    modules: list[str]  # importable modules of the packages, for the API reference
    prove: ProveData | None = None
    vectors: VectorData | None = None
    crosshair: list[CrossHairCondition] | None = None
    problems: list[str] = field(default_factory=list)
    _vector_index: dict[str, list[VectorCase]] = field(default_factory=dict)

    def contracts_for(self, rule: str) -> list[Contract]:
        return [c for c in self.contracts if rule in c.rules]

    def obligations_for(self, rule: str) -> tuple[list[Obligation], list[Obligation]]:
        """(precise, transition-level) obligations of a rule."""
        if self.prove is None:
            return [], []
        precise = [o for o in self.prove.obligations if rule in o.rules]
        case = [o for o in self.prove.obligations if rule in o.case_rules]
        return precise, case

    def vectors_for(self, rule: str) -> list[VectorCase]:
        if self.vectors is None:
            return []
        if not self._vector_index:
            for case in self.vectors.cases:
                for rid in case.rules:
                    self._vector_index.setdefault(rid, []).append(case)
        return self._vector_index.get(rule, [])

    def crosshair_for(self, rule: str) -> list[CrossHairCondition]:
        if not self.crosshair:
            return []
        targets = {c.target for c in self.contracts_for(rule)}
        targets |= {f"{c.module}.{c.symbol}" for c in self.citations.get(rule, []) if c.module and c.symbol}
        targets |= set(self.rules[rule].code) if rule in self.rules else set()
        return [c for c in self.crosshair if c.target in targets or rule in expand_mentions(c.condition)]


# --- helpers -----------------------------------------------------------------------------------


def expand_mentions(text: str, known: Iterable[str] | None = None) -> list[str]:
    """Rule ids mentioned in ``text``, ranges expanded, in order, each once;
    with ``known``, only those ids (so ``UTF-8`` is not a rule)."""
    allowed = set(known) if known is not None else None
    found: list[str] = []
    for match in RULE_MENTION.finditer(text):
        prefix, first, last = match.group(1), int(match.group(2)), match.group(3)
        numbers = range(first, int(last) + 1) if last is not None and int(last) >= first else [first]
        for n in numbers:
            rid = f"{prefix}-{n}"
            if (allowed is None or rid in allowed) and rid not in found:
                found.append(rid)
    return found


def slug(text: str, prefix: str) -> str:
    """An HTML id made of ``text``: lower case, runs of other characters as ``-``."""
    body = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return f"{prefix}-{body}" if body else prefix


def _unique_slugs(names: list[str], prefix: str) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for name in names:
        base = slug(name, prefix)
        count = seen.get(base, 0)
        seen[base] = count + 1
        out.append(base if count == 0 else f"{base}-{count + 1}")
    return out


# --- the specification -------------------------------------------------------------------------


def spec_chapters(root: Path) -> list[Path]:
    return sorted((root / "spec").glob("*.md"))


def read_rules(root: Path) -> tuple[dict[str, Rule], dict[str, str]]:
    """Every rule target ``(ID)=`` that heads a section, with its title and Code: names."""
    rules: dict[str, Rule] = {}
    chapters: dict[str, str] = {}
    for path in spec_chapters(root):
        text = path.read_text(encoding="utf-8")
        docname = f"spec/{path.stem}"
        title_match = re.search(r"^#[ \t]+(.+)$", text, re.MULTILINE)
        chapter = title_match.group(1).strip() if title_match else path.stem
        chapters[docname] = chapter
        for match in RULE_TARGET.finditer(text):
            rid, heading_id, title = match.group(1), match.group(3), match.group(4).strip()
            if heading_id != rid:
                continue
            body_start = match.end()
            following = HEADING.search(text, body_start)
            body = text[body_start : following.start() if following else len(text)]
            code = _code_names(body)
            rules[rid] = Rule(
                id=rid,
                title=title,
                docname=docname,
                chapter=chapter,
                line=text.count("\n", 0, match.start()) + 1,
                code=tuple(code),
            )
    return rules, chapters


def _code_names(body: str) -> list[str]:
    """Names on the ``Code:`` paragraph(s) of a rule's section. A short name after a
    dotted one is taken relative to that one's module (``clearspec.margin.account_risk``,
    ``asset_risk``) and marked with a leading ``?`` until the code confirms it."""
    names: list[str] = []
    for paragraph in re.split(r"\n[ \t]*\n", body):
        if not paragraph.lstrip().startswith("Code:"):
            continue
        module = ""
        for token in re.findall(r"`([^`]+)`", paragraph):
            if DOTTED.fullmatch(f"`{token}`"):
                name = token
                module = token.rsplit(".", 1)[0]
            elif module and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?", token):
                name = f"?{module}.{token}"
            else:
                continue
            if name not in names:
                names.append(name)
    return names


def _confirm_code(rules: dict[str, Rule], functions: dict[str, tuple[str, int]]) -> dict[str, Rule]:
    """Keep a relative name of a Code: line only if the code defines it."""
    confirmed: dict[str, Rule] = {}
    for rid, rule in rules.items():
        names = []
        for name in rule.code:
            if name.startswith("?"):
                candidates = [name[1:], f"{name[1:].rsplit('.', 2)[0]}.{name[1:].rsplit('.', 1)[1]}"]
                found = next((c for c in candidates if c in functions), None)
                if found is None:
                    continue
                name = found
            if name not in names:
                names.append(name)
        confirmed[rid] = replace(rule, code=tuple(names))
    return confirmed


# --- code ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Span:
    first: int
    last: int
    qualname: str


def _spans(tree: ast.Module) -> list[_Span]:
    """Every def and class with its qualified name and its lines (decorators included)."""
    spans: list[_Span] = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                name = f"{prefix}{child.name}"
                first = min([child.lineno, *(d.lineno for d in child.decorator_list)])
                spans.append(_Span(first, child.end_lineno or child.lineno, name))
                visit(child, f"{name}.")
            else:
                visit(child, prefix)

    visit(tree, "")
    return spans


def enclosing(spans: list[_Span], line: int) -> str:
    """The innermost def or class around ``line`` ("" at module level)."""
    best: _Span | None = None
    for span in spans:
        if span.first <= line <= span.last and (best is None or span.first >= best.first):
            best = span
    return best.qualname if best else ""


def module_name(relpath: str) -> str | None:
    """``model/clearspec/liquidation.py`` -> ``clearspec.liquidation``."""
    parts = Path(relpath).with_suffix("").parts
    for start in range(len(parts)):
        if parts[start] in PACKAGES:
            dotted = list(parts[start:])
            if dotted[-1] == "__init__":
                dotted.pop()
            return ".".join(dotted)
    return None


def python_files(root: Path) -> list[str]:
    """The repository's Python files that the site shows: model, prover and tests."""
    found: list[str] = []
    areas = (
        ("model", "clearspec/**/*.py"),
        ("model", "clearspec_tools/**/*.py"),
        ("proofs", "clearspec_proofs/**/*.py"),
        ("tests", "*.py"),
        ("docs", "examples/*.py"),
    )
    for area, pattern in areas:
        found += sorted(str(p.relative_to(root)) for p in (root / area).glob(pattern) if p.is_file())
    return found


# The site's own test names rule ids only as sample data for a vector suite: not a
# test of those rules.
NOT_CITING = {"tests/test_docs.py"}


def read_citations(
    root: Path, files: list[str], known: set[str]
) -> tuple[dict[str, list[Citation]], dict[str, tuple[str, int]]]:
    """Rule citations in code (comments, docstrings, strings) and every def's location."""
    by_rule: dict[str, list[Citation]] = defaultdict(list)
    functions: dict[str, tuple[str, int]] = {}
    for rel in files:
        text = (root / rel).read_text(encoding="utf-8")
        try:
            tree = ast.parse(text)
        except SyntaxError:
            continue
        spans = _spans(tree)
        module = module_name(rel)
        if module:
            for span in spans:
                functions[f"{module}.{span.qualname}"] = (rel, _def_line(tree, span))
        for number, line in enumerate(text.splitlines(), start=1):
            if rel in NOT_CITING:
                break
            for rid in expand_mentions(line, known):
                by_rule[rid].append(Citation(rel, number, enclosing(spans, number), module, line.strip()))
    return dict(by_rule), functions


def _def_line(tree: ast.Module, span: _Span) -> int:
    """The ``def`` line itself (after the decorators) of a span."""
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
            and node.end_lineno == span.last
            and min([node.lineno, *(d.lineno for d in node.decorator_list)]) == span.first
        ):
            return node.lineno
    return span.first


# --- contracts ----------------------------------------------------------------------------------


def _icontract_checker(obj: Any) -> Any:
    try:
        from icontract._checkers import find_checker
    except ImportError:  # pragma: no cover - icontract moved its internals
        return None
    return find_checker(obj)


def walk_modules(problems: list[str] | None = None) -> Iterator[Any]:
    """Every module of the packages; one that fails to import is reported in ``problems``."""
    for package_name in PACKAGES:
        package = importlib.import_module(package_name)
        yield package
        names = sorted(
            info.name
            for info in pkgutil.walk_packages(package.__path__, f"{package_name}.", onerror=lambda _: None)
        )
        for name in names:
            try:
                yield importlib.import_module(name)
            except Exception as error:  # a module under construction must not stop the site
                if problems is not None:
                    problems.append(f"cannot import {name}: {type(error).__name__}: {error}")


def _callables(module: Any) -> Iterator[tuple[str, Any]]:
    for name, obj in vars(module).items():
        if getattr(obj, "__module__", None) != module.__name__:
            continue
        if inspect.isfunction(obj):
            yield name, obj
        elif inspect.isclass(obj):
            yield name, obj
            for attr, member in vars(obj).items():
                if inspect.isfunction(member):
                    yield f"{name}.{attr}", member


def read_contracts(root: Path, known: set[str], problems: list[str], modules: list[str]) -> list[Contract]:
    """Every icontract condition of every function in the packages.

    A contract's rules are those named in its description or condition; failing
    that, those of the comment above it; failing that, those the function's
    docstring cites."""
    contracts: list[Contract] = []
    trees: dict[str, tuple[ast.Module, str]] = {}
    for module in walk_modules(problems):
        modules.append(module.__name__)
        filename = getattr(module, "__file__", None)
        if not filename:
            continue
        try:
            rel = str(Path(filename).resolve().relative_to(root))
        except ValueError:
            continue
        for qualname, obj in _callables(module):
            groups = _contract_groups(obj)
            if not groups:
                continue
            if rel not in trees:
                text = (root / rel).read_text(encoding="utf-8")
                trees[rel] = (ast.parse(text), text)
            tree, text = trees[rel]
            doc_rules = expand_mentions(inspect.getdoc(obj) or "", known)
            for kind, contract in groups:
                contracts.append(
                    _contract(module.__name__, qualname, kind, contract, rel, tree, text, doc_rules, known)
                )
    return contracts


def _contract_groups(obj: Any) -> list[tuple[str, Any]]:
    if inspect.isclass(obj):
        return [("invariant", c) for c in getattr(obj, "__invariants__", [])]
    checker = _icontract_checker(obj)
    if checker is None:
        return []
    found = [("pre", c) for group in getattr(checker, "__preconditions__", []) for c in group]
    found += [("post", c) for c in getattr(checker, "__postconditions__", [])]
    return found


def _contract(
    module: str,
    qualname: str,
    kind: str,
    contract: Any,
    rel: str,
    tree: ast.Module,
    text: str,
    doc_rules: list[str],
    known: set[str],
) -> Contract:
    condition = contract.condition
    code = getattr(condition, "__code__", None)
    description = contract.description or ""
    lam, call = _find_lambda(tree, code.co_firstlineno if code else 0, list(contract.condition_args))
    if lam is not None:
        source = ast.get_source_segment(text, lam) or ""
        first, last = lam.lineno, lam.end_lineno or lam.lineno
        readable = readable_condition(lam.body)
    else:  # a named function as condition
        source = getattr(condition, "__name__", repr(condition))
        first = last = code.co_firstlineno if code else 0
        readable = source
    slow = call is not None and any(
        kw.arg == "enabled" and "SLOW" in (ast.get_source_segment(text, kw.value) or "")
        for kw in call.keywords
    )
    rules = expand_mentions(f"{description} {source}", known)
    if not rules and call is not None:
        rules = expand_mentions(_comment_above(text, call.lineno), known)
    if not rules:
        rules = doc_rules
    return Contract(
        module=module,
        qualname=qualname,
        kind=kind,
        description=description,
        source=re.sub(r"\s+", " ", source).strip(),
        readable=readable,
        path=rel,
        first_line=first,
        last_line=last,
        slow_only=slow,
        rules=tuple(rules),
    )


def _find_lambda(tree: ast.Module, line: int, args: list[str]) -> tuple[ast.Lambda | None, ast.Call | None]:
    """The lambda that starts on ``line`` with these arguments, and the decorator call around it."""
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        for arg in [*node.args, *(kw.value for kw in node.keywords)]:
            if isinstance(arg, ast.Lambda) and arg.lineno == line:
                names = [a.arg for a in [*arg.args.posonlyargs, *arg.args.args, *arg.args.kwonlyargs]]
                if not args or names == args or set(args) <= set(names):
                    return arg, node
    return None, None


def _comment_above(text: str, line: int) -> str:
    """The comment lines directly above ``line`` (1-based)."""
    lines = text.splitlines()
    collected: list[str] = []
    index = line - 2
    while index >= 0 and lines[index].strip().startswith("#"):
        collected.insert(0, lines[index].strip())
        index -= 1
    return " ".join(collected)


# --- proofs -------------------------------------------------------------------------------------


def _label_sites(root: Path, files: list[str]) -> dict[str, tuple[str, int, str]]:
    """Literal labels of ``k.holds(..., "LABEL")`` and ``k.all_hold(..., "LABEL")``: label ->
    (path, line, enclosing symbol)."""
    sites: dict[str, tuple[str, int, str]] = {}
    for rel in files:
        if not rel.startswith("model/"):
            continue
        text = (root / rel).read_text(encoding="utf-8")
        tree = ast.parse(text)
        spans = _spans(tree)
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("holds", "all_hold")
                and len(node.args) >= 2
                and isinstance(node.args[1], ast.Constant)
                and isinstance(node.args[1].value, str)
            ):
                sites.setdefault(node.args[1].value, (rel, node.lineno, enclosing(spans, node.lineno)))
    return sites


def _doc_rules_at(root: Path, rel: str, line: int, known: set[str]) -> list[str]:
    """The rules cited by the docstring of the def around ``rel:line``."""
    tree = ast.parse((root / rel).read_text(encoding="utf-8"))
    best: ast.FunctionDef | ast.AsyncFunctionDef | None = None
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            if first <= line <= (node.end_lineno or node.lineno) and (
                best is None or node.lineno >= best.lineno
            ):
                best = node
    return expand_mentions(ast.get_docstring(best) or "", known) if best is not None else []


def load_prove(
    path: Path, root: Path, known: set[str], contracts: list[Contract], files: list[str]
) -> ProveData:
    """Read a ``clearspec prove --json`` document and attach every obligation to its rules."""
    data = json.loads(path.read_text(encoding="utf-8"))
    raw = data.get("obligations", [])
    anchors = _unique_slugs([str(o.get("id", "")) for o in raw], "ob")
    sites = _label_sites(root, files)
    model_files = {Path(f).name: f for f in files if f.startswith("model/")}
    obligations = []
    for entry, anchor in zip(raw, anchors, strict=True):
        ob = Obligation(
            id=str(entry.get("id", "")),
            rule=str(entry.get("rule", "")),
            transition=str(entry.get("transition", "")),
            invariant=str(entry.get("invariant", "")),
            kind=str(entry.get("kind", "")),
            status=str(entry.get("status", "")),
            seconds=float(entry.get("seconds", 0.0) or 0.0),
            detail=str(entry.get("detail") or ""),
            counterexample=entry.get("counterexample"),
            anchor=anchor,
        )
        _attach(ob, known, contracts, sites, model_files, root)
        obligations.append(ob)
    return ProveData(str(data.get("spec_version", "")), dict(data.get("summary", {})), obligations)


def _contract_named(contracts: list[Contract], module: str, qualname: str, text: str) -> Contract | None:
    """The contract of ``module.qualname`` a kernel label names: by its
    description, else by its condition's text (which the label may shorten)."""
    mine = [c for c in contracts if c.module.rsplit(".", 1)[-1] == module and c.qualname == qualname]
    stem = text.removesuffix("...")
    for contract in mine:
        if contract.description and contract.description == text:
            return contract
    squeezed = "".join(stem.split())
    for contract in mine:
        if squeezed and squeezed in "".join(contract.source.split()):
            return contract
    return mine[0] if len(mine) == 1 else None


def _attach(
    ob: Obligation,
    known: set[str],
    contracts: list[Contract],
    sites: dict[str, tuple[str, int, str]],
    model_files: dict[str, str],
    root: Path,
) -> None:
    """Which rules an obligation proves: its own rule when it names one, the rules its
    label names, and the rules of the contract its condition belongs to."""
    own = expand_mentions(ob.rule, known)
    single = re.fullmatch(r"[A-Z]{2,5}-\d+", ob.rule) is not None
    precise = list(own) if single else []
    precise += [r for r in expand_mentions(ob.invariant, known) if r not in precise]
    if ob.kind == "contract":
        where: tuple[str, int] | None = None
        at = CONTRACT_AT.match(ob.invariant)
        of = CONTRACT_OF.match(ob.invariant)
        if at and at.group(1) in model_files:
            where = (model_files[at.group(1)], int(at.group(2)))
        elif of:
            owned = _contract_named(contracts, of.group("module"), of.group("qualname"), of.group("text"))
            if owned is not None:
                where = (owned.path, owned.first_line)
        elif ob.invariant in sites:
            rel, line, _ = sites[ob.invariant]
            where = (rel, line)
        if where is not None:
            ob.where = where
            found = [c for c in contracts if c.path == where[0] and c.first_line <= where[1] <= c.last_line]
            if found:
                ob.contract = found[0]
                precise += [r for r in found[0].rules if r not in precise]
            else:
                # A k.holds outside a contract lambda (a checker such as the global
                # invariants): the rules its function's docstring cites.
                precise += [r for r in _doc_rules_at(root, where[0], where[1], known) if r not in precise]
    ob.rules = tuple(precise)
    ob.case_rules = () if precise else tuple(own)


# --- vectors and CrossHair ----------------------------------------------------------------------


def load_vectors(directory: Path) -> VectorData:
    index = json.loads((directory / "index.json").read_text(encoding="utf-8"))
    raw = index.get("cases", [])
    anchors = _unique_slugs([str(c.get("id", "")) for c in raw], "vec")
    cases = [
        VectorCase(
            id=str(c.get("id", "")),
            path=str(c.get("path", "")),
            rules=tuple(str(r) for r in c.get("rules", [])),
            description=str(c.get("description", "")),
            sha256=str(c.get("sha256", "")),
            source=str(c.get("source", "")),
            anchor=anchor,
        )
        for c, anchor in zip(raw, anchors, strict=True)
    ]
    return VectorData(str(index.get("format", "")), str(index.get("suite_version", "")), cases, directory)


def load_crosshair(path: Path) -> list[CrossHairCondition]:
    data = json.loads(path.read_text(encoding="utf-8"))
    entries = data.get("conditions", data.get("results", [])) if isinstance(data, dict) else data
    if not isinstance(entries, list):
        raise ValueError("expected a list of conditions")
    return [
        CrossHairCondition(
            target=str(e.get("target", "")),
            condition=str(e.get("condition", "")),
            status=str(e.get("status", "")),
            message=str(e.get("message", "") or ""),
        )
        for e in entries
        if isinstance(e, dict)
    ]


# --- all together -------------------------------------------------------------------------------


def build_catalog(
    root: Path,
    prove_json: Path | None = None,
    vectors_dir: Path | None = None,
    crosshair_json: Path | None = None,
) -> Catalog:
    """Read everything; a missing or unreadable data file leaves its part empty and is
    recorded in ``problems`` (the pages then say so)."""
    rules, chapters = read_rules(root)
    known = set(rules)
    files = python_files(root)
    citations, functions = read_citations(root, files, known)
    rules = _confirm_code(rules, functions)
    problems: list[str] = []
    modules: list[str] = []
    contracts = read_contracts(root, known, problems, modules)
    catalog = Catalog(
        root, rules, chapters, citations, contracts, functions, files, modules, problems=problems
    )
    if prove_json is not None and prove_json.is_file():
        try:
            catalog.prove = load_prove(prove_json, root, known, contracts, files)
        except (ValueError, KeyError, TypeError) as error:
            catalog.problems.append(f"{prove_json}: {error}")
    if vectors_dir is not None and (vectors_dir / "index.json").is_file():
        try:
            catalog.vectors = load_vectors(vectors_dir)
        except (ValueError, KeyError, TypeError) as error:
            catalog.problems.append(f"{vectors_dir}/index.json: {error}")
    if crosshair_json is not None and crosshair_json.is_file():
        try:
            catalog.crosshair = load_crosshair(crosshair_json)
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            catalog.problems.append(f"{crosshair_json}: {error}")
    return catalog
