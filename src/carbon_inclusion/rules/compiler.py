"""Checked formula trees compiled to Python functions: the evaluator of the rules engine.

A formula reaches here only after ``expressions.parse`` has checked it, so its tree holds
nothing but the node kinds below, every name is declared, every division is safe and every
number literal is already a ``Decimal``. The tree is turned into the source of one Python
expression over ``env`` (the values by name), compiled once, and run as a plain function:

* names become ``env['name']`` (a ``KeyError`` if absent, as before; a mapping's
  ``__missing__`` still answers, which badge statistics rely on);
* ``Decimal`` literals are bound as constants (``_k0``, ``_k1``, …), never re-parsed;
* ``+ - * /``, unary ``- +``, comparisons (chained as Python chains them), ``and``/``or``/
  ``not`` (short-circuit, giving the operand's value), ``b if t else o``, the functions
  ``floor ceil min max abs`` and ``table[key]`` keep Python's own semantics on ``Decimal``:
  arithmetic follows the caller's decimal context (34 digits and the traps in
  ``evaluate.ARITHMETIC``), so results, rounding and errors are those of the operators in
  ``expressions.OPERATORS`` applied one node at a time.

Anything else in a tree is refused with ``FormulaError`` before any code is made; the
generated source contains only the node kinds above, names the checker declared (quoted
with ``repr``) and constants passed by reference, so no text of a document is ever run;
generated code runs with no builtins (the few it needs are bound under mangled names).

``compile_evaluator`` goes further for a methodology version: the whole evaluation (input
checks, conditions, steps, rounding, evidence factor, points) as one generated function,
names as local variables (``_v0`` inputs, ``_s0`` steps), parameters as bound constants and
constant sub-trees folded, handing every case off the usual road to the checked reference.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import (
    ROUND_CEILING,
    ROUND_FLOOR,
    Context,
    Decimal,
    getcontext,
    localcontext,
    setcontext,
)
from typing import Any

from carbon_inclusion.rules.expressions import FUNCTIONS, FormulaError

Compiled = Callable[[Mapping[str, Any]], Any]

_BINARY = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/"}
_UNARY = {ast.USub: "-", ast.UAdd: "+", ast.Not: "not "}
_COMPARE = {ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">",
            ast.GtE: ">="}
_BOOL = {ast.And: " and ", ast.Or: " or "}
_ROUNDED = {"floor": "_ROUND_FLOOR", "ceil": "_ROUND_CEILING"}


class Source:
    """Python source for checked trees, with the constants they need."""

    def __init__(self, names: Mapping[str, str] | None = None) -> None:
        self.constants: dict[str, Any] = {f"_f_{name}": fn for name, fn in FUNCTIONS.items()}
        self.constants.update(_ROUND_FLOOR=ROUND_FLOOR, _ROUND_CEILING=ROUND_CEILING)
        self._numbers: dict[tuple[type, str], str] = {}
        # How a declared name is read: ``env['name']`` unless mapped here (to a local
        # variable or a bound constant of the generated function).
        self.names: dict[str, str] = dict(names or {})
        # (values by name, decimal context) of the names that are constants, when constant
        # sub-trees are to be folded; None: none are.
        self.fold: tuple[Mapping[str, Any], Context] | None = None

    def bind(self, value: Any, prefix: str = "_c") -> str:
        """A constant passed to the generated code by reference (a table, a function)."""
        name = f"{prefix}{len(self.constants)}"
        self.constants[name] = value
        return name

    def constant(self, value: Any) -> str:
        key = (type(value), str(value))  # Decimal('1.0') and Decimal('1') stay distinct
        name = self._numbers.get(key)
        if name is None:
            name = self._numbers[key] = f"_k{len(self._numbers)}"
            self.constants[name] = value
        return name

    def expr(self, node: ast.expr) -> str:
        folded = self._fold(node)
        if folded is not None:
            return folded
        return self._expr(node)

    def _fold(self, node: ast.expr) -> str | None:
        """A sub-tree of constants only (literals, number parameters, tables by a quoted key) as
        the one constant it gives, worked out now under the same decimal context the call
        would use, so the value is the one the call would make; one that raises is left
        to raise at run time, as it did."""
        if self.fold is None or isinstance(node, ast.Constant | ast.Name):
            return None
        env, context = self.fold
        called = {id(sub.func) for sub in ast.walk(node) if isinstance(sub, ast.Call)}
        for sub in ast.walk(node):
            if isinstance(sub, ast.Name) and sub.id not in env and id(sub) not in called:
                return None
        try:
            with localcontext(context):
                value = compile_expression(node)(env)
        except (ArithmeticError, TypeError, KeyError, FormulaError):
            return None
        if isinstance(value, bool):
            return repr(value)
        if isinstance(value, Decimal):
            return self.constant(value)
        return None

    def _expr(self, node: ast.expr) -> str:
        if isinstance(node, ast.Constant):
            value = node.value
            if isinstance(value, bool) or value is None:
                return repr(value)
            if isinstance(value, str):
                return repr(value)
            if isinstance(value, Decimal):
                return self.constant(value)
        elif isinstance(node, ast.Name):
            mapped = self.names.get(node.id)
            return mapped if mapped is not None else f"env[{node.id!r}]"
        elif isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            return f"({self.expr(node.left)} {_BINARY[type(node.op)]} {self.expr(node.right)})"
        elif isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
            return f"({_UNARY[type(node.op)]}{self.expr(node.operand)})"
        elif isinstance(node, ast.BoolOp) and type(node.op) in _BOOL:
            return "(" + _BOOL[type(node.op)].join(self.expr(v) for v in node.values) + ")"
        elif isinstance(node, ast.Compare) and all(type(op) in _COMPARE for op in node.ops):
            parts = [self.expr(node.left)]
            for op, right in zip(node.ops, node.comparators, strict=True):
                parts += [_COMPARE[type(op)], self.expr(right)]
            return "(" + " ".join(parts) + ")"
        elif isinstance(node, ast.IfExp):
            return (f"({self.expr(node.body)} if {self.expr(node.test)} "
                    f"else {self.expr(node.orelse)})")
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
              and node.func.id in FUNCTIONS and not node.keywords
              and not any(isinstance(a, ast.Starred) for a in node.args)):
            args = ", ".join(self.expr(a) for a in node.args)
            if node.func.id in _ROUNDED:  # expressions._floor/_ceil, without their frame
                return f"({args}).to_integral_value({_ROUNDED[node.func.id]})"
            return f"_f_{node.func.id}({args})"
        elif isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name):
            return f"{self.expr(node.value)}[{self.expr(node.slice)}]"
        raise FormulaError(f"`{type(node).__name__}` cannot be compiled; was the formula "
                           "checked?")

    def function(self, name: str, body: Iterable[str]) -> Callable[..., Any]:
        source = f"def {name}(env):\n" + "".join(f"    {line}\n" for line in body)
        namespace = {"__builtins__": {}, **self.constants}  # no builtins: none is needed
        exec(compile(source, f"<formula {name}>", "exec"), namespace)  # noqa: S102
        return namespace[name]


def compile_expression(tree: ast.expr) -> Compiled:
    """One checked formula tree as a function of ``env`` (the values by name)."""
    source = Source()
    return source.function("formula", [f"return {source.expr(tree)}"])


def compile_program(steps: Iterable[tuple[str, ast.expr]], result: ast.expr) -> Compiled:
    """Steps in order, each stored into ``env`` under its name, then ``result``: one
    function, so a methodology's whole calculation is a single call."""
    source = Source()
    body = [f"env[{name!r}] = {source.expr(tree)}" for name, tree in steps]
    body.append(f"return {source.expr(result)}")
    return source.function("program", body)


