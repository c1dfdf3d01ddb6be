"""Work that many requests ask for, done together: one flush for everything that arrived
while the previous flush ran.

After a commit, a credited behaviour still has to reach Redis (its citizen's leaderboard
totals, a live notification). Done per request, each is a PostgreSQL read and Redis round
trips that the request waits for before it answers; under load that was most of a claim's
cost after its own transaction. A ``Coalescer`` takes the items at once and hands them to its
``flush`` from a single background task: when idle, a flush starts at the next turn of the
event loop, or after ``linger`` seconds when one is given; under load, everything that
queued during one flush (and its linger) goes in the next, so the round trips no longer grow
with the request rate. A ``drain`` cuts the linger short: a reader waiting for what its own
process queued never waits for the linger.

What is coalesced must be safe to lose with the process (it is after the commit and
rebuildable from PostgreSQL), as a crash between the commit and the flush loses it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")
log = logging.getLogger("carbon_inclusion.coalesce")


class Coalescer(Generic[T]):
    def __init__(self, flush: Callable[[list[T]], Awaitable[None]], name: str, *,
                 linger: float = 0.0) -> None:
        self._flush = flush
        self.name = name
        self.linger = linger
        self._hurry = asyncio.Event()
        self._items: list[T] = []
        self._task: asyncio.Task[None] | None = None
        self._added = 0  # items ever added, and ever flushed (or failed): drain()'s clock
        self._done = 0
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []

    @property
    def pending(self) -> bool:
        return self._done < self._added

    def add(self, *items: T) -> None:
        """Queue ``items`` for the next flush; never waits."""
        if not items:
            return
        self._items.extend(items)
        self._added += len(items)
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def drain(self) -> None:
        """Wait until everything added before this call has been flushed."""
        if self._done >= self._added:
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append((self._added, waiter))
        self._hurry.set()
        await waiter

    async def _run(self) -> None:
        try:
            while self._items:
                if self.linger and not self._hurry.is_set():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._hurry.wait(), self.linger)
                self._hurry.clear()
                items, self._items = self._items, []
                try:
                    await self._flush(items)
                except Exception:  # the commits stand; what follows them is best effort
                    log.exception("%s: flushing %d items failed", self.name, len(items))
                self._done += len(items)
                self._wake()
        finally:  # also when cancelled at shutdown: what was queued is given up
            self._items.clear()
            self._done = self._added
            self._wake()
            self._task = None

    def _wake(self) -> None:
        still = []
        for target, waiter in self._waiters:
            if self._done >= target:
                if not waiter.done():
                    waiter.set_result(None)
            else:
                still.append((target, waiter))
        self._waiters = still
