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
with ``repr``) and constants passed by reference, so no text of a document is ever run.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterable, Mapping
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any

from carbon_inclusion.rules.expressions import FUNCTIONS, FormulaError

Compiled = Callable[[Mapping[str, Any]], Any]

_BINARY = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/"}
_UNARY = {ast.USub: "-", ast.UAdd: "+", ast.Not: "not "}
_COMPARE = {ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">",
            ast.GtE: ">="}
_BOOL = {ast.And: " and ", ast.Or: " or "}
_ROUNDED = {"floor": "_ROUND_FLOOR", "ceil": "_ROUND_CEILING"}


class _Source:
    """Python source for checked trees, with the constants they need."""

    def __init__(self) -> None:
        self.constants: dict[str, Any] = {f"_f_{name}": fn for name, fn in FUNCTIONS.items()}
        self.constants.update(_ROUND_FLOOR=ROUND_FLOOR, _ROUND_CEILING=ROUND_CEILING)
        self._numbers: dict[tuple[type, str], str] = {}

    def constant(self, value: Any) -> str:
        key = (type(value), str(value))  # Decimal('1.0') and Decimal('1') stay distinct
        name = self._numbers.get(key)
        if name is None:
            name = self._numbers[key] = f"_k{len(self._numbers)}"
            self.constants[name] = value
        return name

    def expr(self, node: ast.expr) -> str:
        if isinstance(node, ast.Constant):
            value = node.value
            if isinstance(value, bool) or value is None:
                return repr(value)
            if isinstance(value, str):
                return repr(value)
            if isinstance(value, Decimal):
                return self.constant(value)
        elif isinstance(node, ast.Name):
            return f"env[{node.id!r}]"
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
        namespace = dict(self.constants)
        exec(compile(source, f"<formula {name}>", "exec"), namespace)  # noqa: S102
        return namespace[name]


def compile_expression(tree: ast.expr) -> Compiled:
    """One checked formula tree as a function of ``env`` (the values by name)."""
    source = _Source()
    return source.function("formula", [f"return {source.expr(tree)}"])


def compile_program(steps: Iterable[tuple[str, ast.expr]], result: ast.expr) -> Compiled:
    """Steps in order, each stored into ``env`` under its name, then ``result``: one
    function, so a methodology's whole calculation is a single call."""
    source = _Source()
    body = [f"env[{name!r}] = {source.expr(tree)}" for name, tree in steps]
    body.append(f"return {source.expr(result)}")
    return source.function("program", body)
