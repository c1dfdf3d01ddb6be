"""The ``Idempotency-Key`` header that every creating POST of a client requires."""

from __future__ import annotations

import re
from typing import Annotated

from litestar.params import HeaderParameter

from carbon_inclusion.errors import InvalidInput

KEY_PATTERN = re.compile(r"^[\x21-\x7e]{8,128}$")

IdempotencyKey = Annotated[str | None, HeaderParameter(
    name="Idempotency-Key", required=False,
    description="Required. A replay with the same key and body returns the first answer.")]


def require_key(key: str | None, what: str) -> str:
    """``key`` when it is one; else 422 naming the header (``what``: "behaviour"…)."""
    if not key or not KEY_PATTERN.match(key):
        raise InvalidInput.field("Idempotency-Key", "send a unique key of 8–128 printable "
                                 f"characters with every new {what}",
                                 code="idempotency_key_required")
    return key
