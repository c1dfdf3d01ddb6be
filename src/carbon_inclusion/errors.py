"""Domain errors.

Services raise these; they carry a stable ``code`` and a human ``detail`` but no HTTP status.
The one table that turns them into RFC 9457 responses is ``web.problems.STATUS_BY_KIND``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar


@dataclass(frozen=True, slots=True)
class FieldError:
    """One problem with one input field; ``field`` is a dotted path (``data.distance_km``)."""

    field: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message}


class DomainError(Exception):
    kind: ClassVar[str] = "error"
    code: ClassVar[str] = "error"
    title: ClassVar[str] = "Request failed"

    def __init__(
        self,
        detail: str,
        *,
        code: str | None = None,
        errors: list[FieldError] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        if code is not None:
            self.code = code  # type: ignore[misc]
        self.errors = errors or []
        self.extra = extra


class InvalidInput(DomainError):
    """The request is well-formed but a field's value is not acceptable."""

    kind = "invalid"
    code = "invalid_input"
    title = "Invalid input"

    @classmethod
    def field(cls, field: str, message: str, *, code: str | None = None) -> InvalidInput:
        return cls(message, code=code, errors=[FieldError(field, message)])


class IdempotencyKeyReused(InvalidInput):
    """An ``Idempotency-Key`` sent again with another request body."""

    code = "idempotency_key_reused"

    def __init__(self, what: str = "request") -> None:
        super().__init__(f"This Idempotency-Key was used for a different {what}.",
                         errors=[FieldError("Idempotency-Key", "already used with another body")])


class TooLarge(DomainError):
    """The request body is larger than the route takes (413, as the edge answers one)."""

    kind = "too_large"
    code = "body_too_large"
    title = "Request body too large"


class UnsupportedMediaType(DomainError):
    """The body's ``Content-Type`` is not one the route takes (415, as the edge answers)."""

    kind = "unsupported_media_type"
    code = "unsupported_media_type"
    title = "Unsupported media type"


class Unauthenticated(DomainError):
    kind = "unauthenticated"
    code = "unauthenticated"
    title = "Authentication required"


class Forbidden(DomainError):
    kind = "forbidden"
    code = "forbidden"
    title = "Forbidden"


class NotFound(DomainError):
    kind = "not_found"
    code = "not_found"
    title = "Not found"


class Conflict(DomainError):
    """The request conflicts with the current state (duplicate, sold out, not enough points)."""

    kind = "conflict"
    code = "conflict"
    title = "Conflict"


class RateLimited(DomainError):
    kind = "rate_limited"
    code = "rate_limited"
    title = "Too many requests"

    def __init__(self, detail: str, *, retry_after: int, **extra: Any) -> None:
        super().__init__(detail, **extra)
        self.retry_after = max(1, int(retry_after))


class Unavailable(DomainError):
    """A dependency (PostgreSQL, Redis) cannot be reached; the client should retry."""

    kind = "unavailable"
    code = "dependency_unavailable"
    title = "Service temporarily unavailable"

    def __init__(self, detail: str, *, retry_after: int = 5, **extra: Any) -> None:
        super().__init__(detail, **extra)
        self.retry_after = retry_after
