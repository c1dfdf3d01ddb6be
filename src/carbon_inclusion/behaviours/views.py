"""Behaviours as served, and the checks every way in applies to its input."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from carbon_inclusion import rules
from carbon_inclusion.behaviours.pipeline import Outcome
from carbon_inclusion.behaviours.schemas import (
    BehaviourOut,
    Explanation,
    MethodologyRef,
    RecordResult,
)
from carbon_inclusion.photos.schemas import PhotoRef


def grams_text(value: Decimal) -> str:
    """Grams as served: the same text whether the value came from Python or NUMERIC(20, 3)."""
    text = f"{value:.3f}".rstrip("0")
    return text + "0" if text.endswith(".") else text


def has_nul(value: Any) -> bool:
    """PostgreSQL text and JSONB cannot hold U+0000; such input is refused, not truncated."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(has_nul(k) or has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(has_nul(v) for v in value)
    return False


def behaviour_out(row: dict[str, Any], evaluation: rules.Evaluation | None = None,
                  photo: PhotoRef | None = None) -> BehaviourOut:
    """The behaviour as served; with ``evaluation``, also why it earned what it did; with
    ``photo``, the photo it carries."""
    out = BehaviourOut(
        id=row["id"], type=row["type"], status=row["status"],
        occurred_at=row["occurred_at"].astimezone(dt.UTC), source=row["source"],
        evidence=row["evidence"], reduction_g=grams_text(row["reduction_g"]),
        points=row["points"],
        methodology=MethodologyRef(row["methodology_code"], row["methodology_version"])
        if row["methodology_code"] else None,
        reason=row["reason"], reason_detail=row["reason_detail"], flags=list(row["flags"]),
        partner_id=row["partner_id"], created_at=row["created_at"], photo=photo)
    if evaluation is not None:
        out.explanation = Explanation(
            inputs=evaluation.inputs, params=evaluation.params,
            intermediates=evaluation.intermediates,
            computed_reduction_g=str(evaluation.reduction_g),
            computed_points=evaluation.points)
    return out


def record_result(i: int, o: Outcome) -> RecordResult:
    """What a partner is told of the ``i``-th record of its batch."""
    c = o.candidate
    if o.errors:
        return RecordResult(i, c.external_id, "rejected", "invalid_data",
                            [{"field": e.field, "message": e.message} for e in o.errors])
    b = o.behaviour
    assert b is not None
    if b["status"] == "superseded":  # by a later record of its period in the same batch
        return RecordResult(i, c.external_id, "superseded", b["reason"], None, b["id"], 0)
    if b["status"] not in ("credited", "pending_review"):
        return RecordResult(i, c.external_id, "rejected", b["reason"])
    return RecordResult(i, c.external_id, b["status"], b["reason"], None, b["id"], b["points"])
