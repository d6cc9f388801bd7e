"""The arithmetic kernel (spec: arithmetic.md, rules ARI-*): the only module that imports z3.

Every amount in the model is an integer. The model's functions are typed with
``int`` and ``bool`` and run on Python ints when the protocol executes; the
prover passes Z3 integer terms through the *same* functions. That works because
the model never branches on an amount with ``if``: every branch, division and
precondition goes through a helper here, which computes directly on concrete
values and builds a Z3 term on symbolic ones.

Floats and the operators ``/``, ``//`` and ``%`` appear nowhere else in the model
(ARI-4, enforced by tests/test_lint.py).

A symbolic run happens inside :func:`tracing`, which collects

* the guards of :func:`require` in evaluation order (the action is accepted
  when all hold; the first that fails names the error code), and
* the conditions of :func:`holds` (contract conditions) as proof obligations.

While it runs, ``bool()`` or ``hash()`` of a symbolic term raises
:class:`SymbolicBranchError` (PRF-4): Python must not decide a branch the
trace would then silently leave out.
"""

from __future__ import annotations

import functools
import os
import sys
import sysconfig
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, cast

import icontract
import icontract._represent
import z3

from clearspec.errors import ClearingError, ErrorCode, KernelError, SymbolicBranchError


@dataclass
class Trace:
    """What one symbolic run of model code established."""

    guards: list[tuple[Any, ErrorCode, str]] = field(default_factory=list)
    obligations: list[tuple[Any, str]] = field(default_factory=list)
    # Positions in ``guards`` recorded inside :func:`skippable`: a failure there
    # skips a step of the action (ADL-3) instead of rejecting it.
    skippable: set[int] = field(default_factory=set)

    def accepted(self) -> Any:
        """The condition under which every guard held (the action is accepted)."""
        return z3.And(*[g for g, _, _ in self.guards]) if self.guards else z3.BoolVal(True)


# ARI-5: contracts of helpers (the kernel's own, margin arithmetic, per-action
# details) are frequent, so they run in slow mode, fixed at import:
# CLEARSPEC_SLOW_CHECKS=1. The transition's local invariants always run. The
# kernel's contracts check concrete results only; the prover establishes the
# same facts as kernel lemmas.
SLOW_CONTRACTS = __debug__ and os.environ.get("CLEARSPEC_SLOW_CHECKS", "0") == "1"


def _concrete(*values: object) -> bool:
    return not any(isinstance(v, z3.ExprRef) for v in values)


_TRACE: ContextVar[Trace | None] = ContextVar("clearspec_trace", default=None)
_SKIPPABLE: ContextVar[bool] = ContextVar("clearspec_skippable", default=False)


@contextmanager
def skippable() -> Iterator[None]:
    """Mark the guards recorded inside as ones whose failure the caller catches
    and skips (ADL-3's invalid counterparty), not rejections of the action."""
    token = _SKIPPABLE.set(True)
    try:
        yield
    finally:
        _SKIPPABLE.reset(token)


@contextmanager
def tracing() -> Iterator[Trace]:
    """Run model code on symbolic values, collecting guards and obligations.

    PRF-4: while it runs, Python may not decide anything on a symbolic value
    (see :func:`_refuse_bool`): such a decision raises :class:`SymbolicBranchError`.
    """
    trace = Trace()
    _install_guard()
    token = _TRACE.set(trace)
    try:
        yield trace
    except ValueError as error:
        # icontract turns an exception of ``not condition`` into a ValueError:
        # the refusal is the news, not that wrapping.
        if isinstance(error.__cause__, SymbolicBranchError):
            raise error.__cause__ from None
        raise
    finally:
        _TRACE.reset(token)
        _remove_guard()


# --- PRF-4: the guard against Python branching on a symbolic value -----------------
#
# ``bool()`` of a Z3 term is how every silent decision starts: ``if``, ``and``,
# ``or``, ``not``, ``min``/``max``/``sorted``, tuple comparison and ``in`` all
# call it, and Z3 answers ``a == b`` by syntactic identity, not by meaning. A
# hash of a term (a dict key, a set) is identity too. While a trace runs in
# this context both are refused; other threads and contexts, and the prover's
# own code outside tracing, keep Z3's behaviour. The patch is installed while
# at least one trace runs in the process (nesting and threads counted).

