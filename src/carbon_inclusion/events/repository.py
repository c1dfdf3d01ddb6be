"""Every statement on the events' tables: events, event_actuals, retirements and certificates.

Style: ``text()`` constants behind functions (JSONB casts and the certificate/retirement
joins read plainly so). The registry's serials are retired through ``registry.service``;
organisations' names come from ``accounts.repository``.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

# ``where`` is one of two fixed conditions, never user input. ``cur`` is the event's valid
# certificate (the final one after a true-up), ``a`` its actual figures when submitted.
_EVENTS = """
    SELECT e.*, a.attendees AS actual_attendees, a.inputs AS actual_inputs,
           a.lines AS actual_lines, a.breakdown AS actual_breakdown,
           a.total_g AS actual_total_g, a.methodology_code AS actual_methodology_code,
           a.methodology_version AS actual_methodology_version,
           a.submitted_at AS actuals_submitted_at,
           cur.id AS certificate_id, cur.true_up AS true_up,
           EXISTS (SELECT 1 FROM retirements t WHERE t.event_id = e.id) AS neutralized,
           EXISTS (SELECT 1 FROM retirements t WHERE t.event_id = e.id
                    AND t.stage = 'pre_event') AS pre_event
      FROM events e
      LEFT JOIN event_actuals a ON a.event_id = e.id
      LEFT JOIN LATERAL (
           SELECT c.id, c.content->'true_up' AS true_up
             FROM retirements t JOIN certificates c
               ON c.retirement_id = t.id AND c.status = 'valid'
            WHERE t.event_id = e.id ORDER BY c.issued_at DESC LIMIT 1) cur ON true
     WHERE e.organisation_id = :o AND {where}
     ORDER BY e.id DESC LIMIT :n"""
_EVENT_PAGE = text(_EVENTS.format(where="(CAST(:after AS uuid) IS NULL OR e.id < :after)"))
_EVENT_ONE = text(_EVENTS.format(where="e.id = :id"))


async def insert_event(conn: AsyncConnection, values: dict[str, Any]) -> None:
    """``inputs``, ``lines`` and ``breakdown`` are JSON text."""
    await conn.execute(text("""
        INSERT INTO events (id, organisation_id, name, starts_on, ends_on, venue,
            attendees, inputs, lines, breakdown, total_g, methodology_id,
            methodology_code, methodology_version, basis, created_by)
        VALUES (:id, :o, :name, :starts_on, :ends_on, :venue, :attendees,
                CAST(:inputs AS jsonb), CAST(:lines AS jsonb),
                CAST(:breakdown AS jsonb), :total, :mid, :code, :v, :basis, :by)"""), values)


async def event_page(conn: AsyncConnection, organisation_id: uuid.UUID,
                     after: uuid.UUID | None, limit: int) -> list[Any]:
    return list((await conn.execute(_EVENT_PAGE, {"o": organisation_id, "after": after,
                                                  "n": limit})).all())


async def event(conn: AsyncConnection, organisation_id: uuid.UUID, event_id: uuid.UUID
                ) -> Any | None:
    """The organisation's event with its actual figures (when submitted), its valid
    certificate, and whether (and how) it is neutralised."""
    return (await conn.execute(_EVENT_ONE, {"id": event_id, "o": organisation_id,
                                            "n": 1})).first()


async def insert_actuals(conn: AsyncConnection, values: dict[str, Any]) -> None:
    """``inputs``, ``lines`` and ``breakdown`` are JSON text. The primary key (the event)
    keeps it to one submission."""
    await conn.execute(text("""
        INSERT INTO event_actuals (event_id, attendees, inputs, lines, breakdown, total_g,
            methodology_id, methodology_code, methodology_version, idempotency_key,
            request_hash, submitted_by, submitted_at)
        VALUES (:e, :attendees, CAST(:inputs AS jsonb), CAST(:lines AS jsonb),
                CAST(:breakdown AS jsonb), :total, :mid, :code, :v, :key, :hash, :by,
                :now)"""), values)


async def actuals_request(conn: AsyncConnection, event_id: uuid.UUID) -> Any | None:
    """``(idempotency_key, request_hash)`` of the event's actual figures, once submitted."""
    return (await conn.execute(text(
        "SELECT idempotency_key, request_hash FROM event_actuals WHERE event_id = :e"),
        {"e": event_id})).first()


async def event_name(conn: AsyncConnection, event_id: uuid.UUID) -> str | None:
    return await conn.scalar(text("SELECT name FROM events WHERE id = :id"), {"id": event_id})


# --- retirements ----------------------------------------------------------------------------

async def insert_retirement(conn: AsyncConnection, values: dict[str, Any]) -> None:
    """``p`` (the purpose) is JSON text; ``stage`` is an event's (else None)."""
    await conn.execute(text("""
        INSERT INTO retirements (id, organisation_id, kind, event_id, stage, quantity_t,
                                 purpose, idempotency_key, created_by)
        VALUES (:id, :o, :kind, :e, :stage, :q, CAST(:p AS jsonb), :key, :by)"""), values)


