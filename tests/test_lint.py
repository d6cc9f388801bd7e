"""Arithmetic lint over the model: ARI-4 (spec: arithmetic.md; DESIGN "Known pitfalls").

The model runs on Python ints and on Z3 terms, so its arithmetic must mean the
same on both. Z3's integer ``/`` is Euclidean and ``ArithRef`` has no ``//`` or
``%``; a float turns a Z3 term into real arithmetic; ``Decimal`` and
``Fraction`` are neither. Hence, checked on the syntax tree of every module of
``model/clearspec``:

* only ``kernel.py`` imports z3 and uses ``/``, ``//`` or ``%`` (as an operator
  or in an augmented assignment); everything else divides through
  ``kernel.div_floor`` and friends, which name the rounding direction;
* no module (the kernel included: "no floats, no Decimal in the model") has a
  float or complex literal, uses ``float``, imports ``math``, ``decimal`` or
  ``fractions``, or names ``Decimal``/``Fraction``; outside the kernel also no
  ``divmod`` and no ``operator`` division functions (the same operators by
  another name).

``%`` string formatting gets no exception: ``"%d" % x`` and ``b"%d" % x`` are
``ast.Mod`` nodes like ``a % b``. An exception keyed on a literal left operand
would be sound (a str/bytes literal cannot be an amount) but buys nothing: the
model needs no printf formatting (f-strings and ``str(n).encode()`` do the same,
and ruff's UP031 already flags it), and every exception is one more thing the
reader must check. f-strings contain no ``BinOp``, so ``f"{a}%"`` is fine.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "model" / "clearspec"
KERNEL = "kernel.py"

DIVISION_OPS: dict[type[ast.operator], str] = {ast.Div: "/", ast.FloorDiv: "//", ast.Mod: "%"}
FORBIDDEN_MODULES = {"math", "decimal", "fractions", "cmath", "numpy"}
FORBIDDEN_NAMES = {"float", "complex", "Decimal", "Fraction"}
OPERATOR_DIVISIONS = {
    "truediv",
    "floordiv",
    "mod",
    "itruediv",
    "ifloordiv",
    "imod",
    "__truediv__",
    "__floordiv__",
    "__mod__",
}


@dataclass(frozen=True, order=True)
class Violation:
    """One forbidden construct at a source location."""

    path: str
    line: int
    rule: str
    code: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.rule}: {self.code}"


def _top(module: str) -> str:
    return module.split(".")[0]


def check_source(source: str, path: str = "<string>", *, kernel: bool = False) -> list[Violation]:
    """Every forbidden construct in ``source``; ``kernel`` exempts z3 and division."""
    tree = ast.parse(source, filename=path)
    found: list[Violation] = []

    def report(node: ast.AST, rule: str) -> None:
        code = ast.get_source_segment(source, node) or ast.dump(node)
        found.append(Violation(path, getattr(node, "lineno", 0), rule, code.splitlines()[0]))

    for node in ast.walk(tree):
        # Imports (also `__import__("z3")` and `importlib.import_module("math")`).
        modules: list[str] = []
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module is not None and node.level == 0:
            modules = [node.module]
            if node.module == "operator" and not kernel:
                for alias in node.names:
                    if alias.name in OPERATOR_DIVISIONS:
                        report(node, f"operator.{alias.name} is division outside the kernel")
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name | ast.Attribute)
            and (node.func.id if isinstance(node.func, ast.Name) else node.func.attr)
            in ("__import__", "import_module")
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            modules = [node.args[0].value]
        for module in modules:
            if _top(module) == "z3" and not kernel:
                report(node, "z3 imported outside the kernel")
            if _top(module) in FORBIDDEN_MODULES:
                report(node, f"import of {_top(module)}")

        # Division operators.
        if isinstance(node, ast.BinOp | ast.AugAssign) and not kernel:
            symbol = DIVISION_OPS.get(type(node.op))
            if symbol is not None:
                kind = "augmented assignment" if isinstance(node, ast.AugAssign) else "operator"
                report(node, f"`{symbol}` {kind} outside the kernel")

        # Non-integer literals and names.
        if isinstance(node, ast.Constant) and isinstance(node.value, float | complex):
            report(node, "non-integer literal")
        if isinstance(node, ast.Name) and node.id in FORBIDDEN_NAMES:
            report(node, f"use of {node.id}")
        if isinstance(node, ast.Attribute) and node.attr in FORBIDDEN_NAMES - {"float", "complex"}:
            report(node, f"use of {node.attr}")
        if not kernel:
            if isinstance(node, ast.Name) and node.id == "divmod":
                report(node, "divmod outside the kernel")
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id == "operator"
                and node.attr in OPERATOR_DIVISIONS
            ):
                report(node, f"operator.{node.attr} is division outside the kernel")
    return sorted(found)


def model_files() -> list[Path]:
    """The protocol package; the tools built on it (clearspec_tools: the crash
    replay reads decimal CSVs and draws plots) are not the protocol's arithmetic."""
    return sorted(PACKAGE.rglob("*.py"))