_ORIGINAL_BOOL = z3.AstRef.__bool__
_ORIGINAL_HASH = z3.ExprRef.__hash__
_ORIGINAL_FORMAT = z3.AstRef.__format__
_GUARD_LOCK = threading.Lock()
_guard_users = 0
# Frames that only pass the value through: the kernel, Z3, icontract, the
# standard library (functools' ordering helpers) and generated code (dataclass
# methods), so the error names the model line that asked for the decision.
_LIBRARIES = tuple(os.path.dirname(m.__file__ or "") + os.sep for m in (z3, icontract))
_STDLIB = sysconfig.get_paths()["stdlib"] + os.sep
_SITE = tuple({sysconfig.get_paths()[key] + os.sep for key in ("purelib", "platlib")})


def _literal(term: z3.ExprRef) -> bool:
    return bool(z3.is_true(term) or z3.is_false(term) or z3.is_int_value(term) or z3.is_rational_value(term))


def _decides(value: object) -> bool:
    """True for a term whose truth or identity is not that of a literal (or of
    an equation between two literals, where syntax is meaning): deciding it
    needs a solver."""
    if not isinstance(value, z3.ExprRef) or _literal(value):
        return False
    return not (z3.is_eq(value) and all(_literal(arg) for arg in value.children()))


def _refuse_bool(self: z3.AstRef) -> bool:
    if _TRACE.get() is not None and _decides(self):
        raise SymbolicBranchError(_branch_message("decides a Python branch on", self))
    return bool(_ORIGINAL_BOOL(self))


def _refuse_hash(self: z3.ExprRef) -> int:
    if _TRACE.get() is not None and _decides(self):
        raise SymbolicBranchError(_branch_message("hashes (a dict key or set member)", self))
    return int(_ORIGINAL_HASH(self))


def _traced_format(self: z3.AstRef, spec: str) -> str:
    """An f-string of a symbolic term while tracing: a precondition's detail text
    (``k.require``) is read only when a concrete run refuses, and pretty-printing
    a traced term costs more than the rest of its trace."""
    if _TRACE.get() is not None and isinstance(self, z3.ExprRef) and self.num_args() > 0:
        return f"<symbolic {self.sort()}>"
    return format(str(self), spec)


def _install_guard() -> None:
    global _guard_users
    with _GUARD_LOCK:
        if _guard_users == 0:
            z3.AstRef.__bool__ = _refuse_bool
            z3.AstRef.__nonzero__ = _refuse_bool
            z3.ExprRef.__hash__ = _refuse_hash
            z3.AstRef.__format__ = _traced_format
        _guard_users += 1


def _remove_guard() -> None:
    global _guard_users
    with _GUARD_LOCK:
        _guard_users -= 1
        if _guard_users == 0:
            z3.AstRef.__bool__ = _ORIGINAL_BOOL
            z3.AstRef.__nonzero__ = _ORIGINAL_BOOL
            z3.ExprRef.__hash__ = _ORIGINAL_HASH
            z3.AstRef.__format__ = _ORIGINAL_FORMAT


def _branch_message(what: str, term: z3.ExprRef) -> str:
    """``clearspec/deleveraging.py:96 (in _check_counterparties) decides ...``"""
    text = " ".join(str(term).split())
    text = text if len(text) <= _LABEL_WIDTH else text[: _LABEL_WIDTH - 3] + "..."
    return (
        f"{_first_deciding_frame()} {what} the symbolic value `{text}`: "
        "the trace would prove one branch only; use the kernel's operators (k.ite, k.and_, k.or_, k.not_, "
        "k.min_, k.max_) or k.require"
    )


def _short(filename: str) -> str:
    """``package/module.py``: enough to find the file, the same on every machine."""
    folder, name = os.path.split(filename)
    return f"{os.path.basename(folder)}/{name}"