async def event_retirements(conn: AsyncConnection, event_id: uuid.UUID) -> list[Any]:
    """``(id, stage, quantity_t)`` of each retirement for the event, oldest first."""
    return list((await conn.execute(text(
        "SELECT id, stage, quantity_t FROM retirements WHERE event_id = :e ORDER BY id"),
        {"e": event_id})).all())


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
    """The event's valid certificate, else its latest one."""
    return await conn.scalar(text(
        "SELECT c.id FROM certificates c JOIN retirements t "
        "ON t.id = c.retirement_id WHERE t.event_id = :e "
        "ORDER BY c.status = 'valid' DESC, c.issued_at DESC LIMIT 1"), {"e": event_id})


async def valid_certificates_of_event(conn: AsyncConnection, event_id: uuid.UUID
                                      ) -> list[Any]:
    """``(id, number, content)`` of the event's valid certificates (one, or none once
    cancelled without reissue), locked."""
    return list((await conn.execute(text(
        "SELECT c.id, c.number, c.content FROM certificates c JOIN retirements t "
        "ON t.id = c.retirement_id WHERE t.event_id = :e AND c.status = 'valid' "
        "ORDER BY c.issued_at FOR UPDATE OF c"), {"e": event_id})).all())


# From any certificate of the retirement, through what replaced or superseded it, to the one
# that is valid now: an estimate's serials lead to the event's final certificate.
_STANDING_CERTIFICATE = text("""
    WITH RECURSIVE chain (id, status, replaced_by, depth) AS (
        SELECT id, status, replaced_by, 0 FROM certificates WHERE retirement_id = :r
        UNION ALL
        SELECT c.id, c.status, c.replaced_by, chain.depth + 1
          FROM certificates c JOIN chain ON c.id = chain.replaced_by
         WHERE chain.depth < 100)
    SELECT id FROM chain WHERE status = 'valid' ORDER BY depth LIMIT 1""")


async def valid_certificate_of(conn: AsyncConnection, retirement_id: uuid.UUID
                               ) -> uuid.UUID | None:
    """The certificate that stands for a retirement now (the registry shows it beside a
    serial): its own valid one, or the one that replaced or superseded it."""
    return await conn.scalar(_STANDING_CERTIFICATE, {"r": retirement_id})


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
_CERTIFICATE_NUMBERED = text("SELECT id FROM certificates WHERE number = :number")


async def certificate_numbered(conn: AsyncConnection, number: str) -> uuid.UUID | None:
    """The id of the certificate with this number (as printed on it), if any."""
    return await conn.scalar(_CERTIFICATE_NUMBERED, {"number": number})

_CERTIFICATE_FOR_UPDATE = text("SELECT * FROM certificates WHERE id = :id FOR UPDATE")


async def certificate(conn: AsyncConnection, cert_id: uuid.UUID, *,
                      for_update: bool = False) -> Any | None:
    stmt = _CERTIFICATE_FOR_UPDATE if for_update else _CERTIFICATE
    return (await conn.execute(stmt, {"id": cert_id})).first()


async def cancel_certificate(conn: AsyncConnection, cert_id: uuid.UUID, reason: str) -> None:
    await conn.execute(text(
        "UPDATE certificates SET status = 'cancelled', cancel_reason = :reason, "
        "cancelled_at = now() WHERE id = :id"), {"id": cert_id, "reason": reason})


async def supersede_certificate(conn: AsyncConnection, cert_id: uuid.UUID,
                               by_id: uuid.UUID, now: Any) -> None:
    """Mark an estimate's certificate superseded by the final one ``by_id``."""
    await conn.execute(text(
        "UPDATE certificates SET status = 'superseded', replaced_by = :by, "
        "superseded_at = :now WHERE id = :id AND status = 'valid'"),
        {"id": cert_id, "by": by_id, "now": now})


async def set_replaced_by(conn: AsyncConnection, cert_id: uuid.UUID, new_id: uuid.UUID
                          ) -> None:
    await conn.execute(text("UPDATE certificates SET replaced_by = :new WHERE id = :id"),
                       {"id": cert_id, "new": new_id})


# --- used by admin (the console's list) and the public overview ------------------------------

# A certificate with its retirement: whose, what kind, how much, for which event.
_CERTIFICATE_LIST = text("""
    SELECT c.id, c.number, c.status, c.sha256, c.issued_at, c.cancel_reason, c.cancelled_at,
           c.replaced_by, c.superseded_at, c.retirement_id,
           c.content->>'basis' AS basis,
           c.content->'organisation'->>'name' AS organisation_name,
           c.content->'event'->>'name' AS event_name,
           c.content->'compliance'->>'year' AS compliance_year,
           c.content->'retired'->'serials' AS serials,
           CAST(c.content->'retired'->>'quantity_t' AS integer) AS quantity_t,
           t.kind, t.organisation_id, t.event_id
      FROM certificates c JOIN retirements t ON t.id = c.retirement_id
     WHERE (CAST(:status AS text) IS NULL OR c.status = :status)
       AND (CAST(:at AS timestamptz) IS NULL OR (c.issued_at, c.id) < (:at, :id))
     ORDER BY c.issued_at DESC, c.id DESC LIMIT :n""")


async def certificate_page(conn: AsyncConnection, *, status: str | None,
                           after: tuple[Any, uuid.UUID] | None, limit: int) -> list[Any]:
    """Certificates (in ``status``, when given) newest issued first, after the keyset
    ``(issued_at, id)``, with what they state of their retirement."""
    at, cert_id = after if after is not None else (None, None)
    return list((await conn.execute(_CERTIFICATE_LIST, {
        "status": status, "at": at, "id": cert_id, "n": limit})).all())
