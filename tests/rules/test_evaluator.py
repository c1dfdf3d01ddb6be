"""The generated evaluator (``CompiledMethodology.evaluate``, one function per version) gives
what the checked reference (``evaluate_checked``) gives, to the last digit and the last word
of every problem, on the seed methodologies and on random documents, for good and bad data.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from carbon_inclusion import rules
from tests.methodologies.conftest import document
from tests.rules.conftest import SEED, compiled
from tests.rules.test_compiler import conditions, numbers

SEEDS = {p.stem: compiled(p.stem) for p in sorted(SEED.glob("*.json"))}


def outcome(fn, data, evidence):
    """Everything a caller can see of one evaluation, as text with its type, or the error."""
    try:
        e = fn(data, evidence)
    except rules.InputError as exc:
        return ("InputError", [(p.field, p.message) for p in exc.errors])
    except Exception as exc:  # whatever the reference raises, the same
        return ("raised", type(exc).__name__, str(exc))
    return ("ok", str(e.reduction_g), type(e.points).__name__, e.points, e.evidence,
            e.needs_review, e.flags, e.params,
            [(k, type(v).__name__, str(v)) for k, v in e.values.items()],
            e.inputs, e.intermediates, [str(x) for x in e._trace])


def agree(m: rules.CompiledMethodology, data, evidence) -> tuple:
    expected = outcome(m.evaluate_checked, data, evidence)
    assert outcome(m.evaluate, data, evidence) == expected
    return expected


# Values an input may be sent as: good ones and every kind the checks refuse.
odd_values = st.one_of(
    st.none(), st.booleans(), st.integers(-10**6, 10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["", " 5", "5 ", "5_0", "NaN", "-inf", "sNaN", "1e999999999", "1E+30",
                     "٥", "0x10", "12.50", "12.55", "-0", "0.0", "1e1", "2E-1", "metro",
                     "bus", "rail", "tram", "recyclable", "kitchen", "hazardous", "other"]),
    st.decimals(allow_nan=False, allow_infinity=False, places=3).map(str),
    st.lists(st.integers(), max_size=1), st.dictionaries(st.text(max_size=2), st.integers(),
                                                          max_size=1))


def good_value(spec):
    """A value the input's checks accept, as text or, when whole, as a JSON number."""
    if spec.type == "enum":
        return st.sampled_from(spec.values)
    places = 0 if spec.type == "integer" else spec.places or 0
    lo, hi = (int(b.scaleb(places)) for b in (spec.min, spec.max))
    scaled = st.integers(lo, hi).map(lambda n: Decimal(n).scaleb(-places))
    return scaled.map(str) | scaled.filter(lambda d: d == d.to_integral_value()).map(int)


evidences = st.sampled_from(["partner_verified", "self_reported", "self_reported",
                             "partner_verified", "nobody", ""])


def data_for(m: rules.CompiledMethodology):
    """Mostly good data, some values of every odd kind, some fields left out or added."""
    specs = m.input_specs
    values = {n: st.one_of(good_value(s), good_value(s), good_value(s), good_value(s),
                           odd_values) for n, s in specs.items()}
    required = {n: v for n, v in values.items() if specs[n].default is None}
    optional = {n: v for n, v in values.items() if specs[n].default is not None}
    sometimes = st.fixed_dictionaries({}, optional={n: v for n, v in values.items()})
    return st.one_of(
        st.fixed_dictionaries(required, optional=optional),
        st.fixed_dictionaries(required, optional=optional),
        st.fixed_dictionaries(required, optional={**optional, "unknown_field": odd_values}),
        sometimes)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_the_seed_methodologies_agree_with_the_reference_on_any_data(draw):
    m = SEEDS[draw.draw(st.sampled_from(sorted(SEEDS)))]
    data = draw.draw(data_for(m))
    event(agree(m, data, draw.draw(evidences))[0])


@settings(max_examples=1000, deadline=None)
@given(st.data())
def test_the_seed_methodologies_agree_with_the_reference_on_good_data(draw):
    m = SEEDS[draw.draw(st.sampled_from(sorted(SEEDS)))]
    specs = m.input_specs
    data = draw.draw(st.fixed_dictionaries(
        {n: good_value(s) for n, s in specs.items() if s.default is None},
        optional={n: good_value(s) for n, s in specs.items() if s.default is not None}))
    event(agree(m, data, draw.draw(st.sampled_from(sorted(m.evidence_tiers))))[0])


@pytest.mark.parametrize("name", sorted(SEEDS))
def test_the_usual_road_is_the_generated_one_and_the_rest_goes_to_the_reference(name):
    m = compiled(name)
    names = m.evaluate.__globals__
    assert names["__builtins__"] == {}  # the generated code reaches no builtin by name
    calls = []
    reference = names["_reference"]
    names["_reference"] = lambda *a: calls.append(a) or reference(*a)
    good = {"cq-transit": {"mode": "metro", "distance_km": "12.5"},
            "cq-waste": {"category": "kitchen", "weight_kg": "1.2"},
            "cq-ev": {"kwh": "41.27"}, "cq-steps": {"steps": 12345},
            "cq-power": {"kwh": "180.5", "baseline_kwh": "210"},
            "cq-bike": {"distance_km": "3.2", "duration_min": "15"},
            "cq-plate": {"leftover_g": 10},
            "cq-paperless": {"document_kind": "receipt"},
            "cq-reuse": {"category": "textiles", "weight_kg": "0.4"}}[name.rsplit("-", 1)[0]]
    # A review flag raised is still the usual road (it is a value, not a problem).
    flagged = {"cq-bike": {"distance_km": "10", "duration_min": "20"},
               "cq-reuse": {"category": "textiles", "weight_kg": "12"}}.get(
        name.rsplit("-", 1)[0])
    for data in (good, flagged) if flagged else (good,):
        for tier in m.evidence_tiers:
            assert m.evaluate(data, tier) == m.evaluate_checked(data, tier)
    if flagged:
        assert m.evaluate(flagged).flags and m.evaluate(flagged).needs_review
    assert calls == []
    with pytest.raises(rules.InputError):
        m.evaluate({**good, "extra": "1"})
    assert len(calls) == 1


