"""Query parameters that need more care than the framework's conversion gives them."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated

from litestar.openapi.spec.enums import OpenAPIFormat
from litestar.params import QueryParameter

from carbon_inclusion.errors import InvalidInput

# An instant in a query string: RFC 3339 with its offset. Taken as text and read here, as
# the framework would also read a bare number ("0.5") as seconds since 1970.
Instant = Annotated[str | None, QueryParameter(
    format=OpenAPIFormat.DATE_TIME, max_length=64,
    description="RFC 3339 with an offset, e.g. 2026-11-23T08:00:00+08:00")]


def instant(name: str, raw: str | None) -> dt.datetime | None:
    """``raw`` as an aware datetime, or 422 naming ``name``."""
    if raw is None:
        return None
    try:
        value = dt.datetime.fromisoformat(raw)
    except ValueError:
        raise InvalidInput.field(name, "must be an RFC 3339 date-time") from None
    if value.tzinfo is None:
        raise InvalidInput.field(name, "must be an RFC 3339 date-time with a UTC offset")
    return value


def text_query(name: str, raw: str | None, max_chars: int) -> str | None:
    """A free-text query parameter, trimmed (None when empty); 422 naming ``name`` when it
    holds a NUL or another character that is not printable, or is too long."""
    if raw is None:
        return None
    if any(not ch.isprintable() for ch in raw):
        raise InvalidInput.field(name, "must be printable text")
    value = raw.strip()
    if len(value) > max_chars:
        raise InvalidInput.field(name, f"must be at most {max_chars} characters")
    return value or None


_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)


def day(name: str, raw: str | None) -> dt.date | None:
    """``raw`` as a calendar date written ``YYYY-MM-DD``, or 422 naming ``name``."""
    if raw is None:
        return None
    try:
        if not _DAY.fullmatch(raw):
            raise ValueError
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise InvalidInput.field(name, "must be a date, YYYY-MM-DD") from None
