"""What every HTTP request leaves behind: a request id, an access log line, metrics.

The request id is the caller's ``X-Request-Id`` when it is a sane one (a proxy's or the
app's own, up to 64 of ``A-Za-z0-9._:-``), else a new one. It is answered in the
``X-Request-Id`` header of every response, 404s and 500s included, and carried by every log
line written while the request runs (``request_id`` in the JSON), so one id finds a
request's whole story in the logs.

``observe`` wraps the whole application (``app.App.__call__``), not a route, so requests that
match no route are seen too; they are counted under the route label ``unmatched`` so that
scanners cannot blow up the metrics' label sets.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable

from litestar import Controller, Request, Response, get
from litestar.types import Message, Receive, Scope, Send

from carbon_inclusion import metrics
from carbon_inclusion.logs import request_id
from carbon_inclusion.web.auth import PUBLIC

HEADER = "X-Request-Id"
_HEADER_LOWER = HEADER.lower().encode()
_SANE = re.compile(rb"^[A-Za-z0-9._:-]{1,64}$")
access_log = logging.getLogger("carbon_inclusion.access")


def _incoming_id(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == _HEADER_LOWER and _SANE.match(value):
            return value.decode()
    return uuid.uuid4().hex


async def observe(app: Callable[[Scope, Receive, Send], Awaitable[None]],
                  scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        await app(scope, receive, send)
        return
    rid = _incoming_id(scope)
    token = request_id.set(rid)
    started = time.perf_counter()
    status = 500

    async def send_with_id(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
            message["headers"] = [*message.get("headers", ()),
                                  (_HEADER_LOWER, rid.encode())]
        await send(message)

    try:
        await app(scope, receive, send_with_id)
    finally:
        elapsed = time.perf_counter() - started
        route = scope.get("path_template") or "unmatched"
        method = scope["method"]
        metrics.REQUESTS.labels(method, route, str(status)).inc()
        metrics.LATENCY.labels(method, route).observe(elapsed)
        access_log.info("%s %s %s", method, scope["path"], status, extra={
            "method": method, "path": scope["path"], "route": route, "status": status,
            "duration_ms": round(elapsed * 1000, 2)})
        request_id.reset(token)


class MetricsController(Controller):
    tags = ["operations"]  # noqa: RUF012

    @get("/metrics", operation_id="metrics", opt=PUBLIC, media_type="text/plain",
         summary="Prometheus metrics of every API process",
         description="Requests by route and status, latency histograms, behaviours credited "
         "by type, redemptions and ledger postings, in the Prometheus text format.")
    async def metrics(self, request: Request) -> Response[bytes]:
        body, content_type = metrics.render()
        return Response(body, media_type=content_type)
