"""``clearspec vectors confirm DIR``: are a suite's expectations the reference's? (spec: vectors.md, VEC-1)

``clearspec vectors validate`` checks a suite's files: the schema, the digests
of the states written in it, and the index's hashes. Those are all computed
from the suite itself, so a case whose expectation was edited and re-hashed
still validates. Confirming runs every case through the reference model this
package ships, in process, and compares each expected result (outcome, error
code, state and digest) with the reference's, the way ``vectors run`` compares
an implementation's. The suite must say it comes from this reference: its
``suite_version`` is the one this version generates.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from clearspec_tools.vectors.case import SUITE_VERSION, ParamsCache, answer
from clearspec_tools.vectors.compare import check_shape, expected_answer, first_difference
from clearspec_tools.vectors.protocol import ProtocolFailure
from clearspec_tools.vectors.runner import Suite


@dataclass
class Confirmation:
    """The cases that agree with the reference and a line for each that does not."""

    checked: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.checked > 0 and not self.problems


def confirm_suite(suite: Suite, progress: Callable[[int, int], None] | None = None) -> Confirmation:
    """Every case of ``suite`` through the reference; a problem per case that differs."""
    result = Confirmation()
    if suite.suite_version != SUITE_VERSION:
        result.problems.append(
            f"{suite.source}: suite_version {suite.suite_version!r}, this reference generates "
            f"{SUITE_VERSION!r}: confirm it with the clearspec release that made it"
        )
        return result
    cache = ParamsCache()
    for seq, case in enumerate(suite.cases):
        request = {
            "id": case["id"],
            "params": case["params"],
            "pre_state": case["pre_state"],
            "actions": [step["action"] for step in case["steps"]],
        }
        reply = {"seq": seq, **answer(request, cache)}
        result.checked += 1
        try:
            shaped = check_shape(reply, seq, len(case["steps"]))
        except ProtocolFailure as failure:
            result.problems.append(
                f"{case['id']}: the reference's answer does not fit the case: {failure.detail}"
            )
            continue
        difference = first_difference(expected_answer(case), shaped)
        if difference is not None:
            where = f"step {difference.step}: " if difference.step is not None else ""
            result.problems.append(
                f"{case['id']}: {where}expectation is not the reference's: {difference.summary()}"
            )
        if progress is not None and (seq + 1) % 500 == 0:
            progress(seq + 1, len(suite.cases))
    return result
