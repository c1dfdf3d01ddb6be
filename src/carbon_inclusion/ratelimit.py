"""Fixed-window rate limiting in Redis, with an in-process fallback.

When Redis cannot be reached the limiter does not fail open and does not fail the request:
it counts in this process's memory instead (documented in the README), so one API process
still enforces its own share of the limit until Redis returns.
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass

import redis.exceptions

from carbon_inclusion.redis_store import RedisStore

# KEYS[1] counter; ARGV[1] window in ms. Returns {count, pttl}.
_HIT = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
return {n, ttl}
"""


REDIS_DOWN = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError)


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
