"""Loads ``seed/`` (data, not code) into the database; safe to run again."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from carbon_inclusion.accounts import repository as accounts
from carbon_inclusion.db import Database
from carbon_inclusion.gamification.seed import seed_badges, seed_levels
from carbon_inclusion.methodologies.service import MethodologyService
from carbon_inclusion.rewards.service import seed_rewards
from carbon_inclusion.settings import Settings

log = logging.getLogger("carbon_inclusion.seed")


def default_seed_dir() -> Path:
    """``./seed`` when run from a checkout, else the one beside the source tree."""
    here = Path("seed")
    if here.is_dir():
        return here.resolve()
    return Path(__file__).resolve().parents[2] / "seed"


async def seed_districts(db: Database, seed_dir: Path) -> int:
    doc = json.loads((seed_dir / "districts.json").read_text(encoding="utf-8"))
    async with db.connect() as conn:
        return await accounts.upsert_districts(conn, doc["districts"])


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


async def seed_all(db: Database, seed_dir: Path | None = None,
                   settings: Settings | None = None) -> dict[str, int]:
    """Everything in ``seed_dir``; ``settings`` (else the environment's) give the programme
    time zone the rewards and badges are created in."""
    seed_dir = seed_dir or default_seed_dir()
    settings = settings or Settings.from_env()
    counts = {
        "districts": await seed_districts(db, seed_dir),
        "methodologies_published": await seed_methodologies(db, seed_dir),
        "levels": await seed_levels(db, _read(seed_dir / "levels.json")["levels"]),
        "rewards_added": await seed_rewards(db, _read(seed_dir / "rewards.json")["rewards"],
                                      settings),
        "badges_added": await seed_badges(db, _read(seed_dir / "badges.json")["badges"],
                                     settings),
    }
    log.info("seeded %s", counts)
    return counts
