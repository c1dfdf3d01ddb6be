"""The rewards mall: catalogue administration, redemption, cancellation, vouchers.

A redemption is one transaction: the per-citizen limit is counted under a lock of that
citizen's redemptions of that reward, the points are allocated from the wallet's lots
(oldest first, rows locked) and posted (``ledger.post``), the stock is taken from one of the
reward's shards (``stock.py``: a rush on one reward is served several at a time), and one
last statement claims pool codes (``FOR UPDATE SKIP LOCKED``) or inserts generated ones and
records the redemption (the statements are ``rewards.repository``'s). ``CHECK (issued <=
stock)`` on every shard makes overselling impossible; any refusal rolls everything back, so
no points leave without a voucher and no voucher without points.

Lock order, everywhere: redemption row, its vouchers, the wallet and its lots, a stock shard.
"""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from collections.abc import Sequence
from typing import Any

import msgspec
from sqlalchemy.ext.asyncio import AsyncConnection

from carbon_inclusion.audit.service import record
from carbon_inclusion.common.clock import SYSTEM_CLOCK, Clock
from carbon_inclusion.common.idempotency import check_replay, digest_of, in_use, request_hash
from carbon_inclusion.common.locks import lock_key
from carbon_inclusion.common.pagination import decode_cursor, page
from carbon_inclusion.common.periods import instant_bounds
from carbon_inclusion.db import Database
from carbon_inclusion.errors import Conflict, FieldError, InvalidInput, NotFound
from carbon_inclusion.ids import uuid7
from carbon_inclusion.ledger import service as ledger
from carbon_inclusion.partners import repository as partners
from carbon_inclusion.rewards import repository as repo
from carbon_inclusion.rewards import stock
from carbon_inclusion.rewards.models import Reward
from carbon_inclusion.rewards.schemas import (
    CodesOut,
    RedeemIn,
    RedemptionOut,
    RedemptionPage,
    RewardIn,
    RewardList,
    RewardOut,
    RewardUpdate,
    VoucherOut,
    VoucherUseOut,
)
from carbon_inclusion.settings import Settings

CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I


def new_code() -> str:
    """An unguessable voucher code: 16 symbols of 32 (80 bits), grouped for reading aloud."""
    raw = "".join(secrets.choice(CODE_ALPHABET) for _ in range(16))
    return "-".join(raw[i:i + 4] for i in range(0, 16, 4))


def reward_out(r: Any) -> RewardOut:
    """A row of ``repository.reward_view`` as the API shows it."""
    left = None if r.stock is None else r.stock - r.issued
    if r.uses_code_pool:  # no more than the codes in the pool
        left = r.pooled if left is None else min(left, r.pooled)
    return RewardOut(
        id=r.id, name_zh=r.name_zh, name_en=r.name_en, description=r.description, kind=r.kind,
        cost_points=r.cost_points, stock=r.stock, issued=r.issued, remaining=left,
        pooled=r.pooled if r.uses_code_pool else None,
        per_citizen_limit=r.per_citizen_limit, limit_period=r.limit_period,
        sale_from=r.sale_from, sale_to=r.sale_to, voucher_valid_days=r.voucher_valid_days,
        cancel_window_s=r.cancel_window_s, max_per_redemption=r.max_per_redemption,
        uses_code_pool=r.uses_code_pool, partner_id=r.partner_id,
        refund_points_on_expiry=r.refund_points_on_expiry, status=r.status)


def redemption_out(r: Any, cancel_window_s: int, vouchers: Sequence[Any]) -> RedemptionOut:
    until = (r.created_at + dt.timedelta(seconds=cancel_window_s)
             if cancel_window_s and r.status == "issued" else None)
    return RedemptionOut(
        id=r.id, reward_id=r.reward_id, quantity=r.quantity, points=r.points, status=r.status,
        codes=list(r.codes), created_at=r.created_at, expires_at=r.expires_at,
        cancellable_until=until,
        vouchers=[VoucherOut(code=v.code, status=v.status, expires_at=v.expires_at,
                             used_at=v.used_at) for v in vouchers])


