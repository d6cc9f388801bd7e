"""The solver policy (clearspec_proofs.solver): a verdict is a function of the
query and the resource limit alone - not of the hash seed, the machine's load or
a warm cache - and the cache answers exactly the question it was asked."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from multiprocessing import get_context
from pathlib import Path

import pytest
import z3

from clearspec_proofs import solver
from clearspec_proofs.engine import goals_for, trace_case
from clearspec_proofs.hypotheses import Hypotheses
from clearspec_proofs.transitions import CASES
from clearspec_tools.examples import example_params

CACHE_ENV = solver.CACHE_ENV

# The query text of every goal of a few transitions (strong hypotheses and the
# negated goal), and Z3's own text of the same queries, as digests.
_DIGESTS = textwrap.dedent(
    """
    import hashlib, json, z3
    from clearspec_tools.examples import example_params
    from clearspec_proofs import solver
    from clearspec_proofs.engine import goals_for, trace_case
    from clearspec_proofs.hypotheses import Hypotheses
    from clearspec_proofs.transitions import CASES
    params = example_params()
    out = {}
    for case in CASES:
        if case.name not in ("deposit-quote", "trade-buy", "settle-expiry", "cover-bad-debt"):
            continue
        world, after, trace = trace_case(case, params)
        strong = Hypotheses(world, trace, params, 1).strong
        goals = goals_for(case, world, after, trace, params)
        ours = sorted(solver.query_text(strong, [z3.Not(g.condition)]) for g in goals)
        raw = z3.Solver()
        raw.add(*strong, *[z3.Not(g.condition) for g in goals])
        digest = lambda text: hashlib.sha256(text.encode()).hexdigest()
        out[case.name] = {"canonical": digest("".join(ours)), "z3": digest(raw.sexpr())}
    print(json.dumps(out))
    """
)


def _run(code: str, seed: str, **extra_env: str) -> str:
    env = {**os.environ, "PYTHONHASHSEED": seed, "CLEARSPEC_SLOW_CHECKS": "1", **extra_env}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_the_query_text_is_the_same_under_every_hash_seed() -> None:
    one, two = (json.loads(_run(_DIGESTS, seed)) for seed in ("1", "2"))
    assert one.keys() == two.keys() == {"deposit-quote", "trade-buy", "settle-expiry", "cover-bad-debt"}
    assert {name: d["canonical"] for name, d in one.items()} == {n: d["canonical"] for n, d in two.items()}
    # The terms themselves differ between the seeds (the model iterates hash-ordered
    # maps): without the canonical text the queries would not be the same.
    assert any(one[name]["z3"] != two[name]["z3"] for name in one)


_STATUSES = textwrap.dedent(
    """
    import json
    from clearspec_tools.examples import example_params
    from clearspec_proofs.engine import check_case
    from clearspec_proofs.transitions import CASES
    case = next(c for c in CASES if c.name == "withdraw-quote")
    results = check_case(case, example_params())
    print(json.dumps(sorted((r.id, r.status, r.detail) for r in results)))
    """
)


def test_the_verdicts_are_the_same_under_two_seeds_beside_a_busy_core() -> None:
    burner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        one = json.loads(_run(_STATUSES, "11"))
        two = json.loads(_run(_STATUSES, "12"))
    finally:
        burner.kill()
        burner.wait()
    assert one == two
    assert len(one) > 40 and {status for _, status, _ in one} == {"proved"}


def test_the_canonical_text_states_the_same_query() -> None:
    params = example_params()
    case = next(c for c in CASES if c.name == "deposit-quote")
    world, after, trace = trace_case(case, params)
    strong = Hypotheses(world, trace, params, 1).strong
    goal = goals_for(case, world, after, trace, params)[0].condition
    original = z3.And(*[solver._as_terms([c])[0] for c in strong], z3.Not(goal))
    parsed = z3.And(*z3.parse_smt2_string(solver.query_text(strong, [z3.Not(goal)])))
    check = z3.SimpleSolver()
    check.set("rlimit", 50_000_000)
    check.add(original != parsed)
    assert check.check() == z3.unsat


def test_sums_in_any_order_print_alike() -> None:
    a, b, c = z3.Ints("a b c")
    first = solver.query_text([(a - b) - c + 0 >= 1, z3.And(a > 0, b > 0)])
    second = solver.query_text([z3.And(b > 0, a > 0), (a - c) - b >= 1])
    assert first == second
    assert solver.query_text([a - b >= 1]) != solver.query_text([b - a >= 1])


def test_a_model_comes_back_in_the_callers_terms() -> None:
    x, y = z3.Ints("x y")
    outcome = solver.check([x > 3, y == x + 1], limit=1_000_000, want_model=True)
    assert outcome.answer == z3.sat and outcome.model is not None
    assert outcome.model.eval(y).as_long() == outcome.model.eval(x).as_long() + 1 > 4
    assert solver.check([x > 3, x < 2], limit=1_000_000).answer == z3.unsat


def _hard() -> list[z3.BoolRef]:
    x, y = z3.Ints("x y")
    return [x * y == 1_000_000_007 * 998_244_353, x > 1, y > 1]


def test_escalation_climbs_the_ladder_within_the_budget() -> None:
    budget = solver.Escalation(budget=sum(solver.LADDER[1:]))
    outcome = solver.check(_hard(), limit=1, escalation=budget)
    assert outcome.answer == z3.unknown and outcome.limit == solver.LADDER[-1]
    assert budget.remaining == 0
    # Spent: the next unknown query stays at the base limit.
    assert solver.check(_hard(), limit=1, escalation=budget).limit == 1
    assert "budget" in budget.note(True)
    refuted = solver.Escalation()
    refuted.refuted = True
    assert solver.check(_hard(), limit=1, escalation=refuted).limit == 1
    assert "counterexample is confirmed" in refuted.note(True)


def test_the_cache_is_keyed_by_the_text_and_the_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    x = z3.Int("x")
    text = solver.query_text([x > 3, x < 10])
    first = solver.solve_text(text, 1_000_000)
    again = solver.solve_text(text, 1_000_000)
    assert first.answer == again.answer == z3.sat and not first.cached and again.cached
    assert not solver.solve_text(text, 2_000_000).cached  # another limit, another question
    # A sat answer stored without its model: asking for one solves again, and
    # the model is kept from then on.
    with_model = solver.solve_text(text, 1_000_000, want_model=True)
    assert not with_model.cached and with_model.model is not None
    kept = solver.solve_text(text, 1_000_000, want_model=True)
    assert kept.cached and kept.model is not None
    assert kept.model.eval(x).as_long() == with_model.model.eval(x).as_long()
    # What is stored is what is answered: a planted answer is believed, so the key
    # must name the exact question (text, limit, Z3, policy).
    key = solver.cache_key(text, 1_000_000)
    solver.ProofCache(tmp_path).put(key, "unknown", "planted")
    assert solver.solve_text(text, 1_000_000).reason == "planted"
    # An unreadable entry is a miss, and is replaced.
    path = next(tmp_path.rglob(f"{key}.json"))
    path.write_text("{not json")
    assert solver.solve_text(text, 1_000_000).answer == z3.sat
    assert json.loads(path.read_text())["answer"] == "sat"
    monkeypatch.setenv(CACHE_ENV, "off")
    assert solver.active_cache() is None and not solver.solve_text(text, 1_000_000).cached


def test_a_kept_model_gives_every_value_the_solved_one_gives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The model read back from the cache is the solver's: the same value for
    every variable, Boolean, long definition and division by zero, so a warm
    run replays the same witness as a cold one."""
    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    x, y, z = z3.Ints("x y z")
    flag = z3.Bool("flag")
    long_sum = z3.Sum(*[x * i for i in range(1, 40)])  # long enough to get a define-fun name
    query = [x > 10**20, y == 0, z == x / y + x % y, flag == (long_sum > x), x / (y + 3) > 5]
    text = solver.query_text(query)
    assert "define-fun" in text
    solved = solver.solve_text(text, 1_000_000, want_model=True)
    kept = solver.solve_text(text, 1_000_000, want_model=True)
    assert solved.model is not None and kept.model is not None and kept.cached and not solved.cached
    for term in (x, y, z, flag, long_sum, x / y, x % y, x / (y + 3), z3.Int("never_named")):
        assert kept.model.eval(term, model_completion=True).eq(solved.model.eval(term, model_completion=True))
    # A malformed model in an entry is no model: the query is solved again.
    key = solver.cache_key(text, 1_000_000)
    path = next(tmp_path.rglob(f"{key}.json"))
    path.write_text(json.dumps({"answer": "sat", "reason": "", "model": [["x", "Int", "ten"]]}))
    assert not solver.solve_text(text, 1_000_000, want_model=True).cached


