"""Event footprints, neutralisation by retiring credits, compliance offsets, certificates.

A footprint is scored line by line by the footprint methodology in force on the event's
first day (``seed/footprints/``, the rules engine as for behaviours): travel legs (both ways
unless one-way), room nights, meals, venue electricity, fuel and heat, materials and waste
each become a line of a category and a quantity. Figures recorded on or before the event's
last day (programme time) are an estimate; after it, actual.

Neutralising retires at least the footprint in whole tonnes of the organisation's held
credits and issues the certificate, all in one transaction under the registry lock. Before
the event has ended that is a ``pre-event`` neutralisation on the estimate (the certificate
says so); after it, only actual figures can be neutralised (the final certificate). The
actual figures of an estimated event are submitted once after it ends
(``submit_actuals``): when it was neutralised pre-event, the shortfall is retired with them
and the final certificate supersedes the estimate's; a surplus stays retired (nothing is
ever un-retired) and the final certificate calls it voluntary (``core.footprint.true_up``).
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

import msgspec
from sqlalchemy.ext.asyncio import AsyncConnection

from carbon_inclusion.accounts import repository as accounts
from carbon_inclusion.common.clock import SYSTEM_CLOCK, Clock
from carbon_inclusion.common.idempotency import check_replay, digest_of, request_hash
from carbon_inclusion.common.pagination import decode_one, page
from carbon_inclusion.common.periods import programme_day
from carbon_inclusion.core import footprint
from carbon_inclusion.db import Database
from carbon_inclusion.emissions import repository as emissions
from carbon_inclusion.errors import Conflict, FieldError, InvalidInput, NotFound
from carbon_inclusion.events import certificates
from carbon_inclusion.events import repository as repo
from carbon_inclusion.events.footprints import Scorer, check_event, check_figures, event_out
from carbon_inclusion.events.listing import certificate_url
from carbon_inclusion.events.schemas import (
    CertificateOut,
    ComplianceIn,
    EventFiguresIn,
    EventIn,
    EventOut,
    EventPage,
)
from carbon_inclusion.ids import uuid7
from carbon_inclusion.registry.service import lock, retire, tonnes_in
from carbon_inclusion.settings import Settings


class EventService:
    def __init__(self, db: Database, settings: Settings, clock: Clock = SYSTEM_CLOCK) -> None:
        self.db = db
        self.clock = clock
        self.tz = settings.tz
        self.base_url = settings.public_url
        self.operator = settings.programme_operator
        self.compliance_cap = settings.compliance_offset_cap
        self.scorer = Scorer(settings.tz)

    # --- footprints -----------------------------------------------------------------------

    async def create(self, organisation_id: uuid.UUID, user_id: uuid.UUID,
                     body: EventIn) -> EventOut:
        today = programme_day(self.clock.now(), self.tz)
        check_event(body, today)
        async with self.db.connect() as conn:
            scored = await self.scorer.score(conn, body, body.starts_on)
            event_id = uuid7()
            await repo.insert_event(conn, scored.values() | {
                "id": event_id, "o": organisation_id, "name": body.name,
                "starts_on": body.starts_on, "ends_on": body.ends_on, "venue": body.venue,
                "attendees": body.attendees, "inputs": msgspec.json.encode(body).decode(),
                "basis": "actual" if today > body.ends_on else "estimated", "by": user_id})
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
        return EventPage([event_out(r) for r in shown], next_cursor)

    async def _event(self, conn: AsyncConnection, organisation_id: uuid.UUID,
                     event_id: uuid.UUID) -> EventOut:
        r = await repo.event(conn, organisation_id, event_id)
        if r is None:  # another organisation's event is not there, as far as you know
            raise NotFound("No such event.")
        return event_out(r)

    # --- neutralising ---------------------------------------------------------------------

    async def neutralize(self, organisation_id: uuid.UUID, user_id: uuid.UUID,
                         event_id: uuid.UUID) -> tuple[CertificateOut, bool]:
        """Retire credits covering the footprint and certify it; ``(certificate, new)``.
        Before the event has ended, on its estimate (``pre-event``); after it, on actual
        figures only (the final certificate). Asked again, it answers the certificate
        already issued."""
        async with self.db.connect() as conn:
            await lock(conn)
            event = await self._event(conn, organisation_id, event_id)
            if event.status == "neutralized":
                cert = await repo.latest_certificate_of_event(conn, event_id)
                return await self._certificate(conn, cert), False
            over = programme_day(self.clock.now(), self.tz) > event.ends_on
            if over and event.footprint.basis != "actual":
                raise Conflict(
                    f"The event ended on {event.ends_on}: submit its actual figures (POST "
                    f"/v1/events/{event_id}/actuals), then neutralise them.",
                    code="actuals_required")
            needed = event.footprint.credits_needed
            if needed == 0:
                raise Conflict("This event's footprint is zero: there is nothing to "
                               "neutralise.", code="nothing_to_neutralize")
            await _require_held(conn, organisation_id, needed)
            organisation = await _organisation(conn, organisation_id)
            if over:
                purpose, stage = certificates.final_purpose(organisation, event), "post_event"
            else:
                purpose = certificates.estimate_purpose(organisation, event)
                stage = "pre_event"
            cert_id = await self._retire_and_certify(conn, organisation_id, user_id, needed,
                                                     purpose, event_id=event_id, stage=stage)
            return await self._certificate(conn, cert_id), True

    async def submit_actuals(self, organisation_id: uuid.UUID, user_id: uuid.UUID,
                             event_id: uuid.UUID, key: str, body: EventFiguresIn
                             ) -> tuple[EventOut, bool]:
        """Record the actual figures of an event measured on estimates, once it has ended;
        ``(event, first)``. When it was neutralised pre-event, true it up in the same
        transaction: retire the shortfall (409 ``insufficient_credits`` changes nothing)
        and issue the final certificate, superseding the estimate's. The same
        Idempotency-Key and body answers the event again; nothing is applied twice."""
        check_figures(body)
        digest = request_hash(msgspec.to_builtins(body))
        async with self.db.connect() as conn:
            await lock(conn)  # one at a time, in the registry's order
            event = await self._event(conn, organisation_id, event_id)
            done = await repo.actuals_request(conn, event_id)
            if done is not None:
                if done.idempotency_key == key:
                    check_replay(done.request_hash, digest, "event's actual figures")
                    return event, False
                raise Conflict("The actual figures of this event were submitted already, "
                               f"at {event.actuals_submitted_at}.",
                               code="actuals_already_submitted")
            today = programme_day(self.clock.now(), self.tz)
            if today <= event.ends_on:
                raise Conflict(f"The event ends on {event.ends_on}: its actual figures can be "
                               f"submitted from {event.ends_on + dt.timedelta(days=1)}.",
                               code="event_not_over", ends_on=event.ends_on.isoformat())
            if event.footprint.basis == "actual":
                raise Conflict("This event was recorded after it ended: its figures are "
                               "the actual ones already.", code="already_actual")
            scored = await self.scorer.score(conn, body, event.starts_on)
            await repo.insert_actuals(conn, scored.values() | {
                "e": event_id, "attendees": body.attendees,
                "inputs": msgspec.json.encode(body).decode(), "key": key, "hash": digest,
                "by": user_id, "now": self.clock.now()})
            if event.awaiting_actuals:
                await self._true_up(conn, organisation_id, user_id, event_id)
            return await self._event(conn, organisation_id, event_id), True

    async def _true_up(self, conn: AsyncConnection, organisation_id: uuid.UUID,
                       user_id: uuid.UUID, event_id: uuid.UUID) -> None:
        """Settle a pre-event neutralisation against the actual figures just stored."""
        event = await self._event(conn, organisation_id, event_id)
        retirements = await repo.event_retirements(conn, event_id)
        estimate_t = sum(r.quantity_t for r in retirements if r.stage == "pre_event")
        settled = footprint.true_up(estimate_t, event.footprint.total_g)
        if settled.additional_t:
            await _require_held(conn, organisation_id, settled.additional_t)
        standing = await repo.valid_certificates_of_event(conn, event_id)
        estimate = standing[-1] if standing else await repo.certificate(
            conn, await repo.latest_certificate_of_event(conn, event_id))
        assert event.estimate is not None  # actual figures are stored: the estimate moved
        true_up = {"estimated_g": str(event.estimate.total_g),
                   "actual_g": str(event.footprint.total_g), "needed_t": settled.needed_t,
                   "retired_for_estimate_t": estimate_t,
                   "additionally_retired_t": settled.additional_t,
                   "voluntary_surplus_t": settled.surplus_t,
                   "estimate_certificate_id": str(estimate.id) if standing else None}
        purpose = certificates.final_purpose(
            await _organisation(conn, organisation_id), event, true_up=true_up,
            supersedes={"certificate_id": str(estimate.id), "number": estimate.number}
            if standing else None)
        serials = list(estimate.content["retired"]["serials"])
        retirement_id = next(r.id for r in retirements if r.stage == "pre_event")
        if settled.additional_t:
            retirement_id = uuid7()
            await repo.insert_retirement(conn, {
                "id": retirement_id, "o": organisation_id, "kind": "event", "e": event_id,
                "stage": "true_up", "q": settled.additional_t, "key": None, "by": user_id,
                "p": msgspec.json.encode(purpose).decode()})
            serials += await retire(conn, organisation_id, settled.additional_t, retirement_id)
        purpose["retirement_ids"] = [str(r.id) for r in retirements] + (
            [str(retirement_id)] if settled.additional_t else [])
        final_id = uuid7()
        for old in standing:  # before the final one: one valid certificate per retirement
            await repo.supersede_certificate(conn, old.id, final_id, self.clock.now())
        await self._certify(conn, retirement_id, purpose, estimate_t + settled.additional_t,
                            serials, cert_id=final_id)

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
                                  key: str | None = None, stage: str | None = None
                                  ) -> uuid.UUID:
        retirement_id = uuid7()
        await repo.insert_retirement(conn, {"key": key, "stage": stage,
            "id": retirement_id, "o": organisation_id, "kind": purpose["kind"], "e": event_id,
            "q": quantity, "p": msgspec.json.encode(purpose).decode(), "by": user_id})
        serials = await retire(conn, organisation_id, quantity, retirement_id)
        return await self._certify(conn, retirement_id, purpose, quantity, serials)

    async def _certify(self, conn: AsyncConnection, retirement_id: uuid.UUID,
                       purpose: dict[str, Any], quantity: int,
                       serials: list[dict[str, Any]], *, cert_id: uuid.UUID | None = None
                       ) -> uuid.UUID:
        cert_id = cert_id or uuid7()
        now = self.clock.now()
        year = programme_day(now, self.tz).year
        seq = await repo.certificates_numbered(conn, f"CQTHT-C-{year}-") + 1
        content = purpose | {
            "certificate_id": str(cert_id), "number": f"CQTHT-C-{year}-{seq:06d}",
            "retirement_id": str(retirement_id),
            "retired": {"quantity_t": quantity, "serials": serials},
            "issuer": self.operator, "issued_at": now.isoformat(), "url": self._url(cert_id)}
        await repo.insert_certificate(conn, {
            "id": cert_id, "number": content["number"], "r": retirement_id,
            "content": msgspec.json.encode(content).decode(),
            "sha": certificates.digest(content), "now": now})
        return cert_id

    # --- certificates ---------------------------------------------------------------------

    def _url(self, cert_id: uuid.UUID) -> str:
        return certificate_url(self.base_url, cert_id)

    async def certificate(self, cert_id: uuid.UUID) -> CertificateOut:
        async with self.db.engine.connect() as conn:
            return await self._certificate(conn, cert_id)

    async def certificate_by_number(self, number: str) -> CertificateOut:
        """The certificate with this number, as anyone reads it (the /verify page)."""
        async with self.db.engine.connect() as conn:
            cert_id = await repo.certificate_numbered(conn, number.strip().upper())
            if cert_id is None:
                raise NotFound("No certificate has this number.")
            return await self._certificate(conn, cert_id)

    async def _certificate(self, conn: AsyncConnection, cert_id: uuid.UUID) -> CertificateOut:
        r = await repo.certificate(conn, cert_id)
        if r is None:
            raise NotFound("No such certificate.")
        return CertificateOut(
            id=r.id, number=r.number, status=r.status, sha256=r.sha256, content=r.content,
            issued_at=r.issued_at, url=self._url(r.id), cancel_reason=r.cancel_reason,
            replaced_by=r.replaced_by,
            replaced_by_url=self._url(r.replaced_by) if r.replaced_by else None,
            basis=r.content.get("basis"), superseded_at=r.superseded_at)

    async def cancel(self, cert_id: uuid.UUID, reason: str, *, reissue: bool
                     ) -> CertificateOut:
        """Cancel a certificate with a reason; with ``reissue``, certify the same retirement
        again from the data as it stands now (a corrected organisation or event name)."""
        async with self.db.connect() as conn:
            await lock(conn)
            r = await repo.certificate(conn, cert_id, for_update=True)
            if r is None:
                raise NotFound("No such certificate.")
            if r.status == "superseded":
                raise Conflict("This certificate is superseded by the event's final one; "
                               "cancel that instead.", code="superseded",
                               replaced_by=str(r.replaced_by))
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
            for key in ("certificate_id", "number", "retirement_id", "retired", "issuer",
                        "issued_at", "url"):
                purpose.pop(key, None)
            purpose["replaces"] = r.number
            new_id = await self._certify(conn, r.retirement_id, purpose,
                                         r.content["retired"]["quantity_t"],
                                         r.content["retired"]["serials"])
            await repo.set_replaced_by(conn, cert_id, new_id)
            return await self._certificate(conn, new_id)

    def html(self, cert: CertificateOut) -> str:
        return certificates.render_html(cert.content, cert.sha256, cert.status, cert.url,
                                        tz=self.tz, operator=self.operator,
                                        replaced_by_url=cert.replaced_by_url)

    def pdf(self, cert: CertificateOut) -> bytes:
        return certificates.render_pdf(cert.content, cert.sha256, cert.status, cert.url,
                                       tz=self.tz, operator=self.operator,
                                       replaced_by_url=cert.replaced_by_url)


def _asked(quantity_t: int, year: int, emissions_t: Decimal) -> bytes:
    """What a compliance offset asked for, as the digest its replay is compared by."""
    return digest_of(f"{quantity_t}:{year}:{emissions_t.normalize()}")


async def _require_held(conn: AsyncConnection, organisation_id: uuid.UUID, needed: int) -> None:
    """409 ``insufficient_credits`` (with the shortfall) unless the organisation holds
    ``needed`` credits."""
    held = await tonnes_in(conn, "held", organisation_id)
    if held < needed:
        raise Conflict(f"This needs {needed} t; the organisation holds {held} t.",
                       code="insufficient_credits", needed_t=needed, held_t=held,
                       shortfall_t=needed - held)


async def _organisation(conn: AsyncConnection, organisation_id: uuid.UUID) -> dict[str, str]:
    name = await accounts.organisation_name(conn, organisation_id)
    return {"id": str(organisation_id), "name": name}
