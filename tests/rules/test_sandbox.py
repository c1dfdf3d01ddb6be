"""Formulas are checked before they run: nothing outside arithmetic gets through."""

from __future__ import annotations

from decimal import Decimal

import pytest

from carbon_inclusion import rules
from tests.methodologies.conftest import document

ESCAPES = [
    "__import__('os').system('true')",
    "distance_km.__class__",
    "().__class__.__bases__",
    "[x for x in (1, 2)]",
    "(lambda: 1)()",
    "open('/etc/passwd')",
    "eval('1')",
    "getattr(distance_km, 'real')",
    "2 ** 1000000",
    "9 ** 9 ** 9",
    "distance_km // 2",
    "distance_km % 2",
    "f'{distance_km}'",
    "(x := 1)",
    "{}",
    "[]",
    "distance_km[0]",
    "distance_km if distance_km else 0",
    "min(*[distance_km])",
    "distance_km << 2",
    "'a' * 100000000",
    "distance_km * factor_g_per_pkm; 1",
]


@pytest.mark.parametrize("source", ESCAPES)
def test_escapes_are_refused_when_the_document_is_submitted(source):
    doc = document("T-BOX", reduction_g={"formula": source,
                                         "rounding": {"places": 1, "mode": "half_even"}})
    with pytest.raises(rules.DocumentError) as caught:
        rules.load_document(doc)
    assert any(p.field == "reduction_g.formula" for p in caught.value.errors), \
        caught.value.errors


def test_long_and_deep_formulas_are_refused():
    for source in ("distance_km" + " + distance_km" * 120, "(" * 150 + "1" + ")" * 150,
                   "-" * 300 + "distance_km"):
        doc = document("T-BOX", reduction_g={"formula": source,
                                             "rounding": {"places": 1, "mode": "half_even"}})
        with pytest.raises(rules.DocumentError):
            rules.load_document(doc)


def test_decimal_literals_are_exact():
    doc = document("T-BOX", reduction_g={
        "formula": "(distance_km * 0.1 + distance_km * 0.2) * factor_g_per_pkm / 0.3",
        "rounding": {"places": 3, "mode": "half_even"}})
    m = rules.compile_methodology(rules.load_document(doc))
    result = m.evaluate({"distance_km": "12.5"})
    # Were 0.1 and 0.2 floats, 0.1 + 0.2 would be 0.30000000000000004.
    assert Decimal(result.intermediates["reduction_g_exact"]) == Decimal("585")
    assert result.reduction_g == Decimal("585.000")


def test_inputs_are_read_exactly_and_floats_never_leak():
    m = rules.compile_methodology(rules.load_document(document("T-BOX")))
    from_float = m.evaluate({"distance_km": 0.3})
    from_text = m.evaluate({"distance_km": "0.3"})
    assert from_float == from_text
    assert from_float.inputs == {"distance_km": "0.3"}
    assert all(not isinstance(v, float) for v in from_float.intermediates.values())


@pytest.mark.parametrize(("data", "field", "message"), [
    ({"distance_km": "12.55"}, "data.distance_km", "decimal place"),
    ({"distance_km": "61"}, "data.distance_km", "between 0.1 and 60"),
    ({"distance_km": True}, "data.distance_km", "must be a number"),
    ({"distance_km": "NaN"}, "data.distance_km", "finite"),
    ({"distance_km": "1e400"}, "data.distance_km", "between"),
    ({"distance_km": "twelve"}, "data.distance_km", "decimal number"),
    ({}, "data.distance_km", "required"),
    ({"distance_km": "1", "speed": 3}, "data.speed", "not an input"),
])
def test_bad_behaviour_data_names_the_field(data, field, message):
    m = rules.compile_methodology(rules.load_document(document("T-BOX")))
    with pytest.raises(rules.InputError) as caught:
        m.evaluate(data)
    assert any(p.field == field and message in p.message for p in caught.value.errors), \
        caught.value.errors


def test_an_unknown_evidence_tier_is_refused():
    m = rules.compile_methodology(rules.load_document(document("T-BOX")))
    with pytest.raises(rules.InputError) as caught:
        m.evaluate({"distance_km": "1"}, "rumour")
    assert caught.value.errors[0].field == "evidence"
