"""Idempotency of retried writes (the IETF ``Idempotency-Key`` draft, as the API promises):

- ``require_key``: the header is present and well-formed, else 422 naming it;
- ``request_hash``: the digest a request is remembered by;
- ``check_replay``: a stored request under the same key is the same request, else 422
  ``idempotency_key_reused``;
- ``in_use``: the first request with this key is still running (409);
- ``lock_key`` for the lock that makes two concurrent requests with one key run one at a time.

Where the first answer is stored is the domain's (its own table and unique key); how a key
is checked, hashed, compared and locked is written here once.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from carbon_inclusion.common import locks
from carbon_inclusion.common.canonical import canonical_json
from carbon_inclusion.errors import Conflict, IdempotencyKeyReused, InvalidInput

KEY_PATTERN = re.compile(r"^[\x21-\x7e]{8,128}$")
REPLAYED = "Idempotent-Replayed"


def require_key(key: str | None, what: str) -> str:
    """``key`` when it is one; else 422 naming the header (``what``: "behaviour"…)."""
    if not key or not KEY_PATTERN.match(key):
        raise InvalidInput.field("Idempotency-Key", "send a unique key of 8–128 printable "
                                 f"characters with every new {what}",
                                 code="idempotency_key_required")
    return key


def request_hash(body: Any) -> bytes:
    """SHA-256 of the request's canonical JSON (``msgspec.to_builtins`` of its body)."""
    return hashlib.sha256(canonical_json(body)).digest()


def digest_of(text: str) -> bytes:
    """The request hash of an internally made entry, named by ``text`` (e.g. its key)."""
    return hashlib.sha256(text.encode()).digest()


def check_replay(stored: bytes | None, digest: bytes, what: str) -> None:
    """A request found under the same key must be the same request."""
    if stored is not None and stored != digest:
        raise IdempotencyKeyReused(what)


def in_use(what: str) -> Conflict:
    return Conflict(f"A {what} with this Idempotency-Key is still being processed.",
                    code="idempotency_key_in_use")


def lock_key(scope: str, owner: object, key: str) -> int:
    """The advisory lock serialising requests of one ``owner`` with one key in ``scope``."""
    return locks.lock_key("idempotency", scope, owner, key)