def _first_deciding_frame() -> str:
    """``package/module.py:line (in function)`` of the nearest frame outside the
    code that only passes values through (see ``_LIBRARIES``)."""
    frame = sys._getframe(1)
    while frame is not None:
        filename = frame.f_code.co_filename
        contract = frame.f_locals.get("contract") if filename.startswith(_LIBRARIES) else None
        condition = getattr(contract, "condition", None)
        if condition is not None and hasattr(condition, "__code__"):
            # icontract negating a condition's result: name the condition.
            code = condition.__code__
            return f"{_short(code.co_filename)}:{code.co_firstlineno} (a contract condition)"
        library = filename.startswith(_LIBRARIES) or (
            filename.startswith(_STDLIB) and not filename.startswith(_SITE)
        )
        if not (filename == __file__ or filename.startswith("<") or library):
            return f"{_short(filename)}:{frame.f_lineno} (in {frame.f_code.co_name})"
        frame = frame.f_back  # type: ignore[assignment]
    return "unknown location"


def is_symbolic(value: object) -> bool:
    """True for a Z3 term (an amount or condition the prover left open)."""
    return isinstance(value, z3.ExprRef)


def is_condition(value: object) -> bool:
    """True for a symbolic condition (a Z3 Boolean term), as an invariant returns."""
    return isinstance(value, z3.BoolRef)


def _concrete_bool(cond: bool) -> bool | None:
    """The truth value of a condition if it is known without a solver, else None."""
    if isinstance(cond, bool):
        return cond
    simplified = z3.simplify(cast(Any, cond))
    if z3.is_true(simplified):
        return True
    if z3.is_false(simplified):
        return False
    return None


def definitely(cond: bool) -> bool:
    """True only when ``cond`` is concretely true.

    For representation choices that do not change meaning (dropping an empty
    position from a map): on symbolic values the entry is simply kept.
    """
    return _concrete_bool(cond) is True


# --- ARI-1: branching -------------------------------------------------------------


@icontract.ensure(
    lambda cond, then, other, result: not _concrete(cond, result) or result == (then if cond else other),
    enabled=SLOW_CONTRACTS,
)
def ite(cond: bool, then: int, other: int) -> int:
    """``then if cond else other`` on concrete and symbolic values (ARI-1)."""
    known = _concrete_bool(cond) if not isinstance(cond, bool) else cond
    if known is not None:
        return then if known else other
    return cast(int, z3.If(cast(Any, cond), then, other))


@icontract.ensure(
    lambda cond, then, other, result: not _concrete(cond, result) or result == (then if cond else other),
    enabled=SLOW_CONTRACTS,
)
def ite_bool(cond: bool, then: bool, other: bool) -> bool:
    """``then if cond else other`` for conditions (ARI-1)."""
    if isinstance(cond, bool):
        return then if cond else other
    return cast(bool, z3.If(cast(Any, cond), then, other))


@icontract.ensure(
    lambda a, b, result: not _concrete(a, b, result) or (result <= a and result <= b and result in (a, b)),
    enabled=SLOW_CONTRACTS,
)
def min_(a: int, b: int) -> int:
    """The smaller of two amounts (ARI-1)."""
    return ite(a <= b, a, b)


@icontract.ensure(
    lambda a, b, result: not _concrete(a, b, result) or (result >= a and result >= b and result in (a, b)),
    enabled=SLOW_CONTRACTS,
)
def max_(a: int, b: int) -> int:
    """The larger of two amounts (ARI-1)."""
    return ite(a >= b, a, b)


@icontract.ensure(
    lambda a, result: not _concrete(a, result) or (result >= 0 and result in (a, -a)), enabled=SLOW_CONTRACTS
)
def abs_(a: int) -> int:
    """The magnitude of an amount (ARI-1)."""
    return ite(a >= 0, a, -a)


@icontract.ensure(
    lambda low, high, result: not _concrete(result, low, high) or low > high or low <= result <= high,
    enabled=SLOW_CONTRACTS,
)
def clamp(a: int, low: int, high: int) -> int:
    """``a`` limited to ``[low, high]``; requires ``low <= high`` (ARI-1)."""
    return min_(max_(a, low), high)


@icontract.ensure(lambda a, result: not _concrete(a, result) or result * a == abs(a), enabled=SLOW_CONTRACTS)
def sign(a: int) -> int:
    """-1, 0 or 1 (ARI-1)."""
    return ite(a > 0, 1, ite(a < 0, -1, 0))