def test_a_model_that_interprets_more_than_constants_is_not_kept() -> None:
    """What cannot be rebuilt exactly is not stored (the caller solves again)."""
    x, y = z3.Ints("x y")
    f = z3.Function("f", z3.IntSort(), z3.IntSort())
    s = z3.SimpleSolver()
    s.add(f(x) == 3, f(y) == 4)
    assert s.check() == z3.sat
    assert solver.model_values(s.model()) is None
    s = z3.SimpleSolver()
    s.add(x / y == 7, x / y + 1 == x % y, y == 0)
    assert s.check() == z3.sat
    rows = solver.model_values(s.model())
    assert rows is not None and {r[0] for r in rows} >= {"x", "y", "div0", "mod0"}


def _hammer(folder: str) -> None:
    cache = solver.ProofCache(Path(folder))
    for i in range(200):
        cache.put("ab" + "0" * 62, "unsat" if i % 2 else "unknown", f"writer {os.getpid()}")


def test_concurrent_writers_leave_a_whole_entry(tmp_path: Path) -> None:
    context = get_context("spawn")
    writers = [context.Process(target=_hammer, args=(str(tmp_path),)) for _ in range(3)]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(timeout=60)
    entry = solver.ProofCache(tmp_path).get("ab" + "0" * 62)
    assert entry is not None and entry["answer"] in ("unsat", "unknown")
    assert [p.name for p in tmp_path.rglob("*") if p.is_file()] == ["ab" + "0" * 62 + ".json"]


