from __future__ import annotations

import uuid
from typing import Annotated

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.enums import MediaType
from litestar.params import FromPath, JSONBody, Parameter, QueryParameter

from carbon_inclusion.accounts.service import Principal
from carbon_inclusion.events.listing import CertificateList
from carbon_inclusion.events.schemas import (
    AdminCertificateOut,
    AdminCertificatePage,
    CertificateCancellationIn,
    CertificateOut,
    CertificateStatus,
    ComplianceIn,
    EventFiguresIn,
    EventIn,
    EventOut,
    EventPage,
)
from carbon_inclusion.events.service import EventService
from carbon_inclusion.web.auth import ADMIN, ENTERPRISE, PUBLIC, organisation_of
from carbon_inclusion.web.csv import CSV, CSV_NOTE, csv_operation, csv_paths, page_or_csv
from carbon_inclusion.web.idempotency import REPLAY_HEADERS, IdempotencyKey, created, require_key
from carbon_inclusion.web.openapi import already_done, problems
from carbon_inclusion.web.pagination import DEFAULT_LIMIT, Cursor, Limit, check_limit

PDF = "application/pdf"
CertificateStatusFilter = Annotated[CertificateStatus | None, QueryParameter(
    description="Only certificates in this status")]


class EventController(Controller):
    path = "/v1/events"
    tags = ["events"]  # noqa: RUF012
    opt = ENTERPRISE

    @post("/", operation_id="createEvent", responses=problems(401, 403),
          summary="Describe an event and get its carbon footprint",
          description="Travel legs (mode, one-way distance per person, people; counted there "
          "and back unless `round_trip` is false; `bus` is a city bus, `coach` a coach), hotel "
          "room-nights, catered meals, venue electricity, natural gas and diesel burnt at the "
          "venue, purchased heat, materials and waste, each scored by the footprint "
          "methodology in force on the first day (`seed/footprints/`, scope after the MEE's "
          "大型活动碳中和实施指南): the total, a breakdown by source, every line with its "
          "factor, and the whole tonnes needed to neutralise it. Figures recorded on or before "
          "`ends_on` (programme day) are an estimate (`basis: estimated`), after it actual.")
    async def create(self, data: JSONBody[EventIn], principal: NamedDependency[Principal],
                     events: NamedDependency[EventService]) -> EventOut:
        return await events.create(organisation_of(principal), principal.id, data)

    @get("/", operation_id="listEvents", responses=problems(401, 403),
         summary="The organisation's events, newest first")
    async def list_events(self, principal: NamedDependency[Principal],
                          events: NamedDependency[EventService], limit: Limit = DEFAULT_LIMIT,
                          cursor: Cursor = None) -> EventPage:
        return await events.listing(organisation_of(principal), limit=check_limit(limit),
                                    cursor=cursor)

    @get("/{event_id:uuid}", operation_id="getEvent", responses=problems(401, 403, 404),
         summary="One of the organisation's events")
    async def get_event(self, event_id: FromPath[uuid.UUID],
                        principal: NamedDependency[Principal],
                        events: NamedDependency[EventService]) -> EventOut:
        return await events.get(organisation_of(principal), event_id)

    @post("/{event_id:uuid}/neutralize", operation_id="neutralizeEvent",
          responses=problems(401, 403, 404, 409) | already_done(
              CertificateOut, "Neutralised already: the certificate issued then"),
          summary="Retire held credits covering the footprint and issue the certificate",
          description="Retires the footprint rounded up to whole tonnes from the "
          "organisation's holding (oldest vintage first) and issues the certificate, in one "
          "transaction (201). Before the event has ended this is a pre-event neutralisation "
          "on the estimate (certificate `basis: estimated`, 预估), trued up when the actual "
          "figures come in; after it, only actual figures are neutralised (the final "
          "certificate, `basis: actual`; 409 `actuals_required` while the figures on record "
          "are an estimate). Asked again, answers the certificate already issued (200). 409 "
          "`insufficient_credits` with `shortfall_t`.")
    async def neutralize(self, event_id: FromPath[uuid.UUID],
                         principal: NamedDependency[Principal],
                         events: NamedDependency[EventService]) -> Response[CertificateOut]:
        cert, new = await events.neutralize(organisation_of(principal), principal.id, event_id)
        return Response(cert, status_code=201 if new else 200)

    @post("/{event_id:uuid}/actuals", operation_id="submitEventActuals",
          responses=problems(401, 403, 404, 409), status_code=201,
          response_headers=REPLAY_HEADERS,
          summary="Submit the actual figures of an event measured on estimates, after it ended",
          description="The same figures as `POST /v1/events` (without name, dates and venue), "
          "scored by the same methodology; once per event, from the day after `ends_on` "
          "(409 `event_not_over` before; `actuals_already_submitted`; `already_actual` for an "
          "event recorded after it ended). When the event was neutralised pre-event, the "
          "difference is settled in the same transaction: a shortfall is retired from the "
          "holding (409 `insufficient_credits` with `shortfall_t` changes nothing), a surplus "
          "stays retired and is stated as voluntary; the final certificate (`basis: actual`) "
          "supersedes the estimate's, which is kept, marked `superseded`. Answers the event "
          "(`footprint` actual, `estimate` beside it, `true_up`, `certificate_id` the final "
          "one).")
    async def actuals(self, event_id: FromPath[uuid.UUID], data: JSONBody[EventFiguresIn],
                      principal: NamedDependency[Principal],
                      events: NamedDependency[EventService],
                      idempotency_key: IdempotencyKey = None) -> Response[EventOut]:
        key = require_key(idempotency_key, "submission of actual figures")
        event, first = await events.submit_actuals(organisation_of(principal), principal.id,
                                                   event_id, key, data)
        return created(event, first)