@icontract.ensure(lambda _ARGS, result: not _concrete(result) or result == all(_ARGS), enabled=SLOW_CONTRACTS)
def and_(*conds: bool) -> bool:
    """Conjunction on concrete and symbolic conditions."""
    if all(isinstance(c, bool) for c in conds):
        return all(conds)
    return cast(bool, z3.And(*[cast(Any, c) for c in conds]))


@icontract.ensure(lambda _ARGS, result: not _concrete(result) or result == any(_ARGS), enabled=SLOW_CONTRACTS)
def or_(*conds: bool) -> bool:
    """Disjunction on concrete and symbolic conditions."""
    if all(isinstance(c, bool) for c in conds):
        return any(conds)
    return cast(bool, z3.Or(*[cast(Any, c) for c in conds]))


@icontract.ensure(lambda cond, result: not _concrete(result) or result != cond, enabled=SLOW_CONTRACTS)
def not_(cond: bool) -> bool:
    """Negation on concrete and symbolic conditions."""
    if isinstance(cond, bool):
        return not cond
    return cast(bool, z3.Not(cast(Any, cond)))


@icontract.ensure(
    lambda premise, conclusion, result: not _concrete(result) or result == (not premise or conclusion),
    enabled=SLOW_CONTRACTS,
)
def implies(premise: bool, conclusion: bool) -> bool:
    """``premise -> conclusion`` on concrete and symbolic conditions."""
    return or_(not_(premise), conclusion)


def sum_(values: Iterable[int]) -> int:
    """Sum that starts from the int 0, so an empty sum stays concrete."""
    total = 0
    for v in values:
        total = total + v
    return total


# --- ARI-2: division, always with a named rounding direction ------------------------


def _check_divisor(divisor: int) -> None:
    known = _concrete_bool(divisor > 0)
    if known is False:
        raise KernelError(f"divisor must be positive, got {divisor}")
    if known is None:
        _record_obligation(divisor > 0, "ARI-2 divisor is positive")


@icontract.ensure(
    lambda a, divisor, result: not _concrete(result) or divisor * result <= a < divisor * (result + 1),
    enabled=SLOW_CONTRACTS,
)
def div_floor(a: int, divisor: int) -> int:
    """``a / divisor`` rounded toward negative infinity; ``divisor > 0`` (ARI-2).

    Z3's integer division is Euclidean, which equals floor division for a
    positive divisor; Python's ``//`` is floor division. Both agree here.
    """
    _check_divisor(divisor)
    if isinstance(a, int) and isinstance(divisor, int):
        return a // divisor
    return cast(int, cast(Any, a) / cast(Any, divisor))


@icontract.ensure(
    lambda a, divisor, result: not _concrete(result) or divisor * (result - 1) < a <= divisor * result,
    enabled=SLOW_CONTRACTS,
)
def div_ceil(a: int, divisor: int) -> int:
    """``a / divisor`` rounded toward positive infinity; ``divisor > 0`` (ARI-2)."""
    return -div_floor(-a, divisor)


@icontract.ensure(
    lambda divisor, result: not _concrete(result) or 0 <= result < divisor, enabled=SLOW_CONTRACTS
)
def mod_floor(a: int, divisor: int) -> int:
    """The remainder of :func:`div_floor`: ``0 <= r < divisor`` (ARI-2)."""
    return a - divisor * div_floor(a, divisor)


@icontract.ensure(
    lambda a, b, divisor, result: not _concrete(result) or divisor * result <= a * b < divisor * (result + 1),
    enabled=SLOW_CONTRACTS,
)
def mul_div_floor(a: int, b: int, divisor: int) -> int:
    """``a * b / divisor`` rounded down, with no intermediate rounding (ARI-2)."""
    return div_floor(a * b, divisor)


@icontract.ensure(
    lambda a, b, divisor, result: not _concrete(result) or divisor * (result - 1) < a * b <= divisor * result,
    enabled=SLOW_CONTRACTS,
)
def mul_div_ceil(a: int, b: int, divisor: int) -> int:
    """``a * b / divisor`` rounded up, with no intermediate rounding (ARI-2)."""
    return div_ceil(a * b, divisor)


