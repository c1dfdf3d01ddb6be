"""Redis access: one client, one key prefix.

Redis holds only what can be rebuilt from PostgreSQL (rate-limit counters, leaderboards,
caches, pub/sub). Keys are built with ``key()`` so a deployment or a test session can share a
server; commands stay within what Redis 6.2 and Redis Cluster support (single-key scripts).
"""

from __future__ import annotations

import redis.asyncio as aioredis

from carbon_inclusion.settings import Settings


class RedisStore:
    def __init__(self, client: aioredis.Redis, prefix: str) -> None:
        self.client = client
        self.prefix = prefix

    @classmethod
    def from_settings(cls, settings: Settings) -> RedisStore:
        client = aioredis.Redis.from_url(
            settings.redis_url,
            decode_responses=False,
            socket_connect_timeout=1.0,
            socket_timeout=2.0,
            health_check_interval=30,
            max_connections=64,
        )
        return cls(client, settings.redis_prefix)

    def key(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    async def ping(self) -> None:
        await self.client.ping()

    async def close(self) -> None:
        await self.client.aclose()
