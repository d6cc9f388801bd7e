"""``clearspec vectors``: registered by :mod:`clearspec.cli`."""

from __future__ import annotations

import argparse
from typing import Any


def add_commands(commands: argparse._SubParsersAction[Any]) -> None:
    """Add the ``vectors`` command (filled in by the conformance-vector work)."""
