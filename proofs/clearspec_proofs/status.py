"""The status an obligation ends with (spec/proofs.md, "Statuses").

A ``StrEnum``: each member is its own text, so the JSON output, the report
and the comparisons with the text of an older run's file are unchanged.
"""

from __future__ import annotations

import enum


class Status(enum.StrEnum):
    """How one obligation ended. Only PROVED and NOT_APPLICABLE pass (PRF-1)."""

    PROVED = "proved"
    COUNTEREXAMPLE = "counterexample"
    UNKNOWN = "unknown"
    # A transition the parameter set cannot form (a role it needs is missing,
    # roles.Role): not a failure, reported with the reason.
    NOT_APPLICABLE = "not applicable"


# The statuses a run may end with and still pass (exit status 0).
PASSING = frozenset({Status.PROVED, Status.NOT_APPLICABLE})
