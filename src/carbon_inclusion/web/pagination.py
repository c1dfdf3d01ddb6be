"""Cursor pagination: opaque, URL-safe cursors over a route's sort key."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Annotated, Any

from litestar.params import QueryParameter

from carbon_inclusion.errors import InvalidInput

MAX_LIMIT = 100
DEFAULT_LIMIT = 20

# The query parameters of every paged list.
Limit = Annotated[int, QueryParameter(ge=1, le=MAX_LIMIT, description="Page size (≤ 100)")]
Cursor = Annotated[str | None, QueryParameter(description="`next_cursor` of the previous page")]


def encode_cursor(values: list[Any]) -> str:
    raw = json.dumps(values, separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode_cursor(cursor: str | None, arity: int) -> list[Any] | None:
    if cursor is None or cursor == "":
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput.field("cursor", "is not a cursor this API returned") from None
    if not isinstance(values, list) or len(values) != arity:
        raise InvalidInput.field("cursor", "is not a cursor this API returned")
    return values


def after_id(cursor: str | None) -> uuid.UUID | None:
    """The id a one-key cursor (``encode_cursor([str(id)])``) points after, or None."""
    after = decode_cursor(cursor, 1)
    if after is None:
        return None
    try:
        return uuid.UUID(after[0])
    except (TypeError, ValueError):
        raise InvalidInput.field("cursor", "is not a cursor this API returned") from None


def check_limit(limit: int) -> int:
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput.field("limit", f"must be between 1 and {MAX_LIMIT}")
    return limit
