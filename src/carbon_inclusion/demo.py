"""A believable month of a programme, for a newcomer to see every part working at once.

``carbon-inclusion seed --demo`` fills an *empty* database through the same services the API
calls: 400 citizens across Chongqing's districts bind metro, charging and waste-station
cards; the three partners push a month of signed-for records (commutes there and back,
charging sessions, waste drops), as do the partners of the other scenes of
``seed/demo/scenes.json`` (steps, bike rides, clean plates, e-receipts, second-hand trades,
household electricity), and citizens report some bus trips themselves; points buy
coupons; badges and leaderboards follow. Two batches of credits are made from the month's
verified reductions, transit (the metro's records; the citizens' own unreviewed reports
earn points but stay out) and EV charging, and each goes proposed (the administrator, with
its monitoring report) → verified (a verifier of a demo verification body) → issued (the
administrator); together about 19 t, so that after the demo's own forum is neutralised the
registry still holds enough for a 120-person two-day event (about 5 t, which one buyer may
reserve: ``ORDER_MAX_RESERVED_SHARE`` is half the market). The certificate's URL, the
batches' report and behaviour-list URLs and the sign-ins are printed. Each step says what it
did (``say``). Random but repeatable (a fixed seed). Not for production: it refuses there.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import random
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import msgspec

from carbon_inclusion.accounts import repository as accounts
from carbon_inclusion.accounts.schemas import RegisterRequest
from carbon_inclusion.behaviours.schemas import ClaimIn
from carbon_inclusion.common.periods import programme_day
from carbon_inclusion.errors import Conflict
from carbon_inclusion.events.schemas import EventIn
from carbon_inclusion.methodologies import repository as methodologies
from carbon_inclusion.partners.service import AuthenticatedPartner
from carbon_inclusion.registry.schemas import BatchIn, OrderIn, VerificationIn
from carbon_inclusion.rewards.schemas import RedeemIn
from carbon_inclusion.settings import Settings

CITIZENS = 400
DAYS = 28
BATCHES = ("CQ-TRANSIT", "CQ-EV")
PASSWORD = "Demo-carbon-2026"  # noqa: S105 - printed for the local demo; refused in production
ADMIN_PHONE, ENTERPRISE_PHONE, VERIFIER_PHONE = "13900000001", "13900000002", "13900000003"
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高"
GIVEN = ["绿行", "低碳", "清风", "山城", "江畔", "晨跑", "骑士", "小树", "青苔", "云雾"]


class DemoRefused(Exception):
    pass


Say = Callable[[str], None]
T = TypeVar("T")


def _quiet(line: str) -> None:
    pass


async def fill(state: Any, settings: Settings, seed_dir: Path,
               say: Say = _quiet) -> dict[str, Any]:
    if settings.is_production:
        raise DemoRefused("the demo programme is never loaded in production")
    db = state.db
    async with db.engine.connect() as conn:
        if await accounts.any_citizen(conn):
            raise DemoRefused("the demo goes only into a database without citizens")
        districts = await accounts.district_codes(conn)
    rng = random.Random(2026)
    tz = settings.tz
    today = programme_day(state.clock.now(), tz)

    admin = await state.accounts.create_user(role="admin", phone=ADMIN_PHONE,
                                             password=PASSWORD, nickname="演示管理员")
    partners = {}
    for pid, name, kind in (("cq-metro", "重庆轨道交通", "transit"),
                            ("cq-charging", "山城充电网络", "charging"),
                            ("cq-waste", "两江垃圾分类站", "waste")):
        await state.partners.create(admin.id, pid, name, kind)
        partners[pid] = AuthenticatedPartner(pid, name, kind)

    # Drawn in order (the demo is repeatable), then stored a few at a time: the database
    # works on some while the next password is hashed.
    requests = [RegisterRequest(
        phone=f"137{i:08d}", password=PASSWORD,
        nickname=rng.choice(SURNAMES) + rng.choice(GIVEN) + str(i),
        district=rng.choice(districts),
        privacy_notice_version=state.accounts.current_notice().version)
        for i in range(CITIZENS)]
    citizens = []
    for start in range(0, CITIZENS, 100):
        citizens += await _together([state.accounts.register(r, verified=True)
                                     for r in requests[start:start + 100]])
        say(f"citizens registered: {len(citizens)} of {CITIZENS}")
    cards: dict[tuple[uuid.UUID, str], str] = {}
    for n, c in enumerate(citizens):
        for pid, share in (("cq-metro", 1.0), ("cq-charging", 0.4), ("cq-waste", 0.5)):
            if rng.random() < share:
                cards[(c.id, pid)] = f"{pid.upper()}-{n:06d}"

    async def bind(citizen_id: uuid.UUID, pid: str, ref: str) -> None:
        # The demo's partners confirm their cards' bindings (as a partner's signed
        # confirmation would): the citizens are bound and credited.
        pending = await state.partners.bind(citizen_id, pid, ref)
        await state.partners.confirm_by_partner(partners[pid], ref, pending.id)

    await _together([bind(c, pid, ref) for (c, pid), ref in cards.items()])
    say(f"cards bound and confirmed by their partners: {len(cards)}")

    def at(days_back: int, hour: int) -> str:
        day = today - dt.timedelta(days=days_back)
        moment = dt.datetime.combine(day, dt.time(hour, rng.randrange(60)), tzinfo=tz)
        return moment.isoformat()

    records: dict[str, list[dict[str, Any]]] = {pid: [] for pid in partners}
    records |= await _scenes(state, admin.id, seed_dir, citizens, partners, today, tz, bind, say)
    claims = 0
    for c in citizens:
        for back in range(1, DAYS + 1):
            if (metro := cards.get((c.id, "cq-metro"))) and rng.random() < 0.85:
                # a commute, there and back (most by metro), and now and then a trip at noon
                mode, km = rng.choice(["metro", "metro", "metro", "bus"]), rng.uniform(5, 25)
                for hour in [8, 18] + ([12] if rng.random() < 0.1 else []):
                    records["cq-metro"].append(_record(metro, "transit_trip", at(back, hour), {
                        "mode": mode, "distance_km": f"{km:.1f}"}))
            if (ev := cards.get((c.id, "cq-charging"))) and rng.random() < 0.35:
                records["cq-charging"].append(_record(ev, "ev_charging", at(back, 21), {
                    "kwh": f"{rng.uniform(25, 60):.2f}"}))
            if (bin_ := cards.get((c.id, "cq-waste"))) and rng.random() < 0.4:
                records["cq-waste"].append(_record(bin_, "waste_sorting", at(back, 7), {
                    "category": rng.choice(["kitchen", "recyclable", "hazardous", "other"]),
                    "weight_kg": f"{rng.uniform(0.2, 3):.2f}"}))
        if rng.random() < 0.3:  # a bus trip the citizen reports from the app
            back = rng.randrange(1, DAYS + 1)
            await state.behaviours.claim(c.id, None, f"demo-{c.id}", ClaimIn(
                type="transit_trip", occurred_at=dt.datetime.fromisoformat(at(back, 15)),
                data={"mode": "bus"}))
            claims += 1
    pushed = 0
    for pid, batch in records.items():
        # Each partner's records come citizen by citizen, so batches of 1000 sent side by
        # side hardly share a citizen (where they do, the citizen's lock orders them).
        await _together([state.behaviours.ingest(partners[pid], batch[start:start + 1000])
                         for start in range(0, len(batch), 1000)], width=2)
        pushed += len(batch)
        say(f"partner records pushed by {pid}: {len(batch)} (in batches of 1000)")
    say(f"self-reported bus trips: {claims}")

    rewards = json.loads((seed_dir / "rewards.json").read_text(encoding="utf-8"))["rewards"]
    coupon = uuid.UUID(rewards[0]["id"])
    redeemed = 0
    for c in citizens[: CITIZENS // 2]:
        if (await state.behaviours.wallet(c.id)).balance >= 400:
            await state.rewards.redeem(c.id, f"demo-{c.id}", RedeemIn(reward_id=coupon,
                                                                       quantity=1))
            redeemed += 1
    say(f"coupons redeemed: {redeemed}")

    for period in ("week", "month", "all"):
        await state.leaderboards.rebuild(state.leaderboards.board("city", period, None))

    start = max(today - dt.timedelta(days=DAYS), (today - dt.timedelta(days=1)).replace(
        month=1, day=1))
    body = await state.accounts.create_organisation("重庆碳核证中心（演示）",
                                                    kind="verification_body")
    verifier = await state.accounts.create_user(role="verifier", phone=VERIFIER_PHONE,
                                                password=PASSWORD, nickname="核证员",
                                                organisation_id=body.id)
    issued = []
    steps: dict[str, list[str]] = {}
    for code in BATCHES:
        proposed = await state.batches.propose(admin.id, BatchIn(
            methodology_code=code, vintage_from=start, vintage_to=today - dt.timedelta(days=1)))
        report = proposed.report
        assert report is not None
        say(f"batch {code} proposed by the administrator: {proposed.quantity} t from "
            f"{proposed.behaviours} behaviours ({report.outliers.groups[0].behaviours} "
            f"outliers flagged in its monitoring report)")
        verified = await state.batches.verify(verifier.id, body.id, proposed.id, VerificationIn(
            statement=f"演示核证：抽查数据提供方记录与方法学 {code} 的计算一致，未发现问题。"))
        say(f"batch {code} verified by {verified.verification_body}")
        batch = await state.batches.issue(admin.id, proposed.id)
        assert batch.serials is not None
        say(f"batch {code} issued by the administrator: {batch.serials.first} … "
            f"{batch.serials.last}")
        steps[code] = [proposed.status, verified.status, batch.status]
        issued.append(await state.registry.batch(batch.id))  # as the public registry shows it

    org = await state.accounts.create_organisation("重庆两江绿色会展有限公司")
    buyer = await state.accounts.create_user(role="enterprise", phone=ENTERPRISE_PHONE,
                                             password=PASSWORD, nickname="会展公司",
                                             organisation_id=org.id)
    forum = await state.events.create(org.id, buyer.id, msgspec.convert({
        "name": "2026 重庆低碳城市论坛", "starts_on": str(today - dt.timedelta(days=3)),
        "ends_on": str(today - dt.timedelta(days=2)), "venue": "重庆悦来国际会议中心",
        "attendees": 40,
        "travel": [{"mode": "metro", "distance_km": "15", "people": 30},
                   {"mode": "rail", "distance_km": "300", "people": 10}],
        "hotel_room_nights": 10, "meals": 80, "vegetarian_meals": 10,
        "electricity_kwh": "400", "waste_kg": "25"}, EventIn, strict=False))
    needed = forum.footprint.credits_needed
    quantity = needed + 1
    await _buy(state, org.id, buyer.id, admin.id, quantity)
    certificate, _ = await state.events.neutralize(org.id, buyer.id, forum.id)
    say(f"forum neutralised: {forum.footprint.total_t} t, {quantity} t bought, certificate "
        f"{certificate.url}")
    available = (await state.registry.batches(limit=10, cursor=None)).items
    return {
        "citizens": len(citizens), "partner_records": pushed, "app_claims": claims,
        "redemptions": redeemed,
        "batches": [{"methodology_code": b.methodology_code, "quantity_t": b.quantity,
                     "serials": f"{b.serials.first} … {b.serials.last}" if b.serials else None,
                     "steps": steps[b.methodology_code], "report": b.report_url,
                     "behaviours": b.behaviours_url} for b in issued],
        "batch_t": sum(b.quantity for b in issued),
        "available_t": sum(b.available for b in available),
        "event_footprint_t": str(forum.footprint.total_t),
        "certificate": certificate.url,
        "batch_steps": steps[BATCHES[0]],
        "sign_in": {"admin": ADMIN_PHONE, "enterprise": ENTERPRISE_PHONE,
                    "verifier": VERIFIER_PHONE, "citizen": "13700000000",
                    "password": PASSWORD},
    }


async def _scenes(state: Any, admin_id: uuid.UUID, seed_dir: Path, citizens: list[Any],
                  partners: dict[str, AuthenticatedPartner], today: dt.date, tz: dt.tzinfo,
                  bind: Callable[[uuid.UUID, str, str], Awaitable[None]], say: Say
                  ) -> dict[str, list[dict[str, Any]]]:
    """The scenes of ``seed/demo/scenes.json`` whose behaviour a published methodology
    scores: a partner each, its cards bound, and its records drawn as the file says (no
    scene is known here). A random sequence of their own, so that the rest of the demo
    draws what it always did."""
    rng = random.Random(2027)
    async with state.db.engine.connect() as conn:
        scored = set(await methodologies.scored_behaviours(conn))
    scenes = json.loads((seed_dir / "demo" / "scenes.json").read_text(encoding="utf-8"))
    records: dict[str, list[dict[str, Any]]] = {}
    cards = []
    for scene in (s for s in scenes["scenes"] if s["behaviour"] in scored):
        pid, behaviour = scene["partner"]["id"], scene["behaviour"]
        await state.partners.create(admin_id, pid, scene["partner"]["name"], "other",
                                    behaviour_types=[behaviour])
        partners[pid] = AuthenticatedPartner(pid, scene["partner"]["name"], "other",
                                             (behaviour,))
        records[pid] = []
        for n, c in enumerate(citizens):
            if rng.random() >= scene["share"]:
                continue
            ref = f"{pid.upper()}-{n:06d}"
            cards.append((c.id, pid, ref))
            for moment in _moments(scene, rng, today, tz):
                records[pid].append(_record(ref, behaviour, moment.isoformat(),
                                            _draw(scene["data"], rng)))
    await _together([bind(c, pid, ref) for c, pid, ref in cards])
    say(f"scene partners: {', '.join(records)}; {len(cards)} more cards bound")
    return records


def _moments(scene: dict[str, Any], rng: random.Random, today: dt.date,
             tz: dt.tzinfo) -> list[dt.datetime]:
    """When a bound citizen does a scene's behaviour over the demo's days."""
    if scene["per"] == "month":  # the last completed month, on its last day, if in reach
        last = today.replace(day=1) - dt.timedelta(days=1)
        if (today - last).days > DAYS:
            return []
        return [dt.datetime.combine(last, dt.time(12, rng.randrange(60)), tzinfo=tz)]
    return [dt.datetime.combine(today - dt.timedelta(days=back), dt.time(hour, rng.randrange(60)),
                                tzinfo=tz)
            for back in range(1, DAYS + 1) if rng.random() < scene["chance"]
            for hour in scene["hours"]]


def _draw(spec: dict[str, dict[str, Any]], rng: random.Random) -> dict[str, str]:
    """A behaviour's data, each input drawn as ``spec`` says (see seed/demo/scenes.json)."""
    out: dict[str, Any] = {}
    for name, how in spec.items():
        if "choice" in how:
            out[name] = rng.choice(how["choice"])
            continue
        value = rng.uniform(*how["uniform"])
        if "times" in how:
            value *= float(out[how["times"]])
        out[name] = f"{value:.{how.get('places', 0)}f}"
    return out


