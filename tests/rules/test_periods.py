"""Period behaviours in the document format, the two period scenes against figures worked
out here by hand, the caps per period and the settlement of a period — all pure."""

from __future__ import annotations

import copy
import datetime as dt
import json
import uuid
from decimal import ROUND_FLOOR, ROUND_HALF_EVEN, Decimal
from pathlib import Path
from types import SimpleNamespace

import pytest

from carbon_inclusion import rules
from carbon_inclusion.core.caps import Usage
from carbon_inclusion.core.periods import settle_period
from tests.rules.conftest import SEED, seed_document

D = Decimal
P, S = "partner_verified", "self_reported"

# --- CQ-STEPS: the cited factors -------------------------------------------------------------
THRESHOLD_STEPS = 5000  # sedentary below ~5,000 steps a day (Tudor-Locke 2013) (unconfirmed)
G_PER_STEP = D("0.01")  # a third of 46.8 g/pkm × 0.65 m (unconfirmed, conservative)
DAILY_CAP_G = D("296")  # Ant Forest's walking cap [secondary]
# --- CQ-POWER ---------------------------------------------------------------------------------
GRID_G_PER_KWH = D("539.5")  # 华中 2022, MEE/NBS [news], as CQ-EV v2
MAX_SAVING_SHARE = D("0.2")  # programme assumption (unconfirmed)
MAX_SAVING_KWH = D("50")  # programme assumption (unconfirmed)


def paid(exact: Decimal) -> tuple[Decimal, int]:
    grams = max(exact, D(0)).quantize(D("0.1"), rounding=ROUND_HALF_EVEN)
    return grams, int((grams / 10).to_integral_value(rounding=ROUND_FLOOR))


def steps_by_hand(steps: int) -> Decimal:
    counted = 0 if steps < THRESHOLD_STEPS else steps - THRESHOLD_STEPS
    return min(counted * G_PER_STEP, DAILY_CAP_G)


def power_by_hand(kwh: Decimal, baseline: Decimal) -> Decimal:
    saving = max(baseline - kwh, D(0))
    return min(saving, baseline * MAX_SAVING_SHARE, MAX_SAVING_KWH) * GRID_G_PER_KWH


STEPS = [  # (steps, grams, points) worked out in the document's notes
    (12345, "73.4", 7),     # 7,345 × 0.01 = 73.45 → 73.4 (half even)
    (0, "0.0", 0),
    (4999, "0.0", 0),       # below the threshold: nothing
    (5000, "0.0", 0),       # at it: 0 counted
    (5001, "0.0", 0),       # 0.01 g → 0.0
    (5050, "0.5", 0),
    (20000, "150.0", 15),
    (34600, "296.0", 29),   # the cap reached exactly
    (34601, "296.0", 29),
    (100000, "296.0", 29),  # 950 g, capped
]

POWER = [  # (kwh, baseline_kwh, grams, points)
    ("180.5", "210.0", "15915.2", 1591),   # 29.5 × 539.5 = 15,915.25 → .2 (half even)
    ("70", "100", "10790.0", 1079),        # 30 saved, 20 % of 100 = 20 counted
    ("200", "300", "26975.0", 2697),       # 100 saved, capped at 50 kWh
    ("250", "200", "0.0", 0),              # an increase: 0, never negative
    ("200", "200", "0.0", 0),
    ("0", "5000", "26975.0", 2697),        # an empty home: the caps hold
    ("199.9", "200", "54.0", 5),           # 0.1 × 539.5 = 53.95 → 54.0 (half even)
]


@pytest.fixture(scope="module")
def steps_m() -> rules.CompiledMethodology:
    return rules.compile_methodology(rules.load_document(seed_document("cq-steps-v1")))


@pytest.fixture(scope="module")
def power_m() -> rules.CompiledMethodology:
    return rules.compile_methodology(rules.load_document(seed_document("cq-power-v1")))


