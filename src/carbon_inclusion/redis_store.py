"""Redis access: one client, one key prefix; a single server or a Redis Cluster.

Redis holds only what can be rebuilt from PostgreSQL (rate-limit counters, leaderboards,
caches, pub/sub). Keys are built with ``key()`` so a deployment or a test session can share a
server; commands stay within what Redis 6.2 and Redis Cluster support.

On a cluster (``REDIS_CLUSTER=true``, or a ``redis+cluster://host:port`` URL naming any node)
the client is redis-py's ``RedisCluster``, which routes each command to the node owning its
key's slot. What must therefore hold, and does (tests/cluster runs it on a real 3-master
cluster):

* a script or a command that touches several keys names keys of one hash tag: a board's
  keys share ``{lb:<board>}``, a failure budget's two counters ``{<name>}``, a citizen's
  stream leases ``{<citizen>}``; everything else touches one key;
* pipelines are not transactions (``transaction=False``), so their commands may go to
  different nodes;
* live events use plain PUBLISH/SUBSCRIBE, which a cluster forwards to every node, so one
  subscription on any node hears every process's events;
* the prefix carries no braces (``Settings.validate``), or it would become every key's hash
  tag and put the whole data set on one node.
"""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis
import redis.exceptions
from redis.asyncio.cluster import RedisCluster

from carbon_inclusion.settings import Settings

CLUSTER_SCHEMES = {"redis+cluster://": "redis://", "rediss+cluster://": "rediss://"}

# Redis cannot answer right now: on one server a connection or a timeout; on a cluster also
# a slot no node serves (a master down before its replica took over).
UNREACHABLE: tuple[type[BaseException], ...] = (
    redis.exceptions.ConnectionError, redis.exceptions.TimeoutError,
    redis.exceptions.ClusterDownError, redis.exceptions.SlotNotCoveredError, OSError)


def is_cluster_url(url: str) -> bool:
    return url.startswith(tuple(CLUSTER_SCHEMES))


def node_url(url: str) -> str:
    """``redis+cluster://h:p`` as the ``redis://h:p`` of the node it names."""
    for cluster, plain in CLUSTER_SCHEMES.items():
        if url.startswith(cluster):
            return plain + url[len(cluster):]
    return url


class RedisStore:
    def __init__(self, client: aioredis.Redis | RedisCluster, prefix: str, *,
                 cluster: bool = False) -> None:
        self.client: Any = client  # the two clients share the command methods used here
        self.prefix = prefix
        self.cluster = cluster

    @classmethod
    def from_settings(cls, settings: Settings) -> RedisStore:
        options: dict[str, Any] = {
            "decode_responses": False, "socket_connect_timeout": 1.0, "socket_timeout": 2.0,
            "health_check_interval": 30, "max_connections": 64}  # per node on a cluster
        if settings.redis_is_cluster:
            return cls(RedisCluster.from_url(node_url(settings.redis_url), **options),
                       settings.redis_prefix, cluster=True)
        return cls(aioredis.Redis.from_url(settings.redis_url, **options),
                   settings.redis_prefix)

    def key(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    async def pubsub(self) -> Any:
        """A subscription connection. On a cluster, on the node serving the first channel's
        slot (any node hears every PUBLISH), which needs the cluster's slot map: read first,
        as a subscription may be a process's first use of Redis."""
        if self.cluster:
            await self.client.initialize()
        return self.client.pubsub(ignore_subscribe_messages=True)

    async def ping(self) -> None:
        await self.client.ping()

    async def close(self) -> None:
        await self.client.aclose()
