"""The signed-in citizen's live events as Server-Sent Events (``GET /v1/me/events``)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncGenerator

import msgspec
from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.response import ServerSentEvent, ServerSentEventMessage

from carbon_inclusion.accounts.service import Principal
from carbon_inclusion.notifications.service import Notifier
from carbon_inclusion.web.auth import CITIZEN
from carbon_inclusion.web.openapi import problems

HEARTBEAT_S = 15.0


class EventStreamController(Controller):
    path = "/v1/me"
    tags = ["gamification"]  # noqa: RUF012 - the tag the route has always had
    opt = CITIZEN

    @get("/events", operation_id="streamMyEvents", responses=problems(401, 403, 503),
         summary="Live notifications (Server-Sent Events)",
         description="`text/event-stream` of the signed-in citizen's own events: "
         "`points_credited`, `badge_earned`, `challenge_completed`, each sent once its "
         "transaction has committed, from whichever API process produced it. A comment "
         "line every 15 s keeps proxies from closing an idle stream. Live only: what "
         "happened while disconnected is read from the other endpoints. A citizen has at "
         "most `LIVE_STREAMS_PER_CITIZEN` (3) streams open across all API processes: "
         "opening another ends the oldest.")
    async def events(self, principal: NamedDependency[Principal],
                     notifier: NamedDependency[Notifier]) -> ServerSentEvent:
        await notifier.listening()  # 503 now, not a stream that never delivers
        return ServerSentEvent(_events(notifier, principal.id))


async def _events(notifier: Notifier, citizen_id: uuid.UUID
                  ) -> AsyncGenerator[ServerSentEventMessage, None]:
    async with notifier.stream(citizen_id) as queue:
        yield ServerSentEventMessage(comment="connected")
        while True:
            try:
                event = await asyncio.wait_for(queue.get(), timeout=HEARTBEAT_S)
            except TimeoutError:
                yield ServerSentEventMessage(comment="keep-alive")
                continue
            if event is None:  # a newer stream of this citizen took this one's place
                return
            yield ServerSentEventMessage(data=msgspec.json.encode(event).decode(),
                                         event=event.type, id=event.id)
