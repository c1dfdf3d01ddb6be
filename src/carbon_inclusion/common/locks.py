"""Advisory lock keys and the statements that take them.

Every transaction-scoped advisory lock of the service is keyed by ``lock_key(namespace,
*parts)``: one hash, so two callers that mean the same thing always collide and two that do
not practically never do. Several keys are taken in one sorted pass (``LOCK_IN_ORDER``) so
that no two transactions wait for each other in a circle.
"""

from __future__ import annotations

import hashlib

from sqlalchemy import text


def lock_key(namespace: str, *parts: object) -> int:
    """A signed 64-bit key for ``pg_advisory_xact_lock`` naming ``namespace:part:part…``."""
    raw = ":".join((namespace, *map(str, parts))).encode()
    return int.from_bytes(hashlib.blake2b(raw, digest_size=8).digest(), "big", signed=True)


# Transaction locks on :keys, taken in order (so that no two takers wait in a circle).
LOCK_IN_ORDER = text("SELECT pg_advisory_xact_lock(k) FROM unnest(CAST(:keys AS bigint[])) "
                     "AS k ORDER BY k")
# The keys that could not be taken at once (null when all were), in order.
TRY_ALL = text("SELECT array_agg(k ORDER BY k) FILTER (WHERE NOT pg_try_advisory_xact_lock(k)) "
               "FROM unnest(CAST(:keys AS bigint[])) AS k")
# One lock, waiting for it.
LOCK_ONE = text("SELECT pg_advisory_xact_lock(:key)")
