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
from dataclasses import dataclass, field
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


@dataclass(frozen=True, slots=True)
class Evaluation:
    """The result of scoring one behaviour, with everything needed to explain it."""

    reduction_g: Decimal
    points: int
    evidence: str
    needs_review: bool
    inputs: dict[str, str]
    params: dict[str, Any]
    intermediates: dict[str, Any]
    values: Mapping[str, Any] = field(repr=False, compare=False, default_factory=dict)


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
        self._conditions = [(c.field, c.message, m.formulas[f"conditions.{i}"].tree)
                            for i, c in enumerate(m.doc.conditions)]
        self._reduction = m.formulas["reduction_g"].tree
        self._points = m.formulas["points"].tree
        rounding = m.doc.reduction_g.rounding
        self._quantum = Decimal(1).scaleb(-rounding.places)
        self._rounding = ROUNDING[rounding.mode]
        self._evaluator = SimpleEval(operators=dict(OPERATORS), functions=dict(FUNCTIONS),
                                     names={})

    # --- inputs ---------------------------------------------------------------------------

    def read_inputs(self, data: Mapping[str, Any]) -> dict[str, Decimal | str]:
        """Check ``data`` against the declared inputs; raise InputError naming each field."""
        problems: list[Problem] = []
        values: dict[str, Decimal | str] = {}
        for name in data:
            if name not in self.input_specs:
                problems.append(Problem(f"data.{name}", "is not an input of "
                                        f"{self.code} v{self.version} (inputs: "
                                        f"{', '.join(self.input_specs)})"))
        for name, spec in self.input_specs.items():
            path = f"data.{name}"
            raw = data.get(name)
            if raw is None:
                if spec.default is None:
                    problems.append(Problem(path, "is required"))
                    continue
                raw = spec.default
            value, message = _read(spec, raw)
            if message:
                problems.append(Problem(path, message))
            else:
                values[name] = value
        if not problems:
            for field_name, message, tree in self._conditions:
                with localcontext(ARITHMETIC):
                    if not self._run(tree, dict(values)):
                        problems.append(Problem(f"data.{field_name}", message))
        if problems:
            raise InputError(problems)
        return values

    # --- scoring --------------------------------------------------------------------------

    def evaluate(self, data: Mapping[str, Any],
                 evidence: str = "partner_verified") -> Evaluation:
        tier = self.evidence_tiers.get(evidence)
        if tier is None:
            raise InputError([Problem("evidence", f"must be one of "
                                      f"{', '.join(self.evidence_tiers)}")])
        values = self.read_inputs(data)
        env: dict[str, Any] = {**self._params, **values}
        intermediates: dict[str, Any] = {}
        try:
            with localcontext(ARITHMETIC):
                for name, tree in self._steps:
                    env[name] = self._run(tree, env)
                    intermediates[name] = str(env[name])
                exact = self._run(self._reduction, env)
                intermediates["reduction_g_exact"] = str(exact)
                if exact < 0 and not self.allow_negative:
                    exact = ZERO
                    intermediates["clamped_to_zero"] = True
                gross = exact.quantize(self._quantum, rounding=self._rounding)
                net = (gross * tier.factor).quantize(self._quantum, rounding=self._rounding)
                intermediates["reduction_g_gross"] = str(gross)
                intermediates["evidence_factor"] = str(tier.factor)
                intermediates["reduction_g"] = str(net)
                env["reduction_g"] = net
                points = self._points_of(env)
        except (ArithmeticError, InvalidExpression, TypeError, KeyError) as exc:
            raise InputError([Problem("data", f"cannot be scored: {exc!r}")]) from None
        return Evaluation(
            reduction_g=net, points=points, evidence=evidence, needs_review=tier.review,
            inputs={k: str(v) for k, v in values.items()}, params=self._params_out,
            intermediates=intermediates, values=env,
        )

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
    if places is not None and value != value.quantize(Decimal(1).scaleb(-places),
                                                      context=ARITHMETIC):
        return None, ("must be a whole number" if places == 0
                      else f"has more than {places} decimal place{'s' if places > 1 else ''}")
    return value, None
