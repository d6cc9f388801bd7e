"""The documentation site (docs/): it builds with warnings as errors, every rule has an
anchor and a hub whose links work, the API shows the contracts, the proof report shows
every obligation, and the link checker fails on a broken link.

The site is built once, with ``docs/build.py --fast``: a proof result of a few
obligations made here (``clearspec prove --only deposit``) and a two-case vector
suite made here stand in for the full ones, which ``python docs/build.py`` produces.
"""

from __future__ import annotations

import ast
import hashlib
import importlib
import json
import os
import re
import shutil
import subprocess
import sys
from html import unescape
from html.parser import HTMLParser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
RULE = re.compile(r"^\(([A-Z]{2,5}-\d+)\)=[ \t]*\n#{1,6} \1 ", re.MULTILINE)
CODE_LINE = re.compile(r"^Code:", re.MULTILINE)


def spec_rules() -> dict[str, str]:
    """Rule id -> chapter stem, read from spec/*.md independently of the extension."""
    found: dict[str, str] = {}
    for chapter in sorted((ROOT / "spec").glob("*.md")):
        for rid in RULE.findall(chapter.read_text(encoding="utf-8")):
            found[rid] = chapter.stem
    return found


class Links(HTMLParser):
    """The ids and the links (href, enclosing ids) of one page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.ids: set[str] = set()
        self.links: list[tuple[str, tuple[str, ...]]] = []
        self.stack: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        ident = values.get("id")
        if ident:
            self.ids.add(ident)
        if tag not in ("br", "img", "link", "meta", "input", "hr", "source", "wbr"):
            self.stack.append((tag, ident))
        if tag == "a" and values.get("href"):
            self.links.append((str(values["href"]), tuple(i for _, i in self.stack if i)))

    def handle_endtag(self, tag: str) -> None:
        for index in range(len(self.stack) - 1, -1, -1):
            if self.stack[index][0] == tag:
                del self.stack[index:]
                break


def parse(path: Path) -> Links:
    page = Links()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def _vector_suite(folder: Path) -> None:
    """A two-case suite in the index.json format of spec/vectors.md (VEC-1)."""
    cases = []
    for name, rules in (("deposit-accepted", ["COL-3"]), ("withdraw-too-much", ["COL-4", "ERR-1"])):
        path = f"cases/collateral/{name}.json"
        body = json.dumps(
            {"format": "clearspec-vector/1", "id": f"collateral/{name}", "rules": rules}
        ).encode()
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        (folder / path).write_bytes(body)
        cases.append(
            {
                "id": f"collateral/{name}",
                "path": path,
                "rules": rules,
                "description": f"the {name} case",
                "source": "scenario",
                "sha256": hashlib.sha256(body).hexdigest(),
            }
        )
    index = {"format": "clearspec-vectors/1", "suite_version": "0.3.0", "count": 2, "cases": cases}
    (folder / "index.json").write_text(json.dumps(index))


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, object], str]:
    work = tmp_path_factory.mktemp("docs")
    prove = work / "prove.json"
    with prove.open("w") as out:
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "clearspec_tools.cli",
                "prove",
                "--json",
                "--only",
                "deposit",
                "--workers",
                "1",
                "--quiet",
                "--counterexamples",
                str(work / "cx"),
            ],
            stdout=out,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
    assert done.returncode == 0, done.stderr
    vectors = work / "vectors"
    _vector_suite(vectors)
    build = subprocess.run(
        [
            sys.executable,
            str(DOCS / "build.py"),
            "--fast",
            "--no-crosshair",
            "--prove-json",
            str(prove),
            "--vectors",
            str(vectors),
            "--data",
            str(work / "data"),
            "--out",
            str(work / "html"),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert build.returncode == 0, build.stdout[-4000:] + build.stderr[-4000:]
    return work / "html", json.loads(prove.read_text()), build.stderr


def test_build_is_clean_and_links_checked(built: tuple[Path, dict[str, object], str]) -> None:
    site, _, log = built
    assert (site / "index.html").is_file()
    checked = re.search(r"(\d+) internal links checked, 0 broken", log)
    assert checked is not None, log[-2000:]
    assert int(checked.group(1)) > 1000


def test_every_spec_chapter_is_in_the_site(built: tuple[Path, dict[str, object], str]) -> None:
    """A chapter added to spec/ appears without an edit of any index (the toctree is completed)."""
    site, _, _ = built
    index = parse(site / "spec" / "index.html")
    linked = {href.split("#")[0] for href, _ in index.links}
    for chapter in sorted((ROOT / "spec").glob("*.md")):
        if chapter.stem == "index":
            continue
        assert (site / "spec" / f"{chapter.stem}.html").is_file(), chapter.name
        assert f"{chapter.stem}.html" in linked, f"spec/index.html does not list {chapter.name}"


def _resolve(page: Path, href: str) -> tuple[Path, str]:
    path, _, fragment = href.partition("#")
    return ((page.parent / path).resolve() if path else page), fragment


def test_every_rule_has_an_anchor_and_a_hub_with_working_links(
    built: tuple[Path, dict[str, object], str],
) -> None:
    site, _, _ = built
    rules = spec_rules()
    assert len(rules) > 50
    pages: dict[Path, Links] = {}

    def page_of(path: Path) -> Links:
        if path not in pages:
            pages[path] = parse(path)
        return pages[path]

    for rid, chapter in rules.items():
        path = site / "spec" / f"{chapter}.html"
        page = page_of(path)
        label = rid.lower()
        assert label in page.ids, f"{rid}: no anchor #{label} in {path.name}"
        assert f"{label}-hub" in page.ids, f"{rid}: no hub"
        hub_links = [href for href, inside in page.links if f"{label}-hub" in inside]
        assert hub_links, f"{rid}: its hub has no link"
        for href in hub_links:
            target, fragment = _resolve(path, href)
            assert target.is_file(), f"{rid}: {href} points to no file"
            if fragment and target.suffix == ".html":
                assert fragment in page_of(target).ids, f"{rid}: {href} points to no anchor"
        text = (ROOT / "spec" / f"{chapter}.md").read_text(encoding="utf-8")
        section = text.split(f"({rid})=", 1)[1].split("\n(", 1)[0]
        if CODE_LINE.search(section):
            code = [h for h in hub_links if "_generated/api/" in h or "_generated/source/" in h]
            assert code, f"{rid} names its code, but its hub links to none"


def test_hubs_link_proofs_and_vectors(built: tuple[Path, dict[str, object], str]) -> None:
    """COL-3 is proved by the deposit transitions and named by a vector case: its hub links
    to the proof report's rows of exactly those obligations, and to the case."""
    site, prove, _ = built
    page = parse(site / "spec" / "collateral.html")
    hub = [href for href, inside in page.links if "col-3-hub" in inside]
    obligations = prove["obligations"]
    assert isinstance(obligations, list)
    expected = {o["id"] for o in obligations if o["rule"] == "COL-3"}
    assert expected
    report = parse(site / "proof-report.html")
    linked_rows = {h.split("#")[1] for h in hub if h.startswith("../proof-report.html#ob-")}
    assert len(linked_rows) >= len(expected)
    assert linked_rows <= report.ids
    case = [h for h in hub if h.endswith("#vec-collateral-deposit-accepted")]
    assert case, "COL-3's hub does not link the case that names it"
    target, fragment = _resolve(site / "spec" / "collateral.html", case[0])
    assert fragment in parse(target).ids
    col5 = [href for href, inside in page.links if "col-5-hub" in inside]
    assert not any("#vec-" in h for h in col5), "COL-5 has no case, its hub must not link one"


