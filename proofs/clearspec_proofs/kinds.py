"""The kinds of obligation, as data (spec/proofs.md, "The kinds of obligation").

Per kind: the rule it proves, where it runs when a transition's obligations
are split into slices (runner.SLICES), whether its proofs may rest on the
acceptance obligation of another slice (PRF-1 across slices), and its meaning
in one line. ``engine._check_case`` reads the placement from here, and
``tests/test_proofs_rules.py`` checks that spec/proofs.md lists these kinds.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Placement(enum.StrEnum):
    """Which slices of a transition run a kind's obligations."""

    SPREAD = "spread over the slices"
    FIRST = "the first slice"
    # The second (the first carries acceptance); the first when there is one slice.
    SECOND = "the second slice"
    LAST = "the last slice"
    OWN = "its own unit"  # lemmas and theorems: no transition

    def runs_in(self, index: int, parts: int) -> bool:
        """Whether slice ``index`` of ``parts`` runs this kind (SPREAD: every
        slice runs its share, chosen by position)."""
        if self is Placement.SPREAD:
            return True
        if self is Placement.FIRST:
            return index == 0
        if self is Placement.SECOND:
            return index == 1 % parts
        if self is Placement.LAST:
            return index == parts - 1
        return False


@dataclass(frozen=True)
class Kind:
    """One kind of obligation."""

    name: str
    rule: str  # the rule that asks for it (an obligation may name a finer one)
    placement: Placement
    # A proof of this kind in a slice other than the first may rest on the
    # acceptance obligation for its hypotheses' satisfiability; the other kinds
    # show their own witness (or have no transition).
    relies_on_acceptance: bool
    meaning: str


KINDS: dict[str, Kind] = {
    kind.name: kind
    for kind in (
        Kind(
            "inductive",
            "PRF-1",
            Placement.SPREAD,
            True,
            "each invariant holds after the action, given every invariant before",
        ),
        Kind(
            "delta-sum",
            "INV-1",
            Placement.SPREAD,
            True,
            "local conservation and zero-sum over the touched accounts, for a ledger of any size",
        ),
        Kind(
            "frame", "INV-5", Placement.SPREAD, True, "every account the action does not touch is unchanged"
        ),
        Kind(
            "effect",
            "PRF-1",
            Placement.SPREAD,
            True,
            "the accepted action's result is the ledger the spec's effect statements describe",
        ),
        Kind(
            "contract",
            "PRF-1",
            Placement.SPREAD,
            True,
            "every pre- and postcondition the run evaluated on symbolic values holds",
        ),
        Kind(
            "rejection",
            "ERR-1",
            Placement.SECOND,
            False,
            "each check, failing first, rejects with its code and leaves the ledger unchanged",
        ),
        Kind(
            "precondition",
            "ERR-1",
            Placement.LAST,
            False,
            "the model's checks are the spec's list of checks, in the spec's order",
        ),
        Kind(
            "acceptance",
            "PRF-1",
            Placement.FIRST,
            False,
            "some state accepts the action: the hypotheses of the other kinds are satisfiable",
        ),
        Kind("lemma", "PRF-1", Placement.OWN, False, "a fact about model functions on free integers"),
        Kind(
            "theorem", "PRF-1", Placement.OWN, False, "a lemma that is a theorem of the spec (ORA-8, PAR-5)"
        ),
    )
}

# The rejection of a case the spec always refuses (never accepted) asks the
# acceptance obligation's question (is any state accepted?): it runs with it.
NEVER_ACCEPTED = KINDS["acceptance"].placement


def relies_on_acceptance(kind: str, proved: bool, shown_elsewhere: bool) -> bool:
    """PRF-1 across slices: a proof of a kind that may rest on the acceptance
    obligation, made under hypotheses another slice shows satisfiable."""
    return proved and shown_elsewhere and KINDS[kind].relies_on_acceptance
