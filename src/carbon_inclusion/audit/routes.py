from __future__ import annotations

import uuid
from typing import Annotated

from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency
from litestar.params import QueryParameter

from carbon_inclusion.audit.schemas import AuditOut, AuditPage
from carbon_inclusion.audit.service import AuditLog
from carbon_inclusion.web.auth import ADMIN
from carbon_inclusion.web.csv import CSV, CSV_NOTE, csv_operation, csv_paths, page_or_csv
from carbon_inclusion.web.openapi import problems
from carbon_inclusion.web.pagination import DEFAULT_LIMIT, Cursor, Limit, check_limit
from carbon_inclusion.web.query import text_query

MAX_ACTION_CHARS = 64  # audit_log.action
ActionFilter = Annotated[str | None, QueryParameter(
    max_length=MAX_ACTION_CHARS, description="Only this action, e.g. `credit_batch.issued`")]
ActorFilter = Annotated[uuid.UUID | None, QueryParameter(
    description="Only what this account did")]


class AdminAuditController(Controller):
    path = "/v1/admin"
    tags = ["admin"]  # noqa: RUF012
    opt = ADMIN

    @get(csv_paths("/audit"), operation_id=csv_operation("listAuditRecords"), opt=CSV,
         responses=problems(401, 403), summary="The audit log, newest first",
         description="Who did what to which object, and when: `action` (e.g. "
         "`credit_batch.issued`, `reward.updated`, `methodology.published`) and `actor_id` "
         "filter it; `detail` is what the action recorded." + CSV_NOTE)
    async def list_audit(self, request: Request, audit: NamedDependency[AuditLog],
                         action: ActionFilter = None, actor_id: ActorFilter = None,
                         limit: Limit = DEFAULT_LIMIT,
                         cursor: Cursor = None) -> Response[AuditPage]:
        check_limit(limit)
        wanted = text_query("action", action, MAX_ACTION_CHARS)
        return await page_or_csv(request, lambda c: audit.page(
            action=wanted, actor_id=actor_id, limit=limit, cursor=c), cursor, AuditOut, "audit")