# --- a whole evaluation as one generated function ----------------------------------------


class Fallback(Exception):  # a signal, not an error
    """Raised inside a generated evaluator when an input is not of the usual kind; the
    evaluator then gives the call to the checked reference path, which answers it."""


@dataclass(frozen=True, slots=True)
class InputPlan:
    """How one declared input is read, as ``evaluate._Reader`` reads it."""

    name: str
    enum: frozenset[str] | None  # an enum input's values
    default: tuple[Any] | None  # (the value read from the default,) or None: required
    lo: Decimal | None = None
    hi: Decimal | None = None
    quantum: Decimal | None = None
    places: int | None = None
    quantize_safe: bool = False


@dataclass(frozen=True, slots=True)
class EvaluatorPlan:
    """Everything a methodology version's evaluation needs, worked out once."""

    inputs: tuple[InputPlan, ...]
    input_names: frozenset[str]
    params: Mapping[str, Any]  # values by name, in the document's order
    conditions: tuple[ast.expr, ...]
    steps: tuple[tuple[str, ast.expr], ...]
    reduction: ast.expr
    points: ast.expr
    allow_negative: bool
    quantum: Decimal
    rounding: str
    tiers: Mapping[str, tuple[Decimal, bool]]  # evidence → (factor, review)
    params_out: Mapping[str, Any]
    step_names: tuple[str, ...]
    context: Context
    plain_decimal: Callable[[str], Any]  # PLAIN_DECIMAL.fullmatch
    evaluation: Callable[..., Any]  # the Evaluation type
    reference: Callable[..., Any]  # the checked path, answering every other case
    review_flags: tuple[tuple[str, ast.expr], ...] = ()  # (flag, its condition), in order


