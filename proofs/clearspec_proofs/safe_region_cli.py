"""``clearspec params safe``: registered by :mod:`clearspec.cli`."""

from __future__ import annotations

import argparse
from typing import Any


def add_commands(commands: argparse._SubParsersAction[Any]) -> None:
    """Add the ``params safe`` command (filled in by the safe-region work)."""
