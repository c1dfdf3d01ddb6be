"""Evaluator speed: a compiled seed methodology against a plain function doing the same sums.

Target (issue #19, was #3's 10×): under 20 µs per evaluation and at most 3× the plain
function, measured in the same run. Both sides read the input from text into Decimal, check
it, multiply, round half-even and apply the peg, so the ratio is the price of the document,
the checks and the explained result. The checked reference path (``evaluate_checked``, which
the generated evaluator hands every case off the usual road) is shown for comparison.
Exits 1 when a target fails.
"""

from __future__ import annotations

import json
import sys
import time
from decimal import ROUND_FLOOR, ROUND_HALF_EVEN, Decimal
from pathlib import Path

from carbon_inclusion import rules

SEED = Path(__file__).resolve().parents[1] / "seed" / "methodologies"
N, REPEATS = 20_000, 9
MAX_RATIO, MAX_US = 3.0, 20.0


def compiled(name: str) -> rules.CompiledMethodology:
    doc = json.loads((SEED / f"{name}.json").read_text(encoding="utf-8"))
    return rules.compile_methodology(rules.load_document(doc))


TENTH, TEN, LO, HI = Decimal("0.1"), Decimal(10), Decimal("0.1"), Decimal(60)
METRO = Decimal("46.8")
KM_PER_KWH, L_PER_100, G_PER_L, GRID = Decimal("6.7"), Decimal(7), Decimal(2300), Decimal("530.6")


def plain_transit(data: dict) -> tuple[Decimal, int]:
    km = Decimal(data["distance_km"])
    if data["mode"] != "metro" or not LO <= km <= HI or km != km.quantize(TENTH):
        raise ValueError("bad input")
    grams = (km * METRO).quantize(TENTH, rounding=ROUND_HALF_EVEN)
    return grams, int((grams / TEN).to_integral_value(rounding=ROUND_FLOOR))


def plain_ev(data: dict) -> tuple[Decimal, int]:
    kwh = Decimal(data["kwh"])
    if not Decimal("0.1") <= kwh <= 150:
        raise ValueError("bad input")
    exact = kwh * KM_PER_KWH * L_PER_100 / 100 * G_PER_L - kwh * GRID
    grams = exact.quantize(TENTH, rounding=ROUND_HALF_EVEN)
    return grams, int((grams / TEN).to_integral_value(rounding=ROUND_FLOOR))


def best_us(fns, arg) -> list[float]:
    """Best µs per call of each function; runs alternate so drift hits both sides alike."""
    best = [float("inf")] * len(fns)
    for _ in range(REPEATS):
        for i, fn in enumerate(fns):
            began = time.perf_counter_ns()
            for _ in range(N):
                fn(arg)
            best[i] = min(best[i], (time.perf_counter_ns() - began) / N / 1000)
    return best


def compare(label: str, methodology: rules.CompiledMethodology, plain, data: dict) -> bool:
    result = methodology.evaluate(data)
    assert (result.reduction_g, result.points) == plain(data), "the two sides disagree"
    assert methodology.evaluate(data) == methodology.evaluate_checked(data)
    evaluator, baseline, checked = best_us(
        [methodology.evaluate, plain, methodology.evaluate_checked], data)
    ratio = evaluator / baseline
    print(f"{label}")
    print(f"  baseline plain function : {baseline:7.2f} µs  ({1e6 / baseline:>10,.0f} /s)")
    print(f"  compiled methodology    : {evaluator:7.2f} µs  ({1e6 / evaluator:>10,.0f} /s)"
          f"  = {ratio:.2f}× baseline")
    print(f"  (checked reference path : {checked:7.2f} µs  = {checked / baseline:.2f}×)")
    ok = evaluator < MAX_US and ratio <= MAX_RATIO
    print(f"  target < {MAX_US:.0f} µs and ≤ {MAX_RATIO:.0f}×: {'PASS' if ok else 'FAIL'}")
    return ok


def main() -> int:
    results = [
        compare("CQ-TRANSIT v2, metro 12.5 km (1 formula + points)",
                compiled("cq-transit-v2"), plain_transit,
                {"mode": "metro", "distance_km": "12.5"}),
        compare("CQ-EV v1, 41.27 kWh (3 steps + formula + points)", compiled("cq-ev-v1"),
                plain_ev, {"kwh": "41.27"}),
    ]
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
