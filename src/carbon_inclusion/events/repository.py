"""Every statement on the events' tables: events, retirements and certificates.

Style: ``text()`` constants behind functions (JSONB casts and the certificate/retirement
joins read plainly so). The registry's serials are retired through ``registry.service``;
organisations' names come from ``accounts.repository``.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

# ``where`` is one of two fixed conditions, never user input.
_EVENTS = """
    SELECT e.*, (SELECT c.id FROM retirements t JOIN certificates c
                  ON c.retirement_id = t.id AND c.status = 'valid'
                  WHERE t.event_id = e.id) AS certificate_id,
           EXISTS (SELECT 1 FROM retirements t WHERE t.event_id = e.id) AS neutralized
      FROM events e WHERE e.organisation_id = :o AND {where}
     ORDER BY e.id DESC LIMIT :n"""
_EVENT_PAGE = text(_EVENTS.format(where="(CAST(:after AS uuid) IS NULL OR e.id < :after)"))
_EVENT_ONE = text(_EVENTS.format(where="e.id = :id"))


async def insert_event(conn: AsyncConnection, values: dict[str, Any]) -> None:
    """``inputs``, ``lines`` and ``breakdown`` are JSON text."""
    await conn.execute(text("""
        INSERT INTO events (id, organisation_id, name, starts_on, ends_on, venue,
            attendees, inputs, lines, breakdown, total_g, methodology_id,
            methodology_code, methodology_version, created_by)
        VALUES (:id, :o, :name, :starts_on, :ends_on, :venue, :attendees,
                CAST(:inputs AS jsonb), CAST(:lines AS jsonb),
                CAST(:breakdown AS jsonb), :total, :mid, :code, :v, :by)"""), values)


async def event_page(conn: AsyncConnection, organisation_id: uuid.UUID,
                     after: uuid.UUID | None, limit: int) -> list[Any]:
    return list((await conn.execute(_EVENT_PAGE, {"o": organisation_id, "after": after,
                                                  "n": limit})).all())


async def event(conn: AsyncConnection, organisation_id: uuid.UUID, event_id: uuid.UUID
                ) -> Any | None:
    """The organisation's event with its valid certificate and whether it is neutralised."""
    return (await conn.execute(_EVENT_ONE, {"id": event_id, "o": organisation_id,
                                            "n": 1})).first()


async def event_name(conn: AsyncConnection, event_id: uuid.UUID) -> str | None:
    return await conn.scalar(text("SELECT name FROM events WHERE id = :id"), {"id": event_id})


# --- retirements ----------------------------------------------------------------------------

async def insert_retirement(conn: AsyncConnection, values: dict[str, Any]) -> None:
    """``p`` (the purpose) is JSON text."""
    await conn.execute(text("""
        INSERT INTO retirements (id, organisation_id, kind, event_id, quantity_t, purpose,
                                 idempotency_key, created_by)
        VALUES (:id, :o, :kind, :e, :q, CAST(:p AS jsonb), :key, :by)"""), values)


async def compliance_by_key(conn: AsyncConnection, organisation_id: uuid.UUID, key: str
                            ) -> Any | None:
    """``(id, quantity_t, asked)`` of the certificate of the organisation's retirement made
    under this Idempotency-Key (``asked``: its ``purpose.compliance``)."""
    return (await conn.execute(text(
        "SELECT c.id, t.quantity_t, t.purpose->'compliance' AS asked FROM retirements t "
        "JOIN certificates c ON c.retirement_id = t.id "
        "WHERE t.organisation_id = :o AND t.idempotency_key = :k "
        "ORDER BY c.issued_at DESC LIMIT 1"), {"o": organisation_id, "k": key})).first()


async def compliance_used_t(conn: AsyncConnection, organisation_id: uuid.UUID, year: int
                            ) -> int:
    return int(await conn.scalar(text(
        "SELECT coalesce(sum(quantity_t), 0) FROM retirements WHERE organisation_id = "
        ":o AND kind = 'compliance' AND (purpose->'compliance'->>'year')::int = :y"),
        {"o": organisation_id, "y": year}))


# --- certificates ---------------------------------------------------------------------------

async def latest_certificate_of_event(conn: AsyncConnection, event_id: uuid.UUID
                                      ) -> uuid.UUID | None:
    return await conn.scalar(text(
        "SELECT c.id FROM certificates c JOIN retirements t "
        "ON t.id = c.retirement_id WHERE t.event_id = :e "
        "ORDER BY c.issued_at DESC LIMIT 1"), {"e": event_id})


async def valid_certificate_of(conn: AsyncConnection, retirement_id: uuid.UUID
                               ) -> uuid.UUID | None:
    """The valid certificate of a retirement (the registry shows it beside a serial)."""
    return await conn.scalar(text(
        "SELECT id FROM certificates WHERE retirement_id = :r AND status = 'valid'"),
        {"r": retirement_id})


async def certificates_numbered(conn: AsyncConnection, prefix: str) -> int:
    """How many certificates have a number starting with ``prefix``."""
    return int(await conn.scalar(text(
        "SELECT count(*) FROM certificates WHERE number LIKE :p"), {"p": f"{prefix}%"}))


async def insert_certificate(conn: AsyncConnection, values: dict[str, Any]) -> None:
    """``content`` is JSON text."""
    await conn.execute(text("""
        INSERT INTO certificates (id, number, retirement_id, content, sha256, status,
                                  issued_at)
        VALUES (:id, :number, :r, CAST(:content AS jsonb), :sha, 'valid', :now)"""), values)


_CERTIFICATE = text("SELECT * FROM certificates WHERE id = :id")
_CERTIFICATE_FOR_UPDATE = text("SELECT * FROM certificates WHERE id = :id FOR UPDATE")


async def certificate(conn: AsyncConnection, cert_id: uuid.UUID, *,
                      for_update: bool = False) -> Any | None:
    stmt = _CERTIFICATE_FOR_UPDATE if for_update else _CERTIFICATE
    return (await conn.execute(stmt, {"id": cert_id})).first()


async def cancel_certificate(conn: AsyncConnection, cert_id: uuid.UUID, reason: str) -> None:
    await conn.execute(text(
        "UPDATE certificates SET status = 'cancelled', cancel_reason = :reason, "
        "cancelled_at = now() WHERE id = :id"), {"id": cert_id, "reason": reason})


async def set_replaced_by(conn: AsyncConnection, cert_id: uuid.UUID, new_id: uuid.UUID
                          ) -> None:
    await conn.execute(text("UPDATE certificates SET replaced_by = :new WHERE id = :id"),
                       {"id": cert_id, "new": new_id})
