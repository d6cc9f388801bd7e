"""Tests run with the slow, global invariant checks on (INV-1..INV-5 after every action)."""

from collections.abc import Iterator

import pytest

from clearspec.invariants import set_slow_checks, slow_checks


@pytest.fixture(autouse=True)
def _slow_invariant_checks() -> Iterator[None]:
    previous = slow_checks()
    set_slow_checks(True)
    yield
    set_slow_checks(previous)