class ComplianceController(Controller):
    path = "/v1/compliance-offsets"
    tags = ["events", "compliance"]  # noqa: RUF012
    opt = ENTERPRISE

    @post("/", operation_id="offsetCompliance",
          responses=problems(401, 403, 409), status_code=201, response_headers=REPLAY_HEADERS,
          summary="Retire credits against verified emissions (碳履约), with a certificate",
          description="The year's verified emissions are the register's (entered by a "
          "verification body, `POST /v1/verifier/organisations/{id}/emissions`; its latest "
          "revision): 409 `no_verified_emissions` when the year has none; a "
          "`verified_emissions_t` stated here is optional and only checked against it (422 "
          "`verified_emissions_mismatch` naming the field). The cap "
          "(`COMPLIANCE_OFFSET_CAP` of those emissions, whole tonnes rounded down) applies "
          "to the year's offsets together: 409 `over_compliance_cap` with `remaining_t`; "
          "beyond the holding, 409 `insufficient_credits`.")
    async def offset(self, data: JSONBody[ComplianceIn], principal: NamedDependency[Principal],
                     events: NamedDependency[EventService],
                     idempotency_key: IdempotencyKey = None) -> Response[CertificateOut]:
        require_key(idempotency_key, "offset")
        cert, first = await events.offset_compliance(organisation_of(principal), principal.id,
                                                     idempotency_key, data)
        return created(cert, first)


