"""Recording the test suite's transitions as vector inputs (spec: vectors.md, VEC-1).

Like the consensus-specs generators, which run the spec's own tests in
"generator mode", every ``apply`` the unit and stateful tests make can be kept
as a case: the pre-state, the action and the outcome the test saw. Only the
*inputs* are stored (``corpus/tests.jsonl.gz``, committed); the generator
recomputes every expectation with the reference and checks that the outcome
is still the one the test saw, so a stale corpus fails loudly instead of
drifting.

Re-record after changing the model or the tests::

    CLEARSPEC_RECORD_VECTORS=model/clearspec_tools/vectors/corpus/tests.jsonl.gz \\
        .venv/bin/python -m pytest tests -q -p no:randomly -k "not prove and not proofs and not static"
    .venv/bin/python -m clearspec_tools.vectors.prune

(the second step drops what tests that plant a broken model recorded: see
``clearspec_tools.vectors.prune``).
"""

from __future__ import annotations

import gzip
import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from clearspec.actions import Action
from clearspec.errors import ClearingError
from clearspec.state import Ledger
from clearspec_tools.vectors.codec import (
    canonical_bytes,
    decode_state,
    digest,
    encode_action,
    encode_params,
    encode_state,
)

CORPUS = Path(__file__).parent / "corpus" / "tests.jsonl.gz"
# Per test and per (action type, outcome): enough to keep every distinct
# situation a test sets up without storing the thousands of identical setup
# deposits a stateful run makes.
PER_KIND_PER_TEST = 4


class Recorder:
    """Wraps ``clearspec.transition.apply`` and keeps what it sees."""

    def __init__(self) -> None:
        self.source = "unknown"
        self.records: dict[str, dict[str, Any]] = {}
        self.params: dict[str, Any] = {}
        self.skipped: Counter[str] = Counter()
        self._kinds: Counter[tuple[str, str, str]] = Counter()
        self._depth = 0

    def install(self) -> None:
        """Patch the one entry point (STA-1) wherever it was re-exported."""
        import clearspec
        import clearspec.transition as transition

        original: Callable[[Ledger, Action], Ledger] = transition.apply

        def recording_apply(ledger: Ledger, action: Action) -> Ledger:
            self._depth += 1
            try:
                result = original(ledger, action)
            except ClearingError as error:
                if self._depth == 1:
                    self.keep(ledger, action, error.code.value)
                raise
            finally:
                self._depth -= 1
            if self._depth == 0:
                self.keep(ledger, action, None)
            return result

        transition.apply = recording_apply
        clearspec.apply = recording_apply

    def keep(self, ledger: Ledger, action: Action, outcome: str | None) -> None:
        """Store one transition's inputs, if they travel on the wire exactly."""
        try:
            params = encode_params(ledger.params)
            state = encode_state(ledger)
            raw_action = encode_action(action)
            if encode_state(decode_state(json.loads(json.dumps(state)), ledger.params)) != state:
                raise ValueError("state does not round-trip")
        except Exception as error:
            # A hand-built ledger the wire cannot express (a zero-size position),
            # or a symbolic one from the prover's tests.
            self.skipped[type(error).__name__] += 1
            return
        kind = (self.source, raw_action["type"], outcome or "accepted")
        if self._kinds[kind] >= PER_KIND_PER_TEST:
            return
        params_digest = digest(params)
        record = {
            "source": self.source,
            "params": params_digest,
            "pre_state": state,
            "action": raw_action,
            "outcome": outcome,
        }
        key = digest([params_digest, state, raw_action])
        if key in self.records:
            return
        self._kinds[kind] += 1
        self.params[params_digest] = params
        self.records[key] = record

    def write(self, path: Path) -> int:
        """Write the corpus (see :func:`write_corpus`)."""
        write_corpus(path, self.params, list(self.records.values()))
        return len(self.records)


def write_corpus(path: Path, params: dict[str, Any], records: list[dict[str, Any]]) -> None:
    """Write a corpus deterministically: the parameter sets the records name,
    then the records sorted by their key (a record once), gzip without a timestamp."""
    used = {record["params"] for record in records}
    by_key = {digest([r["params"], r["pre_state"], r["action"]]): r for r in records}
    lines = [canonical_bytes({"params": {key: value for key, value in params.items() if key in used}})]
    lines += [canonical_bytes(by_key[key]) for key in sorted(by_key)]
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as out:
        out.write(b"\n".join(lines) + b"\n")


def read_corpus(path: Path = CORPUS) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The parameter sets (by digest) and the recorded transitions of a corpus."""
    if not path.exists():
        return {}, []
    with gzip.open(path, "rb") as stream:
        lines = stream.read().splitlines()
    head = json.loads(lines[0])
    return head["params"], [json.loads(line) for line in lines[1:]]
