"""A document that does not check is refused with the reason and the field."""

from __future__ import annotations

import pytest

from carbon_inclusion import rules
from tests.methodologies.conftest import document

KM = {"type": "decimal", "min": "0.1", "max": "60", "unit": "km", "places": 1}


def refused(doc: dict) -> list[rules.Problem]:
    with pytest.raises(rules.DocumentError) as caught:
        rules.load_document(doc)
    return caught.value.errors


def formula(f: str) -> dict:
    return {"reduction_g": {"formula": f, "rounding": {"places": 1, "mode": "half_even"}}}


CASES = [
    ({"surprise": 1}, "surprise", "unknown field"),
    ({"version": "one"}, "version", "Expected `int`"),
    ({"version": 0}, "version", ">= 1"),
    ({"code": "lower-case"}, "code", "matching regex"),
    ({"behaviour": "Bad Type"}, "behaviour", "matching regex"),
    ({"params": {"factor_g_per_pkm": {"value": "46.8", "unit": "g/pkm"},
                 "g_per_point": {"value": "10", "unit": "g", "source": "peg"}}},
     "params.factor_g_per_pkm.source", "missing required field"),
    ({"params": {"factor_g_per_pkm": {"value": "46.8", "unit": "g/pkm", "source": "  "},
                 "g_per_point": {"value": "10", "unit": "g", "source": "peg"}}},
     "params.factor_g_per_pkm.source", "cite"),
    ({"params": {"factor_g_per_pkm": {"value": "abc", "unit": "g", "source": "s"},
                 "g_per_point": {"value": "10", "unit": "g", "source": "peg"}}},
     "params.factor_g_per_pkm.value", ""),
    ({"params": {"factor_g_per_pkm": {"value": "Infinity", "unit": "g", "source": "s"},
                 "g_per_point": {"value": "10", "unit": "g", "source": "peg"}}},
     "params.factor_g_per_pkm.value", "finite"),
    (formula("distanse_km * factor_g_per_pkm"), "reduction_g.formula",
     "unknown name `distanse_km`"),
    (formula("distance_km * factor_g_per_pkm +"), "reduction_g.formula", "does not parse"),
    (formula("factor_g_per_pkm / (distance_km - 1)"), "reduction_g.formula",
     "division by `distance_km - 1` can fail"),
    ({"params": {"factor_g_per_pkm": {"value": "46.8", "unit": "g", "source": "s"},
                 "g_per_point": {"value": "0", "unit": "g", "source": "peg"}}},
     "points.formula", "division by `g_per_point` can fail"),
    ({"points": {"formula": "reduction_g / g_per_point"}}, "points.formula", "whole number"),
    ({"points": {"formula": "floor(distance_km)"}}, "points.formula", "reduction_g"),
    ({"params": {"factor_g_per_pkm": {"value": "46.8", "unit": "g", "source": "s"},
                 "g_per_point": {"value": "10", "unit": "g", "source": "peg"},
                 "spare": {"value": "1", "unit": "-", "source": "s"}}},
     "params.spare", "not used"),
    ({"inputs": {"distance_km": KM, "mode": {"type": "enum", "values": ["metro", "bus"]}},
      **formula("distance_km * factor_g_per_pkm if mode == 'metor' else distance_km")},
     "reduction_g.formula", "'metor' is not one of"),
    ({"inputs": {"distance_km": KM, "mode": {"type": "enum", "values": ["metro", "bus"]}},
      "params": {"table": {"value": {"metro": "46.8"}, "unit": "g", "source": "s"},
                 "g_per_point": {"value": "10", "unit": "g", "source": "peg"}},
      **formula("distance_km * table[mode]")},
     "reduction_g.formula", "no entry for bus"),
    (formula("distance_km + (distance_km > 1)"), "reduction_g.formula", "not a number"),
    ({"effective_to": "2025-01-01T00:00:00+08:00"}, "effective_to", "later than"),
    ({"effective_from": "2026-01-01T00:00:00"}, "effective_from", "UTC offset"),
    ({"inputs": {"g_per_point": KM}}, "params.g_per_point", "already declared"),
    ({"inputs": {"floor": KM}}, "inputs.floor", "reserved"),
    ({"inputs": {"Distance": KM}}, "inputs.Distance", "lower-case"),
    ({"inputs": {"distance_km": {**KM, "max": None}}}, "inputs.distance_km.max", "bounds"),
    ({"inputs": {"distance_km": {**KM, "min": "9", "max": "1"}}}, "inputs.distance_km.max",
     "below min"),
    ({"inputs": {"distance_km": {**KM, "default": "99"}}}, "inputs.distance_km.default",
     "within min and max"),
    ({"evidence": {"partner_verified": {"factor": "1.5"}}}, "evidence.partner_verified.factor",
     "between 0 and 1"),
    ({"evidence": {"neighbour_says_so": {"factor": "1"}}}, "evidence.neighbour_says_so",
     "unknown tier"),
    ({"conditions": [{"require": "distance_km * 2", "field": "distance_km", "message": "m"}]},
     "conditions[0].require", "not a condition"),
    ({"conditions": [{"require": "distance_km > 1", "field": "nope", "message": "m"}]},
     "conditions[0].field", "must name an input"),
    ({"limits": {"per_day": {"count": 0}}}, "limits.per_day.count", ">= 1"),
    ({"reduction_g": {"formula": "distance_km * factor_g_per_pkm",
                      "rounding": {"places": 7, "mode": "half_even"}}},
     "reduction_g.rounding.places", "<= 3"),
]


@pytest.mark.parametrize(("change", "field", "message"), CASES,
                         ids=[c[1] + ":" + c[2][:20] for c in CASES])
def test_each_fault_is_refused_naming_its_field(change, field, message):
    doc = document("T-DOC")
    doc.update(change)
    problems = refused(doc)
    assert any(p.field == field and message in p.message for p in problems), problems


def test_a_division_by_an_input_that_cannot_be_zero_is_accepted():
    m = rules.load_document(document("T-DOC", **formula("factor_g_per_pkm * 10 / distance_km")))
    assert m.code == "T-DOC"


def test_the_stored_document_is_normalised_and_hashed_canonically():
    m = rules.load_document(document("T-DOC"))
    stored = m.to_dict()
    assert stored["params"]["factor_g_per_pkm"]["value"] == "46.8"
    assert stored["effective_to"] is None
    assert rules.load_document(stored).sha256 == m.sha256
    assert len(m.sha256) == 64
