"""PRF-4 end to end: a model that branches in Python on a symbolic value is refused.

A copy of the model gets a planted tuple comparison in COL-1's amount check.
Concretely it is the same check; traced, Python answers ``amount == 0`` by
syntactic identity, so without the guard the trace would quietly hold the
check it happens to produce. ``clearspec prove`` on the copy must not prove
it: the obligation is not proved, the exit status is 1, and the message names
the planted file and line, with no traceback.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from clearspec_proofs import mutation
from clearspec_proofs.mutants import Mutant

SOURCE = mutation.find_source(Path(__file__))
CHECK = "k.require(amount > 0, ErrorCode.NON_POSITIVE_AMOUNT, str(amount))"
PLANTED = Mutant(
    "T01-tuple-comparison",
    "collateral.py",
    CHECK,
    "k.require((amount, 0) > (0, 0), ErrorCode.NON_POSITIVE_AMOUNT, str(amount))",
    "tracing",
    ("deposit-quote",),
    "a tuple comparison on a symbolic amount decides its first element in Python",
)


def test_prf4_a_planted_tuple_comparison_is_refused_with_its_line(tmp_path: Path) -> None:
    target = mutation.make_copy(PLANTED, SOURCE, tmp_path)
    line = next(n for n, text in enumerate(target.read_text().splitlines(), 1) if PLANTED.replacement in text)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path / "model"), str(tmp_path / "proofs")]))
    command = ["prove", "--only", "deposit-quote", "--workers", "1", "--quiet"]
    done = subprocess.run(
        [sys.executable, "-m", "clearspec.cli", *command],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    refused = [row for row in done.stdout.splitlines() if "refused" in row]
    assert len(refused) == 1, done.stdout
    assert f"clearspec/collateral.py:{line} (in _check_amount)" in refused[0]
    assert "UNKNOWN: deposit-quote/acceptance/can be accepted (PRF-4)" in done.stdout
    assert "0 of 1 proved" in done.stdout  # nothing of the refused trace stands
