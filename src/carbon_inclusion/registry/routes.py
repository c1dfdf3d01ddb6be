from __future__ import annotations

import uuid
from typing import Annotated

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.enums import MediaType
from litestar.params import FromPath, JSONBody, QueryParameter

from carbon_inclusion.accounts.service import Principal
from carbon_inclusion.registry.batches import BatchService
from carbon_inclusion.registry.orders import OrderService
from carbon_inclusion.registry.provenance import ProvenanceService
from carbon_inclusion.registry.schemas import (
    AdminOrderOut,
    AdminOrderPage,
    BatchIn,
    BatchOut,
    BatchPage,
    BatchStatus,
    BehaviourLineOut,
    BehaviourLinePage,
    CancelIn,
    CancelledOut,
    HoldingsOut,
    OrderIn,
    OrderOut,
    OrderPage,
    OrderStatus,
    PaymentIn,
    ReportOut,
    ReturnIn,
    SerialOut,
    VerificationIn,
)
from carbon_inclusion.registry.service import RegistryService, View
from carbon_inclusion.web.auth import ADMIN, ENTERPRISE, PUBLIC, VERIFIER, organisation_of
from carbon_inclusion.web.csv import CSV, CSV_NOTE, csv_operation, csv_paths, page_or_csv
from carbon_inclusion.web.idempotency import REPLAY_HEADERS, IdempotencyKey, created, require_key
from carbon_inclusion.web.openapi import problems
from carbon_inclusion.web.pagination import DEFAULT_LIMIT, Cursor, Limit, check_limit

# Administrators and verifiers see every batch; they may ask for one status.
StatusFilter = Annotated[BatchStatus | None, QueryParameter(
    description="Only batches in this status")]
OrderStatusFilter = Annotated[OrderStatus | None, QueryParameter(
    description="Only orders in this status (as shown: a quote past its time is expired)")]
PDF = "application/pdf"

# A batch's monitoring report and behaviour list are the same at three routes (the public
# registry's for issued batches, the verifier's and the administrator's for any): these
# answer them, as JSON or, as the Accept header or the path asks, PDF or CSV.
REPORT = ("The batch's monitoring report: its figures and verification; each methodology "
          "version used, with every parameter and its source as published; behaviours and "
          "grams by evidence, type, district and programme day; the partners that supplied "
          "them; the outliers (`outliers.definition` says how they are found); what of the "
          "methodology and vintage was left out (rejected on review, unreviewed "
          "self-reports); and the carry from the previous batch. `Accept: application/pdf` "
          "answers the PDF, as at `/report/pdf`.")
LINES = ("Every behaviour the batch holds (a returned batch: held), one per `line` (by "
         "programme day), with no personal data: `citizen` is a pseudonym, the same within "
         "this batch and unrelated to the citizen's pseudonym in any other; `inputs` are only "
         "the declared inputs of the methodology version that scored it; `grams` sum to the "
         "batch's `allocated_g`." + CSV_NOTE)


async def report_response(request: Request, provenance: ProvenanceService,
                          batch_id: uuid.UUID, view: View) -> Response[ReportOut]:
    report = await provenance.report(batch_id, view=view)
    if request.accept.best_match([MediaType.JSON, PDF]) == PDF:
        return report_pdf(provenance, report)  # type: ignore[return-value]
    return Response(report, headers={"Vary": "Accept"})


def report_pdf(provenance: ProvenanceService, report: ReportOut) -> Response[bytes]:
    return Response(provenance.pdf(report), media_type=PDF, headers={
        "Content-Disposition": f'inline; filename="monitoring-report-{report.batch_id}.pdf"',
        "Vary": "Accept"})


async def lines_response(request: Request, provenance: ProvenanceService,
                         batch_id: uuid.UUID, view: View, limit: int,
                         cursor: str | None) -> Response[BehaviourLinePage]:
    check_limit(limit)
    return await page_or_csv(request, lambda c: provenance.lines(
        batch_id, view=view, limit=limit, cursor=c), cursor, BehaviourLineOut,
        f"batch-{batch_id}-behaviours")


