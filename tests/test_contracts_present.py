"""Every public function of the model carries icontract contracts (issue: contracts on every function)."""

from __future__ import annotations

import importlib
import inspect
import os
import subprocess
import sys

import pytest

PROTOCOL_MODULES = [
    "clearspec.kernel",
    "clearspec.params",
    "clearspec.state",
    "clearspec.margin",
    "clearspec.oracle",
    "clearspec.collateral",
    "clearspec.trading",
    "clearspec.transition",
    "clearspec.positions",
    "clearspec.funding",
    "clearspec.liquidation",
    "clearspec.deleveraging",
    "clearspec.insurance",
    "clearspec.expiry",
]

# The contract machinery itself: these *evaluate* contracts, so a contract on
# them would be circular.
MACHINERY = {
    "clearspec.kernel": {
        "tracing",
        "skippable",
        "is_symbolic",
        "is_condition",
        "definitely",
        "require",
        "holds",
        "all_hold",
        "symbolic_int",
        "sum_",
    },
}


def _public_functions(module_name: str) -> list[tuple[str, object]]:
    module = importlib.import_module(module_name)
    return [
        (name, obj)
        for name, obj in vars(module).items()
        if inspect.isfunction(obj)
        and not name.startswith("_")
        and getattr(inspect.unwrap(obj), "__module__", None) == module_name
        and name not in MACHINERY.get(module_name, set())
    ]


def _has_contracts(function: object) -> bool:
    return bool(getattr(function, "__preconditions__", None) or getattr(function, "__postconditions__", None))


@pytest.mark.parametrize("module_name", PROTOCOL_MODULES)
def test_every_public_function_has_a_contract(module_name: str) -> None:
    functions = _public_functions(module_name)
    assert functions, module_name
    missing = [name for name, function in functions if not _has_contracts(function)]
    assert missing == [], f"{module_name}: no contract on {missing}"


def test_the_check_sees_a_function_without_contracts() -> None:
    def bare(x: int) -> int:
        return x

    assert not _has_contracts(bare)


def _slow_flag(*python_flags: str, slow: str) -> str:
    env = {**os.environ, "CLEARSPEC_SLOW_CHECKS": slow}
    code = (
        "import clearspec.kernel as k, clearspec.margin as m;"
        "print(k.SLOW_CONTRACTS, hasattr(m.notional, '__postconditions__'))"
    )
    done = subprocess.run(
        [sys.executable, *python_flags, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def test_ari5_slow_contracts_follow_the_switch_and_python_O() -> None:
    assert _slow_flag(slow="1") == "True True"
    assert _slow_flag(slow="0") == "False False"
    assert _slow_flag("-O", slow="1") == "False False"