def check_model() -> list[Violation]:
    found: list[Violation] = []
    for path in model_files():
        relative = path.relative_to(ROOT).as_posix()
        found += check_source(path.read_text(), relative, kernel=path == PACKAGE / KERNEL)
    return found


# --- the model ----------------------------------------------------------------------------


def test_lint_covers_the_model() -> None:
    """An empty or misplaced glob would make the lint pass vacuously."""
    names = {p.name for p in model_files()}
    assert KERNEL in names
    assert {"margin.py", "collateral.py", "trading.py", "transition.py", "oracle.py"} <= names


def test_model_arithmetic_is_integer_and_divides_only_in_the_kernel() -> None:
    violations = check_model()
    assert not violations, "forbidden constructs in the model:\n" + "\n".join(map(str, violations))


def test_only_the_kernel_imports_z3() -> None:
    importers = set()
    for path in model_files():
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import) and any(_top(a.name) == "z3" for a in node.names):
                importers.add(path.name)
            if isinstance(node, ast.ImportFrom) and node.module and _top(node.module) == "z3":
                importers.add(path.name)
    assert importers == {KERNEL}


def _imported_packages(path: Path) -> set[str]:
    """The top-level packages a module imports (absolute imports only)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {_top(alias.name) for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(_top(node.module))
    return found


def test_the_protocol_imports_neither_the_prover_nor_the_tools() -> None:
    """Layering: the protocol package stands alone; the prover and the tools
    (command line, vectors, simulator, examples) are built on it."""
    files = sorted(PACKAGE.rglob("*.py"))
    assert PACKAGE / "transition.py" in files
    offenders = {
        path.relative_to(ROOT).as_posix(): sorted(upward)
        for path in files
        if (upward := _imported_packages(path) & {"clearspec_proofs", "clearspec_tools"})
    }
    assert not offenders, offenders


def test_importing_the_protocol_loads_neither_the_prover_nor_the_tools() -> None:
    """The same at run time, whatever an import does indirectly."""
    import subprocess
    import sys

    names = sorted(p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__")
    code = (
        "import importlib, sys\n"
        f"for name in {names!r}: importlib.import_module('clearspec.' + name)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('clearspec_proofs', 'clearspec_tools')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


PROVER = ROOT / "proofs" / "clearspec_proofs"
# The command line's modules of the prover may use the tools: the `*_cli.py`
# modules parse options and load parameter files with them, and the
# `clearspec crosshair` command's targets include the wire codec itself (VEC-3,
# VEC-4) and start from the example ledger.
PROVER_COMMAND_LINE = {"crosshair_run.py", "crosshair_targets.py"}


def _prover_modules() -> list[Path]:
    """The prover's modules, less those of its command line."""
    return [
        path
        for path in sorted(PROVER.rglob("*.py"))
        if not path.name.endswith("_cli.py") and path.name not in PROVER_COMMAND_LINE
    ]


