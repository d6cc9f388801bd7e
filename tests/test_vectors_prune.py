"""Pruning the recorded corpus: a record the reference answers otherwise (what
a test planting a broken model records) is dropped, every other one kept."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

from clearspec_tools.vectors.prune import prune
from clearspec_tools.vectors.record import CORPUS, read_corpus


def test_a_record_the_reference_answers_otherwise_is_dropped(tmp_path: Path) -> None:
    corpus = tmp_path / "tests.jsonl.gz"
    shutil.copy(CORPUS, corpus)
    params, records = read_corpus(corpus)
    accepted = next(i for i, r in enumerate(records) if r["outcome"] is None)
    planted = {"outcome": "INSUFFICIENT_BALANCE", "source": "tests/x.py::planted"}
    records[accepted] = {**records[accepted], **planted}
    lines = [json.dumps({"params": params}), *(json.dumps(r) for r in records)]
    with gzip.open(corpus, "wt") as out:
        out.write("\n".join(lines) + "\n")
    dropped = prune(corpus)
    assert dict(dropped) == {"tests/x.py::planted": 1}
    _, kept = read_corpus(corpus)
    assert len(kept) == len(records) - 1
    assert all(r["source"] != "tests/x.py::planted" for r in kept)
