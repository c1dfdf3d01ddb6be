"""The rewards mall: catalogue administration, redemption, cancellation, vouchers.

A redemption is one transaction: the per-citizen limit is counted under a lock of that
citizen's redemptions of that reward, the points are allocated from the wallet's lots
(oldest first, rows locked), the stock is taken from one of the reward's shards
(``stock.py``: a rush on one reward is served several at a time), and one last statement
posts the ledger entry, claims pool codes (``FOR UPDATE SKIP LOCKED``) or inserts generated
ones and records the redemption. ``CHECK (issued <= stock)`` on every shard makes
overselling impossible; any refusal rolls everything back, so no points leave without a
voucher and no voucher without points.

Lock order, everywhere: redemption row, its vouchers, the wallet and its lots, a stock shard.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import uuid
from collections.abc import Sequence
from typing import Any

import msgspec
from sqlalchemy import and_, or_, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from carbon_inclusion.audit.service import record
from carbon_inclusion.common.pagination import decode_cursor, page
from carbon_inclusion.db import Database
from carbon_inclusion.errors import (
    Conflict,
    FieldError,
    IdempotencyKeyReused,
    InvalidInput,
    NotFound,
)
from carbon_inclusion.ids import uuid7
from carbon_inclusion.ledger import service as ledger
from carbon_inclusion.partners.models import Partner
from carbon_inclusion.rewards import stock
from carbon_inclusion.rewards.models import Redemption, Reward, Voucher
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
from carbon_inclusion.rules import canonical_json
from carbon_inclusion.settings import Settings

CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I
# Admin edits lock a reward's row FOR NO KEY UPDATE: redemptions in flight hold a key-share
# lock on it (their foreign keys), which FOR UPDATE would wait for while they wait for it.
NO_KEY_UPDATE = {"key_share": True}


def new_code() -> str:
    """An unguessable voucher code: 16 symbols of 32 (80 bits), grouped for reading aloud."""
    raw = "".join(secrets.choice(CODE_ALPHABET) for _ in range(16))
    return "-".join(raw[i:i + 4] for i in range(0, 16, 4))


def period_bounds(period: str, now: dt.datetime, tz: Any) -> tuple[dt.datetime, dt.datetime]:
    """The [start, end) of the day, week (from Monday) or month containing ``now``."""
    local = now.astimezone(tz).date()
    if period == "day":
        start, end = local, local + dt.timedelta(days=1)
    elif period == "week":
        start = local - dt.timedelta(days=local.weekday())
        end = start + dt.timedelta(days=7)
    else:
        start = local.replace(day=1)
        end = (start + dt.timedelta(days=32)).replace(day=1)
    return (dt.datetime.combine(start, dt.time(), tzinfo=tz),
            dt.datetime.combine(end, dt.time(), tzinfo=tz))


def reward_out(r: Any) -> RewardOut:
    """A row of ``_REWARDS_VIEW`` as the API shows it."""
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


def lock_key(*parts: object) -> int:
    """A transaction advisory lock's key for ``parts``."""
    digest = hashlib.blake2b(":".join(map(str, parts)).encode(), digest_size=8)
    return int.from_bytes(digest.digest(), "big", signed=True)


