"""Each seed methodology against figures worked out by hand from its cited factors."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from tests.rules.conftest import SEED, seed_document

P, S = "partner_verified", "self_reported"

TRANSIT_V1 = [
    # (inputs, evidence, grams, points) — metro and rail 46.8 g/pkm, bus 120 g per ride.
    ({"mode": "metro", "distance_km": "12.5"}, P, "585.0", 58),    # 12.5 × 46.8 = 585.00
    ({"mode": "rail", "distance_km": "60"}, P, "2808.0", 280),     # 60 × 46.8
    ({"mode": "metro", "distance_km": "0.1"}, P, "4.7", 0),        # 4.68 → 4.7
    ({"mode": "bus"}, P, "120.0", 12),                             # per ride
    ({"mode": "bus", "distance_km": "8"}, P, "120.0", 12),         # distance not used in v1
    ({"mode": "metro", "distance_km": "12.5"}, S, "292.5", 29),    # 585.0 × 0.5
    ({"mode": "metro", "distance_km": "0.4"}, S, "9.4", 0),        # 18.72→18.7; ×0.5 = 9.35 → 9.4
    ({"mode": "metro", "distance_km": "0.9"}, S, "21.0", 2),       # 42.12→42.1; ×0.5 = 21.05 → 21.0
    ({"mode": "bus"}, S, "60.0", 6),                               # 120 × 0.5
]

TRANSIT_V2 = [
    ({"mode": "metro", "distance_km": "12.5"}, P, "585.0", 58),    # metro unchanged
    ({"mode": "bus", "distance_km": "8"}, P, "215.2", 21),         # 8 × 26.9 (e-bus)
    ({"mode": "bus", "distance_km": "40"}, P, "1076.0", 107),      # 40 × 26.9
    ({"mode": "bus"}, P, "120.0", 12),                             # no distance: per ride
    ({"mode": "bus", "distance_km": "0.1"}, P, "2.7", 0),          # 2.69 → 2.7
    ({"mode": "bus", "distance_km": "8"}, S, "107.6", 10),         # 215.2 × 0.5
]

WASTE = [
    # credited kg × 916.56 g/kg × share (recyclable, kitchen 0.5; hazardous 0.25; other 0.1)
    ({"category": "kitchen", "weight_kg": "1.20"}, P, "549.9", 54),       # 549.936
    ({"category": "recyclable", "weight_kg": "2.35"}, P, "1077.0", 107),  # 1076.958
    ({"category": "hazardous"}, P, "114.6", 11),     # 0.5 kg per drop × 916.56 × 0.25 = 114.57
    ({"category": "other"}, P, "45.8", 4),           # 0.5 × 916.56 × 0.1 = 45.828
    ({"category": "other", "weight_kg": "30"}, P, "2749.7", 274),         # 2749.68
    ({"category": "kitchen", "weight_kg": "0.01"}, P, "4.6", 0),          # 4.5828
    ({"category": "kitchen", "weight_kg": "1.2"}, S, "549.9", 54),        # full pay, reviewed
]

EV = [
    # per kWh: 6.7 km × 7 L/100 km × 2,300 g/L = 1,078.7 g petrol, − 530.6 g grid = 548.1 g
    ({"kwh": "30"}, P, "16443.0", 1644),
    ({"kwh": "0.1"}, P, "54.8", 5),           # 54.81
    ({"kwh": "150"}, P, "82215.0", 8221),
    ({"kwh": "41.27"}, P, "22620.1", 2262),   # 22,620.087
    ({"kwh": "12.34"}, P, "6763.6", 676),     # 6,763.554
]

CASES = ([("cq-transit-v1", *c) for c in TRANSIT_V1] + [("cq-transit-v2", *c) for c in TRANSIT_V2]
         + [("cq-waste-v1", *c) for c in WASTE] + [("cq-ev-v1", *c) for c in EV])


@pytest.mark.parametrize(("seed", "data", "evidence", "grams", "points"), CASES)
def test_seed_methodologies_give_the_hand_computed_figures(seeds, seed, data, evidence, grams,
                                                           points):
    result = seeds[seed].evaluate(data, evidence)
    assert (result.reduction_g, result.points) == (Decimal(grams), points)
    assert str(result.reduction_g) == grams


def test_self_reported_drops_and_charges_wait_for_review(seeds):
    assert seeds["cq-waste-v1"].evaluate({"category": "other"}, S).needs_review
    assert seeds["cq-ev-v1"].evaluate({"kwh": "1"}, S).needs_review
    assert not seeds["cq-transit-v2"].evaluate({"mode": "bus"}, S).needs_review


@pytest.mark.parametrize("path", sorted(SEED.glob("*.json")), ids=lambda p: p.stem)
def test_every_parameter_cites_its_source_and_the_peg_is_ten_grams(path):
    doc = seed_document(path.stem)
    for name, param in doc["params"].items():
        assert param["source"].strip(), name
        assert param["unit"].strip(), name
    assert doc["params"]["g_per_point"]["value"] == "10"
    if "rounded UP" in doc["params"]["g_per_point"]["source"]:
        # CQ-PAPERLESS: 5 g a document would earn no point at all rounded down; the
        # document says so where the peg is cited.
        assert doc["points"]["formula"] == "ceil(reduction_g / g_per_point)"
    else:
        assert doc["points"]["formula"] == "floor(reduction_g / g_per_point)"
    unconfirmed = [p for p in doc["params"].values() if "unconfirmed" in p["source"]
                   or "unconfirmed" in p.get("note", "")]
    if path.stem in ("cq-waste-v1", "cq-ev-v1"):
        assert unconfirmed, "values without an official source must say so"


def test_the_two_transit_versions_meet_at_october_first_in_chongqing():
    v1, v2 = seed_document("cq-transit-v1"), seed_document("cq-transit-v2")
    assert (v1["code"], v1["version"], v2["version"]) == ("CQ-TRANSIT", 1, 2)
    end = dt.datetime.fromisoformat(v1["effective_to"])
    start = dt.datetime.fromisoformat(v2["effective_from"])
    assert end == start == dt.datetime(2026, 9, 30, 16, tzinfo=dt.UTC)
    assert "effective_to" not in v2 or v2["effective_to"] is None
