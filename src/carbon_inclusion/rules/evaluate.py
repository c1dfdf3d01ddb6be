"""Scoring one behaviour under one methodology version: exact, deterministic, explained.

Order of work, the same on every run:

1. the behaviour's ``data`` is checked against the declared inputs (type, bounds, decimal
   places; unknown or missing fields are errors) and read into ``Decimal``/``str``;
2. the steps, then ``reduction_g.formula``, are evaluated under a decimal context with 34
   significant digits that traps invalid operations, division by zero and overflow;
3. a negative reduction becomes 0 unless the document sets ``allow_negative``;
4. the reduction is rounded as the document states (``rounding.places``/``mode``), then
   multiplied by the evidence tier's factor and rounded again the same way: that is
   ``reduction_g``, the grams credited;
5. ``points.formula`` is evaluated with ``reduction_g`` and must give a whole number.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Mapping
from decimal import (
    ROUND_CEILING,
    ROUND_DOWN,
    ROUND_FLOOR,
    ROUND_HALF_DOWN,
    ROUND_HALF_EVEN,
    ROUND_HALF_UP,
    ROUND_UP,
    Context,
    Decimal,
    DivisionByZero,
    InvalidOperation,
    Overflow,
    getcontext,
    localcontext,
    setcontext,
)
from typing import Any

from carbon_inclusion.rules.compiler import (
    EvaluatorPlan,
    InputPlan,
    compile_evaluator,
    compile_expression,
    compile_program,
)
from carbon_inclusion.rules.document import InputSpec, Methodology
from carbon_inclusion.rules.errors import InputError, Problem
from carbon_inclusion.rules.expressions import FUNCTIONS, OPERATORS

__all__ = ["FUNCTIONS", "OPERATORS", "CheckedEval", "CompiledMethodology", "Evaluation",
           "compile_methodology"]

ROUNDING = {"half_even": ROUND_HALF_EVEN, "half_up": ROUND_HALF_UP,
            "half_down": ROUND_HALF_DOWN, "down": ROUND_DOWN, "up": ROUND_UP,
            "floor": ROUND_FLOOR, "ceiling": ROUND_CEILING}

ARITHMETIC = Context(prec=34, rounding=ROUND_HALF_EVEN,
                     traps=[InvalidOperation, DivisionByZero, Overflow])
ZERO = Decimal(0)
# A number given as a string: its plain decimal form only, ASCII digits (Decimal() itself
# also takes "5_0", " 5 ", "NaN" and non-ASCII digits such as "٥").
PLAIN_DECIMAL = re.compile(r"-?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
NON_FINITE = re.compile(r"[+-]?(?:s?nan|inf|infinity)", re.IGNORECASE)  # "must be finite"
QUANTA = {places: Decimal(1).scaleb(-places) for places in range(7)}


class CheckedEval:
    """The evaluator's former interface, kept for badge conditions: ``names`` is the
    environment and ``_eval(tree)`` runs a checked tree, compiled once per tree by
    ``compiler.compile_expression`` (``operators``/``functions`` are fixed by the checker
    and only accepted for compatibility)."""

    __slots__ = ("names",)

    def __init__(self, operators: Any = None, functions: Any = None,
                 names: Mapping[str, Any] | None = None) -> None:
        self.names: Mapping[str, Any] = {} if names is None else names

    def _eval(self, tree: Any) -> Any:
        run = tree.__dict__.get("_compiled")
        if run is None:
            run = tree._compiled = compile_expression(tree)
        return run(self.names)


class Evaluation:
    """The result of scoring one behaviour, with everything needed to explain it.

    ``inputs`` (as stored) and ``intermediates`` (every value worked out on the way) are
    rendered as text when asked for, not on every evaluation.
    """

    __slots__ = ("_steps", "_trace", "evidence", "flags", "needs_review", "params", "points",
                 "reduction_g", "values")

    def __init__(self, reduction_g: Decimal, points: int, evidence: str, needs_review: bool,
                 params: dict[str, Any], values: dict[str, Any], steps: tuple[str, ...],
                 trace: tuple[Any, ...], flags: tuple[str, ...] = ()) -> None:
        self.reduction_g = reduction_g
        self.points = points
        self.evidence = evidence
        # The evidence tier asks for review, or a review flag was raised (``flags``: the
        # document's ``review_flags`` whose condition held, in the document's order).
        self.needs_review = needs_review
        self.flags = flags
        self.params = params
        self.values = values  # inputs, parameters, steps and reduction_g by name
        self._steps = steps
        self._trace = trace  # (exact, clamped, gross, factor)

    @property
    def inputs(self) -> dict[str, str]:
        return {k: str(v) for k, v in self.values.items() if k in self._input_names}

    @property
    def _input_names(self) -> frozenset[str]:
        return self.values["__inputs__"]

    @property
    def intermediates(self) -> dict[str, Any]:
        exact, clamped, gross, factor = self._trace
        out: dict[str, Any] = {name: str(self.values[name]) for name in self._steps}
        out["reduction_g_exact"] = str(exact)
        if clamped:
            out["clamped_to_zero"] = True
        out["reduction_g_gross"] = str(gross)
        out["evidence_factor"] = str(factor)
        out["reduction_g"] = str(self.reduction_g)
        if self.flags:
            out["review_flags"] = list(self.flags)
        return out

    def _key(self) -> tuple[Any, ...]:
        return (self.reduction_g, self.points, self.evidence, self.needs_review, self.flags,
                self.inputs, self.intermediates)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Evaluation) and self._key() == other._key()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (f"Evaluation(reduction_g={self.reduction_g!r}, points={self.points}, "
                f"evidence={self.evidence!r}, needs_review={self.needs_review}, "
                f"flags={self.flags!r})")


class CompiledMethodology:
    """A loaded methodology ready to score behaviours; build once per published version.

    Every formula is compiled to a Python function here, once (``compiler``), and so is
    the whole evaluation: ``evaluate`` is one generated function
    (``compiler.compile_evaluator``) that takes the usual road itself and hands every other
    case to ``evaluate_checked``, the step-by-step reference, whose results it gives to the
    last digit. Evaluation is synchronous and keeps no state between calls, so an instance
    may be shared freely.
    """

    #: ``evaluate(data, evidence="partner_verified") -> Evaluation``, set per instance.
    evaluate: Callable[..., Evaluation]

    def __init__(self, methodology: Methodology) -> None:
        m = methodology
        self.methodology = m
        self.code, self.version, self.sha256 = m.code, m.version, m.sha256
        self.behaviour = m.behaviour
        self.limits = m.doc.limits.per_day
        self.period_limits = m.doc.limits.by_period()  # caps by period unit, days first
        self.once_per = m.doc.once_per  # a period behaviour's rule, or None
        # Seconds within which two records are one behaviour (None: the programme's).
        self.same_behaviour_window_s = m.doc.same_behaviour_window_s
        self.evidence_tiers = m.evidence
        self.allow_negative = m.doc.allow_negative
        self.input_specs: dict[str, InputSpec] = m.inputs
        self._params = {name: p.value for name, p in m.params.items()}
        self._params_out = {name: _plain(v) for name, v in self._params.items()}
        self._input_names = frozenset(m.inputs)
        self._readers = [(name, spec.default, _Reader(spec)) for name, spec in m.inputs.items()]
        self._enums = {name: r.enum for name, _, r in self._readers if r.enum is not None}
        self._step_names = tuple(key.removeprefix("steps.") for key in m.formulas
                                 if key.startswith("steps."))
        trees = [m.formulas[f"conditions.{i}"].tree for i in range(len(m.doc.conditions))]
        self._conditions = [(c.field, c.message, compile_expression(tree))
                            for c, tree in zip(m.doc.conditions, trees, strict=True)]
        # All of them in one call, the usual case; each on its own only to name a failure.
        self._all_conditions = compile_expression(
            ast.BoolOp(op=ast.And(), values=trees) if trees else ast.Constant(value=True))
        # The steps then the reduction as one function; the points formula on its own,
        # since a daily gram cap asks for it again (points_for).
        self._calculate = compile_program(
            [(key.removeprefix("steps."), f.tree) for key, f in m.formulas.items()
             if key.startswith("steps.")],
            m.formulas["reduction_g"].tree)
        self._points = compile_expression(m.formulas["points"].tree)
        # The review flags: (flag, its condition) in the document's order, and what a
        # reviewer is shown of each (``review_details``).
        self.review_flags = tuple(m.doc.review_flags or ())
        self._flag_trees = tuple((f.flag, m.formulas[f"review_flags.{i}"].tree)
                                 for i, f in enumerate(self.review_flags))
        self._flags = [(name, compile_expression(tree)) for name, tree in self._flag_trees]
        rounding = m.doc.reduction_g.rounding
        self._quantum = QUANTA[rounding.places]
        self._rounding = ROUNDING[rounding.mode]
        self.evaluate = compile_evaluator(self._plan(trees))

    def _plan(self, conditions: list[ast.expr]) -> EvaluatorPlan:
        m = self.methodology
        inputs = []
        for name, default, reader in self._readers:
            value: tuple[Any] | None = None
            if default is not None:
                with localcontext(ARITHMETIC):
                    read, message = reader.read(default)
                value = None if message else (read,)
            inputs.append(InputPlan(name, reader.enum, value, reader.lo, reader.hi,
                                    reader.quantum, reader.places, reader.quantize_safe))
        return EvaluatorPlan(
            inputs=tuple(inputs), input_names=self._input_names, params=self._params,
            conditions=tuple(conditions),
            steps=tuple((key.removeprefix("steps."), f.tree) for key, f in m.formulas.items()
                        if key.startswith("steps.")),
            reduction=m.formulas["reduction_g"].tree, points=m.formulas["points"].tree,
            allow_negative=self.allow_negative, quantum=self._quantum,
            rounding=self._rounding,
            review_flags=self._flag_trees,
            tiers={name: (tier.factor, tier.review) for name, tier in self.evidence_tiers.items()},
            params_out=self._params_out, step_names=self._step_names, context=ARITHMETIC,
            plain_decimal=PLAIN_DECIMAL.fullmatch, evaluation=Evaluation,
            reference=self.evaluate_checked)

    # --- inputs ---------------------------------------------------------------------------

    def read_inputs(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """Check ``data`` against the declared inputs and conditions; raise InputError
        naming each field. Returns the values by name, parameters included."""
        with localcontext(ARITHMETIC):
            return self._read_inputs(data)

    def _read_inputs(self, data: Mapping[str, Any]) -> dict[str, Any]:
        problems: list[Problem] = []
        if not data.keys() <= self._input_names:
            problems += [Problem(f"data.{name}", f"is not an input of {self.code} "
                                 f"v{self.version} (inputs: {', '.join(self.input_specs)})")
                         for name in data if name not in self._input_names]
        env: dict[str, Any] = self._params.copy()
        enums = self._enums
        for name, default, reader in self._readers:
            raw = data.get(name)
            if raw is None:
                if default is None:
                    problems.append(Problem(f"data.{name}", "is required"))
                    continue
                raw = default
            elif type(raw) is str and raw in enums.get(name, ()):  # an enum's value, as is
                env[name] = raw
                continue
            value, message = reader.read(raw)
            if message:
                problems.append(Problem(f"data.{name}", message))
            else:
                env[name] = value
        if not problems and not self._all_conditions(env):
            for field_name, message, condition in self._conditions:
                if not condition(env):
                    problems.append(Problem(f"data.{field_name}", message))
        if problems:
            raise InputError(problems)
        env["__inputs__"] = self._input_names
        return env

    # --- scoring --------------------------------------------------------------------------

    def evaluate_checked(self, data: Mapping[str, Any],
                         evidence: str = "partner_verified") -> Evaluation:
        """The reference evaluation, one checked step at a time; ``evaluate`` answers the
        same, faster, and calls this for every case off the usual road."""
        tier = self.evidence_tiers.get(evidence)
        if tier is None:
            raise InputError([Problem("evidence", f"must be one of "
                                      f"{', '.join(self.evidence_tiers)}")])
        quantum, rounding = self._quantum, self._rounding
        # As ``localcontext(ARITHMETIC)``, without copying the context on every call (a
        # tenth of an evaluation): nothing here changes the context's settings, and the
        # flags it collects are never read.
        caller = getcontext()
        setcontext(ARITHMETIC)
        try:
            env = self._read_inputs(data)
            try:
                exact = self._calculate(env)
                flags = tuple(name for name, raised in self._flags if raised(env))
                clamped = exact < 0 and not self.allow_negative
                gross = (ZERO if clamped else exact).quantize(quantum, rounding=rounding)
                net = (gross * tier.factor).quantize(quantum, rounding=rounding)
                env["reduction_g"] = net
                points = self._points_of(env)
            except (ArithmeticError, TypeError, KeyError) as exc:
                raise InputError([Problem("data", f"cannot be scored: {exc!r}")]) from None
        finally:
            setcontext(caller)
        return Evaluation(net, points, evidence, tier.review or bool(flags), self._params_out,
                          env, self._step_names, (exact, clamped, gross, tier.factor), flags)

    def review_details(self, flags: tuple[str, ...]) -> list[dict[str, Any]]:
        """What a reviewer is shown of the raised ``flags``: each flag, its field, why."""
        return [{"flag": f.flag, "field": f.field, "message": f.message}
                for f in self.review_flags if f.flag in flags]

    def points_for(self, evaluation: Evaluation, reduction_g: Decimal) -> int:
        """Points the same behaviour would earn had it been credited ``reduction_g`` grams
        (used when a daily gram cap pays only part of a behaviour)."""
        env = {**evaluation.values, "reduction_g": reduction_g}
        with localcontext(ARITHMETIC):
            return self._points_of(env)

    def _points_of(self, env: dict[str, Any]) -> int:
        points = self._points(env)
        if points != points.to_integral_value():  # the checker makes this unreachable
            raise ArithmeticError(f"points formula gave a fraction: {points}")
        return max(int(points), 0) if not self.allow_negative else int(points)

def compile_methodology(methodology: Methodology) -> CompiledMethodology:
    return CompiledMethodology(methodology)


def _plain(value: Decimal | dict[str, Decimal]) -> Any:
    if isinstance(value, dict):
        return {k: str(v) for k, v in value.items()}
    return str(value)


class _Reader:
    """How one declared input is read and checked, worked out once per version."""

    __slots__ = ("enum", "hi", "lo", "places", "quantize_safe", "quantum", "spec")

    def __init__(self, spec: InputSpec) -> None:
        self.spec = spec
        self.enum = frozenset(spec.values or ()) if spec.type == "enum" else None
        self.lo, self.hi = spec.min, spec.max
        self.places = 0 if spec.type == "integer" else spec.places
        self.quantum = None if self.places is None else QUANTA[self.places]
        # Quantizing a value within the bounds cannot pass the 34 digits of ARITHMETIC, so
        # comparing with its quantized self is the whole test; otherwise look at the
        # exponent first, as a value like 1E+30 must not be quantized to six places.
        self.quantize_safe = self.places is not None and self.enum is None and all(
            b is None or b.is_zero() or b.adjusted() + self.places < 33
            for b in (self.lo, self.hi))

    def read(self, raw: Any) -> tuple[Any, str | None]:
        spec = self.spec
        if self.enum is not None:
            if not isinstance(raw, str) or raw not in self.enum:
                return None, f"must be one of {', '.join(spec.values or ())}"
            return raw, None
        kind = type(raw)
        if kind is not str and kind is not int and (
                isinstance(raw, bool) or not isinstance(raw, int | float | str)):
            return None, "must be a number (a JSON number or a decimal string)"
        if kind is str and PLAIN_DECIMAL.fullmatch(raw) is None and (
                NON_FINITE.fullmatch(raw) is None):
            return None, "must be a decimal number such as 12.5"
        try:
            value = Decimal(repr(raw)) if isinstance(raw, float) else Decimal(raw)
        except (InvalidOperation, ValueError):
            return None, "must be a decimal number such as 12.5"
        if not value.is_finite():
            return None, "must be a finite number"
        lo, hi = self.lo, self.hi
        assert lo is not None and hi is not None
        if not lo <= value <= hi:
            unit = f" {spec.unit}" if spec.unit else ""
            return None, f"must be between {lo} and {hi}{unit}"
        quantum = self.quantum
        if quantum is not None and (
                value != value.quantize(quantum) if self.quantize_safe
                else value.as_tuple().exponent < -self.places  # type: ignore[operator]
                and value != value.quantize(quantum)):  # 12.50 is fine for one place
            places = self.places
            return None, ("must be a whole number" if places == 0
                          else f"has more than {places} decimal place{'s' if places > 1 else ''}")
        return value, None