def test_proof_report_shows_every_obligation(built: tuple[Path, dict[str, object], str]) -> None:
    site, prove, _ = built
    html = (site / "proof-report.html").read_text(encoding="utf-8")
    rows = re.findall(r'<tr[^>]* id="(ob-[^"]+)"', html)
    obligations = prove["obligations"]
    assert isinstance(obligations, list)
    assert len(rows) == len(set(rows)) == len(obligations)
    text = unescape(re.sub(r"<[^>]+>", "", html))
    for ob in obligations:
        assert ob["invariant"] in text, ob["id"]
    assert f"{len(obligations)} of {len(obligations)} obligations proved" in html
    # What this build was not given, the page says in words.
    assert "No CrossHair results were provided to this build" in html
    assert "No safe-region plot was provided to this build" in html


def _contracts_of(module: str, function: str) -> int:
    env = {**os.environ, "CLEARSPEC_SLOW_CHECKS": "1"}
    code = (
        "import icontract._checkers as c, importlib, sys\n"
        f"f = getattr(importlib.import_module({module!r}), {function!r})\n"
        "ch = c.find_checker(f)\n"
        "print(sum(len(g) for g in ch.__preconditions__) + len(ch.__postconditions__))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT, check=True
    )
    return int(done.stdout)


def test_api_shows_every_contract_of_a_function(built: tuple[Path, dict[str, object], str]) -> None:
    site, _, _ = built
    html = (site / "_generated" / "api" / "model" / "clearspec.liquidation.html").read_text(encoding="utf-8")
    for function in ("insurance_fund_delta", "bankruptcy_quote", "liquidate"):
        start = html.index(f'id="clearspec.liquidation.{function}"')
        end = html.find('<dt class="sig', start + 1)
        entry = html[start : end if end > 0 else len(html)]
        shown = entry.count('class="cs-contract"')
        assert shown == _contracts_of("clearspec.liquidation", function) > 0, function
        assert "cs-badge cs-post" in entry
    # The kernel's helpers are shown as the operators they stand for.
    assert "⇒" in html and "k.implies" not in html.split("as written in Python")[0]


