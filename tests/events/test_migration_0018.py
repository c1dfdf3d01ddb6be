"""Revision 0018 (events trued up from actual figures) across its upgrade and downgrade."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid

import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from carbon_inclusion.db.migrate import alembic_config, upgrade
from tests.live import fresh_database

ENDS = dt.date(2026, 11, 11)


async def _run(url: str, *statements: tuple[str, dict]) -> list:
    """Each statement in one transaction; the rows of each that returns rows."""
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            results = [await conn.execute(text(sql), params) for sql, params in statements]
            return [r.all() if r.returns_rows else None for r in results]
    finally:
        await engine.dispose()


async def _before(url: str) -> tuple[uuid.UUID, uuid.UUID]:
    """An event recorded before its last day and one recorded after, each neutralised (as
    0016 stores them); their ids."""
    org, version = uuid.uuid4(), uuid.uuid4()
    early, late = uuid.uuid4(), uuid.uuid4()
    statements = [
        ("INSERT INTO organisations (id, name) VALUES (:id, 'm')", {"id": org}),
        ("INSERT INTO methodology_versions (id, code, version, behaviour, kind, status, "
         "document, sha256, in_force_from) VALUES (:id, 'CQ-EVENT', 1, 'event_footprint', "
         "'footprint', 'published', '{}', 'x', now())", {"id": version})]
    shanghai = dt.timezone(dt.timedelta(hours=8))
    for event_id, recorded in ((early, dt.datetime(2026, 11, 10, 12, tzinfo=shanghai)),
                               (late, dt.datetime(2026, 11, 12, 0, 30, tzinfo=shanghai))):
        statements += [
            ("INSERT INTO events (id, organisation_id, name, starts_on, ends_on, venue, "
             "attendees, inputs, lines, breakdown, total_g, methodology_id, methodology_code, "
             "methodology_version, created_by, created_at) VALUES (:id, :o, 'e', :s, :e, 'v', "
             "1, '{}', '[]', '{}', 1, :m, 'CQ-EVENT', 1, :o, :at)",
             {"id": event_id, "o": org, "s": ENDS - dt.timedelta(days=1), "e": ENDS,
              "m": version, "at": recorded}),
            ("INSERT INTO retirements (id, organisation_id, kind, event_id, quantity_t, "
             "purpose, created_by) VALUES (:id, :o, 'event', :e, 1, '{}', :o)",
             {"id": uuid.uuid4(), "o": org, "e": event_id})]
    await _run(url, *statements)
    return early, late


def _stages(url: str) -> list:
    return asyncio.run(_run(url, (
        "SELECT e.basis, t.stage FROM events e JOIN retirements t ON t.event_id = e.id "
        "ORDER BY e.created_at", {})))[0]


def test_0018_gives_existing_events_a_basis_and_retirements_a_stage_and_goes_back(storage):
    with fresh_database(storage.database_url) as url:
        upgrade(url, "0016")
        early, _ = asyncio.run(_before(url))
        upgrade(url, "0018")
        assert [tuple(r) for r in _stages(url)] == [("estimated", "pre_event"),
                                                     ("actual", "post_event")]
        command.downgrade(alembic_config(url), "0016")
        with pytest.raises(Exception, match="uq_retirements_event_id"):  # one per event again
            asyncio.run(_run(url, (
                "INSERT INTO retirements (id, organisation_id, kind, event_id, quantity_t, "
                "purpose, created_by) SELECT gen_random_uuid(), organisation_id, 'event', "
                "event_id, 1, '{}', created_by FROM retirements WHERE event_id = :e",
                {"e": early})))
        upgrade(url, "0018")
        # A true-up has no place in 0016: the downgrade refuses rather than lose it.
        asyncio.run(_run(url, (
            "INSERT INTO retirements (id, organisation_id, kind, event_id, stage, quantity_t, "
            "purpose, created_by) SELECT gen_random_uuid(), organisation_id, 'event', "
            "event_id, 'true_up', 1, '{}', created_by FROM retirements WHERE event_id = :e",
            {"e": early})))
        with pytest.raises(Exception, match="trued up"):
            command.downgrade(alembic_config(url), "0016")
