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

from collections.abc import Mapping
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
    localcontext,
)
from typing import Any

from simpleeval import InvalidExpression, SimpleEval

from carbon_inclusion.rules.document import InputSpec, Methodology
from carbon_inclusion.rules.errors import InputError, Problem
from carbon_inclusion.rules.expressions import FUNCTIONS, OPERATORS

ROUNDING = {"half_even": ROUND_HALF_EVEN, "half_up": ROUND_HALF_UP,
            "half_down": ROUND_HALF_DOWN, "down": ROUND_DOWN, "up": ROUND_UP,
            "floor": ROUND_FLOOR, "ceiling": ROUND_CEILING}

ARITHMETIC = Context(prec=34, rounding=ROUND_HALF_EVEN,
                     traps=[InvalidOperation, DivisionByZero, Overflow])
ZERO = Decimal(0)
QUANTA = {places: Decimal(1).scaleb(-places) for places in range(7)}


class CheckedEval(SimpleEval):
    """simpleeval, minus its per-node scan of every intermediate value for forbidden objects.

    That scan guards against names bound to modules or dangerous callables. Here every name
    is a declared input (``Decimal``/``str``), parameter (``Decimal`` or a table of them) or
    step, and every call is one of ``FUNCTIONS``, all fixed when the document was checked
    (``expressions.parse``), so the scan can find nothing and only costs time (about a third
    of an evaluation). For the same reason names and constants are looked up directly (no
    fall-back to functions, no length check on literals the checker already bounded).
    Node dispatch, operators and calls are simpleeval's own.
    """

    def _eval(self, node: Any) -> Any:
        return self.nodes[type(node)](node)

    def _eval_name(self, node: Any) -> Any:
        return self.names[node.id]

    def _eval_compare(self, node: Any) -> Any:
        if len(node.ops) == 1:  # the usual case, without the loop
            op = self.operators[type(node.ops[0])]
            return op(self._eval(node.left), self._eval(node.comparators[0]))
        return super()._eval_compare(node)

    @staticmethod
    def _eval_constant(node: Any) -> Any:
        return node.value


class Evaluation:
    """The result of scoring one behaviour, with everything needed to explain it.

    ``inputs`` (as stored) and ``intermediates`` (every value worked out on the way) are
    rendered as text when asked for, not on every evaluation.
    """

    __slots__ = ("_steps", "_trace", "evidence", "needs_review", "params", "points",
                 "reduction_g", "values")

    def __init__(self, reduction_g: Decimal, points: int, evidence: str, needs_review: bool,
                 params: dict[str, Any], values: dict[str, Any], steps: tuple[str, ...],
                 trace: tuple[Any, ...]) -> None:
        self.reduction_g = reduction_g
        self.points = points
        self.evidence = evidence
        self.needs_review = needs_review
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
        return out

    def _key(self) -> tuple[Any, ...]:
        return (self.reduction_g, self.points, self.evidence, self.needs_review, self.inputs,
                self.intermediates)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Evaluation) and self._key() == other._key()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (f"Evaluation(reduction_g={self.reduction_g!r}, points={self.points}, "
                f"evidence={self.evidence!r}, needs_review={self.needs_review})")


