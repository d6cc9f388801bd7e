"""Minimising counterexamples (PRF-2): the smallest values that still break the rule.

The solver's first model is any model: amounts of thirty digits, prices and
indices no one would choose. Before a counterexample is shown it is shrunk by
asking Z3 again, under the same constraints (the hypotheses and the negated
goal), with bounds on the variables:

1. one bound ``|v| <= 10**e`` on every variable, for the least ``e`` found by
   bisection on the exponent;
2. as many variables as possible set to zero, a group at a time (a group that
   cannot be zeroed is halved);
3. the sum of ``|v|`` over the variables still non-zero, bisected.

Every model found is replayed through the concrete model (the caller's
``replay``) and kept only if the replay still shows the violation, so a
minimised counterexample is as confirmed as the first. Each query runs Z3's
plain SMT core under a resource limit (no wall-clock timeout) and the number
of queries is capped, so the result depends on the constraints alone and the
cost is bounded. A query that is unsat or unknown, or a model whose replay does
not confirm, only leaves the counterexample less small.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import z3

MINIMISE_RLIMIT = 1_000_000  # per query
MAX_QUERIES = 48  # per counterexample
BOUND_DIGITS = 40  # the bisection of the common bound starts from 10**40 (amounts are below 10**31)
RESERVED_FOR_PRODUCTS = 16  # of them, for the second round (see ``minimise``)
# Set to "0" to show the solver's first model (a mutation campaign needs only the verdict).
MINIMISE_ENV = "CLEARSPEC_MINIMISE"

T = TypeVar("T")


def enabled() -> bool:
    return os.environ.get(MINIMISE_ENV, "1") != "0"


def _value(model: z3.ModelRef, term: Any) -> int:
    return int(model.eval(term, model_completion=True).as_long())


def _abs(term: Any) -> Any:
    return z3.If(term >= 0, term, -term)


@dataclass
class Minimised(Generic[T]):
    """The smallest model found, its replay, and what minimising did."""

    model: z3.ModelRef
    replayed: T
    queries: int = 0
    note: str = ""


class _Search(Generic[T]):
    def __init__(
        self,
        constraints: list[Any],
        replay: Callable[[z3.ModelRef], T],
        good: Callable[[T, T], bool],
        best: Minimised[T],
        rlimit: int,
        queries: int,
    ) -> None:
        self.constraints = constraints
        self.replay = replay
        self.good = good
        self.first = best.replayed
        self.best = best
        self.rlimit = rlimit
        self.left = queries
        self.kept: list[Any] = []  # the bounds found so far
        self.zeroed: set[str] = set()  # variables the kept bounds set to zero

    def attempt(self, extra: list[Any], fixed: list[Any]) -> bool:
        """A model of the constraints, the bounds kept so far, ``fixed`` and
        ``extra`` whose replay still shows the violation; if found, it is the
        best so far and ``extra`` is kept."""
        if self.left <= 0:
            return False
        self.left -= 1
        self.best.queries += 1
        solver = z3.SimpleSolver()
        solver.set("rlimit", self.rlimit)
        solver.add(*self.constraints, *self.kept, *fixed, *extra)
        if solver.check() != z3.sat:
            return False
        model = solver.model()
        try:
            replayed = self.replay(model)
        except Exception:  # the first model's replay stands; a smaller one that crashes is not kept
            return False
        if not self.good(self.first, replayed):
            return False
        self.best.model, self.best.replayed = model, replayed
        self.kept += extra
        return True

    def zero(self, group: list[Any], fixed: list[Any]) -> bool:
        if self.attempt([v == 0 for v in group], fixed):
            self.zeroed |= {str(v) for v in group}
            return True
        return False

    def value(self, variable: Any) -> int:
        return _value(self.best.model, variable)

    def nonzero(self, variables: Iterable[Any]) -> list[Any]:
        return [v for v in variables if self.value(v) != 0]

    def shrink(self, variables: list[Any], fixed: list[Any]) -> None:
        """The three steps of the module docstring on ``variables``. Which
        queries are asked depends on the answers before, not on the values of
        the model to start from."""
        _common_bound(self, variables, fixed)
        _zero_groups(self, [v for v in variables if str(v) not in self.zeroed], fixed)
        _sum_bound(self, [v for v in variables if str(v) not in self.zeroed], fixed)


def minimise(
    constraints: list[Any],
    variables: list[Any],
    model: z3.ModelRef,
    replay: Callable[[z3.ModelRef], T],
    good: Callable[[T, T], bool],
    linear: Sequence[Any] = (),
    at: Sequence[Any] = (),
    rlimit: int = MINIMISE_RLIMIT,
    queries: int = MAX_QUERIES,
) -> Minimised[T]:
    """The smallest model of ``constraints`` over the integer ``variables``
    (sorted by the caller, for a deterministic order) starting from ``model``;
    a smaller model is kept when ``good(replay(model), replay(smaller))`` (it
    shows the same violation; see the module docstring).

    ``linear``: the variables of every product (prices), and ``at``: values
    to hold them at (else those of ``model``) while the others are shrunk, so
    every query is linear; then the others are held and these shrunk (again
    linear: each product has one side fixed). The result is never larger than
    ``model`` (largest |value|, then sum).
    """
    variables = [v for v in variables if z3.is_int(v)]
    best: Minimised[T] = Minimised(model, replay(model))
    if not variables or not enabled():
        return best
    start = (model, best.replayed)
    largest_before = max(abs(_value(model, v)) for v in variables)
    search = _Search(constraints, replay, good, best, rlimit, queries)
    names = {str(v) for v in linear}
    products = [v for v in variables if str(v) in names]
    free = [v for v in variables if str(v) not in names]
    reserve = min(RESERVED_FOR_PRODUCTS, queries // 3) if products else 0
    search.left -= reserve
    held = list(at) if at and search.attempt([], list(at)) else [v == search.value(v) for v in products]
    search.shrink(free, held)
    search.left += reserve
    search.shrink(products, [v == search.value(v) for v in free])
    if _size(start[0], variables) < _size(best.model, variables):
        best.model, best.replayed = start
    kept = search.nonzero(variables)
    largest = max((abs(search.value(v)) for v in kept), default=0)
    best.note = (
        f"largest |value| {largest_before} -> {largest}; {len(variables) - len(kept)} of "
        f"{len(variables)} variables zero ({best.queries} solver queries)"
    )
    return best


def _size(model: z3.ModelRef, variables: list[Any]) -> tuple[int, int]:
    values = [abs(_value(model, v)) for v in variables]
    return max(values), sum(values)


def _common_bound(search: _Search[Any], variables: list[Any], fixed: list[Any]) -> None:
    if not variables:
        return
    low, high = -1, BOUND_DIGITS  # no model within 10**low; one assumed within 10**high
    while high - low > 1 and search.left > 0:
        middle = (low + high) // 2
        bound = 10**middle
        if search.attempt([z3.And(*[z3.And(v <= bound, v >= -bound) for v in variables])], fixed):
            high = middle
        else:
            low = middle


def _zero_groups(search: _Search[Any], group: list[Any], fixed: list[Any]) -> None:
    if not group or search.zero(group, fixed) or len(group) == 1:
        return
    half = len(group) // 2
    _zero_groups(search, group[:half], fixed)
    _zero_groups(search, group[half:], fixed)


def _sum_bound(search: _Search[Any], variables: list[Any], fixed: list[Any]) -> None:
    if not variables:
        return
    total = z3.Sum(*[_abs(v) for v in variables])
    low, high = -1, _value(search.best.model, total)
    while high - low > 1 and search.left > 0:
        middle = (low + high) // 2
        if search.attempt([total <= middle], fixed):
            high = _value(search.best.model, total)
        else:
            low = middle
