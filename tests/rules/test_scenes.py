"""The four scene documents (CQ-BIKE, CQ-PLATE, CQ-PAPERLESS, CQ-REUSE) against figures
worked out here by hand from the factors each cites, and the document format's review
flags (``review_flags``): checked on submission naming the field, absent from documents
that do not use them (whose hashes stay as they were), described in the JSON Schema.

Every factor is a named constant with its source; expected grams are computed in Decimal
from them, rounded as the documents state (one place, half-even; then the evidence factor),
never copied from the evaluator.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_HALF_EVEN, Decimal

import pytest

from carbon_inclusion import rules
from tests.methodologies.conftest import document
from tests.rules.conftest import SEED, compiled, seed_document

P, S = "partner_verified", "self_reported"
D = Decimal

# --- the cited factors --------------------------------------------------------------------
# 武碳江湖 (Wuhan) 2024 cycling −40 g/km [news]; the 2025 −93.3 g/km is the higher one.
BIKE_G_PER_KM = D("40")
WUHAN_2025_BIKE_G_PER_KM = D("93.3")
MAX_BICYCLE_KMH = D("25")  # GB 17761-2018's e-bike design speed (unconfirmed threshold)
SELF_REPORTED_BIKE = D("0.5")
# Beijing restaurants' weighed plate waste, 75.02 g per diner per meal [abstract], rounded
# down; the 4-city WWF/CAS average (93 g) is higher.
PLATE_WASTE_G = D("75")
CLEAN_PLATE_MAX_G = D("20")
# 张丹 et al. 2016, 生态学报 36(18): farm stage 99.34万 t CO2eq for 39.86万 t wasted.
FARM_G_PER_KG = (D("99.34") / D("39.86") * 100).quantize(D(1), rounding="ROUND_DOWN") * 10
DISPOSAL_G_PER_KG = D(0)  # against incineration, CQ-WASTE v2 credits kitchen waste 0
# Ant Forest: 5 g per e-invoice, 5 a day [secondary] (unconfirmed).
G_PER_PAPER_DOCUMENT = D("5")
# Second-hand phone ≥ 25 kg per transaction [news]; reused textiles ≈ 3.6 kg/kg [secondary].
PHONE_G_PER_TRADE = D("25000")
TEXTILES_G_PER_KG = D("3600")


def rounded(grams: Decimal) -> Decimal:
    return grams.quantize(D("0.1"), rounding=ROUND_HALF_EVEN)


ONE = D(1)


def paid(exact: Decimal, factor: Decimal = ONE) -> tuple[Decimal, int]:
    grams = rounded(rounded(max(exact, D(0))) * factor)
    return grams, int(grams // 10)


def bike(km: str) -> Decimal:
    return D(km) * BIKE_G_PER_KM


def plate(leftover_g: int) -> Decimal:
    if leftover_g > CLEAN_PLATE_MAX_G:
        return D(0)
    return (PLATE_WASTE_G - leftover_g) / 1000 * (FARM_G_PER_KG + DISPOSAL_G_PER_KG)


@pytest.fixture(scope="module")
def scenes() -> dict[str, rules.CompiledMethodology]:
    return {n: compiled(n) for n in ("cq-bike-v1", "cq-plate-v1", "cq-paperless-v1",
                                     "cq-reuse-v1")}


def test_the_factors_are_the_conservative_side():
    assert BIKE_G_PER_KM < WUHAN_2025_BIKE_G_PER_KM
    assert str(FARM_G_PER_KG) == "2490"
    assert seed_document("cq-plate-v1")["params"]["production_g_per_kg"]["value"] == "2490"


@pytest.mark.parametrize(("km", "minutes", "evidence", "factor"), [
    ("3.2", "15", P, D(1)), ("3.2", "15", S, SELF_REPORTED_BIKE), ("0.1", "1", P, D(1)),
    ("12.35", "50", P, D(1)), ("40", "240", S, SELF_REPORTED_BIKE)])
def test_a_bike_ride_is_paid_per_km(scenes, km, minutes, evidence, factor):
    e = scenes["cq-bike-v1"].evaluate({"distance_km": km, "duration_min": minutes}, evidence)
    assert (e.reduction_g, e.points) == paid(bike(km), factor)
    assert (e.flags, e.needs_review) == ((), False)


@pytest.mark.parametrize(("km", "minutes", "flagged"), [
    ("10", "20", True),     # 30 km/h
    ("5", "12", False),     # exactly 25 km/h: not above the bound
    ("5.01", "12", True),   # 25.05 km/h
    ("40", "60", True),     # 40 km/h
    ("8", "60", False)])
def test_a_ride_too_fast_for_a_bicycle_is_flagged_for_review_not_refused(
        scenes, km, minutes, flagged):
    m = scenes["cq-bike-v1"]
    speed = D(km) / D(minutes) * 60
    assert (speed > MAX_BICYCLE_KMH) is flagged
    for evidence in (P, S):
        e = m.evaluate({"distance_km": km, "duration_min": minutes}, evidence)
        assert e.flags == (("too_fast_for_a_bicycle",) if flagged else ())
        assert e.needs_review is flagged
        # The grams are still computed: a reviewer who approves pays them.
        assert e.reduction_g == paid(bike(km), D(1) if evidence == P else
                                     SELF_REPORTED_BIKE)[0]
    details = m.review_details(e.flags)
    assert details == ([{"flag": "too_fast_for_a_bicycle", "field": "duration_min",
                         "message": details[0]["message"]}] if flagged else [])


@pytest.mark.parametrize("leftover", [0, 1, 10, 19, 20, 21, 75, 2000])
def test_a_clean_plate_is_paid_the_waste_it_avoided(scenes, leftover):
    e = scenes["cq-plate-v1"].evaluate({"leftover_g": leftover})
    assert (e.reduction_g, e.points) == paid(plate(leftover))


def test_the_hand_figures_in_the_plate_notes(scenes):
    m = scenes["cq-plate-v1"]
    assert [str(m.evaluate({"leftover_g": g}).reduction_g) for g in (0, 10, 20, 21)] == \
        ["186.8", "161.8", "137.0", "0.0"]
    with pytest.raises(rules.InputError):  # a finished plate cannot be self-reported
        m.evaluate({"leftover_g": 0}, S)


@pytest.mark.parametrize("kind", ["invoice", "ticket", "receipt"])
def test_an_e_ticket_is_five_grams_and_one_point(scenes, kind):
    e = scenes["cq-paperless-v1"].evaluate({"document_kind": kind})
    grams = rounded(G_PER_PAPER_DOCUMENT)
    assert (e.reduction_g, e.points) == (grams, int((grams / 10).to_integral_value(
        ROUND_CEILING)))
    assert e.points == 1


@pytest.mark.parametrize(("category", "kg", "exact"), [
    ("phone", "0.35", PHONE_G_PER_TRADE),
    ("phone", "1", PHONE_G_PER_TRADE),
    ("textiles", "0.40", D("0.40") * TEXTILES_G_PER_KG),
    ("textiles", "2.5", D("2.5") * TEXTILES_G_PER_KG),
    ("textiles", "10", D("10") * TEXTILES_G_PER_KG),
    ("other", "7.5", D(0))])
def test_a_second_hand_trade_is_paid_by_category(scenes, category, kg, exact):
    e = scenes["cq-reuse-v1"].evaluate({"category": category, "weight_kg": kg})
    assert (e.reduction_g, e.points) == paid(exact)
    assert e.flags == ()


def test_heavy_textiles_wait_for_review_and_a_heavy_phone_is_refused(scenes):
    m = scenes["cq-reuse-v1"]
    e = m.evaluate({"category": "textiles", "weight_kg": "12"})
    assert (e.reduction_g, e.flags, e.needs_review) == (
        paid(12 * TEXTILES_G_PER_KG)[0], ("heavy_textiles",), True)
    assert m.evaluate({"category": "other", "weight_kg": "12"}).flags == ()
    with pytest.raises(rules.InputError) as refused:
        m.evaluate({"category": "phone", "weight_kg": "1.2"})
    assert [p.field for p in refused.value.errors] == ["data.weight_kg"]
    assert m.evaluate({"category": "phone", "weight_kg": "1"}, S).needs_review


def test_the_scene_caps_are_strict():
    caps = {n: seed_document(n)["limits"]["per_day"] for n in
            ("cq-bike-v1", "cq-plate-v1", "cq-paperless-v1", "cq-reuse-v1")}
    assert caps == {"cq-bike-v1": {"count": 6, "grams": "1000"},
                    "cq-plate-v1": {"count": 2, "grams": "360"},
                    "cq-paperless-v1": {"count": 5, "grams": "25"},
                    "cq-reuse-v1": {"count": 3, "points": 300}}
    limits = compiled("cq-plate-v1").limits
    first = rules.apply_daily_limits(limits, rules.DayUsage(), paid(plate(0))[0], 18,
                                     lambda g: int(g // 10))
    second = rules.apply_daily_limits(limits, rules.DayUsage(1, first.reduction_g, 18),
                                      paid(plate(0))[0], 18, lambda g: int(g // 10))
    assert (second.reduction_g, second.points) == (D("360") - D("186.8"), 17)


# --- the format: review flags ---------------------------------------------------------


def flagged(**flag) -> dict:
    return document("T-FLAG", review_flags=[{"flag": "long_trip", "when": "distance_km > 50",
                                             "field": "distance_km", "message": "look",
                                             **flag}])


@pytest.mark.parametrize(("flag", "field", "message"), [
    ({"flag": "Bad Name"}, "review_flags[0].flag", "matching regex"),
    ({"when": "distance_km * 2"}, "review_flags[0].when", "not a condition"),
    ({"when": "distanse_km > 1"}, "review_flags[0].when", "unknown name `distanse_km`"),
    ({"when": "distance_km > 50 and"}, "review_flags[0].when", "does not parse"),
    ({"when": "1 / (distance_km - 1) > 2"}, "review_flags[0].when", "can fail"),
    ({"field": "nope"}, "review_flags[0].field", "must name an input"),
    ({"message": ""}, "review_flags[0].message", "length >= 1"),
    ({"surprise": True}, "review_flags[0].surprise", "unknown field"),
])
def test_a_bad_review_flag_is_refused_naming_its_field(flag, field, message):
    with pytest.raises(rules.DocumentError) as caught:
        rules.load_document(flagged(**flag))
    assert any(p.field == field and message in p.message for p in caught.value.errors), \
        caught.value.errors


def test_review_flags_must_be_distinct_few_and_a_list():
    doc = flagged()
    doc["review_flags"].append(dict(doc["review_flags"][0]))
    with pytest.raises(rules.DocumentError) as caught:
        rules.load_document(doc)
    assert [p.field for p in caught.value.errors] == ["review_flags[1].flag"]
    doc["review_flags"] = [{"flag": f"f{i}", "when": "distance_km > 1", "message": "m"}
                           for i in range(11)]
    with pytest.raises(rules.DocumentError) as caught:
        rules.load_document(doc)
    assert [p.field for p in caught.value.errors] == ["review_flags"]
    with pytest.raises(rules.DocumentError) as caught:
        rules.load_document({**doc, "review_flags": {"flag": "x"}})
    assert caught.value.errors[0].field == "review_flags"


def test_a_parameter_used_only_by_a_flag_is_used_and_a_flag_may_name_a_step():
    doc = document("T-FLAG", steps=[{"name": "double_km", "formula": "distance_km * 2"}],
                   params={**document("T")["params"],
                           "long_km": {"value": "100", "unit": "km", "source": "test"}},
                   review_flags=[{"flag": "long", "when": "double_km > long_km",
                                  "message": "look"}])
    m = rules.compile_methodology(rules.load_document(doc))
    assert m.evaluate({"distance_km": "50.1"}).flags == ("long",)
    assert m.evaluate({"distance_km": "50"}).flags == ()
    assert m.evaluate({"distance_km": "50.1"}).intermediates["review_flags"] == ["long"]
    assert "review_flags" not in m.evaluate({"distance_km": "50"}).intermediates


def test_review_flags_are_left_out_of_documents_without_them():
    plain = rules.load_document(document("T-PLAIN"))
    assert "review_flags" not in plain.to_dict()
    empty = rules.load_document({**document("T-PLAIN"), "review_flags": []})
    assert empty.sha256 == plain.sha256  # an empty list says what absence says
    with_flags = rules.load_document(flagged())
    assert with_flags.to_dict()["review_flags"] == [
        {"flag": "long_trip", "when": "distance_km > 50", "field": "distance_km",
         "message": "look"}]
    assert with_flags.sha256 != plain.sha256
    for path in SEED.glob("*.json"):  # the stored form is the seed file's own
        raw = seed_document(path.stem)
        assert ("review_flags" in rules.load_document(raw).to_dict()) == \
            ("review_flags" in raw)


def test_the_schema_describes_review_flags():
    schema = rules.methodology_schema()
    doc = schema["$defs"]["Document"]
    prop = doc["properties"]["review_flags"]
    assert prop["type"] == "array" and prop["maxItems"] == 10
    assert "review" in prop["description"]
    assert "review_flags" not in doc["required"]
    flag = schema["$defs"]["ReviewFlag"]
    assert set(flag["required"]) == {"flag", "when", "message"}
    assert set(flag["properties"]) == {"flag", "when", "field", "message"}


# --- the format: the same-behaviour window ------------------------------------------------


@pytest.mark.parametrize(("value", "message"), [
    (-1, ">= 0"), (86_401, "<= 86400"), ("600", "Expected `int | null`"), (1.5, "Expected")])
def test_a_bad_same_behaviour_window_is_refused_naming_its_field(value, message):
    with pytest.raises(rules.DocumentError) as caught:
        rules.load_document({**document("T-WIN"), "same_behaviour_window_s": value})
    (problem,) = caught.value.errors
    assert problem.field == "same_behaviour_window_s" and message in problem.message


def test_the_same_behaviour_window_is_kept_when_given_and_left_out_when_absent():
    plain = rules.load_document(document("T-WIN"))
    assert "same_behaviour_window_s" not in plain.to_dict()
    assert rules.compile_methodology(plain).same_behaviour_window_s is None
    for seconds in (0, 90):
        m = rules.load_document({**document("T-WIN"), "same_behaviour_window_s": seconds})
        assert m.to_dict()["same_behaviour_window_s"] == seconds
        assert rules.compile_methodology(m).same_behaviour_window_s == seconds
        assert m.sha256 != plain.sha256
    assert compiled("cq-paperless-v1").same_behaviour_window_s == 0
    assert compiled("cq-reuse-v1").same_behaviour_window_s == 0
    assert compiled("cq-bike-v1").same_behaviour_window_s is None  # a ride: the trip window
    prop = rules.methodology_schema()["$defs"]["Document"]["properties"][
        "same_behaviour_window_s"]
    assert (prop["type"], prop["minimum"], prop["maximum"]) == ("integer", 0, 86_400)