class RewardService:
    def __init__(self, db: Database, settings: Settings, clock: Clock = SYSTEM_CLOCK) -> None:
        self.db = db
        self.tz = settings.tz
        self.clock = clock

    # --- catalogue ------------------------------------------------------------------------

    async def create(self, actor_id: uuid.UUID | None, body: RewardIn, *,
                     reward_id: uuid.UUID | None = None) -> RewardOut:
        fields = msgspec.structs.asdict(body)
        async with self.db.transaction() as session:
            await _check_reward(session, fields)
            reward = Reward(id=reward_id or uuid7(), **fields)
            repo.add_reward(session, reward)
            await session.flush()
            await stock.create(await session.connection(), reward.id, body.stock)
            record(session, actor_id=actor_id, action="reward.created", subject_type="reward",
                   subject_id=str(reward.id), details=msgspec.to_builtins(body))
            return await _view(session, reward.id)

    async def update(self, actor_id: uuid.UUID, reward_id: uuid.UUID,
                     body: RewardUpdate) -> RewardOut:
        changes = {k: v for k, v in msgspec.structs.asdict(body).items()
                   if v is not msgspec.UNSET}
        if not changes:
            raise InvalidInput.field("body", "name at least one field to change")
        async with self.db.transaction() as session:
            reward = await repo.get_reward(session, reward_id, for_edit=True)
            if reward is None:
                raise NotFound("No such reward.")
            before = {k: getattr(reward, k) for k in changes}
            fields = {c.key: getattr(reward, c.key) for c in Reward.__table__.columns} | changes
            await _check_reward(session, fields)
            if "stock" in changes:
                try:
                    await stock.set_total(await session.connection(), reward_id,
                                          changes["stock"])
                except ValueError:
                    issued = (await stock.level(await session.connection(), reward_id)).issued
                    raise Conflict(
                        f"{issued} units are already issued; the stock cannot go below that.",
                        code="stock_below_issued", issued=issued,
                        errors=[FieldError("stock", f"must be at least {issued}")]) from None
            for key, value in changes.items():
                setattr(reward, key, value)
            reward.updated_at = self.clock.now()
            record(session, actor_id=actor_id, action="reward.updated", subject_type="reward",
                   subject_id=str(reward_id),
                   details={"before": msgspec.to_builtins(before),
                            "after": msgspec.to_builtins(changes)})
            await session.flush()
            return await _view(session, reward_id)

    async def add_codes(self, actor_id: uuid.UUID, reward_id: uuid.UUID,
                        codes: list[str]) -> CodesOut:
        async with self.db.transaction() as session:
            reward = await repo.get_reward(session, reward_id, for_edit=True)
            if reward is None:
                raise NotFound("No such reward.")
            if not reward.uses_code_pool:
                raise Conflict("This reward generates its own codes; it has no pool.",
                               code="no_code_pool")
            added = await repo.add_pool_codes(session, reward_id, codes)
            pooled = (await _view(session, reward_id)).pooled
            record(session, actor_id=actor_id, action="reward.codes_added",
                   subject_type="reward", subject_id=str(reward_id),
                   details={"added": added, "sent": len(codes)})
            return CodesOut(added=added, duplicates=len(codes) - added, pooled=pooled)

    async def available(self, *, include_all: bool = False) -> RewardList:
        async with self.db.read() as session:
            rows = await repo.rewards_on_sale(session, self.clock.now(),
                                              include_all=include_all)
        return RewardList(items=[reward_out(r) for r in rows])

    async def get(self, reward_id: uuid.UUID) -> RewardOut:
        async with self.db.read() as session:
            out = await _view(session, reward_id)
        if out.status != "active":
            raise NotFound("No such reward.")
        return out

    # --- redemption -----------------------------------------------------------------------

    async def redeem(self, citizen_id: uuid.UUID, key: str,
                     body: RedeemIn) -> tuple[RedemptionOut, bool]:
        """``(redemption, created)``; a replay of the same key and body gives the first one."""
        digest = request_hash(msgspec.to_builtins(body))
        now = self.clock.now()
        async with self.db.connect() as conn:
            # Key values as before the shared lock_key: "redeem-key:<citizen>:<key>".
            if not await repo.lock_request(conn, lock_key("redeem-key", citizen_id, key),
                                           lock_key("redeem", citizen_id, body.reward_id)):
                raise in_use("request")
            reward = await repo.redemption_head(conn, citizen_id, key, body.reward_id)
            if reward.existing is not None:
                out, stored = await self._read(conn, citizen_id, reward.existing)
                check_replay(stored, digest, "redemption")
                return out, False
            _check_redeemable(reward, body.quantity, now)
            if reward.per_citizen_limit is not None:
                start, end = instant_bounds(reward.limit_period, now, self.tz)
                taken = await repo.redeemed_since(conn, citizen_id, reward.id, start)
                if taken + body.quantity > reward.per_citizen_limit:
                    raise Conflict(
                        f"The limit is {reward.per_citizen_limit} per {reward.limit_period}; "
                        f"{taken} already redeemed.", code="limit_reached",
                        errors=[FieldError("quantity", "over the per-citizen limit")],
                        limit=reward.per_citizen_limit, redeemed=int(taken),
                        resets_at=end.isoformat())
            points = reward.cost_points * body.quantity
            try:
                lots = (await ledger.allocate(conn, {citizen_id: points}))[citizen_id]
            except ledger.InsufficientPoints as exc:
                raise Conflict(f"Not enough points: {points} needed, {exc.balance} in the "
                               "wallet.", code="insufficient_points", balance=exc.balance,
                               cost=points) from None
            redemption_id, entry_id = uuid7(), uuid7()
            # Posted before the stock is taken (only this citizen's wallet and lots, locked
            # already, are touched), so that holding a shard is still one statement and the
            # commit; a sold-out reward rolls the entry back with everything else.
            await ledger.post(conn, [ledger.Entry(
                id=entry_id, citizen_id=citizen_id, kind="redemption", points=-points,
                counter="redemption", idempotency_key=f"redemption:{redemption_id}",
                request_hash=digest, redemption_id=redemption_id, lots=lots)])
            # From here the stock shard is held: what is left is one statement and the commit.
            shard = await stock.take(conn, reward.id, body.quantity)
            if shard is None:
                raise _sold_out()
            expires = now + dt.timedelta(days=reward.voucher_valid_days)
            codes = [] if reward.uses_code_pool else [new_code() for _ in range(body.quantity)]
            codes = await repo.record_redemption(conn, {
                "q": body.quantity, "reward": reward.id, "rid": redemption_id,
                "citizen": citizen_id, "expires": expires, "now": now, "pool": codes == [],
                "codes": codes, "points": points, "key": key, "hash": digest,
                "entry": entry_id, "shard": shard})
            if len(codes) < body.quantity:
                raise _sold_out()  # the pool ran dry: everything rolls back
            vouchers = [VoucherOut(code=c, status="issued", expires_at=expires)
                        for c in codes]
            return RedemptionOut(
                id=redemption_id, reward_id=reward.id, quantity=body.quantity, points=points,
                status="issued", codes=list(codes), vouchers=vouchers, created_at=now,
                expires_at=expires, cancellable_until=(
                    now + dt.timedelta(seconds=reward.cancel_window_s)
                    if reward.cancel_window_s else None)), True

    # --- reading and cancelling -----------------------------------------------------------

    async def redemptions(self, citizen_id: uuid.UUID, *, limit: int,
                          cursor: str | None) -> RedemptionPage:
        after = decode_cursor(cursor, dt.datetime, uuid.UUID)
        async with self.db.engine.connect() as conn:
            rows = await repo.redemption_page(conn, citizen_id, after, limit + 1)
            shown, next_cursor = page(rows, limit, lambda x: (x.created_at, x.id))
            vouchers = await repo.vouchers_of(conn, [x.id for x in shown])
        return RedemptionPage([redemption_out(x, x.cancel_window_s, vouchers.get(x.id, []))
                               for x in shown], next_cursor)

    async def redemption(self, citizen_id: uuid.UUID, redemption_id: uuid.UUID
                         ) -> RedemptionOut:
        async with self.db.engine.connect() as conn:
            return (await self._read(conn, citizen_id, redemption_id))[0]

    async def _read(self, conn: AsyncConnection, citizen_id: uuid.UUID,
                    redemption_id: uuid.UUID) -> tuple[RedemptionOut, bytes]:
        row = await repo.redemption(conn, citizen_id, redemption_id)
        if row is None:
            raise NotFound("No such redemption.")
        vouchers = await repo.vouchers_of(conn, [row.id])
        return redemption_out(row, row.cancel_window_s, vouchers.get(row.id, [])), \
            row.request_hash

    async def cancel(self, citizen_id: uuid.UUID, redemption_id: uuid.UUID) -> RedemptionOut:
        """Within the reward's cancellation window and before any voucher is used: the points
        come back by an entry reversing the redemption's, into the lots they came from, and
        the stock comes back. Twice, or concurrently, it happens once; a second call answers
        with the cancelled redemption."""
        now = self.clock.now()
        async with self.db.connect() as conn:
            row = await repo.lock_citizens_redemption(conn, citizen_id, redemption_id)
            if row is None:
                raise NotFound("No such redemption.")
            if row.status != "cancelled":
                vouchers = (await repo.vouchers_of(conn, [row.id])).get(row.id, [])
                if any(v.status != "issued" for v in vouchers):
                    raise Conflict("A voucher of this redemption has been used or has expired; "
                                   "it cannot be cancelled.", code="not_cancellable")
                if not row.cancel_window_s or now > row.created_at + dt.timedelta(
                        seconds=row.cancel_window_s):
                    raise Conflict("The cancellation window has closed.",
                                   code="cancel_window_closed")
                refund_id = uuid7()
                lots = tuple((lot, -amount) for lot, amount in
                             await ledger.entry_lots(conn, row.ledger_entry_id))
                await ledger.post(conn, [ledger.Entry(
                    id=refund_id, citizen_id=citizen_id, kind="redemption_refund",
                    points=row.points, counter="redemption",
                    idempotency_key=f"refund:{redemption_id}", request_hash=row.request_hash,
                    redemption_id=redemption_id, reverses_id=row.ledger_entry_id,
                    memo="cancelled by the citizen", lots=lots)])
                await repo.cancel_redemption(conn, redemption_id, now, refund_id,
                                             row.quantity, row.reward_id, row.stock_shard)
            return (await self._read(conn, citizen_id, redemption_id))[0]

    # --- vouchers -------------------------------------------------------------------------

    async def use_voucher(self, partner_id: str, code: str) -> VoucherUseOut:
        """A partner honours a voucher. Only the reward's partner can; using one twice answers
        with the first use; an expired or cancelled one is refused."""
        now = self.clock.now()
        async with self.db.connect() as conn:
            found = await repo.voucher_by_code(conn, code)
            if found is None or found.partner_id != partner_id or found.redemption_id is None:
                raise NotFound("No such voucher for this partner.")
            await repo.lock_redemption(conn, found.redemption_id)
            v = await repo.voucher(conn, found.id)
            if v.status == "used":
                if v.used_by != partner_id:
                    raise NotFound("No such voucher for this partner.")
                return VoucherUseOut(code=v.code, status=v.status, reward_id=v.reward_id,
                                     used_at=v.used_at)
            if v.status != "issued":
                raise Conflict(f"This voucher is {v.status}.", code=f"voucher_{v.status}",
                               status=v.status)
            if v.expires_at <= now:
                raise Conflict("This voucher has expired.", code="voucher_expired",
                               status="expired")
            await repo.use_voucher(conn, v.id, now, partner_id)
            await repo.close_redemption(conn, v.redemption_id)
            return VoucherUseOut(code=v.code, status="used", reward_id=v.reward_id, used_at=now)

    async def expire_vouchers(self, now: dt.datetime | None = None, *,
                              batch: int = 500) -> ExpiryReport:
        """Close the vouchers past their date: the stock comes back; the points too where the
        reward says so. One redemption per transaction, taking its locks in the order cancel
        does. Safe to run twice at once: each voucher expires once."""
        now = now or self.clock.now()
        report = ExpiryReport()
        while True:
            async with self.db.engine.connect() as conn:
                due = await repo.due_redemptions(conn, now, batch)
            if not due:
                return report
            for redemption_id in due:
                async with self.db.connect() as conn:
                    await self._expire(conn, redemption_id, now, report)

    async def _expire(self, conn: AsyncConnection, redemption_id: uuid.UUID,
                      now: dt.datetime, report: ExpiryReport) -> None:
        row = await repo.lock_redemption(conn, redemption_id)
        expired = await repo.expire_vouchers(conn, redemption_id, now)
        if not expired:
            return  # another run took them
        report.vouchers += len(expired)
        if row.refund_points_on_expiry:
            points = row.points // row.quantity * len(expired)
            lots = _latest_first(await ledger.entry_lots(conn, row.ledger_entry_id), points)
            first = min(expired)
            await ledger.post(conn, [ledger.Entry(
                citizen_id=row.citizen_id, kind="redemption_refund", points=points,
                counter="redemption", idempotency_key=f"voucher-expiry:{first}",
                request_hash=digest_of(f"voucher-expiry:{first}"),
                redemption_id=redemption_id, memo="vouchers expired unused", lots=lots)])
            report.points_refunded += points
        await repo.close_redemption(conn, redemption_id)
        await stock.give_back(conn, row.reward_id, row.stock_shard, len(expired))


