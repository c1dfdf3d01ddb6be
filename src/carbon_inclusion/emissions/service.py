"""The register of verified emissions: entries and corrections by verifiers, and the register
as the verifier, the organisation and an administrator read it.

An entry is idempotent (``Idempotency-Key`` per verifier). A year already in the register is
corrected by a new revision that supersedes the current one and gives its reason; nothing is
edited in place, and each entry is in the audit log with who made it and when. The
compliance offsets of ``events`` are capped by the current revision of the year.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import msgspec
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from carbon_inclusion.accounts import repository as accounts
from carbon_inclusion.audit.service import record
from carbon_inclusion.common.clock import SYSTEM_CLOCK, Clock
from carbon_inclusion.common.idempotency import check_replay, request_hash
from carbon_inclusion.common.idempotency import lock_key as idempotency_lock_key
from carbon_inclusion.common.pagination import decode_cursor, encode_cursor
from carbon_inclusion.common.periods import programme_day
from carbon_inclusion.core.footprint import compliance_cap_t
from carbon_inclusion.db import Database
from carbon_inclusion.emissions import repository as repo
from carbon_inclusion.emissions.schemas import (
    EmissionsEntryOut,
    EmissionsIn,
    EmissionsRegisterOut,
    EmissionsYearOut,
    VerificationBodyOut,
)
from carbon_inclusion.errors import Conflict, FieldError, InvalidInput, NotFound
from carbon_inclusion.ids import uuid7
from carbon_inclusion.settings import Settings

MAX_T = Decimal(10) ** 9
T_QUANTUM = Decimal("0.001")

# Whole tonnes already offset against an organisation-year (``events`` answers it; wired in
# ``app.build_state``, so this domain does not import events).
OffsetsUsed = Callable[[AsyncConnection, uuid.UUID, int], Awaitable[int]]


async def _none_used(conn: AsyncConnection, organisation_id: uuid.UUID, year: int) -> int:
    return 0


def checked_tonnes(field: str, value: Decimal) -> Decimal:
    """``value`` to 0.001 t when it is a register figure (above 0, at most 10^9 t, at most
    three decimals), else 422 naming ``field``."""
    if not value.is_finite() or not 0 < value <= MAX_T:
        raise InvalidInput.field(field, "must be above 0 and at most 10^9 t")
    exact = value.quantize(T_QUANTUM)
    if exact != value:
        raise InvalidInput.field(field, "has more than three decimals (0.001 t)")
    return exact


class EmissionsService:
    def __init__(self, db: Database, settings: Settings, clock: Clock = SYSTEM_CLOCK, *,
                 offsets_used: OffsetsUsed = _none_used) -> None:
        self.db = db
        self.clock = clock
        self.tz = settings.tz
        self.cap_share = settings.compliance_offset_cap
        self.offsets_used = offsets_used

    async def enter(self, verifier_id: uuid.UUID, verification_body_id: uuid.UUID,
                    organisation_id: uuid.UUID, key: str, body: EmissionsIn
                    ) -> tuple[EmissionsEntryOut, bool]:
        """``(entry, new)``: the organisation's verified emissions for the year, a first
        entry or a correction; the same Idempotency-Key and body answers the first entry."""
        tonnes = checked_tonnes("verified_emissions_t", body.verified_emissions_t)
        today = programme_day(self.clock.now(), self.tz)
        _check_dates(body, today)
        asked = msgspec.structs.replace(body, verified_emissions_t=tonnes)
        digest = request_hash(msgspec.to_builtins(asked))
        async with self.db.transaction() as session:
            conn = await session.connection()
            # One writer per organisation-year (and per key: the same key sent for two years
            # at once must not race to its unique key).
            await repo.lock_keys(conn, [
                repo.year_lock_key(organisation_id, body.year),
                idempotency_lock_key("verified-emissions", verifier_id, key)])
            done = await repo.by_key(conn, verifier_id, key)
            if done is not None:
                check_replay(done.request_sha256, digest, "emissions entry")
                return await self._entry_out(session, done), False
            await _enterprise(session, organisation_id)
            previous = await repo.current(conn, organisation_id, body.year)
            if previous is not None:
                _check_correction(previous, asked)
            entry_id = uuid7()
            revision = 1 if previous is None else previous.revision + 1
            await repo.insert(conn, {
                "id": entry_id, "o": organisation_id, "year": body.year,
                "revision": revision, "t": tonnes, "ref": body.report_reference,
                "on": body.verified_on, "reason": body.reason,
                "supersedes": None if previous is None else previous.id,
                "body": verification_body_id, "by": verifier_id, "key": key, "sha": digest,
                "at": self.clock.now()})
            record(session, actor_id=verifier_id,
                   action="emissions.registered" if previous is None else "emissions.corrected",
                   subject_type="verified_emissions", subject_id=str(entry_id), details={
                       "organisation_id": str(organisation_id), "year": body.year,
                       "revision": revision, "verified_emissions_t": str(tonnes),
                       "previous_t": None if previous is None
                       else str(previous.verified_emissions_t),
                       "supersedes": None if previous is None else str(previous.id),
                       "report_reference": body.report_reference,
                       "verified_on": None if body.verified_on is None
                       else body.verified_on.isoformat(),
                       "reason": body.reason,
                       "verification_body_id": str(verification_body_id)})
            row = await repo.entry(conn, entry_id)
            return await self._entry_out(session, row), True

    async def register(self, organisation_id: uuid.UUID, *, limit: int, cursor: str | None
                       ) -> EmissionsRegisterOut:
        """The organisation's register, newest year first, each year with every revision and
        what is left under its cap."""
        # The cursor is (year, organisation): a crafted one of another shape is a 422.
        after = decode_cursor(cursor, int, uuid.UUID)
        before = None if after is None else after[0]
        async with self.db.read() as session:
            await _enterprise(session, organisation_id)
            conn = await session.connection()
            rows = await repo.years(conn, organisation_id, before, limit + 1)
            by_year: dict[int, list[Any]] = {}
            for row in rows:
                by_year.setdefault(row.year, []).append(row)
            shown = list(by_year.items())[:limit]
            items = []
            for year, revisions in shown:
                cap = compliance_cap_t(revisions[0].verified_emissions_t, self.cap_share)
                used = await self.offsets_used(conn, organisation_id, year)
                items.append(EmissionsYearOut(
                    year=year, verified_emissions_t=revisions[0].verified_emissions_t,
                    cap_t=cap, offset_t=used, remaining_t=max(cap - used, 0),
                    entries=[await self._entry_out(session, r) for r in revisions]))
        next_cursor = (encode_cursor(shown[-1][0], organisation_id) if len(by_year) > limit
                       else None)
        return EmissionsRegisterOut(organisation_id=organisation_id,
                                    cap_share=self.cap_share, items=items,
                                    next_cursor=next_cursor)

    async def _entry_out(self, session: AsyncSession, r: Any) -> EmissionsEntryOut:
        body = await accounts.organisation(session, r.verification_body_id)
        return EmissionsEntryOut(
            id=r.id, organisation_id=r.organisation_id, year=r.year, revision=r.revision,
            status="current" if r.superseded_by is None else "superseded",
            verified_emissions_t=r.verified_emissions_t, report_reference=r.report_reference,
            verified_on=r.verified_on, reason=r.reason, supersedes=r.supersedes,
            superseded_by=r.superseded_by,
            verification_body=VerificationBodyOut(r.verification_body_id,
                                                  body.name if body else ""),
            entered_by=r.entered_by, entered_at=r.entered_at)


async def _enterprise(session: AsyncSession, organisation_id: uuid.UUID) -> None:
    """Emissions are registered for enterprises (buyers), not for verification bodies."""
    org = await accounts.organisation(session, organisation_id)
    if org is None or org.kind != "enterprise":
        raise NotFound("No such enterprise organisation.")


def _check_dates(body: EmissionsIn, today: dt.date) -> None:
    errors = []
    if body.year > today.year:
        errors.append(FieldError("year", f"is after {today.year}: emissions are verified for "
                                         "a year that has begun"))
    if body.verified_on is not None and body.verified_on > today:
        errors.append(FieldError("verified_on", "is in the future"))
    elif body.verified_on is not None and body.verified_on.year < body.year:
        errors.append(FieldError("verified_on", f"is before {body.year}, the year verified"))
    if errors:
        raise InvalidInput("The entry's dates do not hold.", errors=errors)


def _check_correction(previous: Any, asked: EmissionsIn) -> None:
    """A correction says why, and changes something."""
    if asked.reason is None:
        raise InvalidInput(
            f"{asked.year} is in the register already (revision {previous.revision}, "
            f"{previous.verified_emissions_t} t): a correction needs a reason.",
            code="correction_reason_required", current_revision=previous.revision,
            errors=[FieldError("reason", "required to correct a year already registered")])
    if (asked.verified_emissions_t == previous.verified_emissions_t
            and asked.report_reference == previous.report_reference
            and asked.verified_on == previous.verified_on):
        raise Conflict(f"The register already says {previous.verified_emissions_t} t for "
                       f"{asked.year} (revision {previous.revision}).",
                       code="emissions_unchanged", current_revision=previous.revision)
