"""Tests run with the slow, global invariant checks on (INV-1..INV-5 after every action)."""

import os
from collections.abc import Iterator

# Before clearspec is imported: the kernel's contracts are enabled at import time.
os.environ.setdefault("CLEARSPEC_SLOW_CHECKS", "1")
# No proof cache: tests never write into the user's home, and CI starts cold, so
# no test may pass only thanks to a warm cache. Cache tests name a tmp_path.
os.environ["CLEARSPEC_PROOF_CACHE"] = "off"
# Counterexamples carry a conformance case's inputs as under `clearspec prove`,
# which names the codec the prover loads (clearspec_proofs.counterexample).
os.environ["CLEARSPEC_VECTOR_CODEC"] = "clearspec_tools.vectors.counterexample:counterexample_vector"

import pytest

from clearspec.invariants import set_slow_checks, slow_checks


@pytest.fixture(autouse=True)
def _slow_invariant_checks() -> Iterator[None]:
    previous = slow_checks()
    set_slow_checks(True)
    yield
    set_slow_checks(previous)


# Generator mode (spec: vectors.md, VEC-1): with CLEARSPEC_RECORD_VECTORS=FILE,
# every transition the tests make is kept as a vector input (see
# clearspec_tools.vectors.record for the command).
_RECORD_TO = os.environ.get("CLEARSPEC_RECORD_VECTORS")
if _RECORD_TO:
    from pathlib import Path

    from clearspec_tools.vectors.record import Recorder

    _RECORDER = Recorder()
    _RECORDER.install()

    def pytest_runtest_setup(item: pytest.Item) -> None:
        _RECORDER.source = item.nodeid

    def pytest_sessionfinish(session: pytest.Session) -> None:
        count = _RECORDER.write(Path(str(_RECORD_TO)))
        print(f"\nrecorded {count} transitions to {_RECORD_TO}; skipped {dict(_RECORDER.skipped)}")
