"""The ``Idempotency-Key`` header that every creating POST of a client requires."""

from __future__ import annotations

import re
from typing import Annotated, TypeVar

from litestar import Response
from litestar.datastructures import ResponseHeader
from litestar.params import HeaderParameter

from carbon_inclusion.errors import InvalidInput

T = TypeVar("T")

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


REPLAYED = "Idempotent-Replayed"
# For the route decorator: the header documented on the 201 of every route taking a key.
REPLAY_HEADERS = [ResponseHeader(
    name=REPLAYED, documentation_only=True, required=True, example="false",
    description="`true` when this is the stored answer to an earlier request with the same "
    "`Idempotency-Key` and body (nothing was done again), `false` on the first.")]


def created(out: T, first: bool) -> Response[T]:
    """The answer of a route taking an ``Idempotency-Key``: the first answer's ``201`` every
    time, so a client that retries sees exactly what it would have seen; the header tells
    a replay apart."""
    return Response(out, status_code=201, headers={REPLAYED: "false" if first else "true"})
