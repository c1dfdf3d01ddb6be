"""Fixed-window rate limiting in Redis, with an in-process fallback.

When Redis cannot be reached the limiter does not fail open and does not fail the request:
it counts in this process's memory instead (documented in the README), so one API process
still enforces its own share of the limit until Redis returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from dataclasses import dataclass

from carbon_inclusion.redis_store import UNREACHABLE, RedisStore

# KEYS[1] counter; ARGV[1] window in ms. Returns {count, pttl}.
_HIT = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
return {n, ttl}
"""


REDIS_DOWN = UNREACHABLE


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    count: int
    retry_after_s: int


class RateLimiter:
    def __init__(self, store: RedisStore) -> None:
        self.store = store
        self._script = store.client.register_script(_HIT)
        self._local: dict[str, tuple[int, float]] = {}

    async def hit(self, name: str, limit: int, window_s: int) -> Decision:
        """Count one event under ``name``; allowed while the window's count is ≤ ``limit``."""
        key = self.store.key("rl", name)
        try:
            count, ttl_ms = await self._script(keys=[key], args=[window_s * 1000])
            count, retry = int(count), max(1, math.ceil(int(ttl_ms) / 1000))
        except REDIS_DOWN:
            count, retry = self._hit_local(key, window_s)
        return Decision(count <= limit, count, retry)

    async def peek(self, name: str, limit: int) -> Decision:
        key = self.store.key("rl", name)
        try:
            raw, ttl_ms = await self.store.client.pipeline().get(key).pttl(key).execute()
            count = int(raw or 0)
            retry = max(1, math.ceil(max(int(ttl_ms), 0) / 1000))
        except REDIS_DOWN:
            count, expires = self._local.get(key, (0, 0.0))
            if expires <= time.monotonic():
                count = 0
            retry = max(1, math.ceil(expires - time.monotonic()))
        return Decision(count < limit, count, retry)

    async def reset(self, name: str) -> None:
        key = self.store.key("rl", name)
        self._local.pop(key, None)
        with contextlib.suppress(*REDIS_DOWN):
            await self.store.client.delete(key)

    def _hit_local(self, key: str, window_s: int) -> tuple[int, int]:
        now = time.monotonic()
        count, expires = self._local.get(key, (0, 0.0))
        if expires <= now:
            count, expires = 0, now + window_s
        count += 1
        self._local[key] = (count, expires)
        if len(self._local) > 100_000:  # bound memory while Redis is away
            self._local = {k: v for k, v in self._local.items() if v[1] > now}
        return count, max(1, math.ceil(expires - now))


# --- failure budgets reserved before the check -------------------------------------------
#
# A budget is two keys sharing one hash tag (so one script may touch both on Redis Cluster):
# ``{name}:f`` counts the failures of the window, ``{name}:i`` the attempts in flight. An
# attempt is admitted only while failures + in-flight < limit, so a burst can never have more
# attempts checked than the budget allows; it is then settled: a success only gives its
# reservation back, a failure turns it into a counted failure.

# KEYS[1] failures, KEYS[2] in flight; ARGV limit, in-flight ttl ms.
# Returns {0, 0} admitted, {1, pttl} spent (429), {2, 0} busy (others in flight hold the rest).
_RESERVE = """
local f = tonumber(redis.call('GET', KEYS[1]) or '0')
if f >= tonumber(ARGV[1]) then
  local ttl = redis.call('PTTL', KEYS[1])
  if ttl < 0 then ttl = 1000 end
  return {1, ttl}
end
local i = tonumber(redis.call('GET', KEYS[2]) or '0')
if f + i >= tonumber(ARGV[1]) then return {2, 0} end
redis.call('INCR', KEYS[2])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return {0, 0}
"""