class RewardService:
    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.tz = settings.tz

    # --- catalogue ------------------------------------------------------------------------

    async def create(self, actor_id: uuid.UUID | None, body: RewardIn, *,
                     reward_id: uuid.UUID | None = None) -> RewardOut:
        fields = msgspec.structs.asdict(body)
        async with self.db.transaction() as session:
            await _check_reward(session, fields)
            reward = Reward(id=reward_id or uuid7(), **fields)
            session.add(reward)
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
            reward = await session.get(Reward, reward_id, with_for_update=NO_KEY_UPDATE)
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
            reward.updated_at = dt.datetime.now(dt.UTC)
            record(session, actor_id=actor_id, action="reward.updated", subject_type="reward",
                   subject_id=str(reward_id),
                   details={"before": msgspec.to_builtins(before),
                            "after": msgspec.to_builtins(changes)})
            await session.flush()
            return await _view(session, reward_id)

    async def add_codes(self, actor_id: uuid.UUID, reward_id: uuid.UUID,
                        codes: list[str]) -> CodesOut:
        async with self.db.transaction() as session:
            reward = await session.get(Reward, reward_id, with_for_update=NO_KEY_UPDATE)
            if reward is None:
                raise NotFound("No such reward.")
            if not reward.uses_code_pool:
                raise Conflict("This reward generates its own codes; it has no pool.",
                               code="no_code_pool")
            added = await session.scalar(text(
                "WITH added AS (INSERT INTO vouchers (reward_id, code, status) "
                "SELECT :r, c, 'pooled' FROM unnest(CAST(:codes AS text[])) c "
                "ON CONFLICT (code) DO NOTHING RETURNING 1) SELECT count(*) FROM added"),
                {"r": reward_id, "codes": codes})
            pooled = (await _view(session, reward_id)).pooled
            record(session, actor_id=actor_id, action="reward.codes_added",
                   subject_type="reward", subject_id=str(reward_id),
                   details={"added": added, "sent": len(codes)})
            return CodesOut(added=int(added or 0), duplicates=len(codes) - int(added or 0),
                            pooled=pooled)

    async def available(self, *, include_all: bool = False) -> RewardList:
        now = dt.datetime.now(dt.UTC)
        async with self.db.read() as session:
            rows = (await session.execute(
                _REWARDS_VIEW.where(text(":all OR (status = 'active' AND "
                                         "(sale_from IS NULL OR sale_from <= :now) AND "
                                         "(sale_to IS NULL OR sale_to > :now))")),
                {"all": include_all, "now": now})).all()
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
        digest = hashlib.sha256(canonical_json(msgspec.to_builtins(body))).digest()
        now = dt.datetime.now(dt.UTC)
        async with self.db.connect() as conn:
            got = await conn.scalar(_LOCK_REQUEST, {
                "k": lock_key("redeem-key", citizen_id, key),
                "l": lock_key("redeem", citizen_id, body.reward_id)})
            if not got:
                raise Conflict("A request with this Idempotency-Key is still being processed.",
                               code="idempotency_key_in_use")
            reward = (await conn.execute(_HEAD, {"c": citizen_id, "k": key,
                                                 "r": body.reward_id})).one()
            if reward.existing is not None:
                out = await self._read(conn, citizen_id, reward.existing)
                if out[1] != digest:
                    raise IdempotencyKeyReused("redemption")
                return out[0], False
            _check_redeemable(reward, body.quantity, now)
            if reward.per_citizen_limit is not None:
                start, end = period_bounds(reward.limit_period, now, self.tz)
                taken = await conn.scalar(_TAKEN, {"c": citizen_id, "r": reward.id,
                                                   "since": start})
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
            # From here the stock shard is held: what is left is one statement and the commit.
            shard = await stock.take(conn, reward.id, body.quantity)
            if shard is None:
                raise _sold_out()
            redemption_id, entry_id = uuid7(), uuid7()
            expires = now + dt.timedelta(days=reward.voucher_valid_days)
            codes = [] if reward.uses_code_pool else [new_code() for _ in range(body.quantity)]
            params = ledger.post_params([ledger.Entry(
                id=entry_id, citizen_id=citizen_id, kind="redemption", points=-points,
                counter="redemption", idempotency_key=f"redemption:{redemption_id}",
                request_hash=digest, redemption_id=redemption_id, lots=lots)])
            codes = (await conn.execute(_REDEEM, params | {
                "q": body.quantity, "reward": reward.id, "rid": redemption_id,
                "citizen": citizen_id, "expires": expires, "now": now, "pool": codes == [],
                "codes": codes, "points": points, "key": key, "hash": digest,
                "entry": entry_id, "shard": shard})).scalar_one()
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
        r, w = Redemption.__table__, Reward.__table__
        stmt = (select(r, w.c.cancel_window_s).join(w, w.c.id == r.c.reward_id)
                .where(r.c.citizen_id == citizen_id))
        after = decode_cursor(cursor, dt.datetime, uuid.UUID)
        if after is not None:
            at, rid = after
            stmt = stmt.where(or_(r.c.created_at < at, and_(r.c.created_at == at,
                                                            r.c.id < rid)))
        stmt = stmt.order_by(r.c.created_at.desc(), r.c.id.desc()).limit(limit + 1)
        async with self.db.engine.connect() as conn:
            rows = (await conn.execute(stmt)).all()
            shown, next_cursor = page(rows, limit, lambda x: (x.created_at, x.id))
            vouchers = await _vouchers(conn, [x.id for x in shown])
        return RedemptionPage([redemption_out(x, x.cancel_window_s, vouchers.get(x.id, []))
                               for x in shown], next_cursor)

    async def redemption(self, citizen_id: uuid.UUID, redemption_id: uuid.UUID
                         ) -> RedemptionOut:
        async with self.db.engine.connect() as conn:
            return (await self._read(conn, citizen_id, redemption_id))[0]

    async def _read(self, conn: AsyncConnection, citizen_id: uuid.UUID,
                    redemption_id: uuid.UUID) -> tuple[RedemptionOut, bytes]:
        r, w = Redemption.__table__, Reward.__table__
        row = (await conn.execute(
            select(r, w.c.cancel_window_s).join(w, w.c.id == r.c.reward_id)
            .where(r.c.id == redemption_id, r.c.citizen_id == citizen_id))).first()
        if row is None:
            raise NotFound("No such redemption.")
        vouchers = await _vouchers(conn, [row.id])
        return redemption_out(row, row.cancel_window_s, vouchers.get(row.id, [])), \
            row.request_hash

    async def cancel(self, citizen_id: uuid.UUID, redemption_id: uuid.UUID) -> RedemptionOut:
        """Within the reward's cancellation window and before any voucher is used: the points
        come back by an entry reversing the redemption's, into the lots they came from, and
        the stock comes back. Twice, or concurrently, it happens once; a second call answers
        with the cancelled redemption."""
        now = dt.datetime.now(dt.UTC)
        async with self.db.connect() as conn:
            row = (await conn.execute(_LOCK_REDEMPTION, {"id": redemption_id,
                                                         "c": citizen_id})).first()
            if row is None:
                raise NotFound("No such redemption.")
            if row.status != "cancelled":
                vouchers = (await _vouchers(conn, [row.id])).get(row.id, [])
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
                await conn.execute(_CANCEL, ledger.post_params([ledger.Entry(
                    id=refund_id, citizen_id=citizen_id, kind="redemption_refund",
                    points=row.points, counter="redemption",
                    idempotency_key=f"refund:{redemption_id}", request_hash=row.request_hash,
                    redemption_id=redemption_id, reverses_id=row.ledger_entry_id,
                    memo="cancelled by the citizen", lots=lots)]) | {
                        "rid": redemption_id, "now": now, "refund": refund_id,
                        "q": row.quantity, "reward": row.reward_id, "shard": row.stock_shard})
            return (await self._read(conn, citizen_id, redemption_id))[0]

    # --- vouchers -------------------------------------------------------------------------

    async def use_voucher(self, partner_id: str, code: str) -> VoucherUseOut:
        """A partner honours a voucher. Only the reward's partner can; using one twice answers
        with the first use; an expired or cancelled one is refused."""
        now = dt.datetime.now(dt.UTC)
        async with self.db.connect() as conn:
            found = (await conn.execute(_VOUCHER_BY_CODE, {"code": code})).first()
            if found is None or found.partner_id != partner_id or found.redemption_id is None:
                raise NotFound("No such voucher for this partner.")
            await conn.execute(_LOCK_REDEMPTION_ONLY, {"id": found.redemption_id})
            v = (await conn.execute(select(Voucher.__table__).where(Voucher.id == found.id))
                 ).one()
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
            await conn.execute(_USE, {"id": v.id, "now": now, "partner": partner_id})
            await conn.execute(_CLOSE_REDEMPTION, {"rid": v.redemption_id})
            return VoucherUseOut(code=v.code, status="used", reward_id=v.reward_id, used_at=now)

    async def expire_vouchers(self, now: dt.datetime | None = None, *,
                              batch: int = 500) -> ExpiryReport:
        """Close the vouchers past their date: the stock comes back; the points too where the
        reward says so. One redemption per transaction, taking its locks in the order cancel
        does. Safe to run twice at once: each voucher expires once."""
        now = now or dt.datetime.now(dt.UTC)
        report = ExpiryReport()
        while True:
            async with self.db.engine.connect() as conn:
                due = (await conn.execute(_DUE_REDEMPTIONS, {"now": now, "n": batch})).all()
            if not due:
                return report
            for row in due:
                async with self.db.connect() as conn:
                    await self._expire(conn, row.redemption_id, now, report)

    async def _expire(self, conn: AsyncConnection, redemption_id: uuid.UUID,
                      now: dt.datetime, report: ExpiryReport) -> None:
        row = (await conn.execute(_LOCK_REDEMPTION_ONLY, {"id": redemption_id})).one()
        expired = (await conn.execute(_EXPIRE, {"rid": redemption_id, "now": now})).all()
        if not expired:
            return  # another run took them
        report.vouchers += len(expired)
        if row.refund_points_on_expiry:
            points = row.points // row.quantity * len(expired)
            lots = _latest_first(await ledger.entry_lots(conn, row.ledger_entry_id), points)
            first = min(v.id for v in expired)
            await ledger.post(conn, [ledger.Entry(
                citizen_id=row.citizen_id, kind="redemption_refund", points=points,
                counter="redemption", idempotency_key=f"voucher-expiry:{first}",
                request_hash=hashlib.sha256(f"voucher-expiry:{first}".encode()).digest(),
                redemption_id=redemption_id, memo="vouchers expired unused", lots=lots)])
            report.points_refunded += points
        await conn.execute(_CLOSE_REDEMPTION, {"rid": redemption_id})
        await stock.give_back(conn, row.reward_id, row.stock_shard, len(expired))


