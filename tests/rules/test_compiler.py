"""The compiled evaluator agrees with a plain tree walk of the checked formula, value for
value and error for error, on random formulas and random inputs."""

from __future__ import annotations

import ast
from decimal import Decimal, localcontext

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from carbon_inclusion.rules.compiler import compile_expression, compile_program
from carbon_inclusion.rules.evaluate import ARITHMETIC, CheckedEval
from carbon_inclusion.rules.expressions import (
    FUNCTIONS,
    OPERATORS,
    FormulaError,
    Range,
    Type,
    number,
    parse,
)


def walk(node: ast.expr, env: dict):
    """The reference: one node at a time, with the checker's operators and functions."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        return env[node.id]
    if isinstance(node, ast.BinOp):
        return OPERATORS[type(node.op)](walk(node.left, env), walk(node.right, env))
    if isinstance(node, ast.UnaryOp):
        return OPERATORS[type(node.op)](walk(node.operand, env))
    if isinstance(node, ast.BoolOp):
        result = None
        for value in node.values:
            result = walk(value, env)
            if (not result) if isinstance(node.op, ast.And) else result:
                break
        return result
    if isinstance(node, ast.Compare):
        left, result = walk(node.left, env), True
        for op, comparator in zip(node.ops, node.comparators, strict=True):
            right = walk(comparator, env)
            result = OPERATORS[type(op)](left, right)
            if not result:
                break
            left = right
        return result
    if isinstance(node, ast.IfExp):
        return walk(node.body, env) if walk(node.test, env) else walk(node.orelse, env)
    if isinstance(node, ast.Call):
        return FUNCTIONS[node.func.id](*(walk(a, env) for a in node.args))
    if isinstance(node, ast.Subscript):
        return walk(node.value, env)[walk(node.slice, env)]
    raise AssertionError(node)


NAMES = {
    "x": number(Decimal("0.01"), Decimal(100)),
    "y": number(Decimal(-50), Decimal(50), integer=True),
    "tiny": number(Decimal("1E-30"), Decimal("1E-20")),
    "mode": Type("enum", values=frozenset({"metro", "bus"})),
    "rate": Type("table", Range(Decimal("0.5"), Decimal(12)), frozenset({"metro", "bus"})),
}
env_of = st.builds(
    lambda x, y, tiny, mode: {"x": x, "y": y, "tiny": tiny, "mode": mode,
                              "rate": {"metro": Decimal("0.5"), "bus": Decimal(12)}},
    st.integers(1, 10_000).map(lambda n: Decimal(n) / 100),
    st.integers(-50, 50).map(Decimal),
    st.integers(1, 10**10).map(lambda n: Decimal(n).scaleb(-30)),
    st.sampled_from(["metro", "bus"]))

divisors = st.sampled_from(["x", "rate[mode]", "3", "0.7", "tiny", "(y * y + 1)"])
numbers = st.recursive(
    st.sampled_from(["x", "y", "tiny", "rate[mode]", "rate['bus']", "0.1", "7", "1_000",
                     "123456789012345678901234567890.5"]),
    lambda inner: st.one_of(
        st.tuples(inner, st.sampled_from(["+", "-", "*"]), inner).map(
            lambda t: f"({t[0]} {t[1]} {t[2]})"),
        st.tuples(inner, divisors).map(lambda t: f"({t[0]} / {t[1]})"),
        st.tuples(st.sampled_from(["floor", "ceil", "abs", "-", "+"]), inner).map(
            lambda t: f"{t[0]}({t[1]})"),
        st.tuples(st.sampled_from(["min", "max"]), st.lists(inner, min_size=2, max_size=3))
        .map(lambda t: f"{t[0]}({', '.join(t[1])})"),
        st.tuples(inner, inner, inner, inner).map(
            lambda t: f"({t[0]} if {t[1]} < {t[2]} else {t[3]})"),
    ),
    max_leaves=12)
conditions = st.recursive(
    st.one_of(
        st.tuples(numbers, st.sampled_from(["<", "<=", ">", ">=", "==", "!="]), numbers)
        .map(lambda t: f"{t[0]} {t[1]} {t[2]}"),
        st.tuples(numbers, numbers, numbers).map(lambda t: f"{t[0]} <= {t[1]} < {t[2]}"),
        st.sampled_from(["mode == 'bus'", "'metro' != mode", "True", "False"])),
    lambda inner: st.one_of(
        st.tuples(inner, st.sampled_from(["and", "or"]), inner).map(
            lambda t: f"({t[0]} {t[1]} {t[2]})"),
        inner.map(lambda c: f"(not {c})")),
    max_leaves=6)


def outcome(fn, env):
    with localcontext(ARITHMETIC):
        try:
            value = fn(env)
        except (ArithmeticError, TypeError, KeyError) as exc:
            return ("raised", repr(exc))
    return (type(value).__name__, str(value))


@settings(max_examples=400, deadline=None)
@given(source=st.one_of(numbers, conditions), env=env_of)
def test_the_compiled_formula_agrees_with_the_tree_walk(source, env):
    try:
        formula = parse(source, NAMES)
    except FormulaError:
        assume(False)
        raise
    expected = outcome(lambda e: walk(formula.tree, e), env)
    assert outcome(compile_expression(formula.tree), env) == expected
    evaluator = CheckedEval(names=env)
    assert outcome(lambda _: evaluator._eval(formula.tree), env) == expected


@settings(max_examples=100, deadline=None)
@given(first=numbers, second=numbers, env=env_of)
def test_a_program_stores_each_step_for_the_next(first, second, env):
    names = {**NAMES, "a": number(Decimal(-10**40), Decimal(10**40))}
    try:
        step, result = parse(first, NAMES), parse(second.replace("x", "a"), names)
    except FormulaError:
        assume(False)
        raise
    program = compile_program([("a", step.tree)], result.tree)
    reference = dict(env)

    def by_hand(e):
        e["a"] = walk(step.tree, e)
        return walk(result.tree, e)

    assert outcome(program, dict(env)) == outcome(by_hand, reference)


def test_an_unchecked_tree_is_refused():
    for source in ("x.real", "x ** 2", "[x]", "open('f')", "x % 2", "(lambda: 1)()"):
        with pytest.raises(FormulaError):
            compile_expression(ast.parse(source, mode="eval").body)


def test_a_missing_name_is_a_key_error_and_a_mapping_can_supply_it():
    run = compile_expression(parse("x + 1", NAMES).tree)

    class Zeros(dict):
        def __missing__(self, name):
            return Decimal(0)

    with pytest.raises(KeyError):
        run({})
    assert run(Zeros()) == 1