class AdminRegistryController(Controller):
    path = "/v1/admin"
    tags = ["admin", "registry"]  # noqa: RUF012
    opt = ADMIN

    @post("/credit-batches", operation_id="proposeCreditBatch",
          responses=problems(401, 403, 409), status_code=201,
          summary="Propose a batch of credits (1 t CO2e each) from one methodology and vintage",
          description="Pools the methodology's *eligible* reductions whose programme day lies "
          "in the vintage and that no batch holds yet: partner-verified records, and "
          "self-reports a person approved on review (a self-report credited without review "
          "earns its points but is never in a credit). With what the methodology's last "
          "batch (not returned) carried over they make whole tonnes; the grams under a tonne "
          "are carried to its next batch, exactly. The batch is `proposed`: it holds its "
          "behaviours (no other batch takes them) and has no serials until a verifier "
          "verifies it and an administrator issues it. 409 `nothing_to_issue` (with "
          "`available_g`) under a tonne; 409 `batch_in_progress` (with `batch_id`, "
          "`batch_status`) while the methodology has a batch proposed or verified, which is "
          "also what a retry of this request answers. The 201 carries the batch's monitoring "
          "report (`report`, as at `report_url`) for the verifier to read.")
    async def propose(self, data: JSONBody[BatchIn], principal: NamedDependency[Principal],
                      batches: NamedDependency[BatchService]) -> BatchOut:
        return await batches.propose(principal.id, data)

    @get("/credit-batches", operation_id="listAllCreditBatches", responses=problems(401, 403),
         summary="Every batch, whatever its status, newest first")
    async def list_batches(self, batches: NamedDependency[BatchService],
                           status: StatusFilter = None,
                           limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None) -> BatchPage:
        return await batches.batches(status=status, limit=check_limit(limit), cursor=cursor)

    @get("/credit-batches/{batch_id:uuid}", operation_id="getAnyCreditBatch",
         responses=problems(401, 403, 404),
         summary="One batch, whatever its status, with its verification or findings")
    async def get_batch(self, batch_id: FromPath[uuid.UUID],
                        batches: NamedDependency[BatchService]) -> BatchOut:
        return await batches.get(batch_id)

    @get("/credit-batches/{batch_id:uuid}/report", operation_id="getAnyCreditBatchReport",
         responses=problems(401, 403, 404),
         summary="A batch's monitoring report, whatever its status (JSON or PDF)",
         description=REPORT)
    async def report(self, request: Request, batch_id: FromPath[uuid.UUID],
                     provenance: NamedDependency[ProvenanceService]) -> Response[ReportOut]:
        return await report_response(request, provenance, batch_id, "admin")

    @get("/credit-batches/{batch_id:uuid}/report/pdf", operation_id="getAnyCreditBatchReportPdf",
         responses=problems(401, 403, 404), media_type=PDF,
         summary="A batch's monitoring report as a PDF, whatever its status")
    async def report_as_pdf(self, batch_id: FromPath[uuid.UUID],
                            provenance: NamedDependency[ProvenanceService]) -> Response[bytes]:
        return report_pdf(provenance, await provenance.report(batch_id, view="admin"))

    @get(csv_paths("/credit-batches/{batch_id:uuid}/behaviours"),
         operation_id=csv_operation("listAnyCreditBatchBehaviours"), opt=CSV,
         responses=problems(401, 403, 404),
         summary="Every behaviour a batch holds, pseudonymous, whatever its status",
         description=LINES)
    async def behaviours(self, request: Request, batch_id: FromPath[uuid.UUID],
                         provenance: NamedDependency[ProvenanceService],
                         limit: Limit = DEFAULT_LIMIT,
                         cursor: Cursor = None) -> Response[BehaviourLinePage]:
        return await lines_response(request, provenance, batch_id, "admin", limit, cursor)

    @post("/credit-batches/{batch_id:uuid}/issue", operation_id="issueCreditBatch",
          status_code=200, responses=problems(401, 403, 404, 409),
          summary="Issue a verified batch: its serials are numbered now",
          description="Serials: `CQTHT-<METHOD>-<YEAR>-<NNNNNN>`, counted per methodology "
          "and vintage year after the last issued. Only a `verified` batch: 409 "
          "`batch_not_verified` (with `batch_status`) otherwise. Again on an issued batch: the "
          "batch unchanged.")
    async def issue(self, batch_id: FromPath[uuid.UUID], principal: NamedDependency[Principal],
                    batches: NamedDependency[BatchService]) -> BatchOut:
        return await batches.issue(principal.id, batch_id)

    @post("/credit-cancellations", operation_id="cancelCredits",
          responses=problems(401, 403, 404, 409),
          summary="Cancel a range of available credits, with a reason",
          description="For an error found after issuance. The range lies in one batch and is "
          "all available (409 `not_available` names the states found); the credits around "
          "it stay available.")
    async def cancel(self, data: JSONBody[CancelIn],
                     registry: NamedDependency[RegistryService]) -> CancelledOut:
        return await registry.cancel(data)

    @get(csv_paths("/orders"), operation_id=csv_operation("listAllOrders"), opt=CSV,
         responses=problems(401, 403), summary="Every organisation's orders, newest first",
         description="`status`: `reserved` (a quote, payable until `expires_at`), `paid`, or "
         "`expired` (a quote past its time, even before the sweep releases its credits): the "
         "orders awaiting payment are `status=reserved`. Each order as its organisation sees "
         "it, with `organisation_name`." + CSV_NOTE)
    async def list_orders(self, request: Request, orders: NamedDependency[OrderService],
                          status: OrderStatusFilter = None, limit: Limit = DEFAULT_LIMIT,
                          cursor: Cursor = None) -> Response[AdminOrderPage]:
        check_limit(limit)
        return await page_or_csv(request, lambda c: orders.all_orders(
            status=status, limit=limit, cursor=c), cursor, AdminOrderOut, "orders")

    @post("/orders/{order_id:uuid}/confirm-payment", operation_id="confirmOrderPayment",
          status_code=200, responses=problems(401, 403, 404, 409),
          summary="Record an order's payment: its reserved credits become the organisation's",
          description="Payment itself happens outside the product; `reference` records it. "
          "Repeating it answers the paid order unchanged; an expired quote is 409 "
          "`order_expired`.")
    async def confirm(self, order_id: FromPath[uuid.UUID], data: JSONBody[PaymentIn],
                      principal: NamedDependency[Principal],
                      orders: NamedDependency[OrderService]) -> OrderOut:
        return await orders.confirm_payment(principal.id, order_id, data.reference)


