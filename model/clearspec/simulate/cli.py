"""``clearspec simulate``: registered by :mod:`clearspec.cli`."""

from __future__ import annotations

import argparse
from typing import Any


def add_commands(commands: argparse._SubParsersAction[Any]) -> None:
    """Add the ``simulate`` command (filled in by the crash-replay work)."""