def _prove(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "clearspec_tools.cli", "prove", "--json", "--workers", "1", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )


def test_prove_reads_and_writes_the_cache_it_is_given(tmp_path: Path) -> None:
    module = tmp_path / "rules.py"
    module.write_text(
        "from clearspec_proofs.invariants import register_invariant\n"
        "register_invariant('usdc-at-most-ten', 'USER-3', lambda ledger: ledger.net_deposits['USDC'] <= 10)\n"
    )
    cache = tmp_path / "cache"
    args: tuple[str, ...] = ("--quiet", "--only", "deposit-quote/inductive/usdc", "--invariants", str(module))
    args += ("--counterexamples", str(tmp_path / "out"))
    cold = _prove(*args, "--cache-dir", str(cache))
    assert cold.returncode == 1 and '"counterexample"' in cold.stdout, cold.stderr
    entries = list(cache.rglob("*.json"))
    assert entries
    # Plant "unsat" for every stored question: a run that reads the cache now
    # believes the false invariant; one with --no-cache does not (and writes nothing).
    for entry in entries:
        entry.write_text(json.dumps({"answer": "unsat", "reason": ""}))
    warm = _prove(*args, "--cache-dir", str(cache))
    assert warm.returncode == 0, warm.stdout
    untouched = tmp_path / "never"
    bypass = _prove(*args, "--no-cache", env={**os.environ, CACHE_ENV: str(untouched)})
    assert bypass.returncode == 1 and '"counterexample"' in bypass.stdout
    assert not untouched.exists()


def test_deterministic_is_an_accepted_no_op(tmp_path: Path) -> None:
    done = _prove("--quiet", "--only", "deposit-quote/frame", "--deterministic", "--no-cache")
    assert done.returncode == 0, done.stderr
    assert [o["status"] for o in json.loads(done.stdout)["obligations"]] == ["proved"]
    helped = subprocess.run(
        [sys.executable, "-m", "clearspec_tools.cli", "prove", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "accepted and ignored" in " ".join(helped.stdout.split())


def test_a_counterexample_is_reported_the_moment_it_is_found(tmp_path: Path) -> None:
    module = tmp_path / "rules.py"
    module.write_text(
        "from clearspec_proofs.invariants import register_invariant\n"
        "register_invariant('usdc-at-most-ten', 'USER-3', lambda ledger: ledger.net_deposits['USDC'] <= 10)\n"
    )
    done = _prove(
        "--only", "deposit-quote/inductive/usdc", "--invariants", str(module), "--no-cache",
        "--counterexamples", str(tmp_path / "out"),
    )  # fmt: skip
    assert done.returncode == 1
    lines = done.stderr.splitlines()
    early = "confirmed counterexample: deposit-quote/inductive/usdc"
    found = [i for i, line in enumerate(lines) if early in line]
    finished = [i for i, line in enumerate(lines) if line.startswith("[1/1]")]
    assert found and finished and found[0] < finished[0]