@pytest.mark.parametrize(("steps", "grams", "points"), STEPS)
def test_walking_steps_pay_the_hand_computed_figures(steps_m, steps, grams, points):
    e = steps_m.evaluate({"steps": steps})
    assert (e.reduction_g, e.points) == (D(grams), points) == paid(steps_by_hand(steps))
    assert str(e.reduction_g) == grams


@pytest.mark.parametrize(("kwh", "baseline", "grams", "points"), POWER)
def test_electricity_saving_pays_the_hand_computed_figures(power_m, kwh, baseline, grams,
                                                           points):
    e = power_m.evaluate({"kwh": kwh, "baseline_kwh": baseline})
    assert (e.reduction_g, e.points) == (D(grams), points) == paid(
        power_by_hand(D(kwh), D(baseline)))


def test_the_period_scenes_pay_only_partner_records_and_declare_their_periods(steps_m,
                                                                               power_m):
    for m, period, later in ((steps_m, "day", "supersede_if_greater"),
                             (power_m, "month", "supersede")):
        assert (m.once_per.period, m.once_per.later) == (period, later)
        with pytest.raises(rules.InputError) as err:
            m.evaluate(next(iter([{"steps": 9000}, {"kwh": "1", "baseline_kwh": "2"}]
                                 [m is power_m:])), S)
        assert err.value.errors[0].field == "evidence"
    assert steps_m.evaluate({"steps": 9000}, P).needs_review is False


def test_the_period_scenes_use_the_grid_factor_of_cq_ev_v2_with_its_source():
    ev, power = seed_document("cq-ev-v2"), seed_document("cq-power-v1")
    assert power["params"]["grid_g_per_kwh"]["value"] == ev["params"]["grid_g_per_kwh"]["value"]
    assert "华中 0.5395" in power["params"]["grid_g_per_kwh"]["source"]
    for name in ("cq-steps-v1", "cq-power-v1"):
        for pname, param in seed_document(name)["params"].items():
            if pname != "g_per_point" and "[" not in param["source"]:
                assert "unconfirmed" in param["source"], (name, pname)


def test_the_expression_language_already_says_threshold_tiers_and_a_capped_step():
    """No new function: ``a if cond else b`` is a threshold, nested it is a tier table,
    ``min`` caps a step — and each is type-checked like any formula."""
    doc = {
        "code": "T-TIERS", "version": 1, "title": {"zh": "阶梯", "en": "Tiers"},
        "behaviour": "test_tiers", "effective_from": "2026-01-01T00:00:00+08:00",
        "inputs": {"n": {"type": "integer", "min": "0", "max": "1000"}},
        "params": {"g_per_point": {"value": "10", "unit": "g/point", "source": "peg"}},
        "steps": [{"name": "tiered", "formula":
                   "0 if n < 10 else (5 * n if n < 100 else 500 + 2 * (n - 100))"}],
        "reduction_g": {"formula": "min(tiered, 1000)",
                        "rounding": {"places": 0, "mode": "floor"}},
        "points": {"formula": "floor(reduction_g / g_per_point)"},
        "evidence": {"partner_verified": {"factor": "1"}},
    }
    m = rules.compile_methodology(rules.load_document(doc))
    assert [m.evaluate({"n": n}).reduction_g for n in (9, 10, 99, 100, 300, 1000)] == [
        0, 50, 495, 500, 900, 1000]
    bad = copy.deepcopy(doc)
    bad["steps"][0]["formula"] = "0 if n < 10 else 'many'"
    with pytest.raises(rules.DocumentError) as err:
        rules.load_document(bad)
    assert err.value.errors[0].field == "steps[0].formula"


# --- the document format -----------------------------------------------------------------

def _small(**extra) -> dict:
    doc = seed_document("cq-transit-v3")
    doc.update(copy.deepcopy(extra))
    return doc


