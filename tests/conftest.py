"""Tests run with the slow, global invariant checks on (INV-1..INV-5 after every action)."""

import os
from collections.abc import Iterator

# Before clearspec is imported: the kernel's contracts are enabled at import time.
os.environ.setdefault("CLEARSPEC_SLOW_CHECKS", "1")

import pytest

from clearspec.invariants import set_slow_checks, slow_checks


@pytest.fixture(autouse=True)
def _slow_invariant_checks() -> Iterator[None]:
    previous = slow_checks()
    set_slow_checks(True)
    yield
    set_slow_checks(previous)
