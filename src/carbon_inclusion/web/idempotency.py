"""The ``Idempotency-Key`` header of every creating POST of a client, as Litestar declares it
(the mechanism is ``common.idempotency``)."""

from __future__ import annotations

from typing import Annotated, TypeVar

from litestar import Response
from litestar.datastructures import ResponseHeader
from litestar.params import HeaderParameter

from carbon_inclusion.common.idempotency import KEY_PATTERN, REPLAYED, require_key

T = TypeVar("T")

IdempotencyKey = Annotated[str | None, HeaderParameter(
    name="Idempotency-Key", required=False,
    description="Required. A replay with the same key and body returns the first answer.")]


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


__all__ = ["KEY_PATTERN", "REPLAYED", "REPLAY_HEADERS", "IdempotencyKey", "created", "require_key"]
