"""PRF-4: while tracing, Python may not decide a branch on a symbolic value.

``bool()`` of a Z3 term answers ``a == b`` by syntactic identity, so ``if``,
``and``/``or``/``not``, tuple comparison, ``min``/``max``/``sorted`` and ``in``
would silently trace one branch of the model. The kernel's guard refuses each
route with a typed error naming the line; outside tracing Z3 behaves as before.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
import z3

from clearspec import kernel as k
from clearspec.deleveraging import ranked_after
from clearspec.errors import ErrorCode, KernelError, SymbolicBranchError

X, Y = z3.Int("x"), z3.Int("y")


def _if_positive() -> Any:
    return 1 if X > 0 else 0  # the planted branch: this line is named


def _if_equal() -> Any:
    return 1 if X == X + 0 else 0  # syntactically different, so Z3 alone says False


def _tuple_order() -> Any:
    return (-X, "a1") <= (-Y, "a2")


def _membership() -> Any:
    return X + 0 in [X]


def _smaller() -> Any:
    return min(X, Y)


def _ranking() -> Any:
    return sorted([X, Y])


def _not() -> Any:
    return not (X >= Y)


def _dict_key() -> Any:
    return {X: 1}


ROUTES: list[Callable[[], Any]] = [
    _if_positive,
    _if_equal,
    _tuple_order,
    _membership,
    _smaller,
    _ranking,
    _not,
    _dict_key,
]


def _line_of(function: Callable[[], Any]) -> int:
    return function.__code__.co_firstlineno + 1


@pytest.mark.parametrize("route", ROUTES, ids=lambda f: f.__name__)
def test_prf4_every_route_to_a_python_decision_is_refused_with_its_line(route: Callable[[], Any]) -> None:
    with pytest.raises(SymbolicBranchError) as refused, k.tracing():
        route()
    assert isinstance(refused.value, KernelError)
    assert f"tests/test_tracing_guard.py:{_line_of(route)} (in {route.__name__})" in str(refused.value)


def test_outside_tracing_z3_answers_as_before() -> None:
    assert bool(X == X) and not bool(X == X + 0)  # syntactic identity, Z3's own answer
    with pytest.raises(z3.Z3Exception):
        bool(X > 0)
    assert {X: 1}[X] == 1
    # After a trace (also one that failed) the patch is gone again.
    with pytest.raises(SymbolicBranchError), k.tracing():
        _if_equal()
    assert _if_equal() == 0


def test_literals_and_the_kernels_operators_pass() -> None:
    with k.tracing() as trace:
        assert bool(z3.BoolVal(True)) and not bool(z3.IntVal(1) == z3.IntVal(2))
        assert {z3.IntVal(3): 1}[z3.IntVal(3)] == 1
        smaller = k.min_(X, Y)
        k.require(k.or_(X > 0, k.not_(Y > 0)), ErrorCode.NON_POSITIVE_AMOUNT)
        assert k.holds(k.and_(X == X, smaller <= X))  # decided by simplification, not by bool()
    assert len(trace.guards) == 1 and len(trace.obligations) == 1  # the min_ term's condition stays open


def test_a_contract_condition_returning_a_term_is_named() -> None:
    import icontract

    @icontract.ensure(lambda result: result == X)  # a bare term, not k.holds
    def identity(value: int) -> int:
        return value

    where = r"test_tracing_guard\.py:\d+ \(a contract condition\)"
    with pytest.raises(SymbolicBranchError, match=where), k.tracing():
        identity(X + 0)


def test_nested_traces_and_other_threads() -> None:
    seen: list[str] = []

    def elsewhere() -> None:
        # Not tracing in this thread: Z3's own answer, no refusal.
        seen.append(str(bool(X == X + 0)))

    with k.tracing():
        with k.tracing():
            pass
        with pytest.raises(SymbolicBranchError):
            _if_equal()  # the outer trace is still guarded
        worker = threading.Thread(target=elsewhere)
        worker.start()
        worker.join()
    assert seen == ["False"]
    assert _if_equal() == 0


def test_adl2_ranking_keeps_the_id_tie_break_in_the_trace() -> None:
    s1, s2 = z3.Int("s1"), z3.Int("s2")
    with k.tracing():
        forward = ranked_after((s1, "a1"), (s2, "a2"))
        backward = ranked_after((s2, "a2"), (s1, "a1"))
    tie = [s1 == s2]
    assert z3.simplify(z3.substitute(forward, (s2, s1))) == z3.BoolVal(True)
    solver = z3.Solver()
    solver.add(*tie, backward)
    assert solver.check() == z3.unsat  # a2 before a1 needs a strictly higher score
    # Concrete values: the same order as the tuple comparison it replaces.
    for previous, current in [((5, "a1"), (5, "a2")), ((5, "a2"), (5, "a1")), ((4, "a1"), (5, "a0"))]:
        assert ranked_after(previous, current) == ((-previous[0], previous[1]) <= (-current[0], current[1]))


def test_a_detail_text_names_a_traced_term_without_printing_it() -> None:
    """A precondition's detail (an f-string) is read only when a concrete run
    refuses; while tracing, a compound term formats as its sort, a variable as
    its name, and outside tracing Z3 prints it as before."""
    term = X * 3 + Y
    with k.tracing():
        assert f"{term} > {X}" == "<symbolic Int> > x"
        assert f"{term > 0}" == "<symbolic Bool>"
    assert f"{term}" == str(term) == "x*3 + y"