class RegistryController(Controller):
    path = "/v1/registry"
    tags = ["registry"]  # noqa: RUF012
    opt = PUBLIC

    @get("/batches", operation_id="listCreditBatches", responses=problems(),
         summary="Every batch of credits issued, newest first",
         description="Issued batches only: a batch proposed, verified or returned is not in "
         "the registry.")
    async def batches(self, registry: NamedDependency[RegistryService],
                      limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None) -> BatchPage:
        return await registry.batches(limit=check_limit(limit), cursor=cursor)

    @get("/batches/{batch_id:uuid}", operation_id="getCreditBatch", responses=problems(404),
         summary="One batch, with how much of it is retired and where its grams came from",
         description="`provenance` counts the batch's behaviours and grams by type, district "
         "and month; it names no one. 404 for a batch that is not issued.")
    async def batch(self, batch_id: FromPath[uuid.UUID],
                    registry: NamedDependency[RegistryService]) -> BatchOut:
        return await registry.batch(batch_id)

    @get("/batches/{batch_id:uuid}/report", operation_id="getCreditBatchReport",
         responses=problems(404),
         summary="An issued batch's monitoring report (JSON or PDF)",
         description=REPORT + " 404 for a batch that is not issued.")
    async def report(self, request: Request, batch_id: FromPath[uuid.UUID],
                     provenance: NamedDependency[ProvenanceService]) -> Response[ReportOut]:
        return await report_response(request, provenance, batch_id, "public")

    @get("/batches/{batch_id:uuid}/report/pdf", operation_id="getCreditBatchReportPdf",
         responses=problems(404), media_type=PDF,
         summary="An issued batch's monitoring report as a PDF")
    async def report_as_pdf(self, batch_id: FromPath[uuid.UUID],
                            provenance: NamedDependency[ProvenanceService]) -> Response[bytes]:
        return report_pdf(provenance, await provenance.report(batch_id, view="public"))

    @get(csv_paths("/batches/{batch_id:uuid}/behaviours"),
         operation_id=csv_operation("listCreditBatchBehaviours"), opt=CSV,
         responses=problems(404),
         summary="Every behaviour behind an issued batch, pseudonymous (JSON pages or CSV)",
         description=LINES + " 404 for a batch that is not issued.")
    async def behaviours(self, request: Request, batch_id: FromPath[uuid.UUID],
                         provenance: NamedDependency[ProvenanceService],
                         limit: Limit = DEFAULT_LIMIT,
                         cursor: Cursor = None) -> Response[BehaviourLinePage]:
        return await lines_response(request, provenance, batch_id, "public", limit, cursor)

    @get("/serials/{serial:str}", operation_id="getCreditSerial", responses=problems(404),
         summary="The block and state of one serial number")
    async def serial(self, serial: FromPath[str],
                     registry: NamedDependency[RegistryService]) -> SerialOut:
        return await registry.serial(serial)


