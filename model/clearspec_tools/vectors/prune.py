"""Dropping the recorded transitions the reference no longer agrees with.

Some tests plant a broken model on purpose (a counterexample must be found, a
mutant must be killed) and so record transitions that the reference refuses or
answers otherwise. After re-recording (``clearspec_tools.vectors.record``), run::

    .venv/bin/python -m clearspec_tools.vectors.prune

It keeps a record only when the reference gives the outcome the test saw, and
names the tests whose records it dropped; a test that drops records it should
keep is then visible here, not as a generator error.
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

from clearspec_tools.vectors.case import ParamsCache
from clearspec_tools.vectors.generate import GeneratorError, build_case, unit_drafts
from clearspec_tools.vectors.record import CORPUS, read_corpus, write_corpus


def prune(path: Path = CORPUS) -> Counter[str]:
    """Rewrite the corpus at ``path`` without the records the reference answers
    otherwise; return how many were dropped per test."""
    params, records = read_corpus(path)
    cache = ParamsCache()
    dropped: Counter[str] = Counter()
    kept = []
    # One draft per record, in the corpus's order.
    for record, draft in zip(records, unit_drafts(path), strict=True):
        try:
            build_case(draft, cache)
        except GeneratorError:
            dropped[record["source"]] += 1
            continue
        kept.append(record)
    write_corpus(path, params, kept)
    return dropped


def main() -> int:
    dropped = prune()
    for source, count in sorted(dropped.items()):
        print(f"dropped {count}: {source}")
    print(f"{sum(dropped.values())} record(s) dropped", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
