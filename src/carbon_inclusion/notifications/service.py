"""Live notifications: "points credited", "badge earned", "challenge completed".

A producer calls ``Notifier.send`` inside its transaction; the event is published to Redis
once the transaction commits (``after_commit``), never before and never for work rolled
back. What a process has to publish at one moment goes out as one message on one channel
(a partner batch of a thousand credits is one PUBLISH, not a thousand); every API process
keeps one subscription to that channel and hands each event to the streams of its citizen
connected to it, so an event produced by one process reaches a client connected to another.
A citizen only ever receives their own.

A citizen holds at most ``streams_per_citizen`` streams across all processes: each open
stream has a lease in Redis (a sorted set per citizen, oldest first, trimmed by one script
as a stream opens); the streams trimmed away are named on a control channel, and the
process holding each ends it. A process that died leaves leases behind; they are the
oldest, so they are the first trimmed, and the set expires with its citizen's last stream.

Delivery is live only: an app that was not connected reads what it missed from the API
(wallet, ``/v1/me/badges``, challenges). Redis pub/sub keeps nothing, as Redis here keeps
nothing on disk either.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import msgspec
import redis.asyncio as aioredis

from carbon_inclusion.coalesce import Coalescer
from carbon_inclusion.common.clock import SYSTEM_CLOCK, Clock
from carbon_inclusion.db import after_commit
from carbon_inclusion.errors import Unavailable
from carbon_inclusion.redis_store import UNREACHABLE, RedisStore

log = logging.getLogger("carbon_inclusion.notifications")
QUEUE_SIZE = 100  # per connected stream; a client that stops reading loses the oldest
KINDS = ("points_credited", "badge_earned", "challenge_completed")
READY_WAIT_S = 3.0


class Event(msgspec.Struct):
    id: str
    type: str
    at: dt.datetime
    data: dict[str, Any]


class Addressed(msgspec.Struct, array_like=True):
    citizen_id: uuid.UUID
    event: Event


PUBLISH_CHUNK = 1000  # events per message, so that no message grows without bound
LEASES_TTL_S = 86_400  # a citizen's lease set outlives their last stream by a day at most

# KEYS[1]: the citizen's leases; ARGV: the new stream's id, now (ms), the limit, the TTL.
# Adds the lease and answers the ids trimmed to keep the newest ``limit``.
_LEASE = """
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
local over = redis.call('ZCARD', KEYS[1]) - tonumber(ARGV[3])
local trimmed = {}
if over > 0 then
  trimmed = redis.call('ZRANGE', KEYS[1], 0, over - 1)
  redis.call('ZREMRANGEBYRANK', KEYS[1], 0, over - 1)