async def seed_rewards(db: Database, items: list[dict[str, Any]],
                       settings: Settings | None = None) -> int:
    """Add the rewards (``seed/rewards.json``) not there yet, by id; returns how many.
    ``settings``: the process's (read from the environment when not given)."""
    service, added = RewardService(db, settings or Settings.from_env()), 0
    for item in map(dict, items):
        reward_id = uuid.UUID(item.pop("id"))
        async with db.read() as session:
            if await repo.get_reward(session, reward_id) is not None:
                continue
        await service.create(None, msgspec.convert(item, RewardIn), reward_id=reward_id)
        added += 1
    return added


class ExpiryReport(msgspec.Struct):
    vouchers: int = 0
    points_refunded: int = 0


def _latest_first(lots: Sequence[tuple[int, int]], points: int) -> tuple[tuple[int, int], ...]:
    """Give ``points`` back to the lots a debit came from, the latest-expiring first."""
    out, rest = [], points
    for lot, amount in sorted(lots, reverse=True):
        if rest == 0:
            break
        give = min(-amount, rest)
        out.append((lot, give))
        rest -= give
    return tuple(sorted(out))


async def _view(session: Any, reward_id: uuid.UUID) -> RewardOut:
    row = await repo.reward_view(session, reward_id)
    if row is None:
        raise NotFound("No such reward.")
    return reward_out(row)


