"""The one statement privacy issues itself: the advisory lock that serialises retention runs."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from carbon_inclusion.common.locks import LOCK_ONE, lock_key

REDUCE_LOCK = lock_key("privacy", "reduce")


async def lock_reduction(conn: AsyncConnection) -> None:
    """Wait for any other retention run to commit (held to the end of the transaction)."""
    await conn.execute(LOCK_ONE, {"key": REDUCE_LOCK})
