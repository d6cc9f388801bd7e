"""Contract conditions as a reader wants them: ``k.implies(a <= b, r == a - b)`` becomes
``a ≤ b ⇒ r = a - b`` (with a true minus sign).

The model writes its conditions through the kernel's helpers (ARI-1, ARI-3), so
that they run on Z3 terms too; the helpers are noise to a reader. This renders
the condition's syntax tree with the helpers as the operators they stand for.
It renders the source, it never evaluates it.
"""

from __future__ import annotations

import ast

# Look-alikes of ASCII, spelled by name.
MINUS = "\N{MINUS SIGN}"
LOR = "\N{LOGICAL OR}"
DIVIDES = "\N{DIVIDES}"

# Precedence, loosest first: a child looser than its parent is parenthesised.
IMPLIES, OR, AND, NOT, COMPARE, ADD, MUL, UNARY, ATOM = range(9)

_COMPARE = {
    ast.Eq: "=",
    ast.NotEq: "≠",
    ast.Lt: "<",
    ast.LtE: "≤",
    ast.Gt: ">",
    ast.GtE: "≥",
    ast.In: "∈",
    ast.NotIn: "∉",
    ast.Is: "is",
    ast.IsNot: "is not",
}
_BINARY = {ast.Add: ("+", ADD), ast.Sub: (MINUS, ADD), ast.Mult: ("·", MUL), ast.FloorDiv: ("÷", MUL)}
# Kernel helpers that are plain functions to a reader.
_FUNCTIONS = {"min_": "min", "max_": "max", "clamp": "clamp", "sign": "sign", "sum_": "Σ"}


def readable_condition(node: ast.expr) -> str:
    """The condition ``node`` (a lambda's body) in mathematical notation."""
    text, _ = _render(_strip_concrete_guard(node))
    return text


def _strip_concrete_guard(node: ast.expr) -> ast.expr:
    """``not _concrete(x) or P`` (the kernel's "on concrete values only") -> ``P``."""
    if isinstance(node, ast.BoolOp) and isinstance(node.op, ast.Or) and len(node.values) >= 2:
        first = node.values[0]
        if (
            isinstance(first, ast.UnaryOp)
            and isinstance(first.op, ast.Not)
            and isinstance(first.operand, ast.Call)
            and _name(first.operand.func) == "_concrete"
        ):
            rest = node.values[1:]
            return rest[0] if len(rest) == 1 else ast.BoolOp(op=ast.Or(), values=rest)
    return node


def concrete_only(node: ast.expr) -> bool:
    """True when the condition is checked on concrete values only (``not _concrete(...) or``)."""
    return _strip_concrete_guard(node) is not node


def _name(func: ast.expr) -> str:
    """``k.holds`` -> ``holds``; ``holds`` -> ``holds``."""
    if isinstance(func, ast.Attribute):
        return func.attr
    if isinstance(func, ast.Name):
        return func.id
    return ""


def _wrap(child: tuple[str, int], level: int, strict: bool = False) -> str:
    text, own = child
    return f"({text})" if own < level or (strict and own == level) else text


def _render(node: ast.expr) -> tuple[str, int]:
    """(text, precedence) of an expression."""
    if isinstance(node, ast.Call):
        rendered = _render_call(node)
        if rendered is not None:
            return rendered
    if isinstance(node, ast.BoolOp):
        level, symbol = (AND, " ∧ ") if isinstance(node.op, ast.And) else (OR, f" {LOR} ")
        return symbol.join(_wrap(_render(v), level, strict=True) for v in node.values), level
    if isinstance(node, ast.UnaryOp):
        if isinstance(node.op, ast.Not):
            return f"¬{_wrap(_render(node.operand), UNARY)}", NOT
        if isinstance(node.op, ast.USub):
            return f"{MINUS}{_wrap(_render(node.operand), UNARY)}", UNARY
    if isinstance(node, ast.Compare):
        parts = [_wrap(_render(node.left), COMPARE, strict=True)]
        for op, operand in zip(node.ops, node.comparators, strict=True):
            parts.append(_COMPARE.get(type(op), ast.unparse(op)))
            parts.append(_wrap(_render(operand), COMPARE, strict=True))
        return " ".join(parts), COMPARE
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        symbol, level = _BINARY[type(node.op)]
        left = _wrap(_render(node.left), level)
        right = _wrap(_render(node.right), level, strict=True)
        return f"{left} {symbol} {right}", level
    if isinstance(node, ast.IfExp):
        body = _wrap(_render(node.body), OR)
        test = _wrap(_render(node.test), OR)
        other = _wrap(_render(node.orelse), OR)
        return f"{body} if {test} else {other}", IMPLIES
    if isinstance(node, ast.Constant) and isinstance(node.value, int) and not isinstance(node.value, bool):
        return (f"{node.value:_}" if abs(node.value) >= 10_000 else str(node.value)), ATOM
    return ast.unparse(node), ATOM


def _args(node: ast.Call) -> list[tuple[str, int]]:
    return [_render(a) for a in node.args]


def _render_call(node: ast.Call) -> tuple[str, int] | None:
    name = _name(node.func)
    args = _args(node)
    if name in ("holds", "definitely") and args:
        return args[0]
    if name == "all_hold" and args:
        return f"all of {_wrap(args[0], ATOM)}", ATOM
    if name == "implies" and len(args) == 2:
        return f"{_wrap(args[0], OR)} ⇒ {_wrap(args[1], OR)}", IMPLIES
    if name == "and_" and args:
        return " ∧ ".join(_wrap(a, AND, strict=True) for a in args), AND
    if name == "or_" and args:
        return f" {LOR} ".join(_wrap(a, OR, strict=True) for a in args), OR
    if name == "not_" and len(args) == 1:
        return f"¬{_wrap(args[0], UNARY)}", NOT
    if name in ("abs_", "abs") and len(args) == 1:
        return f"|{args[0][0]}|", ATOM
    if name in ("div_floor", "div_ceil") and len(args) == 2:
        left, right = ("⌊", "⌋") if name == "div_floor" else ("⌈", "⌉")
        return f"{left}{_wrap(args[0], ADD)} / {_wrap(args[1], MUL, strict=True)}{right}", ATOM
    if name in ("mul_div_floor", "mul_div_ceil") and len(args) == 3:
        left, right = ("⌊", "⌋") if name == "mul_div_floor" else ("⌈", "⌉")
        product = f"{_wrap(args[0], MUL)} · {_wrap(args[1], MUL, strict=True)}"
        return f"{left}{product} / {_wrap(args[2], MUL, strict=True)}{right}", ATOM
    if name == "mod_floor" and len(args) == 2:
        return f"{_wrap(args[0], MUL)} mod {_wrap(args[1], MUL, strict=True)}", MUL
    if name == "divides" and len(args) == 2:
        return f"{_wrap(args[0], ADD)} {DIVIDES} {_wrap(args[1], ADD)}", COMPARE
    if name in ("ite", "ite_bool") and len(args) == 3:
        return f"{_wrap(args[1], OR)} if {_wrap(args[0], OR)} else {_wrap(args[2], OR)}", IMPLIES
    if name in _FUNCTIONS and isinstance(node.func, ast.Attribute) and not node.keywords:
        inner = ", ".join(a[0] for a in args)
        return f"{_FUNCTIONS[name]}({inner})", ATOM
    return None