async def seed_rewards(db: Database, items: list[dict[str, Any]],
                       settings: Settings | None = None) -> int:
    """Add the rewards (``seed/rewards.json``) not there yet, by id; returns how many."""
    service, added = RewardService(db, settings or Settings.from_env()), 0
    for item in map(dict, items):
        reward_id = uuid.UUID(item.pop("id"))
        async with db.read() as session:
            if await session.get(Reward, reward_id) is not None:
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
    row = (await session.execute(_REWARDS_VIEW.where(text("id = :id")), {"id": reward_id})
           ).first()
    if row is None:
        raise NotFound("No such reward.")
    return reward_out(row)


async def _vouchers(conn: AsyncConnection, ids: list[uuid.UUID]) -> dict[uuid.UUID, list[Any]]:
    if not ids:
        return {}
    v = Voucher.__table__
    rows = await conn.execute(select(v.c.redemption_id, v.c.code, v.c.status, v.c.expires_at,
                                     v.c.used_at)
                              .where(v.c.redemption_id.in_(ids)).order_by(v.c.id))
    out: dict[uuid.UUID, list[Any]] = {}
    for row in rows:
        out.setdefault(row.redemption_id, []).append(row)
    return out


async def _check_reward(session: Any, fields: dict[str, Any]) -> None:
    """The rules between a reward's fields, checked on create and on every update."""
    if (fields.get("per_citizen_limit") is None) != (fields.get("limit_period") is None):
        raise InvalidInput.field("limit_period",
                                 "give per_citizen_limit and limit_period together")
    start, end = fields.get("sale_from"), fields.get("sale_to")
    if start and end and end <= start:
        raise InvalidInput.field("sale_to", "must be later than sale_from")
    partner_id = fields.get("partner_id")
    if partner_id is not None and await session.get(Partner, partner_id) is None:
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


