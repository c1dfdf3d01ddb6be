from __future__ import annotations

import json
from pathlib import Path

import pytest

from carbon_inclusion import rules

SEED = Path(__file__).resolve().parents[2] / "seed" / "methodologies"


def seed_document(name: str) -> dict:
    return json.loads((SEED / f"{name}.json").read_text(encoding="utf-8"))


def compiled(name: str) -> rules.CompiledMethodology:
    return rules.compile_methodology(rules.load_document(seed_document(name)))


@pytest.fixture(scope="session")
def seeds() -> dict[str, rules.CompiledMethodology]:
    return {p.stem: compiled(p.stem) for p in SEED.glob("*.json")}