class CertificateController(Controller):
    path = "/v1/certificates"
    tags = ["events"]  # noqa: RUF012
    opt = PUBLIC

    @get("/{certificate_id:uuid}", operation_id="getCertificate", responses=problems(404),
         summary="A certificate, public: JSON, or the page or PDF the Accept header asks for",
         description="`sha256` is over the canonical JSON of `content` (sorted keys, no "
         "spaces, UTF-8). `status` is `valid`, `cancelled` or `superseded` (an event's "
         "estimate certificate once its final one is issued; `replaced_by` and "
         "`replaced_by_url` lead to it); `basis` is `estimated` or `actual` for an event's. "
         "`Accept: text/html` (a browser, a scanned QR code) answers the page, as at "
         "`/html`; `Accept: application/pdf` the PDF, as at `/pdf`; anything else the JSON.")
    async def get_one(self, request: Request, certificate_id: FromPath[uuid.UUID],
                      events: NamedDependency[EventService]) -> Response[CertificateOut]:
        cert = await events.certificate(certificate_id)
        wanted = request.accept.best_match([MediaType.JSON, MediaType.HTML, PDF])
        vary = {"Vary": "Accept"}
        if wanted == MediaType.HTML:
            return Response(events.html(cert), media_type=MediaType.HTML,  # type: ignore[arg-type]
                            headers=vary)
        if wanted == PDF:
            return _pdf(events, cert)  # type: ignore[return-value]
        return Response(cert, headers=vary)

    @get("/numbers/{number:str}", operation_id="getCertificateByNumber",
         responses=problems(404), summary="A certificate by its number, as printed on it",
         description="What `/v1/certificates/{certificate_id}` answers as JSON, found by the "
         "number (`CQTHT-C-2026-000001`); the public /verify page looks numbers up here.")
    async def by_number(self, number: Annotated[str, Parameter(max_length=48)],
                        events: NamedDependency[EventService]) -> CertificateOut:
        return await events.certificate_by_number(number)

    @get("/{certificate_id:uuid}/html", operation_id="getCertificateHtml",
         responses=problems(404), media_type=MediaType.HTML,
         summary="The certificate as a web page, with its QR code")
    async def html(self, certificate_id: FromPath[uuid.UUID],
                   events: NamedDependency[EventService]) -> str:
        return events.html(await events.certificate(certificate_id))

    @get("/{certificate_id:uuid}/pdf", operation_id="getCertificatePdf",
         responses=problems(404), media_type=PDF,
         summary="The certificate as a PDF, with its QR code")
    async def pdf(self, certificate_id: FromPath[uuid.UUID],
                  events: NamedDependency[EventService]) -> Response[bytes]:
        return _pdf(events, await events.certificate(certificate_id))


def _pdf(events: EventService, cert: CertificateOut) -> Response[bytes]:
    return Response(events.pdf(cert), media_type=PDF, headers={
        "Content-Disposition": f'inline; filename="{cert.number}.pdf"', "Vary": "Accept"})


class AdminCertificateController(Controller):
    path = "/v1/admin"
    tags = ["admin", "events"]  # noqa: RUF012
    opt = ADMIN

    @get(csv_paths("/certificates"), operation_id=csv_operation("listAllCertificates"),
         opt=CSV, responses=problems(401, 403), summary="Every certificate, newest issued first",
         description="`kind` is `event` or `compliance`; `subject` the event's name or the "
         "compliance year; `organisation_name`, `quantity_t` and `serials` as the certificate "
         "states them; `url` where it is public (its content, HTML and PDF)." + CSV_NOTE)
    async def list_certificates(self, request: Request,
                                certificates: NamedDependency[CertificateList],
                                status: CertificateStatusFilter = None,
                                limit: Limit = DEFAULT_LIMIT,
                                cursor: Cursor = None) -> Response[AdminCertificatePage]:
        check_limit(limit)
        return await page_or_csv(request, lambda c: certificates.page(
            status=status, limit=limit, cursor=c), cursor, AdminCertificateOut, "certificates")

    @post("/certificates/{certificate_id:uuid}/cancel", operation_id="cancelCertificate",
          status_code=200, responses=problems(401, 403, 404, 409),
          summary="Cancel a certificate with a reason, and by default reissue it",
          description="The certificate is never edited: it is marked cancelled with the "
          "reason, and (`reissue`, the default) a new one states the same retirement from "
          "the data as it is now. Answers the new certificate, or the cancelled one.")
    async def cancel(self, certificate_id: FromPath[uuid.UUID],
                     data: JSONBody[CertificateCancellationIn],
                     events: NamedDependency[EventService]) -> CertificateOut:
        return await events.cancel(certificate_id, data.reason, reissue=data.reissue)
