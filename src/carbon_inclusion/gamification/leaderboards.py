"""Leaderboards: grams saved this week, this month and ever, city-wide and per district.

PostgreSQL is the truth (``daily_totals``: what each citizen was credited per programme day);
each board is a Redis sorted set built from it, kept current after every commit that credits
or takes back a behaviour, and rebuilt whenever it is missing (Redis keeps nothing on disk).

* Score: ``-milligrams`` (exact in a double up to 9 million tonnes), so the plain ascending
  order is the ranking and equal scores fall back on Redis's member order: the citizen id,
  a UUIDv7, so among equals whoever joined the programme first ranks first. The same on
  every rebuild.
* Updates write each touched citizen's total as read from PostgreSQL after the commit
  (``ZADD LT``: a slower update carrying an older, smaller total cannot overwrite a newer
  one; plain ``ZADD`` after a take-back, since totals then go down).
* A board is only maintained once built (a ``:built`` marker beside it), so a flushed Redis
  never shows a partial board: the next read rebuilds it. A rebuild marks itself
  (``:rebuilding``); updates landing meanwhile also note their citizens (``:dirty``), which the
  rebuild refreshes from PostgreSQL once the new board is in place, so none is lost.

All keys of one board share a hash tag, so the scripts work on Redis Cluster too.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from redis.exceptions import NoScriptError

from carbon_inclusion.accounts import repository as accounts
from carbon_inclusion.behaviours import repository as behaviours
from carbon_inclusion.coalesce import Coalescer
from carbon_inclusion.common.clock import SYSTEM_CLOCK, Clock
from carbon_inclusion.common.periods import date_bounds, programme_day
from carbon_inclusion.db import Database
from carbon_inclusion.errors import InvalidInput, Unavailable
from carbon_inclusion.redis_store import RedisStore
from carbon_inclusion.settings import Settings

SCOPES = ("city", "district")
PERIODS = ("week", "month", "all")
MILLI = Decimal(1000)
CHUNK = 10_000
REBUILD_LEASE_S = 600
REBUILD_WAIT_S = 30.0
PAGE_TTL_S = 1.0
# Touched citizens wait this long for others before their totals are written: a flush's
# reads (PostgreSQL sums over each citizen's days) cost the same for one citizen as for
# fifty. Boards lag by at most this; a process's own reads never wait for it (``drain``).
TOUCH_LINGER_S = 0.05


@dataclass(frozen=True, slots=True)
class Board:
    scope: str
    district: str | None
    period: str
    start: dt.date | None  # None: since the programme began
    end: dt.date | None

    @property
    def tag(self) -> str:
        where = "city" if self.scope == "city" else f"d:{self.district}"
        return f"{{lb:{where}:{self.period}:{self.start or 'all'}}}"

    def expires_at(self, tz: Any) -> dt.datetime | None:
        """Past boards are never read again: let Redis drop them a week after they end."""
        if self.end is None:
            return None
        return dt.datetime.combine(self.end + dt.timedelta(days=7), dt.time(), tzinfo=tz)


@dataclass(frozen=True, slots=True)
class Standing:
    rank: int
    citizen_id: uuid.UUID
    reduction_g: Decimal
    nickname: str


class Leaderboards:
    def __init__(self, db: Database, redis: RedisStore, settings: Settings,
                 clock: Clock = SYSTEM_CLOCK) -> None:
        self.db = db
        self.clock = clock
        self.redis = redis
        self.tz = settings.tz
        self._update_sha = hashlib.sha1(_UPDATE.encode()).hexdigest()  # noqa: S324 - Redis's
        self._pages: dict[tuple[str, int], tuple[float, list[Standing]]] = {}
        self._refreshing: dict[tuple[str, int], asyncio.Future[Any]] = {}
        self._generation = 0  # bumped whenever this process changes a board
        self._districts: frozenset[str] | None = None
        self._touches: Coalescer[tuple[uuid.UUID, bool]] = Coalescer(
            self._write_touched, "leaderboards", linger=TOUCH_LINGER_S)

    def board(self, scope: str, period: str, district: str | None,
              today: dt.date | None = None) -> Board:
        if scope not in SCOPES:
            raise InvalidInput.field("scope", f"must be one of {', '.join(SCOPES)}")
        if period not in PERIODS:
            raise InvalidInput.field("period", f"must be one of {', '.join(PERIODS)}")
        if scope == "city" and district is not None:
            raise InvalidInput.field("district", "only with scope=district")
        if scope == "district" and district is None:
            raise InvalidInput.field("district", "required with scope=district")
        start, end = date_bounds(period, today or self.today())
        return Board(scope, district, period, start, end)

    def today(self) -> dt.date:
        return programme_day(self.clock.now(), self.tz)

    async def asked(self, scope: str, period: str, district: str | None) -> Board:
        """The board a reader asked for, its district checked against the programme's
        (read once per process; again once when an unknown code is asked)."""
        board = self.board(scope, period, district)
        if district is not None and district not in await self._district_codes(district):
            raise InvalidInput.field("district", f"unknown district {district!r}",
                                     code="unknown_district")
        return board

    async def _district_codes(self, wanted: str) -> frozenset[str]:
        if self._districts is None or wanted not in self._districts:
            async with self.db.engine.connect() as conn:
                self._districts = frozenset(await accounts.district_codes(conn))
        return self._districts

    def _key(self, board: Board, suffix: str = "") -> str:
        return self.redis.key(board.tag + suffix)

    # --- reading --------------------------------------------------------------------------

    async def top(self, board: Board, limit: int, viewer: uuid.UUID | None = None
                  ) -> tuple[list[Standing], Standing | None]:
        """The first ``limit`` standings with nicknames, and the viewer's (None when not on
        the board). The first page is the same for every reader, so each process keeps it
        and refreshes it every ``PAGE_TTL_S`` (at once when this process changes a board);
        a read then costs one Redis round trip for the viewer's own rank, or none."""
        if self._touches.pending:
            await self._touches.drain()
        cached = self._pages.get((board.tag, limit))
        if cached is None or cached[0] <= time.monotonic():
            # One refresh per page and process. Readers wait for it only when there is no
            # page yet; otherwise they get the page just expired while it runs.
            page = (board.tag, limit)
            refresh = self._refreshing.get(page)
            if refresh is None:
                refresh = self._refreshing[page] = asyncio.ensure_future(
                    self._refresh(board, limit))
                refresh.add_done_callback(
                    lambda done: self._refreshing.pop(page, None)
                    if self._refreshing.get(page) is done else None)
            if cached is None:
                cached = await asyncio.shield(refresh)
        items = cached[1]
        mine = None
        if viewer is not None:
            _, rank, score = await self._read(board, 0, viewer)
            if rank is not None:
                mine = Standing(rank + 1, viewer, _grams(score), "")
        return items, mine

    async def _refresh(self, board: Board, limit: int) -> tuple[float, list[Standing]]:
        generation = self._generation
        top, _, _ = await self._read(board, limit, None)
        ranked = [(uuid.UUID(m.decode()), score) for m, score in top]
        names = await self.nicknames([c for c, _ in ranked])
        page = (time.monotonic() + PAGE_TTL_S,
                [Standing(i + 1, c, _grams(score), names.get(c, ""))
                 for i, (c, score) in enumerate(ranked)])
        if len(self._pages) > 1000:
            self._pages.clear()
        if generation == self._generation:  # else a board changed meanwhile: keep none
            self._pages[(board.tag, limit)] = page
        return page

    async def _read(self, board: Board, limit: int, viewer: uuid.UUID | None) -> list[Any]:
        """``[top members with scores, viewer's rank, viewer's score]`` in one round trip,
        building the board first if it is missing."""
        key = self._key(board)
        while True:
            async with self.redis.client.pipeline(transaction=False) as pipe:
                pipe.exists(self._key(board, ":built"))
                if limit:
                    pipe.zrange(key, 0, limit - 1, withscores=True)
                if viewer is not None:
                    pipe.zrank(key, str(viewer))
                    pipe.zscore(key, str(viewer))
                answers = await pipe.execute()
            if answers[0]:
                break
            self._forget_pages()
            await self.ensure(board)
        top = answers[1] if limit else []
        rest = answers[2:] if limit else answers[1:]
        return [top, *(rest or [None, None])]

    def _forget_pages(self) -> None:
        """A board changed: pages kept, and refreshes begun before, are out of date."""
        self._generation += 1
        self._pages.clear()
        self._refreshing.clear()

    async def nicknames(self, ids: list[uuid.UUID]) -> dict[uuid.UUID, str]:
        if not ids:
            return {}
        async with self.db.engine.connect() as conn:
            return await accounts.nicknames(conn, ids)

    async def ensure(self, board: Board) -> None:
        """Build ``board`` if it is missing; if another process is building it, wait."""
        built = self._key(board, ":built")
        if await self.redis.client.exists(built):
            return
        waited = 0.0
        while not await self.rebuild(board, only_if_missing=True):
            if await self.redis.client.exists(built):
                return
            if waited >= REBUILD_WAIT_S:
                raise Unavailable("The leaderboard is being rebuilt.", retry_after=5)
            await asyncio.sleep(0.05)
            waited += 0.05

    # --- building -------------------------------------------------------------------------

    async def rebuild(self, board: Board, *, only_if_missing: bool = False) -> bool:
        """Replace ``board`` with what PostgreSQL says. False when another rebuild holds the
        lease (or, with ``only_if_missing``, when the board turned out to exist)."""
        r = self.redis.client
        lease = self._key(board, ":rebuilding")
        if not await r.set(lease, b"1", nx=True, ex=REBUILD_LEASE_S):
            return False
        try:
            if only_if_missing and await r.exists(self._key(board, ":built")):
                return True
            tmp = self._key(board, ":tmp")
            await r.delete(tmp)
            async for chunk in self.totals(board):
                await r.zadd(tmp, chunk)
            if await r.exists(tmp):
                await r.rename(tmp, self._key(board))  # atomic: readers see old or new
            else:
                await r.delete(self._key(board))  # nobody has saved anything yet
            await r.set(self._key(board, ":built"), b"1")
            self._forget_pages()
            expires = board.expires_at(self.tz)
            if expires is not None:
                for suffix in ("", ":built"):
                    await r.expireat(self._key(board, suffix), expires)
            dirty = [uuid.UUID(m.decode()) for m in await r.smembers(self._key(board, ":dirty"))]
            if dirty:
                await self._write(board, await self._citizen_totals(board, dirty), lowered=True)
            return True
        finally:
            await r.delete(lease, self._key(board, ":dirty"))

    async def totals(self, board: Board) -> Any:
        """The board's members as ``{citizen id: -milligrams}``, in chunks, from one
        server-side cursor (a million members never sit in memory at once)."""
        async with self.db.engine.connect() as conn:
            members = (await accounts.citizens_in_district(conn, board.district)
                       if board.scope == "district" else None)
            if members == []:
                return
            async for rows in behaviours.stream_grams(conn, board.start, board.end, members,
                                                      CHUNK):
                yield {str(c): -_milli(g) for c, g in rows}

    # --- keeping current ------------------------------------------------------------------

    async def touched(self, citizens: Iterable[uuid.UUID], lowered: bool = False) -> None:
        """After a commit: queue these citizens' totals for every current board they are on.
        ``lowered``: some total may have gone down (a behaviour was taken back). Written by
        one flush for all the commits of the moment (``coalesce``); this process's own reads
        wait for what it has queued, so a citizen sees their credit on the next read."""
        self._touches.add(*((c, lowered) for c in citizens))

    async def drain(self) -> None:
        await self._touches.drain()

    async def _write_touched(self, items: list[tuple[uuid.UUID, bool]]) -> None:
        lowered = {c for c, low in items if low}
        raised = {c for c, low in items if not low} - lowered
        for ids, low in ((raised, False), (lowered, True)):
            if ids:
                await self._write_totals(sorted(ids), lowered=low)

    async def _write_totals(self, ids: list[uuid.UUID], *, lowered: bool) -> None:
        today = self.today()
        week, _ = date_bounds("week", today)
        month, _ = date_bounds("month", today)
        async with self.db.engine.connect() as conn:
            sums = await behaviours.grams_since(conn, ids, week, month)
            districts = await accounts.districts_of(conn, [r[0] for r in sums])
        # (citizen, district, week, month, all) of each citizen with totals
        rows = [(r[0], districts[r[0]], r[1], r[2], r[3]) for r in sums if r[0] in districts]
        writes = []
        for scope in SCOPES:
            for period, column in (("week", 2), ("month", 3), ("all", 4)):
                by_district: dict[str | None, dict[str, float]] = {}
                for row in rows:
                    district = row[1] if scope == "district" else None
                    grams = row[column] or 0
                    if grams > 0 or lowered:  # a zero after a take-back leaves the board
                        by_district.setdefault(district, {})[str(row[0])] = -_milli(grams)
                writes += [(self.board(scope, period, district, today), members)
                           for district, members in by_district.items()]
        await self._write_many(writes, lowered=lowered)

    async def _citizen_totals(self, board: Board, ids: list[uuid.UUID]) -> dict[str, float]:
        async with self.db.engine.connect() as conn:
            counted = ids
            if board.scope == "district":
                districts = await accounts.districts_of(conn, ids)
                counted = [c for c in ids if districts.get(c) == board.district]
            rows = (await behaviours.grams_between(conn, board.start, board.end, counted)
                    if counted else {})
        totals = {str(c): -_milli(g) for c, g in rows.items()}
        return {str(c): totals.get(str(c), 0.0) for c in ids}

    async def _write(self, board: Board, members: dict[str, float], *, lowered: bool) -> None:
        await self._write_many([(board, members)], lowered=lowered)

    async def _write_many(self, writes: list[tuple[Board, dict[str, float]]], *,
                          lowered: bool) -> None:
        """Each board's update script, all in one round trip."""
        writes = [(board, members) for board, members in writes if members]
        if not writes:
            return
        self._forget_pages()
        calls = []
        for board, members in writes:
            args: list[Any] = ["ZADD" if lowered else "LT"]
            for member, score in members.items():
                args += [score, member]
            calls.append((self._key(board), self._key(board, ":built"),
                          self._key(board, ":rebuilding"), self._key(board, ":dirty"), *args))
        # EVALSHA straight away (redis-py's pipelined scripts ask SCRIPT EXISTS first, a
        # round trip per call); on a Redis that lost its scripts, load it and go again (each
        # call writes totals read from PostgreSQL, so running one twice changes nothing).
        client = self.redis.client
        for attempt in (1, 2):
            try:
                if self.redis.cluster:
                    # A cluster pipeline refuses scripts: each board's call goes to the node
                    # of its hash tag, all at once.
                    await asyncio.gather(*(client.evalsha(self._update_sha, 4, *call)
                                           for call in calls))
                else:
                    async with client.pipeline(transaction=False) as pipe:
                        for call in calls:
                            pipe.evalsha(self._update_sha, 4, *call)
                        await pipe.execute()
                return
            except NoScriptError:
                if attempt == 2:
                    raise
                await client.script_load(_UPDATE)


def _milli(grams: Decimal) -> float:
    return float(int(Decimal(grams) * MILLI))


def _grams(score: float) -> Decimal:
    return (Decimal(int(-score)) / MILLI).quantize(Decimal("0.001"))


# KEYS: board, built marker, rebuild lease, dirty set. ARGV: mode (LT or ZADD), then
# score/member pairs. Unbuilt boards are left alone unless a rebuild is under way, whose
# dirty set then remembers the members for it to refresh.
_UPDATE = """
local built = redis.call('EXISTS', KEYS[2]) == 1
local rebuilding = redis.call('EXISTS', KEYS[3]) == 1
if not built and not rebuilding then return 0 end
for i = 2, #ARGV, 2 do
    if ARGV[1] == 'LT' then
        redis.call('ZADD', KEYS[1], 'LT', ARGV[i], ARGV[i + 1])
    elseif tonumber(ARGV[i]) == 0 then
        redis.call('ZREM', KEYS[1], ARGV[i + 1])
    else
        redis.call('ZADD', KEYS[1], ARGV[i], ARGV[i + 1])
    end
    if rebuilding then redis.call('SADD', KEYS[4], ARGV[i + 1]) end
end
return 1
"""