def test_the_prover_imports_no_tools() -> None:
    """Layering: the prover is built on the protocol, not on the tools above it;
    what it needs of them (the vector codec, reporter keys, the parameter set)
    its caller hands in."""
    files = _prover_modules()
    assert PROVER / "engine.py" in files and PROVER / "counterexample.py" in files
    offenders = {
        path.relative_to(ROOT).as_posix(): sorted(upward)
        for path in files
        if (upward := _imported_packages(path) & {"clearspec_tools"})
    }
    assert not offenders, offenders


def test_importing_the_prover_loads_no_tools() -> None:
    """The same at run time, whatever an import does indirectly."""
    import subprocess
    import sys

    names = sorted(p.stem for p in _prover_modules() if p.stem != "__init__")
    code = (
        "import importlib, sys\n"
        f"for name in {names!r}: importlib.import_module('clearspec_proofs.' + name)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'clearspec_tools'))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


# --- the checker itself: each rule fires, and only where it should ------------------------

VIOLATING = [
    ("q = a // b\n", "`//` operator"),
    ("q = a / b\n", "`/` operator"),
    ("r = a % b\n", "`%` operator"),
    ("a //= b\n", "`//` augmented assignment"),
    ("a /= b\n", "`/` augmented assignment"),
    ("a %= b\n", "`%` augmented assignment"),
    ('m = b"%d" % price\n', "`%` operator"),
    ('m = "%s" % name\n', "`%` operator"),
    ("f = lambda xs: xs[(len(xs) - 1) // 2]\n", "`//` operator"),
    ("import z3\n", "z3 imported"),
    ("from z3 import Int\n", "z3 imported"),
    ('z = __import__("z3")\n', "z3 imported"),
    ("x = 0.5\n", "non-integer literal"),
    ("x = 1e6\n", "non-integer literal"),
    ("x = 2j\n", "non-integer literal"),
    ("x = float(y)\n", "use of float"),
    ("xs = list(map(float, ys))\n", "use of float"),
    ("def f(x: float) -> int: ...\n", "use of float"),
    ("import math\n", "import of math"),
    ("from math import floor\n", "import of math"),
    ("from decimal import Decimal\n", "import of decimal"),
    ("import decimal\nx = decimal.Decimal(1)\n", "use of Decimal"),
    ("from fractions import Fraction\n", "import of fractions"),
    ("x = Fraction(1, 3)\n", "use of Fraction"),
    ("q, r = divmod(a, b)\n", "divmod"),
    ("import operator\nq = operator.floordiv(a, b)\n", "operator.floordiv"),
    ("from operator import mod\n", "operator.mod"),
]


def test_checker_catches_floor_division() -> None:
    """The lint cannot silently pass: `a // b` is reported, with its line."""
    violations = check_source("x = 1\ny = a // b\n", "example.py")
    assert [(v.path, v.line, v.code) for v in violations] == [("example.py", 2, "a // b")]


@pytest.mark.parametrize(("source", "rule"), VIOLATING)
def test_checker_reports_each_rule(source: str, rule: str) -> None:
    violations = check_source(source)
    assert violations, f"not reported: {source!r}"
    assert any(rule in v.rule for v in violations), [str(v) for v in violations]


CLEAN = """
from clearspec import kernel as k
def f(a: int, b: int) -> int:
    label = f"{a} is {100 * a}% of {b}"   # `%` inside an f-string is text, not an operator
    scale = int(10**6)                      # powers, products and int() are fine
    return k.div_floor(a * b, scale) + a - b + (a << 2) + len(label)
"""


def test_checker_accepts_integer_code() -> None:
    assert check_source(CLEAN) == []


def test_kernel_may_import_z3_and_divide_but_not_use_floats() -> None:
    kernel_source = "import z3\ndef d(a: int, b: int) -> int:\n    return a // b if b else a / b\n"
    assert check_source(kernel_source, kernel=True) == []
    assert check_source(kernel_source, kernel=False) != []
    assert [v.rule for v in check_source("x = 0.5\n", kernel=True)] == ["non-integer literal"]
