"""Loads ``seed/`` (data, not code) into the database; safe to run again."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from sqlalchemy.dialects.postgresql import insert

from carbon_inclusion.accounts.models import District
from carbon_inclusion.db import Database
from carbon_inclusion.gamification.seed import seed_badges, seed_levels
from carbon_inclusion.methodologies.service import MethodologyService
from carbon_inclusion.rewards.service import seed_rewards

log = logging.getLogger("carbon_inclusion.seed")


def default_seed_dir() -> Path:
    """``./seed`` when run from a checkout, else the one beside the source tree."""
    here = Path("seed")
    if here.is_dir():
        return here.resolve()
    return Path(__file__).resolve().parents[2] / "seed"


async def seed_districts(db: Database, seed_dir: Path) -> int:
    doc = json.loads((seed_dir / "districts.json").read_text(encoding="utf-8"))
    rows = doc["districts"]
    stmt = insert(District).values(rows)
    stmt = stmt.on_conflict_do_update(
        index_elements=[District.code],
        set_={c: stmt.excluded[c] for c in ("adcode", "name_zh", "name_en", "kind")},
    )
    async with db.connect() as conn:
        await conn.execute(stmt)
    return len(rows)


def _read(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def methodology_documents(seed_dir: Path) -> list[dict]:
    docs = [json.loads(p.read_text(encoding="utf-8"))
            for folder in ("methodologies", "footprints")
            for p in sorted((seed_dir / folder).glob("*.json"))]
    return sorted(docs, key=lambda d: (d.get("code", ""), d.get("version", 0)))


async def seed_methodologies(db: Database, seed_dir: Path) -> int:
    service = MethodologyService(db)
    published = 0
    for doc in methodology_documents(seed_dir):
        if await service.ensure_published(doc) == "published":
            published += 1
    return published


async def seed_all(db: Database, seed_dir: Path | None = None) -> dict[str, int]:
    seed_dir = seed_dir or default_seed_dir()
    counts = {
        "districts": await seed_districts(db, seed_dir),
        "methodologies_published": await seed_methodologies(db, seed_dir),
        "levels": await seed_levels(db, _read(seed_dir / "levels.json")["levels"]),
        "rewards_added": await seed_rewards(db, _read(seed_dir / "rewards.json")["rewards"]),
        "badges_added": await seed_badges(db, _read(seed_dir / "badges.json")["badges"]),
    }
    log.info("seeded %s", counts)
    return counts
