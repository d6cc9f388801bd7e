"""The one solver policy of the prover, ``params check/safe`` and ``clearspec mutate``.

A verdict must be a function of the query and the resource limit alone
(spec/proofs.md, "Solver policy"). Three things make it so:

* **Canonical text.** A query (a list of assertions) is printed as SMT-LIB text
  that does not depend on the order in which Python built its terms: the
  arguments of ``+``, ``*``, ``and``, ``or`` (flattened) and of ``=`` and
  ``distinct`` are sorted by a digest of their own canonical text, and so are the
  assertions of each block. The model iterates ``immutables.Map`` ledgers, whose
  order follows the string hash seed; the text does not.
* **A fresh solver per query.** The text is parsed into a new Z3 context and
  solved by Z3's plain SMT core (``SimpleSolver``) under ``rlimit``: no tactic
  bounded by wall-clock time, no term ids left over from earlier queries. The
  same text and limit give the same answer, idle or loaded.
* **One escalation ladder.** A query the caller allows to escalate is asked at
  each multiple of the limit in :data:`LADDER` in turn, from scratch each time,
  while the unit's :class:`Escalation` budget lasts.

Answers are kept in a :class:`ProofCache` keyed by a digest of that text, the
Z3 version, this policy's version and the limit: the same key is the same
question to the same solver.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import z3

# Changing how a query is printed or solved changes this, so old cache entries
# are never read as answers of the new policy.
POLICY_VERSION = "simple-solver/canonical-text/1"
LADDER = (1, 4, 16)  # multiples of the limit an escalated query is tried at, in order
# Work a unit of proving may spend above the base limit on escalation, in units of
# the base limit: a broken model whose queries all come back unknown stops
# escalating here instead of running each one to the top of the ladder.
ESCALATION_BUDGET = 200
CACHE_ENV = "CLEARSPEC_PROOF_CACHE"  # a directory, or "off"
_DEFINE_OVER = 80  # a subterm whose text is longer gets a name (define-fun): text stays linear


class SolverPolicyError(Exception):
    """A term the canonical printer cannot print (a quantifier, a function symbol)."""


@dataclass(frozen=True)
class Outcome:
    """The answer to one query: ``answer`` is z3.sat, z3.unsat or z3.unknown;
    ``model`` (in the caller's context) only for sat when asked for;
    ``limit`` is the resource limit that gave the answer."""

    answer: Any
    model: z3.ModelRef | None
    reason: str
    limit: int
    cached: bool = False


class Escalation:
    """The escalation budget of one unit of work (a transition or slice of one).

    ``refuted``: a confirmed counterexample was found in this unit; the rest of
    its queries are then asked at the base limit only, since the unit has
    already failed and a broken model should fail fast."""

    def __init__(self, budget: int = ESCALATION_BUDGET) -> None:
        self.remaining = budget
        self.refuted = False

    def allows(self, factor: int) -> bool:
        return not self.refuted and factor <= self.remaining

    def spend(self, factor: int) -> None:
        self.remaining -= factor

    def note(self, asked: bool) -> str:
        """Why an unknown answer was not escalated, for its detail ("" if it was,
        or if ``asked`` is false: the caller did not ask for escalation)."""
        if not asked:
            return ""
        if self.refuted:
            return "; not escalated: a counterexample is confirmed in this unit"
        if not self.allows(LADDER[-1]):
            return "; escalation budget of the unit spent"
        return ""


# --- canonical text --------------------------------------------------------------------

_FLATTEN = {z3.Z3_OP_ADD, z3.Z3_OP_MUL, z3.Z3_OP_AND, z3.Z3_OP_OR}
_SYMMETRIC = _FLATTEN | {z3.Z3_OP_EQ, z3.Z3_OP_DISTINCT, z3.Z3_OP_IFF, z3.Z3_OP_XOR}
_NAMES = {z3.Z3_OP_ITE: "ite", z3.Z3_OP_IFF: "="}


@dataclass(frozen=True)
class _Node:
    ref: str  # how a parent writes this node: its text, or its definition's name
    digest: str
    definition: str | None  # "(define-fun NAME () SORT TEXT)" for a named node
    declaration: str | None  # "(declare-fun NAME () SORT)" for a variable
    children: tuple[Any, ...]  # the canonical children (flattened, sorted)
    kind: int = -1  # Z3's operator kind of the canonical node (-1: a leaf)
    child_ids: tuple[int, ...] = ()  # their term ids (a walk over ids asks Z3 nothing)


class _Printer:
    """Canonical text of Z3 terms, memoised per term for the life of the process
    (the terms are kept, so their ids are never reused for other terms)."""

    def __init__(self) -> None:
        self._memo: dict[int, tuple[Any, _Node]] = {}
        self._blocks: dict[tuple[int, ...], tuple[tuple[Any, ...], str, frozenset[str]]] = {}

    def node(self, root: Any) -> _Node:
        """The canonical node of ``root``, computing its subterms first (no recursion)."""
        stack = [root]
        while stack:
            term = stack[-1]
            if term.get_id() in self._memo:
                stack.pop()
                continue
            pending = [c for c in term.children() if c.get_id() not in self._memo]
            if pending:
                stack.extend(pending)
                continue
            stack.pop()
            self._memo[term.get_id()] = (term, self._make(term))
        return self._memo[root.get_id()][1]

    def _make(self, term: Any) -> _Node:
        if z3.is_quantifier(term) or z3.is_var(term) or not z3.is_app(term):
            raise SolverPolicyError(f"cannot print {term.sexpr()[:200]}")
        kind = term.decl().kind()
        if z3.is_int_value(term):
            value = term.as_long()
            text = str(value) if value >= 0 else f"(- {-value})"
            return _Node(text, _digest(text), None, None, ())
        if kind in (z3.Z3_OP_TRUE, z3.Z3_OP_FALSE):
            text = "true" if kind == z3.Z3_OP_TRUE else "false"
            return _Node(text, _digest(text), None, None, ())
        if kind == z3.Z3_OP_UNINTERPRETED:
            name = term.decl().name()
            if term.num_args() or "|" in name or "\\" in name:
                raise SolverPolicyError(f"cannot print the symbol {name!r}")
            ref = f"|{name}|"
            declaration = f"(declare-fun {ref} () {term.sort().sexpr()})"
            return _Node(ref, _digest(declaration), None, declaration, ())
        children = list(term.children())
        name = _NAMES.get(kind, term.decl().name())
        if kind == z3.Z3_OP_SUB:
            # a - b - c as a + (-b) + (-c): which is subtracted first follows the order.
            kind, name = z3.Z3_OP_ADD, "+"
            children = [children[0], *(self._negated(c) for c in children[1:])]
        if kind == z3.Z3_OP_UMINUS and self._memo[children[0].get_id()][1].kind == z3.Z3_OP_UMINUS:
            return self._memo[self._memo[children[0].get_id()][1].children[0].get_id()][1]
        if kind in _FLATTEN:
            flat: list[Any] = []
            for child in children:
                inner = self._memo[child.get_id()][1]
                flat += inner.children if inner.kind == kind else [child]
            children = flat
            # Python folds the constants it meets before the first term, Z3 keeps
            # the later ones: which ones depends on the order, so fold them all.
            children = self._fold_constants(kind, children, term.ctx)
            if len(children) == 1:
                return self._memo[children[0].get_id()][1]
        if kind in _SYMMETRIC:
            children.sort(key=lambda c: self._memo[c.get_id()][1].digest)
        ids = tuple(c.get_id() for c in children)
        text = f"({name} {' '.join(self._memo[i][1].ref for i in ids)})"
        digest = _digest(text)
        if len(text) <= _DEFINE_OVER:
            return _Node(text, digest, None, None, tuple(children), kind, ids)
        ref = f"|@{digest[:24]}|"
        definition = f"(define-fun {ref} () {term.sort().sexpr()} {text})"
        return _Node(ref, digest, definition, None, tuple(children), kind, ids)

    def _negated(self, term: Any) -> Any:
        negated = z3.IntVal(-term.as_long(), term.ctx) if z3.is_int_value(term) else -term
        self.node(negated)
        return negated

    def _fold_constants(self, kind: int, children: list[Any], context: Any) -> list[Any]:
        """``children`` of a flattened ``+``/``*``/``and``/``or`` with their
        constants combined into one, left out when it is the neutral element."""
        if kind in (z3.Z3_OP_ADD, z3.Z3_OP_MUL):
            numbers = [c.as_long() for c in children if z3.is_int_value(c)]
            rest = [c for c in children if not z3.is_int_value(c)]
            total = sum(numbers) if kind == z3.Z3_OP_ADD else _product(numbers)
            neutral = 0 if kind == z3.Z3_OP_ADD else 1
            if total == neutral and rest:
                return rest
            constant = z3.IntVal(total, context)
        else:
            values = [z3.is_true(c) for c in children if z3.is_true(c) or z3.is_false(c)]
            rest = [c for c in children if not (z3.is_true(c) or z3.is_false(c))]
            neutral_bool = kind == z3.Z3_OP_AND  # true for and, false for or
            if all(v == neutral_bool for v in values) and rest:
                return rest
            absorbing = any(v != neutral_bool for v in values)
            constant = z3.BoolVal(not neutral_bool if absorbing else neutral_bool, context)
            if absorbing:
                rest = []
        self.node(constant)
        return [*rest, constant]

    def block(self, assertions: Sequence[Any], known: frozenset[str]) -> tuple[str, frozenset[str]]:
        """The text asserting ``assertions`` (sorted by digest, duplicates once)
        after a text that already declares or defines ``known``: the new
        declarations and definitions in first-use order, then the asserts."""
        roots: dict[str, int] = {}
        for assertion in assertions:
            self.node(assertion)
            ident = assertion.get_id()
            roots.setdefault(self._memo[ident][1].digest, ident)
        ordered = [roots[d] for d in sorted(roots)]
        lines: list[str] = []
        named = set(known)
        visited: set[int] = set()
        memo = self._memo
        for root in ordered:
            # Post-order over the canonical children, so a name is defined before use.
            stack: list[tuple[int, bool]] = [(root, False)]
            while stack:
                ident, expanded = stack.pop()
                node = memo[ident][1]
                if expanded:
                    line = node.definition or node.declaration
                    if line is not None and node.ref not in named:
                        named.add(node.ref)
                        lines.append(line)
                    continue
                if ident in visited or node.ref in named:
                    continue
                visited.add(ident)
                stack.append((ident, True))
                stack.extend((child, False) for child in reversed(node.child_ids))
        lines += [f"(assert {memo[root][1].ref})" for root in ordered]
        return "\n".join(lines) + "\n", frozenset(named)

    def text(self, base: Sequence[Any], extra: Sequence[Any]) -> str:
        """The canonical text of ``base`` then ``extra``: two blocks, so the
        base's block (a transition's hypotheses) is printed once per process."""
        key = tuple(a.get_id() for a in base)
        cached = self._blocks.get(key)
        if cached is None:
            head, known = self.block(base, frozenset())
            self._blocks[key] = (tuple(base), head, known)  # the terms are kept with it
        else:
            _, head, known = cached
        if not extra:
            return head
        tail, _ = self.block(extra, known)
        return head + tail


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


_PRINTER = _Printer()


def _as_terms(conditions: Sequence[Any]) -> list[Any]:
    return [z3.BoolVal(c) if isinstance(c, bool) else c for c in conditions]


def query_text(base: Sequence[Any], extra: Sequence[Any] = ()) -> str:
    """The canonical SMT-LIB text of the query ``base + extra`` (see the module doc)."""
    return _PRINTER.text(_as_terms(base), _as_terms(extra))


# --- the cache -------------------------------------------------------------------------


def _default_cache_dir() -> Path:
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "clearspec" / "proofs"


class ProofCache:
    """Answers on disk, one small JSON file per key, written atomically (a
    temporary file renamed into place), so workers may share the directory.
    A sat answer asked for its model keeps the model with it
    (:func:`model_values`: its constants, and Z3's ``div0``/``mod0`` when each
    is one constant); a model that interprets more is not kept, and a caller
    that needs it solves again (same text, same limit, same model)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def _path(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        try:
            data = json.loads(self._path(key).read_text())
        except (OSError, ValueError):
            return None  # absent, or unreadable: asked again
        if not isinstance(data, dict) or data.get("answer") not in ("sat", "unsat", "unknown"):
            return None
        values = data.get("model")
        return {
            "answer": str(data["answer"]),
            "reason": str(data.get("reason", "")),
            "model": values if _well_formed_values(values) else None,
        }

    def put(self, key: str, answer: str, reason: str, model: ModelValues | None = None) -> None:
        path = self._path(key)
        entry: dict[str, Any] = {"answer": answer, "reason": reason}
        if model is not None:
            entry["model"] = model
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
            with os.fdopen(handle, "w") as out:
                json.dump(entry, out)
            os.replace(temporary, path)
        except OSError:
            return  # a cache that cannot be written only costs time


# A model's constants as [name, sort, value] rows: "Int" with a decimal value,
# "Bool" with "true"/"false"; and Z3's own ``div0``/``mod0`` (what an integer
# division or remainder by zero gives in this model) as [name, "else", value]
# when their interpretation is one constant.
ModelValues = list[list[str]]
_BY_ZERO = ("div0", "mod0")


def model_values(model: z3.ModelRef) -> ModelValues | None:
    """``model``'s constants, or None when it interprets anything else (a sort
    other than Int and Bool, a division by zero that is not one constant): then
    it is not kept. The names the canonical text defines (``|@digest|``) are
    left out: terms in the caller's context never name them."""
    rows: ModelValues = []
    for decl in model.decls():
        name = decl.name()
        if decl.arity() == 0 and name.startswith("@"):
            continue  # a define-fun of the query's text: its value follows from the others
        if decl.arity() != 0:
            interpretation = model[decl]
            otherwise = interpretation.else_value()
            if name not in _BY_ZERO or interpretation.num_entries() or not z3.is_int_value(otherwise):
                return None
            rows.append([name, "else", str(otherwise.as_long())])
            continue
        value = model[decl]
        if z3.is_int_value(value):
            rows.append([name, "Int", str(value.as_long())])
        elif z3.is_true(value) or z3.is_false(value):
            rows.append([name, "Bool", "true" if z3.is_true(value) else "false"])
        else:
            return None
    return sorted(rows)


_BY_ZERO_DECLS: dict[str, Any] = {}


def _by_zero_decls() -> dict[str, Any]:
    """Z3's ``div0`` and ``mod0`` in the main context. They have no name a
    query can write, so they are taken from the model of a division by zero."""
    if not _BY_ZERO_DECLS:
        x, y = z3.Ints("x y")
        solver = z3.SimpleSolver()
        solver.add(x / y == 1, x % y == 1, y == 0)
        if solver.check() == z3.sat:
            model = solver.model()
            _BY_ZERO_DECLS.update({d.name(): d for d in model.decls() if d.name() in _BY_ZERO})
    return _BY_ZERO_DECLS


def rebuilt_model(rows: ModelValues) -> z3.ModelRef | None:
    """The model whose constants :func:`model_values` gave (in Z3's main
    context); None if this Z3 cannot rebuild it."""
    model = z3.Model()
    for name, sort, value in rows:
        if sort == "Int":
            model.update_value(z3.Int(name), z3.IntVal(int(value)))
        elif sort == "Bool":
            model.update_value(z3.Bool(name), z3.BoolVal(value == "true"))
        else:
            decl = _by_zero_decls().get(name)
            if decl is None:
                return None
            z3.Z3_add_func_interp(model.ctx.ref(), model.model, decl.ast, z3.IntVal(int(value)).as_ast())
    return model


def _well_formed_values(values: Any) -> bool:
    return isinstance(values, list) and all(
        isinstance(row, list)
        and len(row) == 3
        and all(isinstance(cell, str) for cell in row)
        and (
            (row[1] in ("Int", "else") and re.fullmatch(r"-?[0-9]+", row[2]) is not None)
            or (row[1] == "Bool" and row[2] in ("true", "false"))
        )
        for row in values
    )


def active_cache() -> ProofCache | None:
    """The cache ``CLEARSPEC_PROOF_CACHE`` names ("off": none; unset: the user's
    cache directory)."""
    setting = os.environ.get(CACHE_ENV)
    if setting == "off":
        return None
    return ProofCache(Path(setting) if setting else _default_cache_dir())


def cache_key(text: str, limit: int) -> str:
    """The digest naming one question to one solver (see :class:`ProofCache`)."""
    header = f"{z3.get_version_string()}\0{POLICY_VERSION}\0{limit}\0"
    return _digest(header + text)


# --- solving ---------------------------------------------------------------------------

_ANSWERS = {"sat": z3.sat, "unsat": z3.unsat, "unknown": z3.unknown}


def _solve(text: str, limit: int, want_model: bool) -> tuple[Any, z3.ModelRef | None, str]:
    context = z3.Context()
    solver = z3.SimpleSolver(ctx=context)
    solver.set("rlimit", limit)
    solver.from_string(text)
    answer = solver.check()
    model = None
    if answer == z3.sat and want_model:
        model = solver.model().translate(z3.main_ctx())
    reason = solver.reason_unknown() if answer == z3.unknown else ""
    return _ANSWERS[str(answer)], model, reason


def solve_text(text: str, limit: int, want_model: bool = False) -> Outcome:
    """One query, given as canonical text, at one limit, through the cache."""
    cache = active_cache()
    key = cache_key(text, limit)
    hit = cache.get(key) if cache is not None else None
    if hit is not None and not (hit["answer"] == "sat" and want_model):
        return Outcome(_ANSWERS[hit["answer"]], None, hit["reason"], limit, cached=True)
    rebuilt = rebuilt_model(hit["model"]) if hit is not None and hit["model"] is not None else None
    if rebuilt is not None:
        return Outcome(z3.sat, rebuilt, "", limit, cached=True)
    answer, model, reason = _solve(text, limit, want_model)
    kept = model_values(model) if model is not None else None
    if cache is not None and (hit is None or kept is not None):
        cache.put(key, str(answer), reason, kept)
    return Outcome(answer, model, reason, limit)


def check(
    base: Sequence[Any],
    extra: Sequence[Any] = (),
    *,
    limit: int,
    escalation: Escalation | None = None,
    want_model: bool = False,
) -> Outcome:
    """Is ``base + extra`` satisfiable? At ``limit``, then, with an
    ``escalation`` budget, at the ladder's higher multiples while the answer is
    unknown and the budget allows (see :func:`climb`)."""
    text = query_text(base, extra)
    outcome = solve_text(text, limit, want_model)
    return climb(base, extra, outcome, limit=limit, escalation=escalation, want_model=want_model, text=text)


def climb(
    base: Sequence[Any],
    extra: Sequence[Any],
    outcome: Outcome,
    *,
    limit: int,
    escalation: Escalation | None,
    want_model: bool = False,
    text: str | None = None,
) -> Outcome:
    """The ladder above ``outcome`` (the answer at some rung for base limit
    ``limit``): each higher multiple in turn, from scratch, while the answer is
    unknown and ``escalation`` allows it. ``text``: the query's text, if the
    caller has it already."""
    for factor in LADDER:
        if limit * factor <= outcome.limit:
            continue
        if escalation is None or outcome.answer != z3.unknown or not escalation.allows(factor):
            break
        escalation.spend(factor)
        text = text if text is not None else query_text(base, extra)
        outcome = solve_text(text, limit * factor, want_model)
    return outcome


def _product(numbers: Sequence[int]) -> int:
    total = 1
    for number in numbers:
        total *= number
    return total


def canonical_order(terms: Sequence[Any]) -> list[Any]:
    """``terms`` sorted by the digest of their canonical text: an order that does
    not depend on how they were built."""
    return sorted(_as_terms(terms), key=lambda term: _PRINTER.node(term).digest)