def test_documents_without_the_new_fields_keep_their_stored_form_and_hash():
    """Every document keeps its stored form (no new key appears) and so its hash; two of
    them are pinned to the hashes main computed before ``once_per`` and
    ``limits.per_month`` existed."""
    for path in sorted(SEED.glob("*.json")):
        raw = json.loads(path.read_text(encoding="utf-8"))
        m = rules.load_document(raw)
        stored = m.to_dict()
        if "once_per" not in raw:
            assert "once_per" not in stored, path.stem
        if "per_month" not in raw.get("limits", {}):
            assert "per_month" not in stored["limits"], path.stem
        assert rules.load_document(stored).sha256 == m.sha256
    before = rules.load_document(seed_document("cq-ev-v2"))
    assert before.sha256 == PUBLISHED["cq-ev-v2"]
    assert rules.load_document(seed_document("cq-transit-v3")).sha256 == PUBLISHED["cq-transit-v3"]


# sha256 of two seed documents computed on main before this change (git show main:…).
PUBLISHED = {
    "cq-ev-v2": "e365b54fcda7747d962bb407ae286a1859b2eb40c2ca5e3941100606272ab97a",
    "cq-transit-v3": "90364a936047d89810641abc8e644d8d4a7b591371a8d12ca5332766440ac1f4",
}


def test_once_per_and_per_month_are_stored_when_set():
    m = rules.load_document(_small(once_per={"period": "month", "later": "refuse"},
                                   limits={"per_day": {"count": 3},
                                           "per_month": {"grams": "500.5", "count": 20}}))
    stored = m.to_dict()
    assert stored["once_per"] == {"period": "month", "later": "refuse"}
    assert stored["limits"]["per_month"] == {"count": 20, "grams": "500.5"}
    assert m.doc.limits.by_period().keys() == {"day", "month"}


@pytest.mark.parametrize(("extra", "field"), [
    ({"once_per": {"period": "week", "later": "refuse"}}, "once_per.period"),
    ({"once_per": {"period": "day", "later": "keep_both"}}, "once_per.later"),
    ({"once_per": {"period": "day"}}, "once_per.later"),
    ({"once_per": {"period": "day", "later": "refuse", "extra": 1}}, "once_per.extra"),
    ({"once_per": "day"}, "once_per"),
    ({"limits": {"per_month": {"grams": "0"}}}, "limits.per_month.grams"),
    ({"limits": {"per_month": {"count": 0}}}, "limits.per_month.count"),
    ({"limits": {"per_month": {"points": "many"}}}, "limits.per_month.points"),
    ({"limits": {"per_week": {"count": 1}}}, "limits.per_week"),
    ({"once_per": {"period": "day", "later": "refuse"}, "same_behaviour_window_s": 60},
     "same_behaviour_window_s"),
])
def test_the_new_fields_are_type_checked_with_the_field_named(extra, field):
    with pytest.raises(rules.DocumentError) as err:
        rules.load_document(_small(**extra))
    assert [e.field for e in err.value.errors] == [field], err.value


def test_the_schema_describes_the_new_fields():
    schema = rules.methodology_schema()
    doc = schema["$defs"]["Document"]
    assert "once_per" not in doc["required"]
    assert "Optional" in doc["properties"]["once_per"]["description"]
    once = schema["$defs"]["OncePer"]
    assert set(once["required"]) == {"period", "later"}
    assert once["properties"]["period"]["enum"] == ["day", "month"]
    assert set(once["properties"]["later"]["enum"]) == {"supersede", "supersede_if_greater",
                                                        "refuse"}
    assert "period_taken" in once["properties"]["later"]["description"]
    limits = schema["$defs"]["Limits"]["properties"]
    assert "month" in limits["per_month"]["description"]
    grams = schema["$defs"]["DailyLimits"]["properties"]["grams"]["anyOf"][0]
    assert "grams CO2e" in grams["description"]


# --- caps per period ---------------------------------------------------------------------

def _caps(**kw):
    return SimpleNamespace(count=kw.get("count"), grams=kw.get("grams"),
                           points=kw.get("points"))


