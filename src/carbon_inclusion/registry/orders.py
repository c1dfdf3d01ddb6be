"""Enterprises' orders of credits: a quote that reserves serials, paid or expired.

``POST /v1/orders`` reserves whole credits, oldest vintage first, splitting a block where an
order ends inside it, for ``ORDER_HOLD_MINUTES``; the administrator records the payment
(``confirm``) and the serials become the organisation's holding. An unpaid quote expires and
its serials become available again: checked whenever the registry is changed, and by
``carbon-inclusion orders expire``.

Unpaid quotes cannot hoard the registry: an organisation has at most
``ORDER_OPEN_QUOTES_PER_ORG`` open quotes (409 ``too_many_open_quotes``) and its open quotes
reserve at most ``ORDER_MAX_RESERVED_SHARE`` of the market (available + reserved credits;
409 ``reservation_share_exceeded``, see ``core.quotes``). Both are counted under the
registry lock, after expired quotes are released, so concurrent orders cannot pass them
together; a replay of an Idempotency-Key answers its order before anything is counted.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

import msgspec
from sqlalchemy.ext.asyncio import AsyncConnection

from carbon_inclusion.accounts import repository as accounts
from carbon_inclusion.common.clock import SYSTEM_CLOCK, Clock
from carbon_inclusion.common.idempotency import check_replay, request_hash
from carbon_inclusion.common.pagination import decode_one, page
from carbon_inclusion.core.quotes import may_reserve, reservation_limit
from carbon_inclusion.core.serials import size
from carbon_inclusion.db import Database
from carbon_inclusion.errors import Conflict, FieldError, NotFound
from carbon_inclusion.ids import uuid7
from carbon_inclusion.registry import repository as repo
from carbon_inclusion.registry.schemas import (
    AdminOrderOut,
    AdminOrderPage,
    HoldingsOut,
    OrderIn,
    OrderOut,
    OrderPage,
    SerialRange,
)
from carbon_inclusion.registry.service import lock, serial_range, take_oldest, tonnes_in
from carbon_inclusion.settings import Settings


class OrderService:
    def __init__(self, db: Database, settings: Settings, clock: Clock = SYSTEM_CLOCK) -> None:
        self.db = db
        self.price = settings.credit_price_cny
        self.hold = dt.timedelta(minutes=settings.order_hold_minutes)
        self.open_quotes = settings.order_open_quotes_per_org
        self.max_share = settings.order_max_reserved_share
        self.clock = clock

    async def order(self, organisation_id: uuid.UUID, user_id: uuid.UUID, key: str,
                    body: OrderIn) -> tuple[OrderOut, bool]:
        """``(order, created)``: reserve ``quantity_t`` credits at the programme price.
        The same Idempotency-Key and body answers the first order again."""
        digest = request_hash(msgspec.to_builtins(body))
        async with self.db.connect() as conn:
            await lock(conn)
            existing = await repo.order_by_key(conn, organisation_id, key)
            if existing is not None:
                check_replay(existing.request_hash, digest, "order")
                return await self._one(conn, existing.id, organisation_id), False
            now = self.clock.now()
            await _expire(conn, now)
            available = await tonnes_in(conn, "available")
            if available < body.quantity_t:
                raise Conflict(f"Only {available} t are available.", code="insufficient_credits",
                               available_t=available, requested_t=body.quantity_t,
                               errors=[FieldError("quantity_t", f"more than the {available} "
                                                                "t available")])
            await self._within_limits(conn, organisation_id, body.quantity_t, available, now)
            order_id = uuid7()
            await repo.insert_order(conn, {
                "id": order_id, "o": organisation_id, "q": body.quantity_t,
                "price": self.price, "amount": self.price * body.quantity_t,
                "expires": now + self.hold, "k": key, "h": digest, "by": user_id})

            async def reserve(conn: AsyncConnection, block_id: uuid.UUID) -> None:
                await repo.reserve_block(conn, block_id, order_id, organisation_id)

            await take_oldest(conn, "available", None, body.quantity_t, reserve)
            return await self._one(conn, order_id, organisation_id), True

    async def _within_limits(self, conn: AsyncConnection, organisation_id: uuid.UUID,
                             quantity_t: int, available_t: int, now: dt.datetime) -> None:
        """Refuse an order that would give the organisation too many open quotes or too
        large a share of the market in unpaid reservations. The caller holds the registry
        lock and has released expired quotes."""
        open_quotes = await repo.open_orders(conn, organisation_id, now)
        if open_quotes >= self.open_quotes:
            raise Conflict(f"The organisation already has {open_quotes} unpaid quotes, the "
                           f"most it may have open at once; pay one or let it expire.",
                           code="too_many_open_quotes", open_quotes=open_quotes,
                           open_quotes_limit=self.open_quotes)
        market = available_t + await tonnes_in(conn, "reserved")
        reserved = await tonnes_in(conn, "reserved", organisation_id)
        if not may_reserve(reserved, quantity_t, market, self.max_share):
            limit = reservation_limit(market, self.max_share)
            raise Conflict(
                f"Unpaid quotes of one organisation may reserve at most {limit} t "
                f"({self.max_share} of the {market} t on the market); it holds {reserved} t.",
                code="reservation_share_exceeded", reserved_t=reserved,
                requested_t=quantity_t, limit_t=limit, max_reserved_share=self.max_share,
                errors=[FieldError("quantity_t", f"more than the {max(limit - reserved, 0)} t "
                                                 "the organisation may still reserve")])

    async def confirm_payment(self, admin_id: uuid.UUID, order_id: uuid.UUID,
                              reference: str) -> OrderOut:
        """The payment arrived: the reserved serials become the organisation's. Again with
        the same order answers it unchanged."""
        await self.expire()  # committed on its own: a refused payment still releases
        async with self.db.connect() as conn:
            await lock(conn)
            now = self.clock.now()
            row = await repo.order(conn, order_id)
            if row is None:
                raise NotFound("No such order.")
            if row.status == "expired":
                raise Conflict("The quote expired before payment was recorded; its credits "
                               "were released. Place a new order.", code="order_expired")
            if row.status == "reserved":
                await repo.hold_order_blocks(conn, order_id)
                await repo.mark_paid(conn, order_id, now, reference, admin_id)
            return await self._one(conn, order_id, row.organisation_id)

    async def expire(self) -> int:
        async with self.db.connect() as conn:
            await lock(conn)
            return await _expire(conn, self.clock.now())

    # --- reading --------------------------------------------------------------------------

    async def get(self, organisation_id: uuid.UUID, order_id: uuid.UUID) -> OrderOut:
        async with self.db.engine.connect() as conn:
            return await self._one(conn, order_id, organisation_id)

    async def orders(self, organisation_id: uuid.UUID, *, limit: int,
                     cursor: str | None) -> OrderPage:
        after = decode_one(cursor, uuid.UUID)
        async with self.db.engine.connect() as conn:
            rows = await repo.order_page(conn, organisation_id, after, limit + 1)
            shown, next_cursor = page(rows, limit, lambda r: (r.id,))
            items = await _orders_out(conn, shown, self.clock.now())
        return OrderPage(items, next_cursor)

    async def all_orders(self, *, status: str | None, limit: int,
                         cursor: str | None) -> AdminOrderPage:
        """Every organisation's orders, newest first, with the organisation's name; only
        those in ``status`` (as shown: a quote past its time is ``expired``) when given."""
        after = decode_one(cursor, uuid.UUID)
        async with self.db.engine.connect() as conn:
            now = self.clock.now()
            rows = await repo.all_orders_page(conn, status, now, after, limit + 1)
            shown, next_cursor = page(rows, limit, lambda r: (r.id,))
            items = await _orders_out(conn, shown, now)
            names = await accounts.organisation_names(conn, [o.organisation_id for o in items])
        return AdminOrderPage([AdminOrderOut(**msgspec.structs.asdict(o),
                                             organisation_name=names.get(o.organisation_id, ""))
                               for o in items], next_cursor)

    async def holdings(self, organisation_id: uuid.UUID) -> HoldingsOut:
        async with self.db.engine.connect() as conn:
            rows = await repo.holdings(conn, organisation_id)
        held = [serial_range(r.serial_prefix, r.first_serial, r.last_serial)
                for r in rows if r.state == "held"]
        retired = sum(size((r.first_serial, r.last_serial)) for r in rows
                      if r.state == "retired")
        return HoldingsOut(sum(b.quantity for b in held), retired, held)

    async def _one(self, conn: AsyncConnection, order_id: uuid.UUID,
                   organisation_id: uuid.UUID) -> OrderOut:
        row = await repo.order(conn, order_id, organisation_id)
        if row is None:  # another organisation's order is not there, as far as you know
            raise NotFound("No such order.")
        return (await _orders_out(conn, [row], self.clock.now()))[0]


async def _expire(conn: AsyncConnection, now: dt.datetime) -> int:
    """Release the serials of quotes past their time; returns how many orders expired."""
    expired = await repo.expire_orders(conn, now)
    if expired:
        await repo.release_order_blocks(conn, expired)
    return len(expired)


async def _orders_out(conn: AsyncConnection, rows: list[Any], now: dt.datetime
                      ) -> list[OrderOut]:
    """The orders of ``rows`` with their serials, read in one query."""
    # A quote past its time is expired even before the sweep releases its serials.
    status = {r.id: "expired" if r.status == "reserved" and r.expires_at <= now else r.status
              for r in rows}
    serials: dict[uuid.UUID, list[SerialRange]] = {r.id: [] for r in rows}
    live = [i for i, s in status.items() if s != "expired"]
    if live:
        for k in await repo.order_serials(conn, live):
            serials[k.order_id].append(serial_range(k.serial_prefix, k.first_serial,
                                                    k.last_serial))
    return [OrderOut(
        id=r.id, organisation_id=r.organisation_id, quantity_t=r.quantity_t,
        price_cny_per_t=Decimal(r.price_cny_per_t), amount_cny=Decimal(r.amount_cny),
        status=status[r.id], expires_at=r.expires_at, serials=serials[r.id],
        created_at=r.created_at, paid_at=r.paid_at, payment_reference=r.payment_reference)
        for r in rows]
