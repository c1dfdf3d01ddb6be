"""RFC 9457 problem+json at the edge: the only place domain errors meet HTTP statuses."""

from __future__ import annotations

import logging
from typing import Annotated, Any

import msgspec
from litestar import Request, Response
from litestar.exceptions import (
    HTTPException,
    NotAuthorizedException,
    PermissionDeniedException,
    ValidationException,
)
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR

from carbon_inclusion.common.decoding import message_of, path_of
from carbon_inclusion.errors import DomainError, FieldError, RateLimited, Unavailable
from carbon_inclusion.web.decoding import BodyTimeout

log = logging.getLogger("carbon_inclusion.errors")

PROBLEM_JSON = "application/problem+json"
TYPE_PREFIX = "urn:carbon-inclusion:problem:"

STATUS_BY_KIND: dict[str, int] = {
    "invalid": 422,
    "unauthenticated": 401,
    "forbidden": 403,
    "not_found": 404,
    "conflict": 409,
    "too_large": 413,
    "unsupported_media_type": 415,
    "rate_limited": 429,
    "unavailable": 503,
    "error": 400,
}


class ProblemField(msgspec.Struct):
    field: str
    message: str


class Problem(msgspec.Struct, omit_defaults=True):
    """RFC 9457 problem details, as documented in OpenAPI for every error response."""

    type: str
    title: str
    status: int
    detail: str
    code: str
    errors: list[ProblemField] = []
    errors_omitted: Annotated[int, msgspec.Meta(
        ge=0, description="How many field errors there were beyond the first 20 that "
        "`errors` lists (absent when it lists them all).")] = 0


MAX_FIELD_ERRORS = 20


