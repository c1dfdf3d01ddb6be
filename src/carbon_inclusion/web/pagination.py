"""The query parameters of every paged list (the mechanism is ``common.pagination``)."""

from __future__ import annotations

from typing import Annotated

from litestar.params import QueryParameter

from carbon_inclusion.common.pagination import DEFAULT_LIMIT, MAX_LIMIT, check_limit

Limit = Annotated[int, QueryParameter(ge=1, le=MAX_LIMIT, description="Page size (≤ 100)")]
Cursor = Annotated[str | None, QueryParameter(description="`next_cursor` of the previous page")]

__all__ = ["DEFAULT_LIMIT", "MAX_LIMIT", "Cursor", "Limit", "check_limit"]
