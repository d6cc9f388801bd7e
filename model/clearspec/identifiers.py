"""The one grammar of identifiers (accounts, assets, feeds, markets, reporters):
what actions accept (STA-1), parameter sets require (PAR-2) and the conformance
codec enforces (VEC-3)."""

from __future__ import annotations

import re

IDENTIFIER = re.compile(r"[A-Za-z0-9._:-]{1,64}")
IDENTIFIER_TEXT = "1-64 of [A-Za-z0-9._:-]"


def is_identifier(value: object) -> bool:
    """True for a ``str`` of the grammar."""
    return type(value) is str and IDENTIFIER.fullmatch(value) is not None