# A reward with what it has issued (over its stock shards) and the codes left in its pool.
_REWARDS_VIEW = select(text("""
    r.*, (SELECT coalesce(sum(issued), 0) FROM reward_stock WHERE reward_id = r.id) AS issued,
    (SELECT count(*) FROM vouchers WHERE reward_id = r.id AND status = 'pooled') AS pooled
    FROM rewards r""")).order_by(text("r.created_at, r.id"))

# The key is tried, not waited for: a concurrent duplicate is told to retry.
_LOCK_REQUEST = text(
    "SELECT CASE WHEN pg_try_advisory_xact_lock(:k) "
    "THEN (SELECT true FROM pg_advisory_xact_lock(:l)) ELSE false END")

# The reward (all nulls when there is none), what is left of its stock, and the redemption
# already made under this Idempotency-Key, if any.
_HEAD = text("""
    SELECT r.*,
           (SELECT CASE WHEN bool_or(stock IS NULL) THEN NULL ELSE sum(stock - issued) END
              FROM reward_stock WHERE reward_id = r.id) AS left,
           (SELECT id FROM redemptions WHERE citizen_id = :c AND idempotency_key = :k)
              AS existing
      FROM (SELECT 1) AS one LEFT JOIN rewards r ON r.id = :r""")

_TAKEN = text("SELECT coalesce(sum(quantity), 0) FROM redemptions WHERE citizen_id = :c "
              "AND reward_id = :r AND created_at >= :since AND status <> 'cancelled'")