def test_non_dict_data_and_odd_evidence_take_the_reference():
    m = SEEDS["cq-ev-v1"]

    class Data(dict):
        pass

    for data in (Data(kwh="41.27"), {"kwh": "41.27"}):
        for evidence in ("partner_verified", "self_reported", "other"):
            agree(m, data, evidence)
    with pytest.raises(TypeError):
        m.evaluate({"kwh": "1"}, ["partner_verified"])  # unhashable, as the reference


# --- random documents: random formulas, steps, conditions and inputs ---------------------

INPUTS = {
    "x": {"type": "decimal", "min": "0.01", "max": "100", "places": 2},
    "y": {"type": "integer", "min": "-50", "max": "50", "default": "0"},
    "mode": {"type": "enum", "values": ["metro", "bus"], "default": "metro"},
}
PARAMS = {
    "tiny": {"value": "1E-25", "unit": "g", "source": "test"},
    "rate": {"value": {"metro": "0.5", "bus": "12"}, "unit": "g", "source": "test"},
    "g_per_point": {"value": "10", "unit": "g", "source": "test"},
}
x_values = st.one_of(st.integers(1, 10_000).map(lambda n: str(Decimal(n) / 100)),
                     st.integers(1, 100), odd_values)
y_values = st.one_of(st.integers(-50, 50), st.integers(-50, 50).map(str), odd_values)
mode_values = st.one_of(st.sampled_from(["metro", "bus"]), odd_values)
random_data = st.fixed_dictionaries(
    {"x": x_values}, optional={"y": y_values, "mode": mode_values, "z": odd_values})


def random_document(step: str, reduction: str, condition: str | None, points: str,
                    allow_negative: bool, factor: str, flags: list[str] = ()) -> dict:
    # The parameters are used by a constant step (folded when compiled) and by the points
    # formula, so no document is refused for an unused one.
    doc = document("T-RANDOM", inputs=INPUTS, params=PARAMS,
                   steps=[{"name": "a", "formula": step},
                          {"name": "k", "formula": "tiny * 3 + rate['bus'] / 0.7 - 2"}],
                   reduction_g={"formula": f"{reduction} + a * 0 + k * 0",
                                "rounding": {"places": 1, "mode": "half_even"}},
                   points={"formula": points}, allow_negative=allow_negative,
                   evidence={"partner_verified": {"factor": "1", "review": False},
                             "self_reported": {"factor": factor, "review": True}})
    if condition is not None:
        doc["conditions"] = [{"require": condition, "field": "x", "message": "no"},
                             {"require": "y <= 40 or mode == 'bus'", "field": "y",
                              "message": "too many"}]
    if flags:  # review flags over inputs, parameters and steps (``a``, ``k``)
        doc["review_flags"] = [{"flag": f"flag_{i}", "when": when, "message": "look"}
                               for i, when in enumerate(flags)]
    return doc


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(step=numbers, reduction=numbers, condition=st.none() | conditions,
       points=st.sampled_from(["floor(reduction_g / g_per_point)",
                               "ceil(reduction_g * 3) - 7 * floor(rate[mode])",
                               "max(floor(reduction_g), 2) + floor(tiny)",
                               "floor(reduction_g) if reduction_g > 5 else ceil(-reduction_g)"]),
       allow_negative=st.booleans(), factor=st.sampled_from(["0.5", "1", "0.33", "0"]),
       flags=st.lists(conditions | st.sampled_from(["a > x", "k < a or mode == 'bus'"]),
                      max_size=3),
       cases=st.lists(st.tuples(random_data, evidences), min_size=1, max_size=8))
def test_random_documents_agree_with_the_reference(step, reduction, condition, points,
                                                    allow_negative, factor, flags, cases):
    try:
        m = rules.compile_methodology(rules.load_document(random_document(
            step, reduction, condition, points, allow_negative, factor, flags)))
    except rules.DocumentError:
        assume(False)
        raise
    for data, evidence in cases:
        event(agree(m, data, evidence)[0])


def test_a_constant_sub_tree_is_folded_and_gives_the_same_digits():
    m = rules.compile_methodology(rules.load_document(document(
        "T-FOLD", reduction_g={"formula": "distance_km * (factor_g_per_pkm / 3 + 0.1 * 7)",
                               "rounding": {"places": 1, "mode": "half_even"}})))
    assert "/ " not in m.evaluate.source.split("exact =")[1].split("\n")[0]
    for km in ("0.1", "12.5", "33.3", "60"):
        expected = agree(m, {"distance_km": km}, "partner_verified")
        assert expected[0] == "ok"
