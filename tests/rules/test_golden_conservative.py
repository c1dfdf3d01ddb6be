"""The conservative versions (CQ-TRANSIT v3, CQ-WASTE v2, CQ-EV v2), against figures worked
out here by hand from the factors each document cites.

Every factor is a named constant with its source; the expected grams are computed in Decimal
from those constants (rounded as the documents state: one place, half-even; then the
evidence factor; then points = floor(grams / 10)), never copied from the evaluator.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

import pytest

from carbon_inclusion import rules
from tests.rules.conftest import seed_document

P, S = "partner_verified", "self_reported"
D = Decimal

# --- the cited factors --------------------------------------------------------------------
# Shenzhen 深圳市低碳公共出行碳普惠方法学(试行) 2021 [news]: the lowest published net factors.
METRO_G_PER_PKM = D("46.8")
EBUS_G_PER_PKM = D("26.9")
# One stop: lower end of 500–800 m urban stop spacing, GB 50220-95 §3.3.2 (unconfirmed).
BUS_MIN_RIDE_KM = D("0.5")
# 重庆碳惠通: 1.1 points per bus ride ≈ 120 g [news]: caps a bus ride.
CQ_BUS_G_PER_RIDE = D("120")
# Qingdao LCA, 环境科学 2023, 44(5):2995–3002 [abstract], kg CO2 per t MSW (= g per kg):
MODE1_MIXED_LANDFILL = D("686.39")       # version 1's baseline
MODE2_MIXED_INCINERATION = D("-130.12")  # Chongqing's baseline: 焚烧比例 100 % (白皮书 2020)
MODE3_SORTED_DIGESTION = D("-61.88")     # kitchen waste to anaerobic digestion
MODE4_SORTED_RECOVERY = D("-230.17")     # + recyclables recovery
# EV: charging losses 15 % (unconfirmed, the higher of 10–15 %); 20 kWh/100 km at the
# battery (unconfirmed, non-optimistic); 7 L/100 km (unconfirmed); 2.27 kg CO2/L (重庆市应对
# 气候变化白皮书(2020年): 81.7万 t for 3.6亿 L; = IPCC 2006 at 0.74 kg/L); grid 华中 2022
# 0.5395 kg/kWh (MEE/NBS [news], the higher of Chongqing's two candidate grids).
CHARGING_EFFICIENCY = D("0.85")
KM_PER_BATTERY_KWH = D("5")
PETROL_L_PER_100KM = D("7")
PETROL_G_PER_L = D("2270")
GRID_G_PER_KWH = D("539.5")
SELF_REPORTED_TRANSIT = D("0.5")  # self-reported trips pay half (unchanged)


def rounded(grams: Decimal) -> Decimal:
    return grams.quantize(D("0.1"), rounding=ROUND_HALF_EVEN)


ONE = D(1)


def paid(exact: Decimal, factor: Decimal = ONE) -> tuple[Decimal, int]:
    """Grams and points as every document states them."""
    grams = rounded(rounded(max(exact, D(0))) * factor)
    return grams, int(grams // 10)


def bus(km: Decimal | None) -> Decimal:
    credited = max(km or D(0), BUS_MIN_RIDE_KM)
    return min(credited * EBUS_G_PER_PKM, CQ_BUS_G_PER_RIDE)


AVOIDED_G_PER_KG = MODE2_MIXED_INCINERATION - MODE4_SORTED_RECOVERY
EV_G_PER_KWH = (CHARGING_EFFICIENCY * KM_PER_BATTERY_KWH * PETROL_L_PER_100KM / 100
                * PETROL_G_PER_L - GRID_G_PER_KWH)


@pytest.fixture(scope="module")
def v3() -> rules.CompiledMethodology:
    return rules.compile_methodology(rules.load_document(seed_document("cq-transit-v3")))


@pytest.fixture(scope="module")
def waste() -> rules.CompiledMethodology:
    return rules.compile_methodology(rules.load_document(seed_document("cq-waste-v2")))


@pytest.fixture(scope="module")
def ev() -> rules.CompiledMethodology:
    return rules.compile_methodology(rules.load_document(seed_document("cq-ev-v2")))


def score(m: rules.CompiledMethodology, data: dict, evidence: str = P) -> tuple[Decimal, int]:
    result = m.evaluate(data, evidence)
    return result.reduction_g, result.points


def pays_no_more(a: tuple[Decimal, int], b: tuple[Decimal, int]) -> bool:
    """``a`` pays no more grams and no more points than ``b``."""
    return a[0] <= b[0] and a[1] <= b[1]


# --- transit ------------------------------------------------------------------------------


@pytest.mark.parametrize(("data", "evidence", "exact", "factor"), [
    ({"mode": "metro", "distance_km": "12.5"}, P, D("12.5") * METRO_G_PER_PKM, D(1)),
    ({"mode": "metro", "distance_km": "60"}, P, 60 * METRO_G_PER_PKM, D(1)),
    ({"mode": "rail", "distance_km": "0.1"}, P, D("0.1") * METRO_G_PER_PKM, D(1)),
    ({"mode": "metro", "distance_km": "60"}, S, 60 * METRO_G_PER_PKM, SELF_REPORTED_TRANSIT),
    ({"mode": "bus"}, P, bus(None), D(1)),
    ({"mode": "bus", "distance_km": "0.1"}, P, bus(D("0.1")), D(1)),
    ({"mode": "bus", "distance_km": "3"}, P, bus(D(3)), D(1)),
    ({"mode": "bus", "distance_km": "4.4"}, P, bus(D("4.4")), D(1)),
    ({"mode": "bus", "distance_km": "4.5"}, P, bus(D("4.5")), D(1)),
    ({"mode": "bus", "distance_km": "40"}, P, bus(D(40)), D(1)),
    ({"mode": "bus"}, S, bus(None), SELF_REPORTED_TRANSIT),
    ({"mode": "bus", "distance_km": "8"}, S, bus(D(8)), SELF_REPORTED_TRANSIT),
])
def test_transit_v3_pays_the_hand_computed_figures(v3, data, evidence, exact, factor):
    assert score(v3, data, evidence) == paid(exact, factor)


def test_transit_v3_worked_examples_match_the_documents_notes(v3):
    assert paid(bus(None)) == (D("13.4"), 1)          # 0.5 × 26.9 = 13.45 → 13.4 (half-even)
    assert paid(bus(D(3))) == (D("80.7"), 8)          # 3 × 26.9
    assert paid(bus(D(8))) == (D("120.0"), 12)        # 8 × 26.9 = 215.2 → capped at 120
    assert paid(D("12.5") * METRO_G_PER_PKM) == (D("585.0"), 58)
    assert score(v3, {"mode": "bus"}, S) == (D("6.7"), 0)  # 13.4 × 0.5


@pytest.mark.parametrize("evidence", [P, S])
def test_a_bus_ride_without_a_distance_pays_no_more_than_the_shortest_ride_with_one(
        v3, evidence):
    without = score(v3, {"mode": "bus"}, evidence)
    shortest = score(v3, {"mode": "bus", "distance_km": "0.1"}, evidence)
    assert pays_no_more(without, shortest)
    for tenths in range(1, 401):  # every distance a bus ride may state, 0.1 to 40 km
        km = str(D(tenths) / 10)
        assert pays_no_more(without, score(v3, {"mode": "bus", "distance_km": km}, evidence)), km


def test_version_2_paid_a_ride_without_a_distance_more_than_a_3_km_one_and_v3_does_not(v3):
    v2 = rules.compile_methodology(rules.load_document(seed_document("cq-transit-v2")))
    assert not pays_no_more(score(v2, {"mode": "bus"}),
                            score(v2, {"mode": "bus", "distance_km": "3"}))  # 120 g > 80.7 g
    assert pays_no_more(score(v3, {"mode": "bus"}), score(v3, {"mode": "bus", "distance_km": "3"}))


# --- waste --------------------------------------------------------------------------------


def test_the_avoided_grams_per_kg_are_the_studys_incineration_difference(waste):
    assert D("100.05") == AVOIDED_G_PER_KG
    assert D("916.56") == MODE1_MIXED_LANDFILL - MODE4_SORTED_RECOVERY  # version 1's
    # Kitchen waste to digestion raises emissions against mixed incineration: not credited.
    assert D("68.24") == MODE3_SORTED_DIGESTION - MODE2_MIXED_INCINERATION
    result = waste.evaluate({"category": "recyclable", "weight_kg": "1"}, P)
    assert result.intermediates["avoided_g_per_kg"] == "100.05"


@pytest.mark.parametrize(("data", "exact"), [
    ({"category": "recyclable", "weight_kg": "2.35"}, D("2.35") * AVOIDED_G_PER_KG),
    ({"category": "recyclable", "weight_kg": "1.20"}, D("1.20") * AVOIDED_G_PER_KG),
    ({"category": "recyclable", "weight_kg": "30"}, 30 * AVOIDED_G_PER_KG),
    ({"category": "recyclable", "weight_kg": "0.01"}, D("0.01") * AVOIDED_G_PER_KG),
    ({"category": "recyclable"}, D(0)),            # not weighed: not credited
    ({"category": "kitchen", "weight_kg": "1.20"}, D(0)),
    ({"category": "hazardous", "weight_kg": "0.5"}, D(0)),
    ({"category": "other", "weight_kg": "30"}, D(0)),
])
def test_waste_v2_credits_each_category_as_its_source_allows(waste, data, exact):
    assert score(waste, data) == paid(exact)
    result = waste.evaluate(data, S)
    assert result.needs_review and result.reduction_g == paid(exact)[0]  # full, once reviewed


def test_waste_v2_worked_example_and_the_drop_of_version_1(waste):
    assert paid(D("2.35") * AVOIDED_G_PER_KG) == (D("235.1"), 23)  # 235.1175
    v1 = rules.compile_methodology(rules.load_document(seed_document("cq-waste-v1")))
    assert score(v1, {"category": "kitchen", "weight_kg": "1.20"}) == (D("549.9"), 54)
    assert score(waste, {"category": "kitchen", "weight_kg": "1.20"}) == (D("0.0"), 0)


def test_an_unweighed_drop_pays_no_more_than_any_weighed_one(waste):
    for category in ("recyclable", "kitchen", "hazardous", "other"):
        without = score(waste, {"category": category})
        for hundredths in (1, 5, 50, 120, 3000):
            weighed = {"category": category, "weight_kg": str(D(hundredths) / 100)}
            assert pays_no_more(without, score(waste, weighed))


# --- EV -----------------------------------------------------------------------------------


def test_ev_v2_counts_the_charging_losses():
    # Per kWh metered: 0.85 × 5 = 4.25 km; × 7 / 100 = 0.2975 L; × 2,270 = 675.325 g;
    # − 539.5 g of grid emissions for the whole metered kWh, losses included.
    assert D("4.25") == CHARGING_EFFICIENCY * KM_PER_BATTERY_KWH
    assert D("135.825") == EV_G_PER_KWH
    without_losses = KM_PER_BATTERY_KWH * PETROL_L_PER_100KM / 100 * PETROL_G_PER_L \
        - GRID_G_PER_KWH
    assert without_losses > EV_G_PER_KWH


@pytest.mark.parametrize("kwh", ["30", "0.1", "150", "41.27", "12.34", "1"])
def test_ev_v2_pays_the_hand_computed_figures(ev, kwh):
    assert score(ev, {"kwh": kwh}) == paid(D(kwh) * EV_G_PER_KWH)
    result = ev.evaluate({"kwh": kwh}, P)
    assert result.intermediates["battery_kwh"] == str(D(kwh) * CHARGING_EFFICIENCY)
    assert result.intermediates["project_g"] == str(D(kwh) * GRID_G_PER_KWH)


def test_ev_v2_worked_example():
    assert paid(30 * EV_G_PER_KWH) == (D("4074.8"), 407)  # 4,074.75 → 4,074.8 (half-even)


# --- the documents ------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["cq-transit-v3", "cq-waste-v2", "cq-ev-v2"])
def test_each_conservative_version_cites_every_factor_and_says_what_is_unconfirmed(name):
    doc = seed_document(name)
    for pname, param in doc["params"].items():
        assert param["source"].strip(), pname
    assert any("unconfirmed" in (p["source"] + p.get("note", "")).lower()
               for p in doc["params"].values())
    assert doc["notes"], "the arithmetic is shown in the notes"
    assert rules.load_document(doc).plausibility_percentile == D(99)
    assert doc["effective_from"] == "2026-11-01T00:00:00+08:00"
    assert "effective_to" not in doc


def test_the_values_in_the_documents_are_the_constants_here():
    transit = seed_document("cq-transit-v3")["params"]
    assert transit["g_per_pkm"]["value"] == {"metro": str(METRO_G_PER_PKM),
                                             "rail": str(METRO_G_PER_PKM),
                                             "bus": str(EBUS_G_PER_PKM)}
    assert transit["bus_min_ride_km"]["value"] == str(BUS_MIN_RIDE_KM)
    assert transit["bus_g_per_ride"]["value"] == str(CQ_BUS_G_PER_RIDE)
    waste = seed_document("cq-waste-v2")["params"]
    assert waste["mixed_incineration_g_per_kg"]["value"] == str(MODE2_MIXED_INCINERATION)
    assert waste["sorted_recovery_g_per_kg"]["value"] == str(MODE4_SORTED_RECOVERY)
    assert waste["credited_share"]["value"] == {"recyclable": "1", "kitchen": "0",
                                                "hazardous": "0", "other": "0"}
    ev = seed_document("cq-ev-v2")["params"]
    assert {k: ev[k]["value"] for k in ("charging_efficiency", "km_per_kwh",
                                         "petrol_l_per_100km", "petrol_g_per_l",
                                         "grid_g_per_kwh")} == {
        "charging_efficiency": str(CHARGING_EFFICIENCY), "km_per_kwh": str(KM_PER_BATTERY_KWH),
        "petrol_l_per_100km": str(PETROL_L_PER_100KM), "petrol_g_per_l": str(PETROL_G_PER_L),
        "grid_g_per_kwh": str(GRID_G_PER_KWH)}
