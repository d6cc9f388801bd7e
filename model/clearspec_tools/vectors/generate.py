"""``clearspec vectors generate``: the conformance suite (spec: vectors.md, VEC-1).

Every case is drafted from inputs only (parameters, pre-state, actions) and
what the draft *means* to probe (per step: accepted, or the one code it must be
rejected with); the reference then answers it and the generator refuses to
write a case whose answer is not what the draft intends, so no case passes for
the wrong reason. Drafts come from five sources:

* ``unit/``: every situation the unit and stateful tests set up (recorded
  inputs, ``corpus/tests.jsonl.gz``, see :mod:`clearspec_tools.vectors.record`);
* ``scenario/``: the built-in scenarios, whole and from every step on;
* ``boundary/``: thresholds met exactly and missed by one unit, zero, one unit,
  the largest amounts, negative operands;
* ``wire/``: malformed input, one flaw per case;
* ``walk/``: seeded random walks through every transition;
* ``counterexample/``: every counterexample the prover has found
  (``corpus/counterexamples/*.json``).

Output is deterministic: sorted ids, sorted keys, no timestamps.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clearspec.actions import Action
from clearspec.state import Ledger
from clearspec.transition import step
from clearspec_tools.examples import crash_scenario, example_genesis, example_scenario
from clearspec_tools.vectors.case import FORMAT, SUITE_VERSION, ParamsCache, answer
from clearspec_tools.vectors.codec import digest, encode_action, encode_params, encode_state
from clearspec_tools.vectors.record import CORPUS, read_corpus
from clearspec_tools.vectors.rules import ERROR_RULES, rule_sort_key, rules_of

INDEX_FORMAT = "clearspec-vectors/1"
WALKS = 1_500
WALK_LENGTH = 6
SCHEMA = Path(__file__).parent / "schema" / "case.schema.json"
COUNTEREXAMPLES = Path(__file__).parent / "corpus" / "counterexamples"

Progress = Callable[[int, int], None]


class GeneratorError(Exception):
    """A draft whose reference answer is not what it intends: a bug in the catalogue."""


@dataclass(frozen=True)
class Draft:
    """A case before the reference has answered it."""

    id: str
    description: str
    source: str
    params: Any
    pre_state: Any
    actions: tuple[Any, ...]
    # Per step: None for "accepted", a code for "rejected with it"; None as a
    # whole: no intent (random walks), every answer is kept.
    intended: tuple[str | None, ...] | None = None
    # For a case whose params or pre-state must be refused: the code.
    case_error: str | None = None
    extra_rules: tuple[str, ...] = ()


def draft_from(
    id_: str,
    description: str,
    source: str,
    ledger: Ledger,
    actions: list[Action] | tuple[Action, ...],
    intended: tuple[str | None, ...] | None = None,
    extra_rules: tuple[str, ...] = (),
) -> Draft:
    """A draft from model objects."""
    return Draft(
        id_,
        description,
        source,
        encode_params(ledger.params),
        encode_state(ledger),
        tuple(encode_action(a) for a in actions),
        intended,
        None,
        extra_rules,
    )


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60]


# --- sources ------------------------------------------------------------------------------


def unit_drafts(corpus: Path = CORPUS) -> Iterator[Draft]:
    """The recorded situations of the unit and stateful tests."""
    params, records = read_corpus(corpus)
    for record in records:
        source = record["source"]
        path, _, test = source.partition("::")
        outcome = record["outcome"]
        kind = record["action"]["type"]
        verdict = "accepted" if outcome is None else f"rejected with {outcome}"
        key = digest([record["params"], record["pre_state"], record["action"]])[:12]
        yield Draft(
            id=f"unit/{Path(path).stem}/{_slug(test)}/{kind}-{_slug(outcome or 'accepted')}-{key}",
            description=f"{kind} {verdict}, as in {source}",
            source=f"test:{source}",
            params=params[record["params"]],
            pre_state=record["pre_state"],
            actions=(record["action"],),
            intended=(outcome,),
        )


def scenario_drafts() -> Iterator[Draft]:
    """The built-in scenarios, whole and from every step on (each suffix is a case)."""
    for name, actions in (("basic", example_scenario()), ("crash", crash_scenario())):
        ledger = example_genesis()
        for start in range(len(actions)):
            rest = actions[start:]
            yield draft_from(
                f"scenario/{name}/from-step-{start:02d}",
                f"the {name} scenario (clearspec example --scenario {name}) from step {start} on",
                f"scenario:{name}",
                ledger,
                rest,
            )
            ledger = step(ledger, actions[start]).ledger


def walk_drafts(count: int = WALKS) -> Iterator[Draft]:
    """Seeded random walks under each parameter variant."""
    from clearspec_tools.vectors.walks import variants, walk

    sets = variants()
    names = sorted(sets)
    for seed in range(count):
        name = names[seed % len(names)]
        pre, actions = walk(seed, sets[name], warmup=8 + seed % 40, length=WALK_LENGTH)
        yield draft_from(
            f"walk/{name}/{seed:05d}",
            f"random walk {seed} under the {name} parameters: {WALK_LENGTH} actions after {8 + seed % 40}",
            f"walk:{seed}",
            pre,
            actions,
        )


def counterexample_drafts(folder: Path = COUNTEREXAMPLES) -> Iterator[Draft]:
    """Prover counterexamples kept as regression cases (their inputs; the
    reference answers them anew)."""
    for path in sorted(folder.glob("*.json")):
        data = json.loads(path.read_text())
        if "pre_state" not in data:
            continue  # a counterexample with no state to replay (a lemma's): not a case
        yield Draft(
            id=f"counterexample/{path.stem}",
            description=data["description"],
            source=data["source"],
            params=data["params"],
            pre_state=data["pre_state"],
            actions=tuple(data["actions"]),
            extra_rules=("PRF-1", "PRF-2", "PRF-4", *data.get("rules", [])),
        )


def all_drafts(walks: int = WALKS) -> Iterator[Draft]:
    """Every draft of the suite, source by source."""
    from clearspec_tools.vectors.boundaries import boundary_drafts
    from clearspec_tools.vectors.wire import wire_drafts

    yield from unit_drafts()
    yield from scenario_drafts()
    yield from boundary_drafts()
    yield from wire_drafts()
    yield from counterexample_drafts()
    yield from walk_drafts(walks)


# --- answering and writing ----------------------------------------------------------------


def build_case(draft: Draft, cache: ParamsCache) -> dict[str, Any]:
    """The case file's content: the draft answered by the reference, checked
    against what it intends."""
    request = {
        "id": draft.id,
        "params": draft.params,
        "pre_state": draft.pre_state,
        "actions": list(draft.actions),
    }
    reply = answer(request, cache)
    case: dict[str, Any] = {
        "format": FORMAT,
        "suite_version": SUITE_VERSION,
        "id": draft.id,
        "description": draft.description,
        "source": draft.source,
        "params": draft.params,
        "pre_state": draft.pre_state,
    }
    if "error" in reply:
        if draft.case_error != reply["error"]:
            raise GeneratorError(f"{draft.id}: the reference refused the case with {reply['error']}")
        case.update(steps=[], expected_error=reply["error"])
        extra = ("VEC-2", "VEC-3", *ERROR_RULES.get(reply["error"], ()), *draft.extra_rules)
        case["rules"] = rules_of([], extra)
        return case
    if draft.case_error is not None:
        raise GeneratorError(f"{draft.id}: meant to be refused with {draft.case_error}, was accepted")
    results = reply["results"]
    if draft.intended is not None:
        got = tuple(None if r["accepted"] else r["error"] for r in results)
        if got != draft.intended:
            raise GeneratorError(f"{draft.id}: intended {draft.intended}, the reference answered {got}")
    case["pre_digest"] = digest(draft.pre_state)
    case["steps"] = [{"action": a, "expected": r} for a, r in zip(draft.actions, results, strict=True)]
    case["rules"] = rules_of(list(zip(draft.actions, results, strict=True)), draft.extra_rules)
    return case


def _file_bytes(case: dict[str, Any]) -> bytes:
    return (json.dumps(case, sort_keys=True, indent=1, ensure_ascii=True) + "\n").encode("ascii")


SUITE_ENTRIES = frozenset({"index.json", "bundle.jsonl", "cases", "schema"})


def check_replaceable(out: Path) -> None:
    """``out`` is empty or holds a previous suite and nothing else: its index, bundle,
    schema folder and only the case files its index lists. Anything else (a foreign
    file, a case file no index lists) raises :class:`GeneratorError` before a byte is
    deleted: the generator replaces a suite, never a folder someone else uses."""
    if not out.is_dir():
        return
    foreign = sorted(entry.name for entry in out.iterdir() if entry.name not in SUITE_ENTRIES)
    if foreign:
        raise GeneratorError(
            f"--out {out}: holds {', '.join(foreign[:5])}{' ...' if len(foreign) > 5 else ''}, "
            "which is not part of a suite: give an empty folder or a previous suite's"
        )
    cases = out / "cases"
    if not cases.exists():
        return
    index = out / "index.json"
    try:
        data = json.loads(index.read_bytes()) if index.is_file() else None
    except (OSError, ValueError, RecursionError):
        data = None
    listed = data.get("cases") if isinstance(data, dict) and data.get("format") == INDEX_FORMAT else None
    if not isinstance(listed, list):
        raise GeneratorError(f"--out {out}: has a cases/ folder but no suite index.json: not replacing it")
    known = {e.get("path") for e in listed if isinstance(e, dict)}
    for file in sorted(cases.rglob("*")):
        if file.is_dir():
            continue
        relative = file.relative_to(out).as_posix()
        if relative not in known or file.is_symlink():
            raise GeneratorError(
                f"--out {out}: {relative} is not a case of the suite there: not replacing it"
            )


def write_suite(out: Path, progress: Progress | None = None, walks: int = WALKS) -> int:
    """Write the whole suite under ``out`` (replacing what a previous run wrote);
    return the number of cases."""
    drafts = sorted(all_drafts(walks), key=lambda d: d.id)
    ids = [d.id for d in drafts]
    if len(set(ids)) != len(ids):
        duplicate = next(i for i in ids if ids.count(i) > 1)
        raise GeneratorError(f"two cases share the id {duplicate}")
    check_replaceable(out)
    cases_dir = out / "cases"
    if cases_dir.exists():
        shutil.rmtree(cases_dir)
    cache = ParamsCache()
    entries = []
    bundle = []
    for done, draft in enumerate(drafts, start=1):
        case = build_case(draft, cache)
        data = _file_bytes(case)
        relative = f"cases/{draft.id}.json"
        target = out / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        bundle.append(json.dumps(case, sort_keys=True, separators=(",", ":"), ensure_ascii=True))
        entries.append(
            {
                "id": draft.id,
                "path": relative,
                "rules": case["rules"],
                "description": draft.description,
                "source": draft.source,
                "sha256": hashlib.sha256(data).hexdigest(),
            }
        )
        if progress is not None and (done % 100 == 0 or done == len(drafts)):
            progress(done, len(drafts))
    index = {"format": INDEX_FORMAT, "suite_version": SUITE_VERSION, "count": len(entries), "cases": entries}
    (out / "index.json").write_text(json.dumps(index, sort_keys=True, indent=1) + "\n")
    (out / "bundle.jsonl").write_text("\n".join(bundle) + "\n")
    if SCHEMA.exists():
        (out / "schema").mkdir(exist_ok=True)
        shutil.copyfile(SCHEMA, out / "schema" / SCHEMA.name)
    return len(entries)


def rules_covered(index: dict[str, Any]) -> list[str]:
    """Every rule id some case of an index exercises."""
    return sorted({rule for entry in index["cases"] for rule in entry["rules"]}, key=rule_sort_key)
