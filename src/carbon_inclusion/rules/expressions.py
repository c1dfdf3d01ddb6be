"""Formulas: a small, checked subset of Python expressions, compiled by ``compiler``.

A formula is parsed once, when its document is submitted, and checked against the names the
document declares before it can ever run:

* only arithmetic (``+ - * /``), comparisons, ``and``/``or``/``not``, ``a if cond else b``,
  the functions ``floor ceil min max abs``, and ``table[enum_input]`` lookups are allowed —
  no attribute access, no powers, no comprehensions, no lambdas, no calls of anything else;
* every name must be a declared input, parameter or earlier step;
* types must agree (an enum input is compared only with one of its own values; arithmetic
  is only on numbers; a condition is a boolean);
* every division must be safe: the divisor's range, worked out from the inputs' bounds
  and the parameters' values, must not contain zero;
* number literals are read from their source text into ``Decimal``, so ``0.1`` is exactly
  one tenth and no float ever enters the arithmetic.

Cost is bounded by construction: a formula has at most ``MAX_NODES`` nodes and no loops.
The checked tree is compiled (``rules.compiler``) into a Python function over the declared
names; the compiler accepts only the node kinds this checker lets through, so the checker is
the wall and the compiler refuses anything that did not pass it.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

MAX_FORMULA_LENGTH = 1_000
MAX_NODES = 200


class FormulaError(ValueError):
    """A formula that does not check; the message says why, in the author's terms."""


# --- types and ranges --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Range:
    """A closed interval a number is known to lie in."""

    lo: Decimal
    hi: Decimal

    def contains_zero(self) -> bool:
        return self.lo <= 0 <= self.hi

    def __or__(self, other: Range) -> Range:
        return Range(min(self.lo, other.lo), max(self.hi, other.hi))


@dataclass(frozen=True, slots=True)
class Type:
    """What a name or sub-expression is: a number (with its range), an enum, a table, a bool."""

    kind: str  # "number", "integer", "enum", "table", "bool", "text"
    range: Range | None = None  # numbers and tables (range of the values)
    values: frozenset[str] = frozenset()  # enum values, table keys, or a text literal

    @property
    def numeric(self) -> bool:
        return self.kind in ("number", "integer")

    def describe(self) -> str:
        return {"number": "a number", "integer": "a whole number", "enum": "an enum input",
                "table": "a table parameter", "bool": "a condition",
                "text": "a text literal"}[self.kind]


def number(lo: Decimal, hi: Decimal, *, integer: bool = False) -> Type:
    return Type("integer" if integer else "number", Range(lo, hi))


BOOL = Type("bool")


# --- the functions formulas may call -----------------------------------------------------


def _floor(x: Decimal) -> Decimal:
    return x.to_integral_value(rounding=ROUND_FLOOR)


def _ceil(x: Decimal) -> Decimal:
    return x.to_integral_value(rounding=ROUND_CEILING)


FUNCTIONS: Mapping[str, object] = {"floor": _floor, "ceil": _ceil, "min": min, "max": max,
                                   "abs": abs}

OPERATORS: Mapping[type, object] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
    ast.Div: operator.truediv, ast.USub: operator.neg, ast.UAdd: operator.pos,
    ast.Not: operator.not_, ast.Eq: operator.eq, ast.NotEq: operator.ne,
    ast.Lt: operator.lt, ast.LtE: operator.le, ast.Gt: operator.gt, ast.GtE: operator.ge,
}

_SYMBOL = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**",
           ast.Mod: "%", ast.FloorDiv: "//", ast.BitAnd: "&", ast.BitOr: "|", ast.BitXor: "^",
           ast.LShift: "<<", ast.RShift: ">>", ast.MatMult: "@", ast.Invert: "~",
           ast.In: "in", ast.NotIn: "not in", ast.Is: "is", ast.IsNot: "is not"}

RESERVED = frozenset(FUNCTIONS) | {"True", "False", "None", "reduction_g"}


@dataclass(frozen=True, slots=True)
class Formula:
    """A parsed, checked formula, ready for the evaluator."""

    source: str
    tree: ast.expr
    type: Type
    names: frozenset[str]


def parse(source: str, names: Mapping[str, Type]) -> Formula:
    """Parse ``source`` and check it against ``names``; raise FormulaError on any fault."""
    if not isinstance(source, str) or not source.strip():
        raise FormulaError("must be a non-empty expression")
    if len(source) > MAX_FORMULA_LENGTH:
        raise FormulaError(f"is longer than {MAX_FORMULA_LENGTH} characters")
    text = source.strip()
    try:
        tree = ast.parse(text, mode="eval").body
    except SyntaxError as exc:
        raise FormulaError(f"does not parse: {exc.msg} at column {exc.offset}") from None
    count = sum(1 for _ in ast.walk(tree))
    if count > MAX_NODES:
        raise FormulaError(f"has {count} parts; at most {MAX_NODES} are allowed")
    checker = _Checker(text, names)
    tree = checker.rewrite_literals(tree)
    kind = checker.check(tree)
    return Formula(source=source, tree=tree, type=kind, names=frozenset(checker.used))