# KEYS[1] failures, KEYS[2] in flight; ARGV failed (0/1), window ms, forget failures (0/1).
_SETTLE = """
local i = redis.call('DECR', KEYS[2])
if i <= 0 then redis.call('DEL', KEYS[2]) end
if ARGV[1] == '1' then
  local n = redis.call('INCR', KEYS[1])
  if n == 1 or redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
elseif ARGV[3] == '1' then
  redis.call('DEL', KEYS[1])
end
return 0
"""

ADMITTED, SPENT, BUSY = 0, 1, 2
# An in-flight reservation outlives any check (argon2 takes ~50 ms); a process that dies
# holding one gives it back after this long.
IN_FLIGHT_TTL_MS = 30_000


@dataclass(frozen=True, slots=True)
class Reservation:
    name: str
    window_s: int


class FailureBudgets:
    """Failure budgets for checks that must not be out-raced (sign-in, codes).

    ``reserve`` waits (briefly, polling) while other attempts in flight hold the remaining
    budget, so honest bursts that mostly succeed are only delayed, never refused; it answers
    None when the window's failures have spent the budget. Falls back to this process's
    memory while Redis is away, like ``RateLimiter``.
    """

    def __init__(self, store: RedisStore, *, wait_s: float = 10.0, poll_s: float = 0.02) -> None:
        self.store = store
        self.wait_s = wait_s
        self.poll_s = poll_s
        self._reserve = store.client.register_script(_RESERVE)
        self._settle = store.client.register_script(_SETTLE)
        self._local: dict[str, list[float]] = {}  # name → [failures, in flight, expires]

    def _keys(self, name: str) -> list[str]:
        tag = self.store.key("rl", "{" + name + "}")
        return [tag + ":f", tag + ":i"]

    async def reserve(self, name: str, limit: int, window_s: int) -> Reservation | Decision:
        """A ``Reservation`` to settle, or the refusing ``Decision`` (with Retry-After)."""
        deadline = time.monotonic() + self.wait_s
        while True:
            try:
                status, ttl_ms = await self._reserve(keys=self._keys(name),
                                                     args=[limit, IN_FLIGHT_TTL_MS])
                status, ttl_ms = int(status), int(ttl_ms)
            except REDIS_DOWN:
                status, ttl_ms = self._reserve_local(name, limit)
            if status == ADMITTED:
                return Reservation(name, window_s)
            if status == SPENT or time.monotonic() >= deadline:
                retry = max(1, math.ceil(ttl_ms / 1000)) if status == SPENT else 1
                return Decision(False, limit, retry)
            await asyncio.sleep(self.poll_s)

    async def settle(self, reservation: Reservation, *, failed: bool,
                     forget: bool = False) -> None:
        """Give the reservation back; ``failed`` counts it; ``forget`` (on a success) clears
        the window's failures too."""
        try:
            await self._settle(keys=self._keys(reservation.name),
                               args=[int(failed), reservation.window_s * 1000, int(forget)])
        except REDIS_DOWN:
            self._settle_local(reservation, failed=failed, forget=forget)

    def _reserve_local(self, name: str, limit: int) -> tuple[int, int]:
        now = time.monotonic()
        entry = self._local.setdefault(name, [0, 0, 0.0])
        if entry[2] and entry[2] <= now:
            entry[0], entry[2] = 0, 0.0
        if entry[0] >= limit:
            return SPENT, int((entry[2] - now) * 1000)
        if entry[0] + entry[1] >= limit:
            return BUSY, 0
        entry[1] += 1
        return ADMITTED, 0

    def _settle_local(self, reservation: Reservation, *, failed: bool, forget: bool) -> None:
        entry = self._local.setdefault(reservation.name, [0, 0, 0.0])
        entry[1] = max(0, entry[1] - 1)
        if failed:
            entry[0] += 1
            if not entry[2]:
                entry[2] = time.monotonic() + reservation.window_s
        elif forget:
            entry[0], entry[2] = 0, 0.0
        if len(self._local) > 100_000:
            now = time.monotonic()
            self._local = {k: v for k, v in self._local.items() if v[1] or v[2] > now}
