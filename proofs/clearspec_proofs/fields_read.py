"""What a broken condition reads (PRF-2): the ledger fields behind a counterexample.

A designer reading a counterexample needs the values the failing condition
depends on, not only what the action changed: for "the insurance fund stays
within the net deposits", broken by a withdrawal, that is the fund, the
deposits, and the balances conservation ties them to (among them the other
account whose debt makes the state possible). The fields are the Z3 variables
of the condition, and of every hypothesis that mentions one of them; each is
mapped back to where it sits in the symbolic ledger or action, so its value can
be read on the concrete state before and after the replay.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, TypedDict

import z3
from immutables import Map


class FieldValue(TypedDict):
    """One field a broken condition reads, as decimal strings in base units
    (``after`` is empty for an input of the action or a lemma's variable, and
    ``(none)`` for a position the action removed)."""

    field: str
    before: str
    after: str
    in_condition: bool  # read by the broken condition itself, not only by a hypothesis


Path = tuple[object, ...]


def constants_of(terms: Iterable[Any]) -> dict[str, Any]:
    """The uninterpreted constants (the world's variables) in ``terms``, by name."""
    names: dict[str, Any] = {}
    seen: set[int] = set()
    stack = [t for t in terms if isinstance(t, z3.ExprRef)]
    while stack:
        node = stack.pop()
        if node.get_id() in seen:
            continue
        seen.add(node.get_id())
        if z3.is_const(node) and node.decl().kind() == z3.Z3_OP_UNINTERPRETED:
            names[node.decl().name()] = node
        stack.extend(node.children())
    return names


# The variables of each term asked about, by the term's id; the term is kept
# with them, so its id is never reused for another term in this process.
_VARIABLES: dict[int, tuple[Any, frozenset[str]]] = {}


def variables_of(terms: Iterable[Any]) -> set[str]:
    """The names of the world's variables in ``terms``."""
    names: set[str] = set()
    for term in terms:
        if not isinstance(term, z3.ExprRef):
            continue
        known = _VARIABLES.get(term.get_id())
        if known is None:
            known = (term, frozenset(constants_of([term])))
            _VARIABLES[term.get_id()] = known
        names |= known[1]
    return names


@dataclass(frozen=True)
class Read:
    """The variables a broken condition reads: its own, then those that the
    hypotheses mentioning one of them add, each sorted by name."""

    own: tuple[str, ...] = ()
    related: tuple[str, ...] = ()

    @staticmethod
    def of(condition: Any, hypotheses: Iterable[Any]) -> Read:
        own = variables_of([condition])
        related: set[str] = set()
        for hypothesis in hypotheses:
            mentioned = variables_of([hypothesis])
            if mentioned & own:
                related |= mentioned
        return Read(tuple(sorted(own)), tuple(sorted(related - own)))

    @staticmethod
    def whole(reader: FieldReader) -> Read:
        """No single condition is broken (a check decided without the solver, or
        all of them): the action's inputs, then every field of the ledger."""
        return Read(tuple(sorted(reader.action_paths)), tuple(sorted(reader.ledger_paths)))

    def each(self) -> Iterator[tuple[str, bool]]:
        """(name, read by the condition itself)."""
        yield from ((name, True) for name in self.own)
        yield from ((name, False) for name in self.related)


def _leaves(value: Any, path: Path) -> Iterator[tuple[str, Path]]:
    """(variable name, path) for every world variable inside ``value``."""
    if isinstance(value, z3.ExprRef):
        if z3.is_const(value) and value.decl().kind() == z3.Z3_OP_UNINTERPRETED:
            yield value.decl().name(), path
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            if f.name != "params":  # concrete: no variable, and large
                yield from _leaves(getattr(value, f.name), (*path, f.name))
    elif isinstance(value, Map):
        for key in sorted(value.keys(), key=str):
            yield from _leaves(value[key], (*path, key))
    elif isinstance(value, tuple):
        for index, item in enumerate(value):
            yield from _leaves(item, (*path, index))


_MISSING = object()


def _at(value: Any, path: Path) -> Any:
    for step in path:
        if dataclasses.is_dataclass(value) and isinstance(step, str):
            value = getattr(value, step, _MISSING)
        elif isinstance(value, Map):
            value = value.get(step, _MISSING)
        elif isinstance(value, tuple) and isinstance(step, int) and step < len(value):
            value = value[step]
        else:
            return _MISSING
        if value is _MISSING:
            return _MISSING
    return value


def _text(value: Any) -> str:
    if value is _MISSING or value is None:
        return "(none)"
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


@dataclass(frozen=True)
class FieldReader:
    """Where each variable of a symbolic ledger and action sits, to read the
    same fields on concrete ledgers (the one replayed, and the result)."""

    ledger_paths: dict[str, Path]
    action_paths: dict[str, Path]

    @staticmethod
    def of(ledger: Any, action: Any) -> FieldReader:
        return FieldReader(dict(_leaves(ledger, ())), dict(_leaves(action, ())))

    def values(self, read: Read, before: Any, action: Any, after: Any | None) -> list[FieldValue]:
        """Each field read, before and after (an input of the action: before only)."""
        found: list[FieldValue] = []
        for name, own in read.each():
            if name in self.ledger_paths:
                path = self.ledger_paths[name]
                shown_after = "" if after is None else _text(_at(after, path))
                found.append(
                    FieldValue(
                        field=name, before=_text(_at(before, path)), after=shown_after, in_condition=own
                    )
                )
            elif name in self.action_paths:
                value = _text(_at(action, self.action_paths[name]))
                found.append(FieldValue(field=name, before=value, after="", in_condition=own))
        return found


def model_values(read: Read, model: z3.ModelRef) -> list[FieldValue]:
    """Fields with no ledger behind them (a lemma's variables): the solver's values."""
    by_name = {d.name(): d for d in model.decls() if d.arity() == 0}
    found: list[FieldValue] = []
    for name, own in read.each():
        value = str(model[by_name[name]]) if name in by_name else "(any)"
        found.append(FieldValue(field=name, before=value, after="", in_condition=own))
    return found


def worth_showing(fields: list[FieldValue]) -> tuple[list[FieldValue], int]:
    """The fields a person needs: all of the condition's own, and the others
    that are not zero or that the action changed; with the count left out."""
    kept = [
        f
        for f in fields
        if f["in_condition"] or f["before"] not in ("0", "false") or f["after"] not in ("", f["before"])
    ]
    return kept, len(fields) - len(kept)