def test_conditions_render_as_formulas() -> None:
    sys.path.insert(0, str(DOCS / "_ext"))
    try:
        conditions = importlib.import_module("clearspec_docs.conditions")
    finally:
        sys.path.remove(str(DOCS / "_ext"))

    def render(source: str) -> str:
        node = ast.parse(source, mode="eval").body
        return str(conditions.readable_condition(node))

    assert render("k.holds(k.implies(a <= b, r == a - b))") == "a ≤ b ⇒ r = a − b"  # noqa: RUF001
    assert render("not _concrete(result) or 0 <= result < divisor") == "0 ≤ result < divisor"
    assert render("k.div_floor(a * b, d) >= k.max_(x, 0)") == "⌊a · b / d⌋ ≥ max(x, 0)"
    assert render("k.and_(a, k.or_(b, c))") == "a ∧ (b ∨ c)"  # noqa: RUF001
    assert render("(a - (b - c)) == k.abs_(d)") == "a − (b − c) = |d|"  # noqa: RUF001


def test_link_checker_fails_on_a_broken_link(
    built: tuple[Path, dict[str, object], str], tmp_path: Path
) -> None:
    """Remove one rule's anchor from a copy of the built site: the checker must name the
    links that pointed to it, and exit 1."""
    site, _, _ = built
    copy = tmp_path / "html"
    shutil.copytree(site, copy)
    page = copy / "spec" / "collateral.html"
    page.write_text(
        page.read_text(encoding="utf-8").replace('id="col-4"', 'id="col-4-gone"'), encoding="utf-8"
    )
    (copy / "overview.html").unlink()
    done = subprocess.run(
        [sys.executable, str(DOCS / "linkcheck.py"), str(copy)], capture_output=True, text=True
    )
    assert done.returncode == 1
    assert "#col-4: no element with id 'col-4'" in done.stdout
    assert "overview.html: no such file" in done.stdout
    intact = subprocess.run(
        [sys.executable, str(DOCS / "linkcheck.py"), str(site)], capture_output=True, text=True
    )
    assert intact.returncode == 0, intact.stdout[-2000:]
