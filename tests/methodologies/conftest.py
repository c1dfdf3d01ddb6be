from __future__ import annotations

import copy
import secrets
from typing import Any

import pytest


def document(code: str, version: int = 1, *, effective_from: str = "2026-01-01T00:00:00+08:00",
             effective_to: str | None = None, **overrides: Any) -> dict[str, Any]:
    """A small, valid transit-like document; tests change one thing at a time."""
    doc: dict[str, Any] = {
        "code": code,
        "version": version,
        "title": {"zh": "测试出行", "en": "Test trips"},
        "behaviour": f"test_{code.lower().replace('-', '_')}",
        "effective_from": effective_from,
        "effective_to": effective_to,
        "inputs": {
            "distance_km": {"type": "decimal", "min": "0.1", "max": "60", "unit": "km",
                            "places": 1},
        },
        "params": {
            "factor_g_per_pkm": {"value": "46.8", "unit": "g CO2e/pkm",
                                 "source": "Shenzhen 2021 (test)"},
            "g_per_point": {"value": "10", "unit": "g CO2e/point", "source": "seed peg"},
        },
        "reduction_g": {"formula": "distance_km * factor_g_per_pkm",
                        "rounding": {"places": 1, "mode": "half_even"}},
        "points": {"formula": "floor(reduction_g / g_per_point)"},
        "evidence": {"partner_verified": {"factor": "1", "review": False},
                     "self_reported": {"factor": "0.5", "review": False}},
        "limits": {"per_day": {"count": 10, "points": 300}},
    }
    doc.update(copy.deepcopy(overrides))
    return doc


@pytest.fixture
def code() -> str:
    return "T-" + secrets.token_hex(3).upper()