async def _together(calls: list[Awaitable[T]], width: int = 8) -> list[T]:
    """Await ``calls`` ``width`` at a time; their results in order."""
    out: list[T] = []
    for start in range(0, len(calls), width):
        out += await asyncio.gather(*calls[start:start + width])
    return out


def _record(ref: str, type_: str, occurred_at: str, data: dict[str, Any]) -> dict[str, Any]:
    return {"external_id": f"demo-{uuid.uuid4().hex[:16]}", "external_ref": ref,
            "type": type_, "occurred_at": occurred_at, "data": data}


async def _buy(state: Any, organisation_id: uuid.UUID, buyer_id: uuid.UUID,
               admin_id: uuid.UUID, quantity: int) -> None:
    """The demo's one buyer takes ``quantity`` t of a small market: as one quote when the
    share limit lets it, else in quotes of what it may reserve, each paid before the next
    (unpaid quotes may not hoard the registry; paid credits are a holding)."""
    bought, n = 0, 0
    while bought < quantity:
        n += 1
        key = f"demo-order-{n}"
        try:
            order, _ = await state.orders.order(organisation_id, buyer_id, key,
                                                OrderIn(quantity_t=quantity - bought))
        except Conflict as exc:
            if exc.code != "reservation_share_exceeded":
                raise
            part = exc.extra["limit_t"] - exc.extra["reserved_t"]
            order, _ = await state.orders.order(organisation_id, buyer_id, key,
                                                OrderIn(quantity_t=part))
        await state.orders.confirm_payment(admin_id, order.id,
                                           f"demo bank transfer {n:04d}")
        bought += order.quantity_t