# Everything a redemption writes once it holds its stock, in one statement; ``codes`` comes
# back short when the pool ran dry, and the caller then rolls it all back.
_REDEEM = text(f"""
WITH {ledger.ENTRIES_CTE},
posted AS ({ledger.POSTINGS_INSERT} RETURNING 1),
pooled AS (
    UPDATE vouchers SET status = 'issued', redemption_id = :rid, citizen_id = :citizen,
                        expires_at = :expires
     WHERE :pool AND id IN (
           SELECT id FROM vouchers WHERE reward_id = :reward AND status = 'pooled'
            ORDER BY id LIMIT :q FOR UPDATE SKIP LOCKED)
 RETURNING id, code),
generated AS (
    INSERT INTO vouchers (reward_id, code, status, redemption_id, citizen_id, expires_at)
    SELECT :reward, c, 'issued', :rid, :citizen, :expires
      FROM unnest(CAST(:codes AS text[])) WITH ORDINALITY AS g(c, n)
     ORDER BY n
 RETURNING id, code),
codes AS (
    SELECT coalesce(array_agg(code ORDER BY id), '{{}}') AS codes
      FROM (SELECT id, code FROM pooled UNION ALL SELECT id, code FROM generated) v),
redemption AS (
    INSERT INTO redemptions (id, citizen_id, reward_id, quantity, points, status, codes,
                             idempotency_key, request_hash, ledger_entry_id, created_at,
                             expires_at, stock_shard)
    SELECT :rid, :citizen, :reward, :q, :points, 'issued', codes.codes, :key, :hash, :entry,
           :now, :expires, :shard
      FROM codes)
SELECT codes FROM codes
""")  # noqa: S608 - constant SQL

_LOCK_REDEMPTION = text("""
    SELECT r.*, w.cancel_window_s FROM redemptions r JOIN rewards w ON w.id = r.reward_id
     WHERE r.id = :id AND r.citizen_id = :c FOR UPDATE OF r""")

_LOCK_REDEMPTION_ONLY = text("""
    SELECT r.*, w.refund_points_on_expiry FROM redemptions r
      JOIN rewards w ON w.id = r.reward_id WHERE r.id = :id FOR UPDATE OF r""")

_CANCEL = text(f"""
WITH {ledger.ENTRIES_CTE},
posted AS ({ledger.POSTINGS_INSERT} RETURNING 1),
vouchers AS (
    UPDATE vouchers SET status = 'cancelled' WHERE redemption_id = :rid AND status = 'issued'),
stock AS (
    UPDATE reward_stock SET issued = issued - :q WHERE reward_id = :reward AND shard = :shard)
UPDATE redemptions SET status = 'cancelled', cancelled_at = :now, refund_entry_id = :refund
 WHERE id = :rid
""")  # noqa: S608 - constant SQL

_VOUCHER_BY_CODE = text("""
    SELECT v.id, v.redemption_id, w.partner_id FROM vouchers v
      JOIN rewards w ON w.id = v.reward_id WHERE v.code = :code""")

# A redemption is closed when none of its vouchers is open: ``used`` if any was used.
_CLOSE_REDEMPTION = text("""
    UPDATE redemptions r SET status = CASE WHEN EXISTS (
               SELECT 1 FROM vouchers WHERE redemption_id = r.id AND status = 'used')
           THEN 'used' ELSE 'expired' END
     WHERE r.id = :rid AND r.status = 'issued' AND NOT EXISTS (
           SELECT 1 FROM vouchers WHERE redemption_id = r.id AND status = 'issued')""")

_USE = text("UPDATE vouchers SET status = 'used', used_at = :now, used_by = :partner "
             "WHERE id = :id")

_DUE_REDEMPTIONS = text("""
    SELECT DISTINCT redemption_id FROM (
        SELECT redemption_id FROM vouchers WHERE status = 'issued' AND expires_at <= :now
         ORDER BY expires_at LIMIT :n) due""")

_EXPIRE = text("""
    UPDATE vouchers SET status = 'expired'
     WHERE redemption_id = :rid AND status = 'issued' AND expires_at <= :now RETURNING id""")

