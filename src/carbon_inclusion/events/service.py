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
from decimal import Decimal
from typing import Any

import msgspec
from sqlalchemy.ext.asyncio import AsyncConnection

from carbon_inclusion import rules
from carbon_inclusion.accounts import repository as accounts
from carbon_inclusion.common.clock import SYSTEM_CLOCK, Clock
from carbon_inclusion.common.idempotency import check_replay, digest_of
from carbon_inclusion.common.pagination import decode_one, page
from carbon_inclusion.common.periods import local_midnight, programme_day
from carbon_inclusion.core import footprint
from carbon_inclusion.db import Database
from carbon_inclusion.emissions import repository as emissions
from carbon_inclusion.errors import Conflict, FieldError, InvalidInput, NotFound
from carbon_inclusion.events import certificates
from carbon_inclusion.events import repository as repo
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
from carbon_inclusion.methodologies import repository as methodologies
from carbon_inclusion.registry.service import lock, retire, tonnes_in
from carbon_inclusion.settings import Settings

MAX_KM = Decimal(40_000)
MAX_AMOUNT = Decimal(1_000_000_000)


def footprint_lines(body: EventIn) -> list[footprint.Line]:
    """(source, category, quantity, field) for each non-zero part of the event."""
    return footprint.lines_of(
        travel=[(leg.mode, leg.distance_km, leg.people) for leg in body.travel],
        hotel_room_nights=body.hotel_room_nights, meals=body.meals,
        vegetarian_meals=body.vegetarian_meals, electricity_kwh=body.electricity_kwh,
        materials=[(m.material, m.kg) for m in body.materials], waste_kg=body.waste_kg)


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
    def __init__(self, db: Database, settings: Settings, clock: Clock = SYSTEM_CLOCK) -> None:
        self.db = db
        self.clock = clock
        self.tz = settings.tz
        self.base_url = settings.public_base_url
        self.compliance_cap = settings.compliance_offset_cap
        self._compiled: dict[str, rules.CompiledMethodology] = {}

    # --- footprints -----------------------------------------------------------------------

    async def create(self, organisation_id: uuid.UUID, user_id: uuid.UUID,
                     body: EventIn) -> EventOut:
        check_event(body, programme_day(self.clock.now(), self.tz))
        async with self.db.connect() as conn:
            found = await methodologies.footprint_in_force(
                conn, local_midnight(body.starts_on, self.tz))
            if found is None:
                raise InvalidInput.field("starts_on", "no footprint methodology is in force "
                                         "on this day", code="no_footprint_methodology")
            version, document = found
            methodology = self._compiled.get(version.sha256)
            if methodology is None:
                methodology = rules.compile_methodology(rules.load_document(document))
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
            breakdown = footprint.breakdown((line["source"], Decimal(line["grams"]))
                                            for line in lines)
            event_id = uuid7()
            await repo.insert_event(conn, {
                "id": event_id, "o": organisation_id, "name": body.name,
                "starts_on": body.starts_on, "ends_on": body.ends_on, "venue": body.venue,
                "attendees": body.attendees,
                "inputs": msgspec.json.encode(body).decode(),
                "lines": msgspec.json.encode(lines).decode(),
                "breakdown": msgspec.json.encode(
                    {k: str(v) for k, v in breakdown.items()}).decode(),
                "total": footprint.total(breakdown), "mid": version.id,
                "code": version.code, "v": version.version, "by": user_id})
            return await self._event(conn, organisation_id, event_id)

    async def get(self, organisation_id: uuid.UUID, event_id: uuid.UUID) -> EventOut:
        async with self.db.engine.connect() as conn:
            return await self._event(conn, organisation_id, event_id)

    async def listing(self, organisation_id: uuid.UUID, *, limit: int,
                      cursor: str | None) -> EventPage:
        after = decode_one(cursor, uuid.UUID)
        async with self.db.engine.connect() as conn:
            rows = await repo.event_page(conn, organisation_id, after, limit + 1)
        shown, next_cursor = page(rows, limit, lambda r: (r.id,))
        return EventPage([_event_out(r) for r in shown], next_cursor)

    async def _event(self, conn: AsyncConnection, organisation_id: uuid.UUID,
                     event_id: uuid.UUID) -> EventOut:
        r = await repo.event(conn, organisation_id, event_id)
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
                cert = await repo.latest_certificate_of_event(conn, event_id)
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
        """Retire credits against the year's verified emissions as the register holds them
        (``emissions``), within the programme's cap on the year's total; ``(certificate,
        new)``: the same Idempotency-Key answers the first certificate."""
        stated = body.verified_emissions_t
        if stated is not None and (not stated.is_finite()
                                   or not 0 < stated <= Decimal(10) ** 9):
            raise InvalidInput.field("verified_emissions_t", "must be above 0 and at most 10^9")
        async with self.db.connect() as conn:
            # The organisation-year first (a correction of the register waits, and so does
            # any other offset of the year), then the registry, as every retirement does.
            await emissions.lock_year(conn, organisation_id, body.year)
            await lock(conn)
            done = await repo.compliance_by_key(conn, organisation_id, key)
            if done is not None:
                # What was asked is stored in the retirement's purpose, not as a request hash:
                # the same year and quantity (and emissions, when stated) is the same request.
                certified = Decimal(done.asked["verified_emissions_t"])
                check_replay(_asked(done.quantity_t, done.asked["year"], certified),
                             _asked(body.quantity_t, body.year,
                                    certified if stated is None else stated),
                             "compliance offset")
                return await self._certificate(conn, done.id), False
            entry = await emissions.current(conn, organisation_id, body.year)
            if entry is None:
                raise Conflict(f"No verified emissions of the organisation for {body.year} "
                               "are in the register: a verification body enters them first.",
                               code="no_verified_emissions", errors=[FieldError(
                                   "year", "no verified emissions registered for this year")])
            verified = entry.verified_emissions_t
            if stated is not None and stated != verified:
                raise InvalidInput(
                    f"The register holds {verified} t of verified emissions for {body.year}.",
                    code="verified_emissions_mismatch", registered_t=verified, errors=[
                        FieldError("verified_emissions_t",
                                   f"disagrees with the register's {verified} t")])
            cap = footprint.compliance_cap_t(verified, self.compliance_cap)
            already = await repo.compliance_used_t(conn, organisation_id, body.year)
            if already + body.quantity_t > cap:
                raise Conflict(
                    f"The programme caps offsets at {self.compliance_cap:.0%} of verified "
                    f"emissions: {cap} t for {body.year}, {already} t used.",
                    code="over_compliance_cap", cap_t=cap, used_t=already,
                    remaining_t=max(cap - already, 0),
                    errors=[FieldError("quantity_t",
                                       f"over the cap of {max(cap - already, 0)} t left")])
            held = await tonnes_in(conn, "held", organisation_id)
            if held < body.quantity_t:
                raise Conflict(f"The organisation holds {held} t.", code="insufficient_credits",
                               needed_t=body.quantity_t, held_t=held,
                               shortfall_t=body.quantity_t - held)
            purpose = {"kind": "compliance",
                       "organisation": await _organisation(conn, organisation_id),
                       "compliance": {"year": body.year,
                                      "verified_emissions_t": str(verified),
                                      "register_entry_id": str(entry.id),
                                      "register_revision": entry.revision,
                                      "report_reference": entry.report_reference,
                                      "verified_by": await _organisation(
                                          conn, entry.verification_body_id),
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
        await repo.insert_retirement(conn, {"key": key,
            "id": retirement_id, "o": organisation_id, "kind": purpose["kind"], "e": event_id,
            "q": quantity, "p": msgspec.json.encode(purpose).decode(), "by": user_id})
        serials = await retire(conn, organisation_id, quantity, retirement_id)
        return await self._certify(conn, retirement_id, purpose, quantity, serials)

    async def _certify(self, conn: AsyncConnection, retirement_id: uuid.UUID,
                       purpose: dict[str, Any], quantity: int,
                       serials: list[dict[str, Any]]) -> uuid.UUID:
        cert_id = uuid7()
        now = self.clock.now()
        year = programme_day(now, self.tz).year
        seq = await repo.certificates_numbered(conn, f"CQTHT-C-{year}-") + 1
        content = purpose | {
            "certificate_id": str(cert_id), "number": f"CQTHT-C-{year}-{seq:06d}",
            "retirement_id": str(retirement_id),
            "retired": {"quantity_t": quantity, "serials": serials},
            "issued_at": now.isoformat(), "url": self._url(cert_id)}
        await repo.insert_certificate(conn, {
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
        r = await repo.certificate(conn, cert_id)
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
            r = await repo.certificate(conn, cert_id, for_update=True)
            if r is None:
                raise NotFound("No such certificate.")
            if r.status != "valid":
                raise Conflict("This certificate is already cancelled.",
                               code="already_cancelled")
            await repo.cancel_certificate(conn, cert_id, reason)
            if not reissue:
                return await self._certificate(conn, cert_id)
            purpose = dict(r.content)
            purpose["organisation"] = await _organisation(
                conn, uuid.UUID(purpose["organisation"]["id"]))
            if purpose["kind"] == "event":
                name = await repo.event_name(conn, uuid.UUID(purpose["event"]["id"]))
                purpose["event"] = purpose["event"] | {"name": name}
            for key in ("certificate_id", "number", "retirement_id", "retired", "issued_at",
                        "url"):
                purpose.pop(key, None)
            purpose["replaces"] = r.number
            new_id = await self._certify(conn, r.retirement_id, purpose,
                                         r.content["retired"]["quantity_t"],
                                         r.content["retired"]["serials"])
            await repo.set_replaced_by(conn, cert_id, new_id)
            return await self._certificate(conn, new_id)

    def html(self, cert: CertificateOut) -> str:
        return certificates.render_html(cert.content, cert.sha256, cert.status, cert.url)

    def pdf(self, cert: CertificateOut) -> bytes:
        return certificates.render_pdf(cert.content, cert.sha256, cert.status, cert.url)


def _event_out(r: Any) -> EventOut:
    total = Decimal(r.total_g)
    breakdown = [SourceOut(s, Decimal(g), footprint.share(Decimal(g), total))
                 for s, g in sorted(r.breakdown.items(), key=lambda x: -Decimal(x[1]))]
    return EventOut(
        id=r.id, name=r.name, starts_on=r.starts_on, ends_on=r.ends_on, venue=r.venue,
        attendees=r.attendees, status="neutralized" if r.neutralized else "measured",
        certificate_id=r.certificate_id, created_at=r.created_at, inputs=r.inputs,
        footprint=FootprintOut(
            total_g=total, total_t=footprint.tonnes(total),
            credits_needed=credits_for(total), methodology_code=r.methodology_code,
            methodology_version=r.methodology_version, breakdown=breakdown,
            lines=[LineOut(x["source"], x["category"], Decimal(x["quantity"]),
                           Decimal(x["grams"]), x["field"]) for x in r.lines]))


credits_for = footprint.credits_needed


def _asked(quantity_t: int, year: int, emissions_t: Decimal) -> bytes:
    """What a compliance offset asked for, as the digest its replay is compared by."""
    return digest_of(f"{quantity_t}:{year}:{emissions_t.normalize()}")


async def _organisation(conn: AsyncConnection, organisation_id: uuid.UUID) -> dict[str, str]:
    name = await accounts.organisation_name(conn, organisation_id)
    return {"id": str(organisation_id), "name": name}
