"""The arithmetic kernel's contract (spec: arithmetic.md, ARI-1..ARI-3).

The model is written once and runs on two kinds of numbers: Python ints when it
executes and Z3 integer terms when it is proved. These tests check that the two
agree, helper by helper and on real model functions, that division keeps the
model away from Z3's Euclidean ``/``, that ``require``/``holds`` behave as the
kernel documents, and that a transition run on symbolic balances leaves proof
obligations Z3 discharges.

A Z3 result is evaluated two independent ways: by substituting the sampled
values and simplifying (Z3's rewriter), and by asking a solver for the value of
the term with the variables fixed and checking that no other value is possible.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Sequence
from typing import Any, cast

import pytest
import z3
from hypothesis import given, settings
from hypothesis import strategies as st
from immutables import Map

from clearspec import kernel as k
from clearspec.actions import Deposit, Transfer
from clearspec.errors import ClearingError, ErrorCode, KernelError
from clearspec.invariants import set_slow_checks, slow_checks
from clearspec.margin import Risk, account_risk, position_risk, tiered_requirement, update_allowed
from clearspec.params import MAX_AMOUNT, MarketParams
from clearspec.state import Account, Ledger, OraclePrice, Position
from clearspec.transition import apply
from clearspec_tools.examples import BTC, example_genesis

BIG = 10**40
RLIMIT = 20_000_000  # deterministic solver budget; `unknown` is a failure

Value = int | bool
Binding = tuple[Any, Any]

# Small values hit the boundaries (zero, signs, exact multiples); big ones the bignum paths.
INTS = st.one_of(st.integers(-20, 20), st.integers(-BIG, BIG))
POSITIVE = st.one_of(st.integers(1, 20), st.integers(1, BIG))
BOOLS = st.booleans()
STRATEGIES: dict[str, st.SearchStrategy[Any]] = {"int": INTS, "pos": POSITIVE, "bool": BOOLS}


# --- evaluating Z3 terms --------------------------------------------------------------


def _solver() -> Any:
    solver = z3.Solver()
    solver.set("rlimit", RLIMIT)
    return solver


def _as_python(value: Any) -> Value:
    if z3.is_int_value(value):
        return int(value.as_long())
    if z3.is_true(value):
        return True
    if z3.is_false(value):
        return False
    raise AssertionError(f"not a constant: {value}")


def by_substitution(term: object, bindings: Sequence[Binding]) -> Value:
    """The value of ``term`` with the variables replaced, by Z3's simplifier."""
    if isinstance(term, bool | int):
        return term
    assert z3.is_expr(term), f"neither an int, a bool nor a Z3 term: {term!r}"
    substituted = z3.substitute(term, *bindings) if bindings else term
    return _as_python(z3.simplify(substituted))


def by_solving(term: object, bindings: Sequence[Binding]) -> Value:
    """The value of ``term`` with the variables fixed, by the solver; asserts it is unique."""
    if isinstance(term, bool | int):
        return term
    expr = cast(Any, term)
    out = z3.Bool("__out") if z3.is_bool(expr) else z3.Int("__out")
    solver = _solver()
    solver.add(*[var == val for var, val in bindings], out == expr)
    assert solver.check() == z3.sat
    value = _as_python(solver.model().eval(out, model_completion=True))
    solver.add(out != (z3.BoolVal(value) if isinstance(value, bool) else z3.IntVal(value)))
    assert solver.check() == z3.unsat, "the fixed inputs do not determine the term"
    return value


def assert_same(actual: Value, expected: Value) -> None:
    """Equal, and both conditions or both amounts (True must not pass for 1)."""
    assert isinstance(actual, bool) == isinstance(expected, bool), (actual, expected)
    assert actual == expected


def proved(hypothesis: Any, claim: object) -> bool:
    """Z3 shows ``hypothesis -> claim`` (unsat of the negation); ``unknown`` fails."""
    if isinstance(claim, bool):
        return claim
    solver = _solver()
    solver.add(hypothesis, z3.Not(cast(Any, claim)))
    result = solver.check()
    assert result != z3.unknown, solver.reason_unknown()
    return bool(result == z3.unsat)