def compile_evaluator(plan: EvaluatorPlan) -> Callable[..., Any]:
    """One Python function doing a whole evaluation: read and check each input, the
    conditions, the steps, the reduction, clamping and rounding, the evidence factor and
    the points, with names as local variables, parameters as bound constants and constant
    sub-trees folded.

    It takes only the usual road: a ``dict`` of inputs that all read cleanly and pass the
    conditions, and a calculation that raises nothing. Anything else (an unknown field, a
    missing one without a default, a value the checks refuse, a float or an odd type, a
    condition that fails, an arithmetic error) raises ``Fallback`` before a value is kept,
    and the call is answered by ``plan.reference`` instead, so problems, their order and
    their messages are the reference's own. The operations on the usual road are those of
    the reference, in the same order and under the same decimal context, so its values are
    the reference's to the last digit (tests/rules/test_evaluator.py compares the two).
    """
    params = dict(plan.params)
    src = Source()
    locals_ = src.names  # each name as the generated code reads it
    src.fold = (params, plan.context)
    for name, value in params.items():
        locals_[name] = src.constant(value) if isinstance(value, Decimal) else src.bind(value)
    names = [p.name for p in plan.inputs] + list(params) + [n for n, _ in plan.steps]
    if len(set(names)) != len(names) or {"__inputs__", "reduction_g"} & set(names):
        return plan.reference  # the document checker refuses these; nothing to speed up
    c = src.constants
    c.update(_Fallback=Fallback, _Decimal=Decimal, _getcontext=getcontext,
             _setcontext=setcontext, _A=plan.context, _plain=plan.plain_decimal,
             _reference=plan.reference, _Evaluation=plan.evaluation, _tiers=dict(plan.tiers),
             _inputs=plan.input_names, _params_out=plan.params_out,
             _step_names=plan.step_names, _ZERO=Decimal(0), _quantum=plan.quantum,
             _rounding=plan.rounding, _repr=repr, _type=type, _len=len, _str=str, _int=int,
             _float=float, _dict=dict, _Exception=Exception)
    body: list[str] = []
    present = 0  # inputs surely in data when the road is taken
    counted = False
    for i, p in enumerate(plan.inputs):
        v = f"_v{i}"
        locals_[p.name] = v
        body.append(f"{v} = data.get({p.name!r})")
        if p.default is None:
            present += 1
            body.append(f"if {v} is None: raise _Fallback")
            check = []
        else:
            counted = True
            body.append(f"if {v} is None: {v} = {src.bind(p.default[0], '_d')}")
            body.append("else:")
            check = ["n += 1"]
        if p.enum is not None:
            check.append(f"if _type({v}) is not _str or {v} not in {src.bind(p.enum, '_e')}: "
                         "raise _Fallback")
        elif p.lo is None or p.hi is None:
            check.append("raise _Fallback")
        else:
            check += [f"if _type({v}) is _str:",
                      f"    if _plain({v}) is None: raise _Fallback",
                      f"    {v} = _Decimal({v})",
                      f"elif _type({v}) is _int: {v} = _Decimal({v})",
                      f"elif _type({v}) is _float: {v} = _Decimal(_repr({v}))",
                      "else: raise _Fallback",
                      f"if not ({src.constant(p.lo)} <= {v} <= {src.constant(p.hi)}): "
                      "raise _Fallback"]
            if p.quantum is not None:
                q = src.constant(p.quantum)
                if p.quantize_safe:
                    check.append(f"if {v} != {v}.quantize({q}): raise _Fallback")
                else:
                    check.append(f"if {v}.as_tuple().exponent < {-(p.places or 0)} and "
                                 f"{v} != {v}.quantize({q}): raise _Fallback")
        indent = "    " if p.default is not None else ""
        body += [indent + line for line in check] if check else []
    if counted:
        body.insert(0, f"n = {present}")
        body.append("if _len(data) != n: raise _Fallback")
    else:
        body.append(f"if _len(data) != {present}: raise _Fallback")
    if plan.conditions:
        tree = ast.BoolOp(op=ast.And(), values=list(plan.conditions)) \
            if len(plan.conditions) > 1 else plan.conditions[0]
        body.append(f"if not {src.expr(tree)}: raise _Fallback")
    for i, (name, tree) in enumerate(plan.steps):
        body.append(f"_s{i} = {src.expr(tree)}")
        locals_[name] = f"_s{i}"
    body.append(f"exact = {src.expr(plan.reduction)}")
    body.append("flags = ()")
    for name, tree in plan.review_flags:
        body.append(f"if {src.expr(tree)}: flags = flags + ({name!r},)")
    if plan.allow_negative:
        body += ["clamped = False", "gross = exact.quantize(_quantum, _rounding)"]
    else:
        body += ["clamped = exact < 0",
                 "gross = (_ZERO if clamped else exact).quantize(_quantum, _rounding)"]
    body.append("net = (gross * factor).quantize(_quantum, _rounding)")
    locals_["reduction_g"] = "net"
    body.append(f"points = {src.expr(plan.points)}")
    top = plan.points
    if not (isinstance(top, ast.Call) and isinstance(top.func, ast.Name)
            and top.func.id in _ROUNDED):  # floor/ceil give a whole number or raise in int()
        body.append("if points != points.to_integral_value(): raise _Fallback")
    body.append("points = _int(points)")
    if not plan.allow_negative:
        body.append("if points < 0: points = 0")
    # The values by name in the reference's order: parameters, inputs, the set of input
    # names, steps, reduction_g.
    entries = [f"{n!r}: {locals_[n]}" for n in params]
    entries += [f"{p.name!r}: {locals_[p.name]}" for p in plan.inputs]
    entries.append("'__inputs__': _inputs")
    entries += [f"{n!r}: {locals_[n]}" for n, _ in plan.steps]
    entries.append("'reduction_g': net")
    body.append("env = {" + ", ".join(entries) + "}")
    source = "\n".join([
        "def evaluate(data, evidence='partner_verified'):",
        "    tier = _tiers.get(evidence)",
        "    if tier is not None and _type(data) is _dict:",
        "        factor, review = tier",
        "        caller = _getcontext()",
        "        _setcontext(_A)",
        "        try:",
        *(f"            {line}" for line in body),
        "        except _Exception:",
        "            pass",
        "        else:",
        "            return _Evaluation(net, points, evidence, review or flags != (),",
        "                               _params_out, env, _step_names,",
        "                               (exact, clamped, gross, factor), flags)",
        "        finally:",
        "            _setcontext(caller)",
        "    return _reference(data, evidence)",
        ""])
    namespace: dict[str, Any] = {"__builtins__": {}, **c}
    exec(compile(source, "<methodology evaluator>", "exec"), namespace)  # noqa: S102
    evaluate = namespace["evaluate"]
    evaluate.source = source  # for tests and for reading
    return evaluate
