"""``clearspec prove``: every obligation of every transition, on all cores.

Workers are started with the ``spawn`` method and ``CLEARSPEC_SLOW_CHECKS=1``,
so each imports the model with every contract enabled and records every
contract condition as an obligation. A unit of work is one transition, or a
slice of a large transition's obligations, so the slow ones spread over cores.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from clearspec.params import ProtocolParams
from clearspec_proofs.status import Status

# Transitions whose obligations are split into this many slices (the slowest).
SLICES = {"liquidate": 4, "trade-buy": 2, "trade-sell": 2, "deleverage": 2, "withdraw-quote": 2}


@dataclass(frozen=True)
class Unit:
    """One piece of work for a worker."""

    case: str
    part: int
    parts: int


def units(only: str | None, params: ProtocolParams) -> list[Unit]:
    """The work for the transitions whose name contains ``only`` and that apply
    to ``params``, slowest first (the others: :func:`not_applicable`)."""
    from clearspec_proofs.transitions import CASES

    found = [
        Unit(case.name, part, SLICES.get(case.name, 1))
        for case in CASES
        if (only is None or only in case.name) and case.applies(params)
        for part in range(SLICES.get(case.name, 1))
    ]
    if only is None or "lemma".startswith(only):
        found.append(Unit("lemma", 0, 1))
    return sorted(found, key=lambda u: -SLICES.get(u.case, 1))


def not_applicable(only: str | None, params: ProtocolParams) -> list[dict[str, Any]]:
    """One ``not applicable`` row, with the reason, per transition whose name
    contains ``only`` and that ``params`` cannot form (a role it needs is missing)."""
    from clearspec_proofs.engine import not_applicable_result
    from clearspec_proofs.transitions import CASES

    rows = []
    for case in CASES:
        reason = case.not_applicable(params) if only is None or only in case.name else None
        if reason is not None:
            rows.append(not_applicable_result(case, reason).as_json())
    return rows


def _work(job: tuple[Unit, ProtocolParams, int, str | None, tuple[str, ...], bool]) -> list[dict[str, Any]]:
    unit, params, rlimit, goal_filter, invariant_modules, early = job
    from clearspec_proofs.engine import check_case, check_lemmas
    from clearspec_proofs.invariants import load_invariant_modules
    from clearspec_proofs.transitions import CASES

    # A spawned worker starts with only the built-in invariants: the designer's
    # modules register theirs again here.
    load_invariant_modules(invariant_modules)

    if unit.case == "lemma":
        return [r.as_json() for r in check_lemmas(params, rlimit, goal_filter)]

    case = next(c for c in CASES if c.name == unit.case)
    report = _report_counterexample if early else None
    results = check_case(
        case, params, rlimit, part=(unit.part, unit.parts), goal_filter=goal_filter, report=report
    )
    return [r.as_json() for r in results]


def _report_counterexample(result: Any) -> None:
    """A worker's progress line, written the moment a counterexample is found,
    not when its unit ends: a broken model is known as early as possible."""
    if result.status == Status.COUNTEREXAMPLE:
        confirmed = bool(result.counterexample and result.counterexample.get("confirmed"))
        what = "confirmed counterexample" if confirmed else "counterexample (not confirmed)"
        stderr_progress(f"  {what}: {result.id}")


def prove_all(
    params: ProtocolParams,
    only: str | None = None,
    workers: int | None = None,
    rlimit: int | None = None,
    progress: Callable[[str], None] | None = None,
    invariant_modules: tuple[str, ...] = (),
    cache: str | None = None,
) -> list[dict[str, Any]]:
    """Run every obligation whose transition or id contains ``only``, with the
    invariants that ``invariant_modules`` register added to the built-in ones.
    ``cache``: the proof cache's directory, or "off" (default: as
    ``CLEARSPEC_PROOF_CACHE`` says, else the user's cache directory)."""
    from clearspec_proofs.engine import DEFAULT_RLIMIT
    from clearspec_proofs.invariants import load_invariant_modules
    from clearspec_proofs.roles import resolve
    from clearspec_proofs.solver import CACHE_ENV

    load_invariant_modules(invariant_modules)  # fail here, not in every worker
    resolve(params)  # a set the world cannot be built for: INVALID_PARAMS here, not in a worker

    case_filter, goal_filter = _split_pattern(only)
    work = units(case_filter, params)
    skipped = not_applicable(case_filter, params)
    if not work and not skipped and goal_filter is None:
        work = units(None, params)
        goal_filter = only
    if goal_filter is not None:
        # A selection of obligations may leave out the acceptance obligation the
        # slices rely on (see withdraw_unsupported): each transition whole.
        work = [Unit(case, 0, 1) for case in dict.fromkeys(u.case for u in work)]
    early = progress is not None
    jobs = [(unit, params, rlimit or DEFAULT_RLIMIT, goal_filter, invariant_modules, early) for unit in work]
    count = workers or min(len(jobs), os.cpu_count() or 1) or 1
    os.environ["CLEARSPEC_SLOW_CHECKS"] = "1"
    if cache is not None:
        os.environ[CACHE_ENV] = cache  # read by every worker's solver
    # The solver's text is canonical whatever the seed (clearspec_proofs.solver);
    # a fixed seed keeps the rest of a run (progress order, detail texts) stable too.
    os.environ["PYTHONHASHSEED"] = "0"
    results: list[dict[str, Any]] = list(skipped)
    started = time.perf_counter()
    # A worker takes unit after unit: every query is solved in a fresh Z3 context
    # from its canonical text (clearspec_proofs.solver), so a unit's answers do not
    # depend on the units its worker ran before, and a worker imports Z3 and the
    # model once (what a re-prove from the cache mostly costs otherwise).
    for done, batch in enumerate(_run_jobs(jobs, count), start=1):
        results += batch
        if progress is not None:
            failed = sum(1 for r in batch if r["status"] != Status.PROVED)
            name = batch[0]["transition"] if batch else "-"
            progress(
                f"[{done}/{len(jobs)}] {name}: {len(batch)} obligations, {failed} not proved "
                f"({time.perf_counter() - started:.1f}s)"
            )
    withdraw_unsupported(results)
    return sorted(results, key=lambda r: (r["transition"], r["kind"], r["invariant"]))


