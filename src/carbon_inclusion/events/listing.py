"""Certificates listed for administrators, newest issued first (the public reads one at a
time, by id)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from carbon_inclusion.common.pagination import decode_cursor, page
from carbon_inclusion.db import Database
from carbon_inclusion.events import repository as repo
from carbon_inclusion.events.schemas import AdminCertificateOut, AdminCertificatePage
from carbon_inclusion.registry.schemas import SerialRange
from carbon_inclusion.settings import Settings


def certificate_url(base_url: str, cert_id: uuid.UUID) -> str:
    return f"{base_url}/v1/certificates/{cert_id}"


def subject(row: Any) -> str:
    """What a certificate is for: the event's name, or the compliance year."""
    return row.event_name if row.event_name is not None else str(row.compliance_year)


class CertificateList:
    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.base_url = settings.public_url

    async def page(self, *, status: str | None, limit: int,
                   cursor: str | None) -> AdminCertificatePage:
        after = decode_cursor(cursor, dt.datetime, uuid.UUID)
        async with self.db.engine.connect() as conn:
            rows = await repo.certificate_page(conn, status=status, after=after,
                                               limit=limit + 1)
        shown, next_cursor = page(rows, limit, lambda r: (r.issued_at, r.id))
        return AdminCertificatePage([self._out(r) for r in shown], next_cursor)

    def _out(self, r: Any) -> AdminCertificateOut:
        url = self.base_url
        return AdminCertificateOut(
            id=r.id, number=r.number, kind=r.kind, status=r.status,
            organisation_id=r.organisation_id, organisation_name=r.organisation_name or "",
            subject=subject(r), quantity_t=r.quantity_t, issued_at=r.issued_at,
            url=certificate_url(url, r.id), sha256=r.sha256, basis=r.basis,
            event_id=r.event_id, retirement_id=r.retirement_id,
            serials=[SerialRange(s["first"], s["last"], s["quantity"]) for s in r.serials or ()],
            cancel_reason=r.cancel_reason, cancelled_at=r.cancelled_at,
            replaced_by=r.replaced_by,
            replaced_by_url=certificate_url(url, r.replaced_by) if r.replaced_by else None,
            superseded_at=r.superseded_at)