def test_the_month_cap_pays_the_remainder_after_the_day_cap():
    def points_for(g: Decimal) -> int:
        return int(g // 10)
    limits = {"day": _caps(grams=D(300)), "month": _caps(grams=D(1000))}
    # The day has room for 300, the month for 120: 120 g, 12 points, the month bit.
    paid_ = rules.apply_limits(limits, {"day": Usage(1, D(0), 0),
                                        "month": Usage(9, D(880), 88)},
                               D(400), 40, points_for)
    assert (paid_.reduction_g, paid_.points, paid_.capped_in) == (
        D(120), 12, {"day": ("grams",), "month": ("grams",)})
    # Only the day's cap: 300.
    paid_ = rules.apply_limits(limits, {"day": Usage(), "month": Usage()}, D(400), 40,
                               points_for)
    assert (paid_.reduction_g, paid_.capped_in) == (D(300), {"day": ("grams",)})
    # A month's count cap: nothing.
    paid_ = rules.apply_limits({"month": _caps(count=2)}, {"month": Usage(2, D(5), 0)},
                               D(400), 40, points_for)
    assert (paid_.reduction_g, paid_.points, paid_.capped_by) == (D(0), 0, ("count",))
    # No caps: as computed.
    assert rules.apply_limits({}, {}, D(400), 40, points_for).reduction_g == D(400)


def test_period_bounds_in_programme_days():
    assert rules.period_bounds("month", dt.date(2026, 12, 31)) == (
        dt.date(2026, 12, 1), dt.date(2027, 1, 1))
    assert rules.period_bounds("month", dt.date(2028, 2, 1)) == (
        dt.date(2028, 2, 1), dt.date(2028, 3, 1))
    assert rules.period_start("day", dt.date(2026, 12, 3)) == dt.date(2026, 12, 3)
    with pytest.raises(ValueError):
        rules.period_start("week", dt.date(2026, 12, 3))


# --- settling a period -------------------------------------------------------------------

def _holder(source: str, grams: str) -> SimpleNamespace:
    return SimpleNamespace(id=uuid.uuid4(), source=source, computed_reduction_g=D(grams))


@pytest.mark.parametrize(("later", "source", "grams", "holder", "refused", "supersedes"), [
    ("refuse", "partner", "10", None, None, False),            # the period is free
    ("refuse", "partner", "10", ("partner", "5"), "period_taken", False),
    ("refuse", "app", "10", ("app", "5"), "period_taken", False),
    ("refuse", "partner", "1", ("app", "5"), None, True),      # verified over self-report
    ("refuse", "app", "10", ("partner", "5"), "recorded_by_partner", False),
    ("supersede", "partner", "1", ("partner", "5"), None, True),
    ("supersede", "app", "1", ("app", "5"), None, True),
    ("supersede", "app", "10", ("partner", "5"), "recorded_by_partner", False),
    ("supersede_if_greater", "partner", "6", ("partner", "5"), None, True),
    ("supersede_if_greater", "partner", "5", ("partner", "5"), "period_taken", False),
    ("supersede_if_greater", "partner", "4", ("partner", "5"), "period_taken", False),
])
def test_a_later_record_of_a_period(later, source, grams, holder, refused, supersedes):
    h = _holder(*holder) if holder else None
    s = settle_period(later, source, D(grams), h)
    assert s.refused == refused
    assert s.supersedes == (h.id if supersedes else None)
    assert s.because == (h.id if refused else None)


def test_a_holder_in_a_credit_batch_is_never_superseded():
    h = _holder("partner", "5")
    s = settle_period("supersede", "partner", D(9), h, issued={h.id})
    assert (s.refused, s.because, s.supersedes) == ("issued_as_credits", h.id, None)
    # Refused for its own reason first: nothing would have been superseded.
    assert settle_period("refuse", "partner", D(9), h, issued={h.id}).refused == "period_taken"


def test_every_seed_document_still_checks():
    for path in sorted(Path(SEED).glob("*.json")):
        rules.load_document(json.loads(path.read_text(encoding="utf-8")))