def _run_jobs(jobs: list[Any], count: int) -> Iterator[list[dict[str, Any]]]:
    """The jobs on at most ``count`` spawned workers, each taking job after job;
    none started when there is no job (every selected case not applicable)."""
    if not jobs:
        return
    context = multiprocessing.get_context("spawn")
    with context.Pool(max(1, min(count, len(jobs)))) as pool:
        yield from pool.imap_unordered(_work, jobs)


def withdraw_unsupported(results: list[dict[str, Any]]) -> None:
    """PRF-1 across slices: a slice other than a transition's first does not show
    its hypotheses satisfiable again; the first does, as the obligation
    ``CASE/acceptance/can be accepted``. A proof that relied on it (its
    ``relies_on_acceptance`` field, not its detail text) stands only if that
    obligation is proved; otherwise it becomes ``unknown``."""
    accepted = {
        r["transition"] for r in results if r["kind"] == "acceptance" and r["status"] == Status.PROVED
    }
    for result in results:
        transition = result["transition"]
        relied = bool(result.get("relies_on_acceptance"))
        if result["status"] == Status.PROVED and relied and transition not in accepted:
            result["status"] = Status.UNKNOWN
            detail = result.get("detail") or ""
            result["detail"] = f"{detail}; but {transition}/acceptance/can be accepted is not proved"


def _split_pattern(only: str | None) -> tuple[str | None, str | None]:
    """``--only liquidate`` selects a transition; ``--only liquidate/inductive``
    also selects obligations whose id contains the whole pattern."""
    if only is None:
        return None, None
    if "/" in only:
        return only.split("/")[0], only
    return only, None


def stderr_progress(line: str) -> None:
    """Progress lines go to standard error, so ``--json`` output stays clean."""
    print(line, file=sys.stderr, flush=True)