class VerifierBatchController(Controller):
    """A verification body's side of a batch: read the proposal, verify it or return it."""

    path = "/v1/verifier/batches"
    tags = ["verifier", "registry"]  # noqa: RUF012
    opt = VERIFIER

    @get("/", operation_id="listBatchesToVerify", responses=problems(401, 403),
         summary="Batches, newest first; `status=proposed` for those waiting for a verifier")
    async def list_batches(self, batches: NamedDependency[BatchService],
                           status: StatusFilter = None,
                           limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None) -> BatchPage:
        return await batches.batches(status=status, limit=check_limit(limit), cursor=cursor,
                                     view="verifier")

    @get("/{batch_id:uuid}", operation_id="getBatchToVerify",
         responses=problems(401, 403, 404),
         summary="One batch with its figures and where its grams came from")
    async def get_batch(self, batch_id: FromPath[uuid.UUID],
                        batches: NamedDependency[BatchService]) -> BatchOut:
        return await batches.get(batch_id, view="verifier")

    @get("/{batch_id:uuid}/report", operation_id="getBatchToVerifyReport",
         responses=problems(401, 403, 404),
         summary="A batch's monitoring report, whatever its status (JSON or PDF)",
         description=REPORT)
    async def report(self, request: Request, batch_id: FromPath[uuid.UUID],
                     provenance: NamedDependency[ProvenanceService]) -> Response[ReportOut]:
        return await report_response(request, provenance, batch_id, "verifier")

    @get("/{batch_id:uuid}/report/pdf", operation_id="getBatchToVerifyReportPdf",
         responses=problems(401, 403, 404), media_type=PDF,
         summary="A batch's monitoring report as a PDF, whatever its status")
    async def report_as_pdf(self, batch_id: FromPath[uuid.UUID],
                            provenance: NamedDependency[ProvenanceService]) -> Response[bytes]:
        return report_pdf(provenance, await provenance.report(batch_id, view="verifier"))

    @get(csv_paths("/{batch_id:uuid}/behaviours"),
         operation_id=csv_operation("listBatchToVerifyBehaviours"), opt=CSV,
         responses=problems(401, 403, 404),
         summary="Every behaviour a batch holds, pseudonymous, whatever its status",
         description=LINES)
    async def behaviours(self, request: Request, batch_id: FromPath[uuid.UUID],
                         provenance: NamedDependency[ProvenanceService],
                         limit: Limit = DEFAULT_LIMIT,
                         cursor: Cursor = None) -> Response[BehaviourLinePage]:
        return await lines_response(request, provenance, batch_id, "verifier", limit, cursor)

    @post("/{batch_id:uuid}/verify", operation_id="verifyBatch", status_code=200,
          responses=problems(401, 403, 404, 409),
          summary="Verify a proposed batch, with an optional statement (the opinion)",
          description="The batch becomes `verified` and an administrator may issue it. "
          "Whoever proposed the batch may not verify it (403 `proposer_cannot_verify`); "
          "a batch that is not proposed is 409 `batch_not_proposed` (with `batch_status`). Again "
          "on a verified batch: the batch unchanged.")
    async def verify(self, batch_id: FromPath[uuid.UUID], data: JSONBody[VerificationIn],
                     principal: NamedDependency[Principal],
                     batches: NamedDependency[BatchService]) -> BatchOut:
        return await batches.verify(principal.id, organisation_of(principal), batch_id, data)

    @post("/{batch_id:uuid}/return", operation_id="returnBatch", status_code=200,
          responses=problems(401, 403, 404, 409),
          summary="Return a proposed batch with findings: it releases its behaviours",
          description="The batch becomes `returned` (it stays readable, with its findings); "
          "its behaviours are free for a later proposal and its carry-in goes back to the "
          "methodology's next batch. Whoever proposed the batch may not return it (403 "
          "`proposer_cannot_verify`); a batch that is not proposed is 409 "
          "`batch_not_proposed`. Again on a returned batch: the batch unchanged, with its "
          "first findings.")
    async def return_batch(self, batch_id: FromPath[uuid.UUID], data: JSONBody[ReturnIn],
                           principal: NamedDependency[Principal],
                           batches: NamedDependency[BatchService]) -> BatchOut:
        return await batches.return_(principal.id, organisation_of(principal), batch_id, data)


