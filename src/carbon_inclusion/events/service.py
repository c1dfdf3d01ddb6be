"""Event footprints, neutralisation by retiring credits, compliance offsets, certificates.

A footprint is scored line by line by the footprint methodology in force on the event's
first day (``seed/footprints/``, the rules engine as for behaviours): travel legs, room
nights, meals, venue electricity, materials and waste each become a line of a category and a
quantity. Neutralising retires at least the footprint in whole tonnes of the organisation's
held credits and issues the certificate, all in one transaction under the registry lock.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any

import msgspec
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from carbon_inclusion import rules
from carbon_inclusion.common.pagination import decode_one, page
from carbon_inclusion.db import Database
from carbon_inclusion.errors import (
    Conflict,
    FieldError,
    IdempotencyKeyReused,
    InvalidInput,
    NotFound,
)
from carbon_inclusion.events import certificates
from carbon_inclusion.events.schemas import (
    CertificateOut,
    ComplianceIn,
    EventIn,
    EventOut,
    EventPage,
    FootprintOut,
    LineOut,
    SourceOut,
)
from carbon_inclusion.ids import uuid7
from carbon_inclusion.methodologies.models import FOOTPRINT_BEHAVIOUR
from carbon_inclusion.registry.models import GRAMS_PER_TONNE
from carbon_inclusion.registry.service import lock, retire, tonnes_in
from carbon_inclusion.settings import Settings

MAX_KM = Decimal(40_000)
MAX_AMOUNT = Decimal(1_000_000_000)


def footprint_lines(body: EventIn) -> list[tuple[str, str, Decimal, str]]:
    """(source, category, quantity, field) for each non-zero part of the event."""
    lines = [("travel", f"travel_{leg.mode}_pkm", leg.distance_km * leg.people,
              f"travel[{i}]") for i, leg in enumerate(body.travel)]
    lines += [("accommodation", "hotel_room_night", Decimal(body.hotel_room_nights),
               "hotel_room_nights"),
              ("catering", "meal", Decimal(body.meals), "meals"),
              ("catering", "meal_vegetarian", Decimal(body.vegetarian_meals),
               "vegetarian_meals"),
              ("venue_energy", "electricity_kwh", body.electricity_kwh, "electricity_kwh")]
    lines += [("materials", f"{m.material}_kg", m.kg, f"materials[{i}]")
              for i, m in enumerate(body.materials)]
    lines.append(("waste", "waste_kg", body.waste_kg, "waste_kg"))
    return [x for x in lines if x[2] != 0]


def check_event(body: EventIn, today: dt.date) -> None:
    errors = []
    if body.ends_on < body.starts_on:
        errors.append(FieldError("ends_on", "is before starts_on"))
    if body.starts_on < today - dt.timedelta(days=366):
        errors.append(FieldError("starts_on", "is more than a year ago"))
    for i, leg in enumerate(body.travel):
        if not leg.distance_km.is_finite() or not 0 < leg.distance_km <= MAX_KM:
            errors.append(FieldError(f"travel[{i}].distance_km", "must be above 0 and at "
                                                                 "most 40000 km"))
    for i, m in enumerate(body.materials):
        if not m.kg.is_finite() or not 0 < m.kg <= MAX_AMOUNT:
            errors.append(FieldError(f"materials[{i}].kg", "must be above 0 and at most 10^9"))
    for name in ("electricity_kwh", "waste_kg"):
        value = getattr(body, name)
        if not value.is_finite() or not 0 <= value <= MAX_AMOUNT:
            errors.append(FieldError(name, "must be from 0 to 10^9"))
    if errors:
        raise InvalidInput("The event's footprint cannot be worked out.", errors=errors)


class EventService:
    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.tz = settings.tz
        self.base_url = settings.public_base_url
        self.compliance_cap = settings.compliance_offset_cap
        self._compiled: dict[str, rules.CompiledMethodology] = {}

    # --- footprints -----------------------------------------------------------------------

    async def create(self, organisation_id: uuid.UUID, user_id: uuid.UUID,
                     body: EventIn) -> EventOut:
        check_event(body, dt.datetime.now(self.tz).date())
        async with self.db.connect() as conn:
            version = (await conn.execute(text("""
                SELECT id, code, version, sha256, document FROM methodology_versions
                 WHERE kind = 'footprint' AND behaviour = :b
                   AND status IN ('published', 'retired')
                   AND in_force_from <= :at AND (in_force_to IS NULL OR in_force_to > :at)
                 ORDER BY code, version DESC LIMIT 1"""), {
                "b": FOOTPRINT_BEHAVIOUR,
                "at": dt.datetime.combine(body.starts_on, dt.time(), tzinfo=self.tz)})).first()
            if version is None:
                raise InvalidInput.field("starts_on", "no footprint methodology is in force "
                                         "on this day", code="no_footprint_methodology")
            methodology = self._compiled.get(version.sha256)
            if methodology is None:
                methodology = rules.compile_methodology(rules.load_document(version.document))
                self._compiled[version.sha256] = methodology
            lines, errors = [], []
            for source, category, quantity, field in footprint_lines(body):
                try:
                    e = methodology.evaluate({"category": category, "quantity": str(quantity)},
                                             "partner_verified")
                except rules.InputError as exc:
                    errors += [FieldError(field, f"{x.message} (as {category} "
                                                 f"{quantity})") for x in exc.errors]
                    continue
                lines.append({"source": source, "category": category,
                              "quantity": str(quantity), "grams": str(e.reduction_g),
                              "field": field})
            if errors:
                raise InvalidInput("The event's footprint cannot be worked out.",
                                   errors=errors)
            breakdown: dict[str, Decimal] = {}
            for line in lines:
                breakdown[line["source"]] = (breakdown.get(line["source"], Decimal(0))
                                             + Decimal(line["grams"]))
            event_id = uuid7()
            await conn.execute(text("""
                INSERT INTO events (id, organisation_id, name, starts_on, ends_on, venue,
                    attendees, inputs, lines, breakdown, total_g, methodology_id,
                    methodology_code, methodology_version, created_by)
                VALUES (:id, :o, :name, :starts_on, :ends_on, :venue, :attendees,
                        CAST(:inputs AS jsonb), CAST(:lines AS jsonb),
                        CAST(:breakdown AS jsonb), :total, :mid, :code, :v, :by)"""), {
                "id": event_id, "o": organisation_id, "name": body.name,
                "starts_on": body.starts_on, "ends_on": body.ends_on, "venue": body.venue,
                "attendees": body.attendees,
                "inputs": msgspec.json.encode(body).decode(),
                "lines": msgspec.json.encode(lines).decode(),
                "breakdown": msgspec.json.encode(
                    {k: str(v) for k, v in breakdown.items()}).decode(),
                "total": sum(breakdown.values(), Decimal(0)), "mid": version.id,
                "code": version.code, "v": version.version, "by": user_id})
            return await self._event(conn, organisation_id, event_id)

    async def get(self, organisation_id: uuid.UUID, event_id: uuid.UUID) -> EventOut:
        async with self.db.engine.connect() as conn:
            return await self._event(conn, organisation_id, event_id)

    async def listing(self, organisation_id: uuid.UUID, *, limit: int,
                      cursor: str | None) -> EventPage:
        after = decode_one(cursor, uuid.UUID)
        async with self.db.engine.connect() as conn:
            rows = (await conn.execute(text(_EVENTS.format(
                where="(CAST(:after AS uuid) IS NULL OR e.id < :after)")),
                {"o": organisation_id, "after": after, "n": limit + 1})).all()
        shown, next_cursor = page(rows, limit, lambda r: (r.id,))
        return EventPage([_event_out(r) for r in shown], next_cursor)

    async def _event(self, conn: AsyncConnection, organisation_id: uuid.UUID,
                     event_id: uuid.UUID) -> EventOut:
        r = (await conn.execute(text(_EVENTS.format(where="e.id = :id")),
                                {"id": event_id, "o": organisation_id, "n": 1})).first()
        if r is None:  # another organisation's event is not there, as far as you know
            raise NotFound("No such event.")
        return _event_out(r)

    # --- neutralising ---------------------------------------------------------------------

    async def neutralize(self, organisation_id: uuid.UUID, user_id: uuid.UUID,
                         event_id: uuid.UUID) -> tuple[CertificateOut, bool]:
        """Retire credits covering the footprint and certify it; ``(certificate, new)``.
        Asked again, it answers the certificate already issued."""
        async with self.db.connect() as conn:
            await lock(conn)
            event = await self._event(conn, organisation_id, event_id)
            if event.status == "neutralized":
                cert = await conn.scalar(text(
                    "SELECT c.id FROM certificates c JOIN retirements t "
                    "ON t.id = c.retirement_id WHERE t.event_id = :e "
                    "ORDER BY c.issued_at DESC LIMIT 1"), {"e": event_id})
                return await self._certificate(conn, cert), False
            needed = event.footprint.credits_needed
            if needed == 0:
                raise Conflict("This event's footprint is zero: there is nothing to "
                               "neutralise.", code="nothing_to_neutralize")
            held = await tonnes_in(conn, "held", organisation_id)
            if held < needed:
                raise Conflict(f"Neutralising needs {needed} t; the organisation holds "
                               f"{held} t.", code="insufficient_credits", needed_t=needed,
                               held_t=held, shortfall_t=needed - held)
            organisation = await _organisation(conn, organisation_id)
            purpose = {"kind": "event", "organisation": organisation, "event": {
                "id": str(event.id), "name": event.name,
                "starts_on": event.starts_on.isoformat(), "ends_on": event.ends_on.isoformat(),
                "venue": event.venue, "attendees": event.attendees,
                "footprint_g": str(event.footprint.total_g),
                "footprint_t": str(event.footprint.total_t),
                "methodology_code": event.footprint.methodology_code,
                "methodology_version": event.footprint.methodology_version,
                "breakdown": [{"source": s.source, "grams": str(s.grams)}
                              for s in event.footprint.breakdown]}}
            cert_id = await self._retire_and_certify(conn, organisation_id, user_id, needed,
                                                     purpose, event_id=event_id)
            return await self._certificate(conn, cert_id), True

    async def offset_compliance(self, organisation_id: uuid.UUID, user_id: uuid.UUID,
                                key: str, body: ComplianceIn) -> tuple[CertificateOut, bool]:
        """Retire credits against verified emissions, within the programme's cap;
        ``(certificate, new)``: the same Idempotency-Key answers the first certificate."""
        emissions = body.verified_emissions_t
        if not emissions.is_finite() or not 0 < emissions <= Decimal(10) ** 9:
            raise InvalidInput.field("verified_emissions_t", "must be above 0 and at most 10^9")
        cap = int((emissions * self.compliance_cap).to_integral_value(rounding=ROUND_FLOOR))
        async with self.db.connect() as conn:
            await lock(conn)
            done = (await conn.execute(text(
                "SELECT c.id, t.quantity_t, t.purpose->'compliance' AS asked FROM retirements t "
                "JOIN certificates c ON c.retirement_id = t.id "
                "WHERE t.organisation_id = :o AND t.idempotency_key = :k "
                "ORDER BY c.issued_at DESC LIMIT 1"), {"o": organisation_id, "k": key})).first()
            if done is not None:
                if (done.quantity_t, done.asked["year"],
                        Decimal(done.asked["verified_emissions_t"])) != (
                        body.quantity_t, body.year, emissions):
                    raise IdempotencyKeyReused("compliance offset")
                return await self._certificate(conn, done.id), False
            already = int(await conn.scalar(text(
                "SELECT coalesce(sum(quantity_t), 0) FROM retirements WHERE organisation_id = "
                ":o AND kind = 'compliance' AND (purpose->'compliance'->>'year')::int = :y"),
                {"o": organisation_id, "y": body.year}))
            if already + body.quantity_t > cap:
                raise Conflict(
                    f"The programme caps offsets at {self.compliance_cap:.0%} of verified "
                    f"emissions: {cap} t for {body.year}, {already} t used.",
                    code="over_compliance_cap", cap_t=cap, used_t=already,
                    errors=[FieldError("quantity_t", f"over the cap of {cap - already} t left")])
            held = await tonnes_in(conn, "held", organisation_id)
            if held < body.quantity_t:
                raise Conflict(f"The organisation holds {held} t.", code="insufficient_credits",
                               needed_t=body.quantity_t, held_t=held,
                               shortfall_t=body.quantity_t - held)
            purpose = {"kind": "compliance",
                       "organisation": await _organisation(conn, organisation_id),
                       "compliance": {"year": body.year,
                                      "verified_emissions_t": str(emissions),
                                      "cap_share": f"{self.compliance_cap:.0%}",
                                      "cap_t": cap}}
            cert_id = await self._retire_and_certify(conn, organisation_id, user_id,
                                                     body.quantity_t, purpose, key=key)
            return await self._certificate(conn, cert_id), True

    async def _retire_and_certify(self, conn: AsyncConnection, organisation_id: uuid.UUID,
                                  user_id: uuid.UUID, quantity: int, purpose: dict[str, Any],
                                  *, event_id: uuid.UUID | None = None,
                                  key: str | None = None) -> uuid.UUID:
        retirement_id = uuid7()
        await conn.execute(text("""
            INSERT INTO retirements (id, organisation_id, kind, event_id, quantity_t, purpose,
                                     idempotency_key, created_by)
            VALUES (:id, :o, :kind, :e, :q, CAST(:p AS jsonb), :key, :by)"""), {"key": key,
            "id": retirement_id, "o": organisation_id, "kind": purpose["kind"], "e": event_id,
            "q": quantity, "p": msgspec.json.encode(purpose).decode(), "by": user_id})
        serials = await retire(conn, organisation_id, quantity, retirement_id)
        return await self._certify(conn, retirement_id, purpose, quantity, serials)

    async def _certify(self, conn: AsyncConnection, retirement_id: uuid.UUID,
                       purpose: dict[str, Any], quantity: int,
                       serials: list[dict[str, Any]]) -> uuid.UUID:
        cert_id = uuid7()
        now = dt.datetime.now(dt.UTC)
        year = now.astimezone(self.tz).year
        seq = int(await conn.scalar(text(
            "SELECT count(*) FROM certificates WHERE number LIKE :p"),
            {"p": f"CQTHT-C-{year}-%"})) + 1
        content = purpose | {
            "certificate_id": str(cert_id), "number": f"CQTHT-C-{year}-{seq:06d}",
            "retirement_id": str(retirement_id),
            "retired": {"quantity_t": quantity, "serials": serials},
            "issued_at": now.isoformat(), "url": self._url(cert_id)}
        await conn.execute(text("""
            INSERT INTO certificates (id, number, retirement_id, content, sha256, status,
                                      issued_at)
            VALUES (:id, :number, :r, CAST(:content AS jsonb), :sha, 'valid', :now)"""), {
            "id": cert_id, "number": content["number"], "r": retirement_id,
            "content": msgspec.json.encode(content).decode(),
            "sha": certificates.digest(content), "now": now})
        return cert_id

    # --- certificates ---------------------------------------------------------------------

    def _url(self, cert_id: uuid.UUID) -> str:
        return f"{self.base_url}/v1/certificates/{cert_id}"

    async def certificate(self, cert_id: uuid.UUID) -> CertificateOut:
        async with self.db.engine.connect() as conn:
            return await self._certificate(conn, cert_id)

    async def _certificate(self, conn: AsyncConnection, cert_id: uuid.UUID) -> CertificateOut:
        r = (await conn.execute(text("SELECT * FROM certificates WHERE id = :id"),
                                {"id": cert_id})).first()
        if r is None:
            raise NotFound("No such certificate.")
        return CertificateOut(id=r.id, number=r.number, status=r.status, sha256=r.sha256,
                              content=r.content, issued_at=r.issued_at, url=self._url(r.id),
                              cancel_reason=r.cancel_reason, replaced_by=r.replaced_by)

    async def cancel(self, cert_id: uuid.UUID, reason: str, *, reissue: bool
                     ) -> CertificateOut:
        """Cancel a certificate with a reason; with ``reissue``, certify the same retirement
        again from the data as it stands now (a corrected organisation or event name)."""
        async with self.db.connect() as conn:
            await lock(conn)
            r = (await conn.execute(text(
                "SELECT * FROM certificates WHERE id = :id FOR UPDATE"), {"id": cert_id})).first()
            if r is None:
                raise NotFound("No such certificate.")
            if r.status != "valid":
                raise Conflict("This certificate is already cancelled.",
                               code="already_cancelled")
            await conn.execute(text(
                "UPDATE certificates SET status = 'cancelled', cancel_reason = :reason, "
                "cancelled_at = now() WHERE id = :id"), {"id": cert_id, "reason": reason})
            if not reissue:
                return await self._certificate(conn, cert_id)
            purpose = dict(r.content)
            purpose["organisation"] = await _organisation(
                conn, uuid.UUID(purpose["organisation"]["id"]))
            if purpose["kind"] == "event":
                name = await conn.scalar(text("SELECT name FROM events WHERE id = :id"),
                                         {"id": uuid.UUID(purpose["event"]["id"])})
                purpose["event"] = purpose["event"] | {"name": name}
            for key in ("certificate_id", "number", "retirement_id", "retired", "issued_at",
                        "url"):
                purpose.pop(key, None)
            purpose["replaces"] = r.number
            new_id = await self._certify(conn, r.retirement_id, purpose,
                                         r.content["retired"]["quantity_t"],
                                         r.content["retired"]["serials"])
            await conn.execute(text(
                "UPDATE certificates SET replaced_by = :new WHERE id = :id"),
                {"id": cert_id, "new": new_id})
            return await self._certificate(conn, new_id)

    def html(self, cert: CertificateOut) -> str:
        return certificates.render_html(cert.content, cert.sha256, cert.status, cert.url)

    def pdf(self, cert: CertificateOut) -> bytes:
        return certificates.render_pdf(cert.content, cert.sha256, cert.status, cert.url)


def _event_out(r: Any) -> EventOut:
    total = Decimal(r.total_g)
    breakdown = [SourceOut(s, Decimal(g), (Decimal(g) / total).quantize(Decimal("0.0001"))
                           if total else Decimal(0))
                 for s, g in sorted(r.breakdown.items(), key=lambda x: -Decimal(x[1]))]
    return EventOut(
        id=r.id, name=r.name, starts_on=r.starts_on, ends_on=r.ends_on, venue=r.venue,
        attendees=r.attendees, status="neutralized" if r.neutralized else "measured",
        certificate_id=r.certificate_id, created_at=r.created_at, inputs=r.inputs,
        footprint=FootprintOut(
            total_g=total, total_t=(total / GRAMS_PER_TONNE).quantize(Decimal("0.001")),
            credits_needed=credits_for(total), methodology_code=r.methodology_code,
            methodology_version=r.methodology_version, breakdown=breakdown,
            lines=[LineOut(x["source"], x["category"], Decimal(x["quantity"]),
                           Decimal(x["grams"]), x["field"]) for x in r.lines]))


# ``where`` is one of two fixed conditions, never user input.
_EVENTS = """
    SELECT e.*, (SELECT c.id FROM retirements t JOIN certificates c
                  ON c.retirement_id = t.id AND c.status = 'valid'
                  WHERE t.event_id = e.id) AS certificate_id,
           EXISTS (SELECT 1 FROM retirements t WHERE t.event_id = e.id) AS neutralized
      FROM events e WHERE e.organisation_id = :o AND {where}
     ORDER BY e.id DESC LIMIT :n"""


def credits_for(grams: Decimal) -> int:
    return int((grams / GRAMS_PER_TONNE).to_integral_value(rounding=ROUND_CEILING))


async def _organisation(conn: AsyncConnection, organisation_id: uuid.UUID) -> dict[str, str]:
    name = await conn.scalar(text("SELECT name FROM organisations WHERE id = :id"),
                             {"id": organisation_id})
    return {"id": str(organisation_id), "name": name}