@icontract.ensure(
    lambda divisor, a, result: not _concrete(result, a, divisor) or result == (a == divisor * (a // divisor)),
    enabled=SLOW_CONTRACTS,
)
def divides(divisor: int, a: int) -> bool:
    """True when ``divisor`` divides ``a`` exactly; ``divisor > 0`` (ARI-2)."""
    return mod_floor(a, divisor) == 0


# --- ARI-3: preconditions and contract conditions ------------------------------------


def require(cond: bool, code: ErrorCode, detail: str = "") -> None:
    """A precondition of an action (ARI-3).

    Concrete: raise :class:`ClearingError` with ``code`` when ``cond`` is false.
    Symbolic: record ``cond`` as a guard of the running trace; the action is
    accepted on the paths where every guard holds.
    """
    known = cond if isinstance(cond, bool) else _concrete_bool(cond)
    if known is True:
        return
    if known is False:
        raise ClearingError(code, detail)
    trace = _TRACE.get()
    if trace is None:
        raise KernelError("symbolic precondition outside kernel.tracing()")
    if _SKIPPABLE.get():
        trace.skippable.add(len(trace.guards))
    trace.guards.append((cond, code, detail))


def _record_obligation(cond: Any, label: str) -> None:
    trace = _TRACE.get()
    if trace is None:
        raise KernelError(f"symbolic obligation outside kernel.tracing(): {label}")
    if label == "contract":
        label = _contract_label()
    trace.obligations.append((cond, label))


_LABEL_WIDTH = 100


def _contract_label() -> str:
    """Names an unlabelled contract condition by the contract it belongs to: its
    description (or, without one, its condition's text) and the function it
    guards, e.g. ``TRD-5: the fee pool never pays out ... [trading.settle_trades]``.
    Unlike a file and line, the name survives edits elsewhere in the module, so
    obligation ids stay stable (symbolic runs only). Outside an icontract
    check (a condition evaluated by hand) the nearest model frame names it."""
    frame = sys._getframe(2)
    while frame is not None:
        if "icontract" in frame.f_code.co_filename:
            contract = frame.f_locals.get("contract")
            func = frame.f_locals.get("func")
            if contract is not None and func is not None:
                return f"{_describe(contract)} [{func.__module__.rsplit('.', 1)[-1]}.{func.__qualname__}]"
        frame = frame.f_back  # type: ignore[assignment]
    return f"contract at {_caller_outside_kernel()}"


@functools.cache  # a contract is a decorator's, alive as long as the model: parse its source once
def _describe(contract: Any) -> str:
    """A contract's description, else the text of its condition without the
    ``lambda ...:`` and ``k.holds(...)`` wrapping."""
    if contract.description:
        return str(contract.description)
    text = " ".join(icontract._represent.represent_condition(contract.condition).split())
    text = text.split(":", 1)[1].strip() if text.startswith("lambda") else text
    if text.startswith("k.holds(") and text.endswith(")"):
        text = text[len("k.holds(") : -1].strip()
    return text if len(text) <= _LABEL_WIDTH else text[: _LABEL_WIDTH - 3] + "..."


def _caller_outside_kernel() -> str:
    """``module.py:line`` of the nearest model frame outside the kernel."""
    frame = sys._getframe(3)
    while frame is not None and (
        frame.f_code.co_filename == __file__ or "icontract" in frame.f_code.co_filename
    ):
        frame = frame.f_back  # type: ignore[assignment]
    if frame is None:
        return "unknown"
    return f"{os.path.basename(frame.f_code.co_filename)}:{frame.f_lineno}"


def holds(cond: bool, label: str = "contract") -> bool:
    """The one way a contract condition is evaluated (ARI-3).

    icontract calls ``bool()`` on a condition's result, which Z3 terms refuse.
    Concrete conditions pass straight through; a symbolic one is recorded as a
    proof obligation of the running trace and reported as satisfied here, so the
    prover, not the run, decides it.
    """
    known = cond if isinstance(cond, bool) else _concrete_bool(cond)
    if known is not None:
        return known
    _record_obligation(cond, label)
    return True


def all_hold(conds: Iterable[bool], label: str = "contract") -> bool:
    """:func:`holds` for every condition; evaluates all of them on symbolic runs."""
    result = True
    for c in conds:
        result = holds(c, label) and result
    return result


def symbolic_int(name: str) -> int:
    """A fresh Z3 integer, typed as ``int`` so model code accepts it."""
    return cast(int, z3.Int(name))
