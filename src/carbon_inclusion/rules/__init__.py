"""The rules engine: methodology documents, their checks, and the evaluator. Pure: no I/O.

    m = load_document(raw)            # DocumentError(.errors) naming each field at fault
    c = compile_methodology(m)        # once per published version
    e = c.evaluate(data, "partner_verified")   # InputError(.errors) on bad data
    paid = apply_limits(c.period_limits, {"day": used_today, "month": used_this_month},
                        e.reduction_g, e.points, lambda g: c.points_for(e, g))
    c.once_per                        # a period behaviour's rule (core.periods settles it)
"""

from carbon_inclusion.rules.calendar import (
    day_bounds,
    period_bounds,
    period_start,
    programme_day,
)
from carbon_inclusion.rules.document import (
    DEFAULT_PLAUSIBILITY_PERCENTILE,
    EVIDENCE_TIERS,
    DailyLimits,
    Document,
    Methodology,
    canonical_json,
    load_document,
    methodology_schema,
    photo_problem,
    photo_sends_to_review,
    plausibility_percentile,
)
from carbon_inclusion.rules.errors import DocumentError, InputError, Problem, RulesError
from carbon_inclusion.rules.evaluate import CompiledMethodology, Evaluation, compile_methodology
from carbon_inclusion.rules.limits import (
    DayUsage,
    Paid,
    PeriodPaid,
    apply_daily_limits,
    apply_limits,
)

__all__ = [
    "DEFAULT_PLAUSIBILITY_PERCENTILE",
    "EVIDENCE_TIERS",
    "CompiledMethodology",
    "DailyLimits",
    "DayUsage",
    "Document",
    "DocumentError",
    "Evaluation",
    "InputError",
    "Methodology",
    "Paid",
    "PeriodPaid",
    "Problem",
    "RulesError",
    "apply_daily_limits",
    "apply_limits",
    "canonical_json",
    "compile_methodology",
    "day_bounds",
    "load_document",
    "methodology_schema",
    "period_bounds",
    "period_start",
    "photo_problem",
    "photo_sends_to_review",
    "plausibility_percentile",
    "programme_day",
]