class CompiledMethodology:
    """A loaded methodology ready to score behaviours; build once per published version.

    Evaluation is synchronous and keeps no state between calls, but reuses one evaluator
    object: share an instance within a thread (an event loop), not across threads.
    """

    def __init__(self, methodology: Methodology) -> None:
        m = methodology
        self.methodology = m
        self.code, self.version, self.sha256 = m.code, m.version, m.sha256
        self.behaviour = m.behaviour
        self.limits = m.doc.limits.per_day
        self.evidence_tiers = m.evidence
        self.allow_negative = m.doc.allow_negative
        self.input_specs: dict[str, InputSpec] = m.inputs
        self._params = {name: p.value for name, p in m.params.items()}
        self._params_out = {name: _plain(v) for name, v in self._params.items()}
        self._steps = [(key.removeprefix("steps."), f.tree)
                       for key, f in m.formulas.items() if key.startswith("steps.")]
        self._input_names = frozenset(m.inputs)
        self._step_names = tuple(key.removeprefix("steps.") for key in m.formulas
                                 if key.startswith("steps."))
        self._conditions = [(c.field, c.message, m.formulas[f"conditions.{i}"].tree)
                            for i, c in enumerate(m.doc.conditions)]
        self._reduction = m.formulas["reduction_g"].tree
        self._points = m.formulas["points"].tree
        rounding = m.doc.reduction_g.rounding
        self._quantum = QUANTA[rounding.places]
        self._rounding = ROUNDING[rounding.mode]
        self._evaluator = CheckedEval(operators=dict(OPERATORS), functions=dict(FUNCTIONS),
                                      names={})

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
        env: dict[str, Any] = dict(self._params)
        for name, spec in self.input_specs.items():
            raw = data.get(name)
            if raw is None:
                if spec.default is None:
                    problems.append(Problem(f"data.{name}", "is required"))
                    continue
                raw = spec.default
            value, message = _read(spec, raw)
            if message:
                problems.append(Problem(f"data.{name}", message))
            else:
                env[name] = value
        if not problems:
            for field_name, message, tree in self._conditions:
                if not self._run(tree, env):
                    problems.append(Problem(f"data.{field_name}", message))
        if problems:
            raise InputError(problems)
        env["__inputs__"] = self._input_names
        return env

    # --- scoring --------------------------------------------------------------------------

    def evaluate(self, data: Mapping[str, Any],
                 evidence: str = "partner_verified") -> Evaluation:
        tier = self.evidence_tiers.get(evidence)
        if tier is None:
            raise InputError([Problem("evidence", f"must be one of "
                                      f"{', '.join(self.evidence_tiers)}")])
        quantum, rounding = self._quantum, self._rounding
        with localcontext(ARITHMETIC):
            env = self._read_inputs(data)
            try:
                for name, tree in self._steps:
                    env[name] = self._run(tree, env)
                exact = self._run(self._reduction, env)
                clamped = exact < 0 and not self.allow_negative
                gross = (ZERO if clamped else exact).quantize(quantum, rounding=rounding)
                net = (gross * tier.factor).quantize(quantum, rounding=rounding)
                env["reduction_g"] = net
                points = self._points_of(env)
            except (ArithmeticError, InvalidExpression, TypeError, KeyError) as exc:
                raise InputError([Problem("data", f"cannot be scored: {exc!r}")]) from None
        return Evaluation(net, points, evidence, tier.review, self._params_out, env,
                          self._step_names, (exact, clamped, gross, tier.factor))

    def points_for(self, evaluation: Evaluation, reduction_g: Decimal) -> int:
        """Points the same behaviour would earn had it been credited ``reduction_g`` grams
        (used when a daily gram cap pays only part of a behaviour)."""
        env = {**evaluation.values, "reduction_g": reduction_g}
        with localcontext(ARITHMETIC):
            return self._points_of(env)

    def _points_of(self, env: dict[str, Any]) -> int:
        points = self._run(self._points, env)
        if points != points.to_integral_value():  # the checker makes this unreachable
            raise ArithmeticError(f"points formula gave a fraction: {points}")
        return max(int(points), 0) if not self.allow_negative else int(points)

    def _run(self, tree: Any, env: dict[str, Any]) -> Any:
        evaluator = self._evaluator
        evaluator.names = env
        return evaluator._eval(tree)  # the tree was parsed and checked at load time


def compile_methodology(methodology: Methodology) -> CompiledMethodology:
    return CompiledMethodology(methodology)


def _plain(value: Decimal | dict[str, Decimal]) -> Any:
    if isinstance(value, dict):
        return {k: str(v) for k, v in value.items()}
    return str(value)


def _read(spec: InputSpec, raw: Any) -> tuple[Any, str | None]:
    if spec.type == "enum":
        if not isinstance(raw, str) or raw not in (spec.values or ()):
            return None, f"must be one of {', '.join(spec.values or ())}"
        return raw, None
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        return None, "must be a number (a JSON number or a decimal string)"
    try:
        value = Decimal(repr(raw)) if isinstance(raw, float) else Decimal(raw)
    except (InvalidOperation, ValueError):
        return None, "must be a decimal number such as 12.5"
    if not value.is_finite():
        return None, "must be a finite number"
    assert spec.min is not None and spec.max is not None
    if not spec.min <= value <= spec.max:
        unit = f" {spec.unit}" if spec.unit else ""
        return None, f"must be between {spec.min} and {spec.max}{unit}"
    places = 0 if spec.type == "integer" else spec.places
    if places is not None and value.as_tuple().exponent < -places \
            and value != value.quantize(QUANTA[places]):  # 12.50 is fine for one place
        return None, ("must be a whole number" if places == 0
                      else f"has more than {places} decimal place{'s' if places > 1 else ''}")
    return value, None
