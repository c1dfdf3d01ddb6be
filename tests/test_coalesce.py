"""The coalescer behind after-commit Redis writes: batches under load, drains, survives."""

from __future__ import annotations

import asyncio

from carbon_inclusion.coalesce import Coalescer


async def test_what_queues_during_a_flush_goes_in_the_next_one_and_drain_waits_for_it():
    flushes: list[list[int]] = []
    gate = asyncio.Event()

    async def flush(items: list[int]) -> None:
        flushes.append(items)
        await gate.wait()  # a slow Redis

    c: Coalescer[int] = Coalescer(flush, "test")
    c.add(1)
    await asyncio.sleep(0)  # the first flush starts at once, alone
    for n in range(2, 50):
        c.add(n)
    drained = asyncio.ensure_future(c.drain())
    await asyncio.sleep(0.01)
    assert not drained.done() and c.pending
    gate.set()
    await asyncio.wait_for(drained, 1)
    assert flushes == [[1], list(range(2, 50))]
    assert not c.pending


async def test_a_failing_flush_is_logged_and_the_next_items_still_go(caplog):
    seen: list[int] = []

    async def flush(items: list[int]) -> None:
        if 0 in items:
            raise ConnectionError("Redis is down")
        seen.extend(items)

    c: Coalescer[int] = Coalescer(flush, "test")
    c.add(0)
    await asyncio.wait_for(c.drain(), 1)
    c.add(1, 2)
    await asyncio.wait_for(c.drain(), 1)
    assert seen == [1, 2]
    assert "test: flushing 1 items failed" in caplog.text