def satisfiable(condition: Any) -> bool:
    solver = _solver()
    solver.add(condition)
    result = solver.check()
    assert result != z3.unknown, solver.reason_unknown()
    return bool(result == z3.sat)


def symbolize(
    values: Sequence[Value], kinds: Sequence[str], mask: Sequence[bool]
) -> tuple[list[Any], list[Binding]]:
    """Replace the values picked by ``mask`` with fresh Z3 variables; return the
    arguments and the (variable, value) bindings."""
    args: list[Any] = []
    bindings: list[Binding] = []
    for i, (value, kind, symbolic) in enumerate(zip(values, kinds, mask, strict=True)):
        if not symbolic:
            args.append(value)
        elif kind == "bool":
            var = z3.Bool(f"b{i}")
            args.append(var)
            bindings.append((var, z3.BoolVal(value)))
        else:
            var = z3.Int(f"x{i}")
            args.append(var)
            bindings.append((var, z3.IntVal(value)))
    return args, bindings


# --- (a) ARI-1, ARI-2: every helper gives the same answer on ints and Z3 terms ----------


def _ceil(a: int, d: int) -> int:
    return -((-a) // d)


# name -> (kernel helper, argument kinds, reference semantics on Python ints)
HELPERS: dict[str, tuple[Callable[..., Any], tuple[str, ...], Callable[..., Value]]] = {
    "ite": (k.ite, ("bool", "int", "int"), lambda c, t, o: t if c else o),
    "ite_bool": (k.ite_bool, ("bool", "bool", "bool"), lambda c, t, o: t if c else o),
    "min_": (k.min_, ("int", "int"), min),
    "max_": (k.max_, ("int", "int"), max),
    "abs_": (k.abs_, ("int",), abs),
    "clamp": (k.clamp, ("int", "int", "int"), lambda a, lo, hi: min(max(a, lo), hi)),
    "sign": (k.sign, ("int",), lambda a: (a > 0) - (a < 0)),
    "div_floor": (k.div_floor, ("int", "pos"), lambda a, d: a // d),
    "div_ceil": (k.div_ceil, ("int", "pos"), _ceil),
    "mod_floor": (k.mod_floor, ("int", "pos"), lambda a, d: a % d),
    "mul_div_floor": (k.mul_div_floor, ("int", "int", "pos"), lambda a, b, d: (a * b) // d),
    "mul_div_ceil": (k.mul_div_ceil, ("int", "int", "pos"), lambda a, b, d: _ceil(a * b, d)),
    "divides": (k.divides, ("pos", "int"), lambda d, a: a % d == 0),
    "not_": (k.not_, ("bool",), lambda c: not c),
    "implies": (k.implies, ("bool", "bool"), lambda p, q: (not p) or q),
    # Variadic (VARIADIC gives the kind): the arity is drawn.
    "and_": (k.and_, (), lambda *c: all(c)),
    "or_": (k.or_, (), lambda *c: any(c)),
    "sum_": (lambda *v: k.sum_(v), (), lambda *v: sum(v)),
}
VARIADIC = {"and_": "bool", "or_": "bool", "sum_": "int"}


@pytest.mark.parametrize("name", sorted(HELPERS))
@settings(max_examples=120, deadline=None)
@given(data=st.data())
def test_helper_agrees_on_ints_and_z3_terms(name: str, data: st.DataObject) -> None:
    helper, kinds, reference = HELPERS[name]
    if not kinds:
        kinds = (VARIADIC[name],) * data.draw(st.integers(1, 4), label="arity")
    values: list[Value] = [data.draw(STRATEGIES[kind], label=f"arg{i}") for i, kind in enumerate(kinds)]
    if name == "clamp":  # documented precondition: low <= high
        values[1:] = sorted(values[1:])
    expected = reference(*values)

    assert_same(helper(*values), expected)

    masks = [
        [True] * len(kinds),  # every operand symbolic
        data.draw(st.lists(st.booleans(), min_size=len(kinds), max_size=len(kinds)), label="mask"),
    ]
    for mask in masks:
        args, bindings = symbolize(values, kinds, mask)
        with k.tracing() as trace:
            term = helper(*args)
        assert not trace.guards
        assert_same(by_substitution(term, bindings), expected)
        assert_same(by_solving(term, bindings), expected)
        # Any obligation (a symbolic divisor is positive) holds at the sampled point.
        for obligation, label in trace.obligations:
            assert by_substitution(obligation, bindings) is True, label


# --- (b) model functions: ints and Z3 terms give the same answer -------------------------

SIZES = st.one_of(
    st.integers(-3 * 10 * BTC, 3 * 10 * BTC),  # around the tier bounds (1 and 10 BTC)
    st.integers(-BIG, BIG),
)
PRICES = st.one_of(st.integers(1, 10**12), st.integers(1, 10**30))
QUOTES = st.integers(-BIG, BIG)


def _market(ledger: Ledger, market_id: str = "BTC-PERP") -> MarketParams:
    return ledger.params.market_by_id[market_id]


def _with_prices(ledger: Ledger, btc: int, eth: int) -> Ledger:
    prices = ledger.prices.set("BTC-USD", OraclePrice(btc, 0, 0, btc, 0))
    prices = prices.set("ETH-USD", OraclePrice(eth, 0, 0, eth, 0))
    return dataclasses.replace(ledger, prices=prices)


def _risk_values(risk: Risk, bindings: Sequence[Binding]) -> tuple[Value, ...]:
    return tuple(by_substitution(v, bindings) for v in (risk.nc, risk.imr, risk.mmr))


def _ints(*names: str) -> list[int]:
    return [k.symbolic_int(n) for n in names]


def _bind(variables: Sequence[int], values: Sequence[int]) -> list[Binding]:
    return [(var, z3.IntVal(val)) for var, val in zip(variables, values, strict=True)]


@settings(max_examples=150, deadline=None)
@given(abs_size=st.one_of(st.integers(0, 30 * BTC), st.integers(0, BIG)), price=PRICES)
def test_tiered_requirement_agrees_on_ints_and_z3(abs_size: int, price: int) -> None:
    ledger = example_genesis()
    market = _market(ledger)
    scale = ledger.params.feed_by_id[market.feed].scale
    expected = tiered_requirement(market, abs_size, price, scale)
    size_v, price_v = _ints("abs_size", "price")
    with k.tracing() as trace:
        initial, maintenance = tiered_requirement(market, size_v, price_v, scale)
    bindings = _bind([size_v, price_v], [abs_size, price])
    assert (by_substitution(initial, bindings), by_substitution(maintenance, bindings)) == expected
    # The postconditions were recorded as obligations, and hold at this point.
    assert trace.obligations
    assert all(by_substitution(c, bindings) is True for c, _ in trace.obligations)


@settings(max_examples=150, deadline=None)
@given(size=SIZES, quote=QUOTES, price=PRICES)
def test_position_risk_agrees_on_ints_and_z3(size: int, quote: int, price: int) -> None:
    genesis = example_genesis()
    market = _market(genesis)
    expected = position_risk(_with_prices(genesis, price, 1), market, Position(size, quote))
    size_v, quote_v, price_v = _ints("size", "quote", "price")
    with k.tracing():
        risk = position_risk(_with_prices(genesis, price_v, 1), market, Position(size_v, quote_v))
    bindings = _bind([size_v, quote_v, price_v], [size, quote, price])
    assert _risk_values(risk, bindings) == (expected.nc, expected.imr, expected.mmr)


@settings(max_examples=100, deadline=None)
@given(
    sizes=st.tuples(SIZES, SIZES),
    quotes=st.tuples(QUOTES, QUOTES),
    cash=st.tuples(st.integers(-BIG, BIG), st.integers(-BIG, BIG)),
    price=PRICES,
)
def test_update_allowed_agrees_on_ints_and_z3(
    sizes: tuple[int, int], quotes: tuple[int, int], cash: tuple[int, int], price: int
) -> None:
    """MRG-4 on the risk of a BTC-PERP position before and after an update."""
    genesis = example_genesis()
    market = _market(genesis)

    def allowed(ledger: Ledger, s: Sequence[int], q: Sequence[int], c: Sequence[int]) -> bool:
        before = position_risk(ledger, market, Position(s[0], q[0])) + Risk(c[0], 0, 0)
        after = position_risk(ledger, market, Position(s[1], q[1])) + Risk(c[1], 0, 0)
        return update_allowed(before, after)

    expected = allowed(_with_prices(genesis, price, 1), sizes, quotes, cash)
    variables = _ints("s0", "s1", "q0", "q1", "c0", "c1", "price")
    with k.tracing():
        term = allowed(_with_prices(genesis, variables[6], 1), variables[0:2], variables[2:4], variables[4:6])
    bindings = _bind(variables, [*sizes, *quotes, *cash, price])
    assert_same(by_substitution(term, bindings), expected)


@settings(max_examples=60, deadline=None)
@given(
    usdc=st.integers(-BIG, BIG),
    btc=st.integers(0, BIG),
    eth=st.integers(0, 10**20),
    btc_perp=SIZES,
    eth_perp=SIZES,
    quotes=st.tuples(QUOTES, QUOTES),
    prices=st.tuples(PRICES, PRICES),
)
def test_account_risk_agrees_on_ints_and_z3(
    usdc: int,
    btc: int,
    eth: int,
    btc_perp: int,
    eth_perp: int,
    quotes: tuple[int, int],
    prices: tuple[int, int],
) -> None:
    """Cross-margin: a (possibly negative) quote balance, two haircut assets and a
    long or short in two perpetuals, at two oracle prices."""
    genesis = example_genesis()

    def risk(values: Sequence[int]) -> Risk:
        u, b, e, sb, se, qb, qe, pb, pe = values
        account = Account(
            Map({"USDC": u, "BTC": b, "ETH": e}),
            Map({"BTC-PERP": Position(sb, qb), "ETH-PERP": Position(se, qe)}),
        )
        return account_risk(_with_prices(genesis, pb, pe), account)

    concrete = [usdc, btc, eth, btc_perp, eth_perp, *quotes, *prices]
    expected = risk(concrete)
    variables = _ints("u", "b", "e", "sb", "se", "qb", "qe", "pb", "pe")
    with k.tracing() as trace:
        symbolic = risk(variables)
    bindings = _bind(variables, concrete)
    assert _risk_values(symbolic, bindings) == (expected.nc, expected.imr, expected.mmr)
    # Preconditions (non-quote balances >= 0) and postconditions became obligations.
    assert trace.obligations
    assert all(by_substitution(c, bindings) is True for c, _ in trace.obligations)


# --- (c) ARI-2 division pitfalls, ARI-3 require and holds -------------------------------


def test_div_floor_rounds_down_on_ints_and_z3() -> None:
    a, d = _ints("a", "d")
    with k.tracing():
        terms = {
            "div_floor": k.div_floor(a, d),
            "div_ceil": k.div_ceil(a, d),
            "mod_floor": k.mod_floor(a, d),
        }
    bindings = _bind([a, d], [-7, 2])
    assert k.div_floor(-7, 2) == -4
    assert by_substitution(terms["div_floor"], bindings) == -4
    assert by_solving(terms["div_floor"], bindings) == -4
    assert k.div_ceil(-7, 2) == -3 == by_substitution(terms["div_ceil"], bindings)
    assert k.mod_floor(-7, 2) == 1 == by_substitution(terms["mod_floor"], bindings)
    # With a concrete Z3 divisor and a symbolic dividend too.
    assert by_substitution(k.div_floor(a, 2), bindings) == -4


def test_raw_z3_division_is_euclidean_which_is_why_divisors_must_be_positive() -> None:
    """The pitfall the kernel exists for: Z3's `/` differs from `//` for a negative divisor."""
    assert z3.simplify(z3.IntVal(7) / z3.IntVal(-2)).as_long() == -3
    assert 7 // -2 == -4
    # ...and agrees with floor division for a positive one, which is all the kernel uses.
    assert z3.simplify(z3.IntVal(-7) / z3.IntVal(2)).as_long() == -7 // 2


DIVISIONS: list[tuple[str, Callable[[int], object]]] = [
    ("div_floor", lambda d: k.div_floor(5, d)),
    ("div_ceil", lambda d: k.div_ceil(5, d)),
    ("mod_floor", lambda d: k.mod_floor(5, d)),
    ("mul_div_floor", lambda d: k.mul_div_floor(5, 3, d)),
    ("mul_div_ceil", lambda d: k.mul_div_ceil(5, 3, d)),
    ("divides", lambda d: k.divides(d, 5)),
]


@pytest.mark.parametrize("divisor", [0, -1, -7, -(10**40)])
@pytest.mark.parametrize(("name", "divide"), DIVISIONS)
def test_non_positive_concrete_divisor_raises(
    name: str, divide: Callable[[int], object], divisor: int
) -> None:
    with pytest.raises(KernelError):
        divide(divisor)
    # A concrete Z3 divisor is just as concrete, also inside tracing().
    with k.tracing(), pytest.raises(KernelError):
        divide(cast(int, z3.IntVal(divisor)))


def test_non_positive_divisor_raises_with_symbolic_dividend() -> None:
    with k.tracing() as trace, pytest.raises(KernelError):
        k.div_floor(k.symbolic_int("a"), 0)
    assert not trace.obligations


def test_symbolic_divisor_records_an_obligation() -> None:
    a, d = _ints("a", "d")
    with k.tracing() as trace:
        k.div_floor(a, d)
    assert len(trace.obligations) == 1
    condition, label = trace.obligations[0]
    assert "divisor is positive" in label
    assert proved(z3.BoolVal(True), condition == (cast(Any, d) > 0))
    assert not trace.guards


def test_symbolic_divisor_outside_tracing_raises() -> None:
    with pytest.raises(KernelError):
        k.div_floor(7, k.symbolic_int("d"))


def test_require_raises_on_concrete_false() -> None:
    k.require(True, ErrorCode.NON_POSITIVE_AMOUNT)
    with pytest.raises(ClearingError) as raised:
        k.require(False, ErrorCode.NON_POSITIVE_AMOUNT, "-5")
    assert raised.value.code is ErrorCode.NON_POSITIVE_AMOUNT
    assert raised.value.detail == "-5"
    # A Z3 condition that simplifies to false is concrete too, also inside tracing().
    with k.tracing() as trace, pytest.raises(ClearingError) as raised:
        k.require(cast(bool, z3.IntVal(1) > 2), ErrorCode.AMOUNT_TOO_LARGE)
    assert raised.value.code is ErrorCode.AMOUNT_TOO_LARGE
    assert not trace.guards


def test_require_records_symbolic_guards_in_order() -> None:
    amount = k.symbolic_int("amount")
    with k.tracing() as trace:
        k.require(amount > 0, ErrorCode.NON_POSITIVE_AMOUNT, "first")
        k.require(cast(bool, z3.IntVal(1) < 2), ErrorCode.UNKNOWN_ASSET)  # concretely true: no guard
        k.require(amount <= MAX_AMOUNT, ErrorCode.AMOUNT_TOO_LARGE, "second")
    assert [(code, detail) for _, code, detail in trace.guards] == [
        (ErrorCode.NON_POSITIVE_AMOUNT, "first"),
        (ErrorCode.AMOUNT_TOO_LARGE, "second"),
    ]
    x = cast(Any, amount)
    assert proved(z3.BoolVal(True), trace.accepted() == z3.And(x > 0, x <= MAX_AMOUNT))


def test_require_on_symbolic_condition_outside_tracing_raises() -> None:
    with pytest.raises(KernelError):
        k.require(k.symbolic_int("amount") > 0, ErrorCode.NON_POSITIVE_AMOUNT)


def test_holds_passes_concrete_values_through() -> None:
    x = k.symbolic_int("x")
    assert k.holds(True) is True
    assert k.holds(False) is False
    assert k.holds(cast(bool, z3.IntVal(3) >= 2)) is True
    assert k.holds(cast(bool, z3.IntVal(1) >= 2)) is False
    with k.tracing() as trace:
        assert k.holds(False) is False
        # Z3's simplifier settles some symbolic conditions: they pass through too.
        assert k.holds(x * x >= 0) is True
    assert not trace.obligations


def test_holds_records_symbolic_obligations() -> None:
    x = k.symbolic_int("x")
    with k.tracing() as trace:
        assert k.holds(x >= 0, "my label") is True
        assert k.all_hold([x >= 0, True, x <= 5], "pair") is True
    assert [label for _, label in trace.obligations] == ["my label", "pair", "pair"]
    with pytest.raises(KernelError):
        k.holds(x >= 0)


# --- (d) a transition on symbolic balances: its contracts are proved by Z3 ----------------


@pytest.fixture(params=[False, True], ids=["fast-checks", "slow-checks"])
def slow_mode(request: pytest.FixtureRequest) -> Iterator[bool]:
    previous = slow_checks()
    set_slow_checks(bool(request.param))
    try:
        yield bool(request.param)
    finally:
        set_slow_checks(previous)


@pytest.fixture
def contract_conditions(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, str]]:
    """Every condition a contract passes to ``kernel.holds`` (directly or through
    ``all_hold``), including those Z3's simplifier settles without a solver and
    which therefore never reach ``Trace.obligations``."""
    seen: list[tuple[Any, str]] = []
    real = k.holds

    def recording(cond: bool, label: str = "contract") -> bool:
        seen.append((cond, label))
        return real(cond, label)

    monkeypatch.setattr(k, "holds", recording)
    return seen


def _symbolic_ledger() -> tuple[Ledger, int, int]:
    """alice and bob hold symbolic USDC balances; net deposits match."""
    genesis = example_genesis()
    alice, bob = _ints("alice_usdc", "bob_usdc")
    accounts = Map({"alice": Account(Map({"USDC": alice}), Map()), "bob": Account(Map({"USDC": bob}), Map())})
    ledger = dataclasses.replace(
        genesis, accounts=accounts, net_deposits=genesis.net_deposits.set("USDC", alice + bob)
    )
    return ledger, alice, bob


def _check_proved(trace: k.Trace, conditions: Sequence[tuple[Any, str]]) -> list[str]:
    accepted = trace.accepted()
    assert satisfiable(accepted), "vacuous: no input is accepted"
    symbolic = [(c, label) for c, label in conditions if k.is_symbolic(c)]
    assert symbolic, "no contract condition was evaluated on symbolic values"
    for condition, label in [*symbolic, *trace.obligations]:
        assert proved(accepted, condition), f"not proved: {label}: {condition}"
    return [label for _, label in symbolic]


def test_symbolic_deposit_contracts_are_proved(
    slow_mode: bool, contract_conditions: list[tuple[Any, str]]
) -> None:
    ledger, alice, bob = _symbolic_ledger()
    amount = k.symbolic_int("amount")
    with k.tracing() as trace:
        after = apply(ledger, Deposit("alice", "USDC", amount))
    assert [code for _, code, _ in trace.guards] == [
        ErrorCode.NON_POSITIVE_AMOUNT,
        ErrorCode.AMOUNT_TOO_LARGE,
    ]
    labels = _check_proved(trace, contract_conditions)
    assert "INV-1..INV-3 local" in labels
    assert ("INV global" in labels) == slow_mode
    accepted = trace.accepted()
    new_balance = after.account("alice").balance("USDC")
    assert proved(accepted, new_balance == alice + amount)
    assert proved(accepted, after.net_deposits["USDC"] == alice + bob + amount)
    # Negative control: the prover can refute a false claim about the same run.
    assert not proved(accepted, new_balance == alice)


def test_symbolic_transfer_obligations_are_proved(
    slow_mode: bool, contract_conditions: list[tuple[Any, str]]
) -> None:
    ledger, alice, bob = _symbolic_ledger()
    amount = k.symbolic_int("amount")
    with k.tracing() as trace:
        after = apply(ledger, Transfer("alice", "bob", "USDC", amount))
    assert [code for _, code, _ in trace.guards] == [
        ErrorCode.NON_POSITIVE_AMOUNT,
        ErrorCode.AMOUNT_TOO_LARGE,
        ErrorCode.INSUFFICIENT_BALANCE,
        ErrorCode.MARGIN_INSUFFICIENT,
    ]
    # COL-5/MRG-5 (the source stays at initial margin) is left to the prover ...
    assert trace.obligations
    _check_proved(trace, contract_conditions)
    # ... and it is not trivially true: without the guards it fails.
    assert not all(proved(z3.BoolVal(True), c) for c, _ in trace.obligations)
    accepted = trace.accepted()
    assert proved(accepted, after.account("alice").balance("USDC") == alice - amount)
    assert proved(accepted, after.account("bob").balance("USDC") == bob + amount)
    assert proved(accepted, after.account("alice").balance("USDC") >= 0)