end
redis.call('EXPIRE', KEYS[1], ARGV[4])
return trimmed
"""


class Notifier:
    def __init__(self, redis: RedisStore, clock: Clock = SYSTEM_CLOCK,
                 streams_per_citizen: int = 3) -> None:
        self.redis = redis
        self.clock = clock
        self.streams_per_citizen = streams_per_citizen
        # Each citizen's open streams in this process, by stream id.
        self._streams: dict[uuid.UUID, dict[str, asyncio.Queue[Event | None]]] = {}
        self._lease = redis.client.register_script(_LEASE)
        self._listener: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self._outbox: Coalescer[tuple[uuid.UUID, Event]] = Coalescer(self.publish,
                                                                     "notifications")

    @property
    def channel(self) -> str:
        return self.redis.key("events")

    @property
    def control_channel(self) -> str:
        """Ids of streams to end, wherever they are held."""
        return self.redis.key("events", "ended")

    def _leases(self, citizen_id: uuid.UUID) -> str:
        return self.redis.key("streams", "{" + str(citizen_id) + "}")

    # --- producing ------------------------------------------------------------------------

    def send(self, citizen_id: uuid.UUID, kind: str, data: dict[str, Any]) -> None:
        """Publish once the enclosing transaction commits."""
        self.send_many([(citizen_id, kind, data)])

    def send_many(self, events: list[tuple[uuid.UUID, str, dict[str, Any]]]) -> None:
        """Publish these once the enclosing transaction commits, with whatever else the
        other requests of the moment publish, in one round trip (``coalesce``)."""
        now = self.clock.now()
        ready = [(c, Event(id=str(uuid.uuid4()), type=kind, at=now, data=data))
                 for c, kind, data in events]
        if ready:
            after_commit(lambda: self._queue(ready))

    async def _queue(self, ready: list[tuple[uuid.UUID, Event]]) -> None:
        self._outbox.add(*ready)

    async def drain(self) -> None:
        await self._outbox.drain()

    async def publish(self, events: list[tuple[uuid.UUID, Event]]) -> None:
        messages = [msgspec.json.encode([Addressed(c, e) for c, e in
                                         events[i:i + PUBLISH_CHUNK]])
                    for i in range(0, len(events), PUBLISH_CHUNK)]
        if len(messages) == 1:
            await self.redis.client.publish(self.channel, messages[0])
            return
        async with self.redis.client.pipeline(transaction=False) as pipe:
            for message in messages:
                pipe.publish(self.channel, message)
            await pipe.execute()

    # --- consuming ------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def stream(self, citizen_id: uuid.UUID
                     ) -> AsyncIterator[asyncio.Queue[Event | None]]:
        """A queue receiving ``citizen_id``'s events while the block runs; ``None`` from it
        means the stream is closed because the citizen opened ``streams_per_citizen``
        newer ones (in any process)."""
        await self.listening()
        stream_id = uuid.uuid4().hex
        queue: asyncio.Queue[Event | None] = asyncio.Queue(QUEUE_SIZE)
        self._streams.setdefault(citizen_id, {})[stream_id] = queue
        leases = self._leases(citizen_id)
        try:
            try:
                trimmed = await self._lease(keys=[leases], args=[
                    stream_id, int(self.clock.now().timestamp() * 1000),
                    self.streams_per_citizen, LEASES_TTL_S])
                if trimmed:
                    ended = [t.decode() for t in trimmed]
                    self._end(ended)  # those held here end now, the rest when told
                    await self.redis.client.publish(self.control_channel,
                                                    msgspec.json.encode(ended))
            except UNREACHABLE as exc:
                # The stream has begun (its 503 was decided by ``listening``): it goes on,
                # unleased, and delivers what the subscription brings once Redis is back.
                log.warning("no lease for a live stream (%r)", exc)
            yield queue
        finally:
            streams = self._streams.get(citizen_id)
            if streams is not None:
                streams.pop(stream_id, None)
                if not streams:
                    del self._streams[citizen_id]
            with contextlib.suppress(aioredis.RedisError, OSError):
                await self.redis.client.zrem(leases, stream_id)

    def _end(self, stream_ids: list[str]) -> None:
        """End the streams of these ids that this process holds."""
        wanted = set(stream_ids)
        for streams in list(self._streams.values()):
            for stream_id in wanted.intersection(streams):
                queue = streams.pop(stream_id)
                if queue.full():
                    queue.get_nowait()
                queue.put_nowait(None)

    async def listening(self) -> None:
        """Make sure this process is subscribed; ``Unavailable`` when Redis cannot be
        reached (the caller answers 503 before a stream begins)."""
        if self._listener is None or self._listener.done():
            self._ready.clear()
            self._listener = asyncio.create_task(self._listen())
        try:
            await asyncio.wait_for(self._ready.wait(), timeout=READY_WAIT_S)
        except TimeoutError:
            raise Unavailable("Live notifications are unavailable right now.") from None

    async def _listen(self) -> None:
        """One subscription for the whole process; reconnects until closed."""
        decoder = msgspec.json.Decoder(list[Addressed])
        ids = msgspec.json.Decoder(list[str])
        control = self.control_channel.encode()  # the store's replies are bytes
        while True:
            pubsub = None
            try:
                pubsub = await self.redis.pubsub()
                await pubsub.subscribe(self.channel, self.control_channel)
                self._ready.set()
                while True:
                    # An explicit timeout, not the client's socket timeout: quiet is normal.
                    message = await pubsub.get_message(ignore_subscribe_messages=True,
                                                       timeout=5.0)
                    if message is None or message["type"] != "message":
                        continue
                    channel = message["channel"]
                    try:
                        if channel == control:
                            self._end(ids.decode(message["data"]))
                            continue
                        addressed = decoder.decode(message["data"])
                    except (ValueError, msgspec.DecodeError):
                        continue
                    for a in addressed:
                        for queue in list(self._streams.get(a.citizen_id, {}).values()):
                            if queue.full():
                                queue.get_nowait()
                            queue.put_nowait(a.event)
            except asyncio.CancelledError:
                raise
            except UNREACHABLE as exc:
                self._ready.clear()
                log.warning("notification subscription lost (%r); reconnecting", exc)
                await asyncio.sleep(1)
            finally:
                if pubsub is not None:
                    with contextlib.suppress(Exception):
                        await pubsub.aclose()

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._listener
            self._listener = None


def points_credited(notifier: Notifier) -> Callable[[list[dict[str, Any]]], None]:
    """The behaviour pipeline's ``on_paid`` hook: tell each citizen what a behaviour earned
    (a partner batch of a thousand is one round trip to Redis)."""

    def send(rows: list[dict[str, Any]]) -> None:
        notifier.send_many([(row["citizen_id"], "points_credited", {
            "behaviour_id": str(row["id"]), "type": row["type"], "points": row["points"],
            "reduction_g": str(row["reduction_g"]),
            "occurred_at": row["occurred_at"].isoformat()}) for row in rows])

    return send
