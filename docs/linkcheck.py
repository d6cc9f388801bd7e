"""Check every internal link of a built HTML site: the file it points to exists and,
when it names an anchor, that file has an element with that id.

    python docs/linkcheck.py docs/_build/html

Prints one line per broken link (``page: href: reason``) and exits 1 if there is
any, 0 otherwise. External links (with a scheme, or ``//host``) are not followed:
the site must read offline.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

LINK_ATTRIBUTES = {
    "a": "href",
    "link": "href",
    "img": "src",
    "script": "src",
    "iframe": "src",
    "source": "src",
}


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.ids: set[str] = set()
        self.links: list[tuple[str, int]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        for key in ("id", "name") if tag == "a" else ("id",):
            value = values.get(key)
            if value:
                self.ids.add(value)
        wanted = LINK_ATTRIBUTES.get(tag)
        if wanted and values.get(wanted):
            self.links.append((str(values[wanted]), self.getpos()[0]))


@dataclass(frozen=True)
class Broken:
    page: str
    line: int
    href: str
    reason: str

    def __str__(self) -> str:
        return f"{self.page}:{self.line}: {self.href}: {self.reason}"


def _parse(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8", errors="replace"))
    page.close()
    return page


def _external(href: str) -> bool:
    parts = urlsplit(href)
    return bool(parts.scheme) or href.startswith("//")


def check_site(root: Path, pages: Iterable[Path] | None = None) -> tuple[list[Broken], int]:
    """Every broken internal link under ``root`` (or in ``pages``), and how many links were checked."""
    root = root.resolve()
    files = sorted(pages) if pages is not None else sorted(root.rglob("*.html"))
    parsed: dict[Path, _Page] = {}

    def page_of(path: Path) -> _Page:
        if path not in parsed:
            parsed[path] = _parse(path)
        return parsed[path]

    broken: list[Broken] = []
    checked = 0
    for path in files:
        page = page_of(path)
        shown = str(path.relative_to(root)) if path.is_relative_to(root) else str(path)
        for href, line in page.links:
            if _external(href) or href.startswith(("mailto:", "javascript:", "data:")):
                continue
            checked += 1
            parts = urlsplit(href)
            target = path if not parts.path else (path.parent / unquote(parts.path)).resolve()
            if target.is_dir():
                target = target / "index.html"
            if not target.exists():
                broken.append(Broken(shown, line, href, "no such file"))
                continue
            if not target.is_relative_to(root):
                broken.append(Broken(shown, line, href, "points outside the site"))
                continue
            fragment = unquote(parts.fragment)
            if fragment and target.suffix == ".html" and fragment not in page_of(target).ids:
                broken.append(Broken(shown, line, href, f"no element with id {fragment!r}"))
    return broken, checked


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("site", type=Path, help="the folder of the built HTML (docs/_build/html)")
    args = parser.parse_args(argv)
    if not (args.site / "index.html").is_file():
        print(f"linkcheck: {args.site} has no index.html: build the site first", file=sys.stderr)
        return 2
    broken, checked = check_site(args.site)
    for item in broken:
        print(item)
    print(f"linkcheck: {checked} internal links checked, {len(broken)} broken", file=sys.stderr)
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
