"""Keyset pagination: opaque cursors over a list's sort key, and the ``{items, next_cursor}``
page built from one over-fetched query.

A cursor is URL-safe base64 of a JSON array of the last item's sort key. Decoding checks
the arity and the type of every element against the kinds the caller names, so a crafted
cursor (``["x","y"]``, ``[1,2]``, ``[null,null]``, a naive time, NUL) is always a 422
naming ``cursor``, never a query with garbage in it.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import uuid
from collections.abc import Callable, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

from carbon_inclusion.errors import InvalidInput

MAX_LIMIT = 100
DEFAULT_LIMIT = 20
MAX_CURSOR_CHARS = 1024

T = TypeVar("T")
Kind = type[uuid.UUID] | type[dt.datetime] | type[dt.date] | type[str] | type[int] | type[Decimal]


def _bad() -> InvalidInput:
    return InvalidInput.field("cursor", "is not a cursor this API returned")


def _plain(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, uuid.UUID | Decimal):
        return str(value)
    return value


def encode_cursor(*values: Any) -> str:
    """The cursor that points just after an item whose sort key is ``values``."""
    raw = json.dumps([_plain(v) for v in values], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _typed(value: Any, kind: Kind) -> Any:
    if kind is int:
        if type(value) is not int:
            raise _bad()
        return value
    if not isinstance(value, str) or "\x00" in value:
        raise _bad()
    try:
        if kind is uuid.UUID:
            return uuid.UUID(value)
        if kind is dt.datetime:
            parsed = dt.datetime.fromisoformat(value)
            if parsed.tzinfo is None:
                raise _bad()
            return parsed
        if kind is dt.date:
            return dt.date.fromisoformat(value)
        if kind is Decimal:
            number = Decimal(value)
            if not number.is_finite():
                raise _bad()
            return number
    except (ValueError, InvalidOperation):
        raise _bad() from None
    return value  # str


def decode_cursor(cursor: str | None, *kinds: Kind) -> tuple[Any, ...] | None:
    """The typed sort key a cursor points after, or None for the first page."""
    if cursor is None or cursor == "":
        return None
    if len(cursor) > MAX_CURSOR_CHARS:
        raise _bad()
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (ValueError, UnicodeError, binascii.Error, RecursionError):
        raise _bad() from None
    if not isinstance(values, list) or len(values) != len(kinds):
        raise _bad()
    return tuple(_typed(v, k) for v, k in zip(values, kinds, strict=True))


def check_limit(limit: int) -> int:
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput.field("limit", f"must be between 1 and {MAX_LIMIT}")
    return limit


def page(rows: Sequence[T], limit: int,
         key: Callable[[T], Sequence[Any]]) -> tuple[list[T], str | None]:
    """The page of ``rows`` (fetched with ``LIMIT limit + 1``) and the cursor to the next one,
    None on the last page."""
    items = list(rows[:limit])
    more = len(rows) > limit
    return items, (encode_cursor(*key(items[-1])) if more and items else None)


def decode_one(cursor: str | None, kind: Kind) -> Any | None:
    """The one typed value a single-key cursor points after, or None for the first page."""
    after = decode_cursor(cursor, kind)
    return None if after is None else after[0]