async def _check_reward(session: Any, fields: dict[str, Any]) -> None:
    """The rules between a reward's fields, checked on create and on every update."""
    if (fields.get("per_citizen_limit") is None) != (fields.get("limit_period") is None):
        raise InvalidInput.field("limit_period",
                                 "give per_citizen_limit and limit_period together")
    start, end = fields.get("sale_from"), fields.get("sale_to")
    if start and end and end <= start:
        raise InvalidInput.field("sale_to", "must be later than sale_from")
    partner_id = fields.get("partner_id")
    if partner_id is not None and not await partners.partner_exists(session, partner_id):
        raise InvalidInput.field("partner_id", "no such partner", code="unknown_partner")


def _check_redeemable(reward: Any, quantity: int, now: dt.datetime) -> None:
    if reward.id is None or reward.status != "active":
        raise InvalidInput.field("reward_id", "no such reward", code="unknown_reward")
    if (reward.sale_from and now < reward.sale_from) or (reward.sale_to
                                                         and now >= reward.sale_to):
        raise Conflict("This reward is not on sale now.", code="not_on_sale",
                       errors=[FieldError("reward_id", "not on sale now")],
                       sale_from=reward.sale_from and reward.sale_from.isoformat(),
                       sale_to=reward.sale_to and reward.sale_to.isoformat())
    if quantity > reward.max_per_redemption:
        raise InvalidInput.field("quantity", f"at most {reward.max_per_redemption} at once")
    if reward.left is not None and reward.left < quantity:
        raise _sold_out()


def _sold_out() -> Conflict:
    return Conflict("Sold out.", code="sold_out", errors=[FieldError("reward_id", "sold out")])