class _Checker:
    def __init__(self, text: str, names: Mapping[str, Type]) -> None:
        self.text = text
        self.names = names
        self.used: set[str] = set()

    # Literals become Decimal from their own text: exact, whatever float would have made.
    def rewrite_literals(self, tree: ast.expr) -> ast.expr:
        text = self.text

        class Literals(ast.NodeTransformer):
            def visit_Constant(self, node: ast.Constant) -> ast.AST:
                value = node.value
                if isinstance(value, bool) or not isinstance(value, int | float):
                    return node
                segment = ast.get_source_segment(text, node) or repr(value)
                digits = segment.replace("_", "")
                try:
                    exact = Decimal(digits)
                except ArithmeticError:
                    raise FormulaError(f"the number {segment} is not a decimal") from None
                return ast.copy_location(ast.Constant(value=exact), node)

            def generic_visit(self, node: ast.AST) -> ast.AST:
                if isinstance(node, ast.Constant) and isinstance(node.value, complex):
                    raise FormulaError("complex numbers are not allowed")
                return super().generic_visit(node)

        return Literals().visit(tree)

    def check(self, node: ast.expr) -> Type:
        method = getattr(self, "_" + type(node).__name__, None)
        if method is None:
            raise FormulaError(f"{_describe_node(node)} is not allowed in a formula")
        return method(node)

    def _numeric(self, node: ast.expr, role: str) -> Type:
        t = self.check(node)
        if not t.numeric:
            raise FormulaError(f"{role} `{self._src(node)}` is {t.describe()}, not a number")
        return t

    def _src(self, node: ast.AST) -> str:
        return ast.get_source_segment(self.text, node) or type(node).__name__

    def _Constant(self, node: ast.Constant) -> Type:
        v = node.value
        if isinstance(v, Decimal):
            return number(v, v, integer=v == v.to_integral_value())
        if isinstance(v, str):
            return Type("text", values=frozenset({v}))
        if isinstance(v, bool):
            return BOOL
        raise FormulaError(f"the literal {v!r} is not allowed")

    def _Name(self, node: ast.Name) -> Type:
        if node.id in FUNCTIONS:
            raise FormulaError(f"`{node.id}` is a function; call it as {node.id}(...)")
        if node.id in ("True", "False"):
            return BOOL
        t = self.names.get(node.id)
        if t is None:
            known = ", ".join(sorted(self.names)) or "none"
            raise FormulaError(f"unknown name `{node.id}` (known: {known})")
        self.used.add(node.id)
        return t

    def _BinOp(self, node: ast.BinOp) -> Type:
        op = type(node.op)
        if op not in (ast.Add, ast.Sub, ast.Mult, ast.Div):
            raise FormulaError(f"the operator `{_SYMBOL.get(op, op.__name__)}` is not allowed "
                               "(use + - * / and floor, ceil, min, max, abs)")
        a = self._numeric(node.left, "the left side")
        b = self._numeric(node.right, "the right side")
        ra, rb = a.range, b.range
        assert ra is not None and rb is not None
        if op is ast.Div:
            if rb.contains_zero():
                raise FormulaError(
                    f"division by `{self._src(node.right)}` can fail: it may be zero "
                    f"(its range is {rb.lo}..{rb.hi})")
            corners = [x / y for x in (ra.lo, ra.hi) for y in (rb.lo, rb.hi)]
            return number(min(corners), max(corners))
        if op is ast.Mult:
            corners = [x * y for x in (ra.lo, ra.hi) for y in (rb.lo, rb.hi)]
            lo, hi = min(corners), max(corners)
        elif op is ast.Add:
            lo, hi = ra.lo + rb.lo, ra.hi + rb.hi
        else:
            lo, hi = ra.lo - rb.hi, ra.hi - rb.lo
        return number(lo, hi, integer=a.kind == b.kind == "integer")

    def _UnaryOp(self, node: ast.UnaryOp) -> Type:
        op = type(node.op)
        if op is ast.Not:
            self._bool(node.operand)
            return BOOL
        if op not in (ast.USub, ast.UAdd):
            raise FormulaError(f"the operator `{_SYMBOL.get(op, op.__name__)}` is not allowed")
        t = self._numeric(node.operand, "the operand")
        assert t.range is not None
        if op is ast.UAdd:
            return t
        return Type(t.kind, Range(-t.range.hi, -t.range.lo))

    def _bool(self, node: ast.expr) -> None:
        t = self.check(node)
        if t.kind != "bool":
            raise FormulaError(f"`{self._src(node)}` is {t.describe()}, not a condition")

    def _BoolOp(self, node: ast.BoolOp) -> Type:
        for value in node.values:
            self._bool(value)
        return BOOL

    def _Compare(self, node: ast.Compare) -> Type:
        left = node.left
        for op, right in zip(node.ops, node.comparators, strict=True):
            a, b = self.check(left), self.check(right)
            if type(op) not in OPERATORS:
                raise FormulaError(f"the comparison `{_SYMBOL.get(type(op), '?')}` is not "
                                   "allowed (use == != < <= > >=)")
            if a.numeric and b.numeric:
                pass
            elif {a.kind, b.kind} == {"enum", "text"}:
                if type(op) not in (ast.Eq, ast.NotEq):
                    raise FormulaError("an enum input is compared only with == or !=")
                enum, text = (a, b) if a.kind == "enum" else (b, a)
                (literal,) = text.values
                if literal not in enum.values:
                    raise FormulaError(f"'{literal}' is not one of the input's values "
                                       f"({', '.join(sorted(enum.values))})")
            else:
                raise FormulaError(f"cannot compare {a.describe()} with {b.describe()} "
                                   f"in `{self._src(node)}`")
            left = right
        return BOOL

    def _IfExp(self, node: ast.IfExp) -> Type:
        self._bool(node.test)
        a = self._numeric(node.body, "the value if true")
        b = self._numeric(node.orelse, "the value if false")
        assert a.range is not None and b.range is not None
        return Type("integer" if a.kind == b.kind == "integer" else "number", a.range | b.range)

    def _Call(self, node: ast.Call) -> Type:
        if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
            raise FormulaError(f"`{self._src(node.func)}` is not a function formulas may call "
                               f"({', '.join(FUNCTIONS)})")
        name = node.func.id
        if node.keywords:
            raise FormulaError(f"{name}() takes no keyword arguments")
        if any(isinstance(a, ast.Starred) for a in node.args):
            raise FormulaError(f"{name}() takes no starred arguments")
        args = [self._numeric(a, f"the argument of {name}()") for a in node.args]
        ranges = [a.range for a in args]
        if name in ("min", "max"):
            if len(args) < 2:
                raise FormulaError(f"{name}() takes two or more numbers")
            pick = min if name == "min" else max
            lo = pick(r.lo for r in ranges)  # type: ignore[union-attr]
            hi = pick(r.hi for r in ranges)  # type: ignore[union-attr]
            integer = all(a.kind == "integer" for a in args)
            return number(lo, hi, integer=integer)
        if len(args) != 1:
            raise FormulaError(f"{name}() takes exactly one number")
        (r,) = ranges
        assert r is not None
        if name == "floor":
            return number(_floor(r.lo), _floor(r.hi), integer=True)
        if name == "ceil":
            return number(_ceil(r.lo), _ceil(r.hi), integer=True)
        lo = Decimal(0) if r.contains_zero() else min(abs(r.lo), abs(r.hi))
        return Type(args[0].kind, Range(lo, max(abs(r.lo), abs(r.hi))))

    def _Subscript(self, node: ast.Subscript) -> Type:
        table = self.check(node.value) if isinstance(node.value, ast.Name) else None
        if table is None or table.kind != "table":
            raise FormulaError(f"only a table parameter can be indexed, not "
                               f"`{self._src(node.value)}`")
        key = self.check(node.slice)
        if key.kind not in ("enum", "text"):
            raise FormulaError(f"a table is indexed by an enum input or a quoted key, not "
                               f"`{self._src(node.slice)}`")
        missing = key.values - table.values
        if missing:
            raise FormulaError(f"table `{self._src(node.value)}` has no entry for "
                               f"{', '.join(sorted(missing))}")
        assert table.range is not None
        return Type("number", table.range)


def _describe_node(node: ast.AST) -> str:
    kinds = {ast.Attribute: "attribute access", ast.Lambda: "a lambda",
             ast.ListComp: "a comprehension", ast.SetComp: "a comprehension",
             ast.DictComp: "a comprehension", ast.GeneratorExp: "a comprehension",
             ast.List: "a list", ast.Tuple: "a tuple", ast.Dict: "a dict", ast.Set: "a set",
             ast.JoinedStr: "an f-string", ast.NamedExpr: "assignment",
             ast.Starred: "unpacking", ast.Await: "await", ast.Yield: "yield",
             ast.Slice: "slicing"}
    return kinds.get(type(node), f"`{type(node).__name__}`")