class OrderController(Controller):
    path = "/v1"
    tags = ["registry"]  # noqa: RUF012
    opt = ENTERPRISE

    @post("/orders", operation_id="orderCredits",
          responses=problems(401, 403, 409), status_code=201, response_headers=REPLAY_HEADERS,
          summary="Order credits: a quote at the programme price that reserves them for a while",
          description="Reserves `quantity_t` whole credits, oldest vintage first, until "
          "`expires_at` (`ORDER_HOLD_MINUTES`); an administrator records the payment. 409 "
          "`insufficient_credits` with `available_t`. Unpaid quotes cannot hoard the "
          "registry: 409 `too_many_open_quotes` (with `open_quotes`, `open_quotes_limit`) "
          "when the organisation already has `ORDER_OPEN_QUOTES_PER_ORG` open quotes, and "
          "409 `reservation_share_exceeded` (with `reserved_t`, `requested_t`, `limit_t`, "
          "`max_reserved_share`) when its open quotes would reserve more than "
          "`ORDER_MAX_RESERVED_SHARE` of the market (available plus reserved credits, "
          "rounded down, at least 1 t); paid and expired quotes do not count. A replay "
          "with the same `Idempotency-Key` and body answers the first order.")
    async def order(self, data: JSONBody[OrderIn], principal: NamedDependency[Principal],
                    orders: NamedDependency[OrderService],
                    idempotency_key: IdempotencyKey = None) -> Response[OrderOut]:
        require_key(idempotency_key, "order")
        out, first = await orders.order(organisation_of(principal), principal.id,
                                        idempotency_key, data)
        return created(out, first)

    @get("/orders", operation_id="listOrders", responses=problems(401, 403),
         summary="The organisation's orders, newest first")
    async def list_orders(self, principal: NamedDependency[Principal],
                          orders: NamedDependency[OrderService], limit: Limit = DEFAULT_LIMIT,
                          cursor: Cursor = None) -> OrderPage:
        return await orders.orders(organisation_of(principal), limit=check_limit(limit),
                                   cursor=cursor)

    @get("/orders/{order_id:uuid}", operation_id="getOrder", responses=problems(401, 403, 404),
         summary="One of the organisation's orders")
    async def get_order(self, order_id: FromPath[uuid.UUID],
                        principal: NamedDependency[Principal],
                        orders: NamedDependency[OrderService]) -> OrderOut:
        return await orders.get(organisation_of(principal), order_id)

    @get("/holdings", operation_id="getHoldings", responses=problems(401, 403),
         summary="The credits the organisation holds (serial ranges) and has retired")
    async def holdings(self, principal: NamedDependency[Principal],
                       orders: NamedDependency[OrderService]) -> HoldingsOut:
        return await orders.holdings(organisation_of(principal))