def problem_response(
    status: int,
    code: str,
    title: str,
    detail: str,
    *,
    errors: list[FieldError] | None = None,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> Response[dict[str, Any]]:
    body: dict[str, Any] = {
        "type": TYPE_PREFIX + code,
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
    }
    if errors:
        body["errors"] = [e.as_dict() for e in errors[:MAX_FIELD_ERRORS]]
        if len(errors) > MAX_FIELD_ERRORS:
            omitted = len(errors) - MAX_FIELD_ERRORS
            body["errors_omitted"] = omitted
            # The detail usually lists every error too: the first ones and a count.
            body["detail"] = "; ".join(f"{e.field}: {e.message}"
                                       for e in errors[:MAX_FIELD_ERRORS]) + (
                f"; and {omitted} more")
    if extra:
        body.update({k: v for k, v in extra.items() if k not in body})
    return Response(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def domain_error_handler(_: Request, exc: DomainError) -> Response[dict[str, Any]]:
    headers = None
    if isinstance(exc, RateLimited | Unavailable):
        headers = {"Retry-After": str(exc.retry_after)}
    elif exc.kind == "unauthenticated":
        headers = {"WWW-Authenticate": 'Bearer realm="carbon-inclusion"'}
    return problem_response(
        STATUS_BY_KIND.get(exc.kind, 400),
        exc.code,
        exc.title,
        exc.detail,
        errors=exc.errors,
        headers=headers,
        extra=exc.extra,
    )


def _field_from_message(message: str, key: str | None) -> str:
    path = path_of(message)
    if path:
        return path
    return key if key and key != "body" else "body"


def validation_error_handler(request: Request, exc: ValidationException) -> Response[Any]:
    extra = exc.extra if isinstance(exc.extra, list) else []
    errors: list[FieldError] = []
    malformed = False
    for item in extra:
        if not isinstance(item, dict):
            continue
        message = str(item.get("message", "invalid value"))
        source = item.get("source")
        key = item.get("key")
        if "malformed" in message.lower() or "invalid json" in message.lower():
            malformed = True
        if source in ("query", "path", "header", "cookie") and key:
            errors.append(FieldError(str(key), message_of(message)))
        else:
            errors.append(FieldError(_field_from_message(message, key), message_of(message)))
    if malformed or "malformed" in (exc.detail or "").lower():
        return problem_response(
            400, "malformed_body", "Malformed request body", "The request body is not valid JSON.",
            errors=[FieldError("body", "not valid JSON")],
        )
    if not errors:
        errors = [FieldError("body", exc.detail or "invalid request")]
    detail = "; ".join(f"{e.field}: {e.message}" for e in errors)
    return problem_response(422, "invalid_input", "Invalid input", detail, errors=errors)


_HTTP_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "body_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
}


def http_error_handler(_: Request, exc: HTTPException) -> Response[Any]:
    status = exc.status_code
    if status >= 500:
        log.error("http error %s: %s", status, exc.detail)
        return problem_response(status, "server_error", "Server error", "Something went wrong.")
    code = _HTTP_CODES.get(status, "http_error")
    errors = None
    if status == 400:
        # Litestar raises a bare 400 only when it cannot decode the body.
        code, errors = "malformed_body", [FieldError("body", exc.detail or "not valid JSON")]
    if isinstance(exc, NotAuthorizedException):
        code = "unauthenticated"
    elif isinstance(exc, PermissionDeniedException):
        code = "forbidden"
    title = {
        "not_found": "Not found",
        "method_not_allowed": "Method not allowed",
        "body_too_large": "Request body too large",
        "unauthenticated": "Authentication required",
        "forbidden": "Forbidden",
        "malformed_body": "Malformed request body",
        "unsupported_media_type": "Unsupported media type",
    }.get(code, "Bad request")
    detail = exc.detail or title
    headers = dict(exc.headers or {})
    return problem_response(status, code, title, detail, errors=errors, headers=headers or None)


def _is_dependency_down(exc: BaseException) -> bool:
    """True for errors meaning PostgreSQL or Redis cannot be reached right now."""
    import asyncpg
    import redis.exceptions
    from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(
            current,
            OSError
            | ConnectionError
            | PoolTimeout
            | OperationalError
            | InterfaceError
            | asyncpg.exceptions.CannotConnectNowError
            | asyncpg.exceptions.ConnectionDoesNotExistError
            | asyncpg.exceptions.InterfaceError
            | asyncpg.exceptions.AdminShutdownError
            | asyncpg.exceptions.TooManyConnectionsError
            | redis.exceptions.ConnectionError
            | redis.exceptions.TimeoutError
            | redis.exceptions.ClusterDownError
            | redis.exceptions.SlotNotCoveredError,
        ):
            return True
        if isinstance(current, DBAPIError) and current.connection_invalidated:
            return True
        current = current.__cause__ or current.__context__
    return False


def unexpected_error_handler(request: Request, exc: Exception) -> Response[Any]:
    if _is_dependency_down(exc):
        log.warning("dependency unavailable on %s %s: %r", request.method, request.url.path, exc)
        return problem_response(
            503,
            "dependency_unavailable",
            "Service temporarily unavailable",
            "A storage service is unreachable. Retry shortly; a retry with the same "
            "Idempotency-Key is never applied twice.",
            headers={"Retry-After": "5"},
        )
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return problem_response(
        HTTP_500_INTERNAL_SERVER_ERROR,
        "server_error",
        "Server error",
        "Something went wrong on our side; nothing was changed.",
    )


def recursion_error_handler(_: Request, exc: RecursionError) -> Response[Any]:
    """A structure too deep to decode (the edge refuses most before any decoder runs)."""
    return problem_response(422, "invalid_input", "Invalid input",
                            "body: nests too deep", errors=[FieldError("body", "nests too deep")])


def body_timeout_handler(_: Request, exc: BodyTimeout) -> Response[Any]:
    return problem_response(408, "request_timeout", "Request timeout",
                            "The request body did not arrive in time.",
                            headers={"Connection": "close"})


EXCEPTION_HANDLERS = {
    BodyTimeout: body_timeout_handler,
    RecursionError: recursion_error_handler,
    DomainError: domain_error_handler,
    ValidationException: validation_error_handler,
    HTTPException: http_error_handler,
    Exception: unexpected_error_handler,
}

