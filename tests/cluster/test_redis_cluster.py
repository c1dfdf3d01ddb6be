"""Everything Redis holds, on a real 3-master Redis Cluster (``conftest.redis_cluster``):
rate limits and failure budgets, leaderboards (built, kept current, lost and rebuilt from
PostgreSQL), claims with their Idempotency-Key, live events between two API processes and
stream leases. Multi-key scripts only work because their keys share a hash tag; one test
shows the cluster refusing the same script without it.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import uuid

import pytest
import redis.exceptions
from click.testing import CliRunner
from redis.asyncio.cluster import RedisCluster
from sqlalchemy import text

from carbon_inclusion.cli import main
from carbon_inclusion.notifications.service import Event, Notifier
from carbon_inclusion.ratelimit import _RESERVE, FailureBudgets, RateLimiter, Reservation
from carbon_inclusion.redis_store import RedisStore
from carbon_inclusion.settings import Settings, SettingsError
from tests.behaviours.conftest import Partner, bind, card, claim, days_ago, partner, trip
from tests.conftest import own_app
from tests.gamification.test_leaderboards import truth
from tests.gamification.test_notifications import listening, next_event
from tests.live import live_server

pytestmark = pytest.mark.cluster
__all__ = ["partner"]


async def store_of(settings: Settings) -> RedisStore:
    return RedisStore.from_settings(settings)


def slot_owner(cluster, key: str) -> int:
    """The port of the master serving ``key``'s slot, as the cluster itself says."""
    with cluster.node(cluster.ports[0]) as n:
        slot = n.execute_command("CLUSTER KEYSLOT", key)
        for start, end, master, *_ in n.execute_command("CLUSTER SLOTS"):
            if start <= slot <= end:
                return int(master[1])
    raise AssertionError(f"slot {slot} is served by no node")


def keys_per_node(cluster, prefix: str) -> dict[int, int]:
    counts = {}
    for port in cluster.ports:
        with cluster.node(port) as n:
            counts[port] = sum(1 for _ in n.scan_iter(match=prefix + "*", count=1000))
    return counts


# --- configuration -----------------------------------------------------------------------


async def test_either_setting_gives_a_cluster_client_that_finds_all_three_masters(
        cluster_settings, redis_cluster):
    port = redis_cluster.ports[1]
    for env in ({"REDIS_URL": f"redis+cluster://127.0.0.1:{port}"},
                {"REDIS_URL": f"redis://127.0.0.1:{port}/0", "REDIS_CLUSTER": "true"}):
        s = Settings.from_env({**env, "REDIS_PREFIX": cluster_settings.redis_prefix})
        assert s.redis_is_cluster
        store = await store_of(s)
        try:
            assert store.cluster and isinstance(store.client, RedisCluster)
            await store.ping()
            masters = {n.port for n in store.client.get_primaries()}
            assert masters == set(redis_cluster.ports)
        finally:
            await store.close()
    assert not Settings.from_env({"REDIS_URL": f"redis://127.0.0.1:{port}/0"}).redis_is_cluster


@pytest.mark.parametrize(("env", "says"), [
    ({"REDIS_URL": "redis+cluster://127.0.0.1:7100/2"}, "only database 0"),
    ({"REDIS_URL": "redis://127.0.0.1:7100/1", "REDIS_CLUSTER": "yes"}, "only database 0"),
    ({"REDIS_URL": "unix:///tmp/redis.sock", "REDIS_CLUSTER": "true"}, "must name a node"),
    ({"REDIS_URL": "redis+cluster://127.0.0.1:7100", "REDIS_PREFIX": "ci:{a}:"},
     "must not contain { or }"),
])
def test_settings_a_cluster_cannot_use_are_refused_by_name(env, says):
    with pytest.raises(SettingsError, match=says):
        Settings.from_env(env)


# --- rate limits and failure budgets -----------------------------------------------------


async def test_rate_limits_count_on_the_cluster_and_spread_over_its_masters(
        cluster_settings, redis_cluster):
    store = await store_of(cluster_settings)
    try:
        limiter = RateLimiter(store)
        names = [f"claims:{uuid.uuid4()}" for _ in range(30)]
        for name in names:
            decisions = [await limiter.hit(name, 2, 60) for _ in range(3)]
            assert [d.allowed for d in decisions] == [True, True, False]
            assert decisions[-1].count == 3 and 1 <= decisions[-1].retry_after_s <= 60
            peeked = await limiter.peek(name, 2)
            assert (peeked.allowed, peeked.count) == (False, 3)
        await limiter.reset(names[0])
        assert (await limiter.hit(names[0], 2, 60)).count == 1
        # Counted in Redis, not in this process's fallback memory: another client sees them.
        other = RateLimiter(await store_of(cluster_settings))
        try:
            assert (await other.peek(names[1], 2)).count == 3
        finally:
            await other.store.close()
        assert limiter._local == {}
        spread = keys_per_node(redis_cluster, cluster_settings.redis_prefix + "rl:claims:")
        assert sum(spread.values()) == 30 and all(spread.values()), spread
    finally:
        await store.close()


async def test_a_failure_budget_holds_across_the_cluster_with_its_keys_on_one_slot(
        cluster_settings, redis_cluster):
    store = await store_of(cluster_settings)
    try:
        budgets = FailureBudgets(store, wait_s=0.2)
        name = f"login:phone:{secrets.token_hex(8)}"
        failures, in_flight = budgets._keys(name)
        assert slot_owner(redis_cluster, failures) == slot_owner(redis_cluster, in_flight)
        held = [await budgets.reserve(name, 2, 60) for _ in range(2)]
        assert all(isinstance(r, Reservation) for r in held)
        busy = await budgets.reserve(name, 2, 60)  # two in flight hold the whole budget
        assert not isinstance(busy, Reservation) and not busy.allowed
        for reservation in held:
            await budgets.settle(reservation, failed=True)
        spent = await budgets.reserve(name, 2, 60)
        assert not isinstance(spent, Reservation) and spent.retry_after_s > 1
        assert budgets._local == {}
        # The same script on the two keys without the shared tag is refused on a cluster:
        # this is what the {name} in the keys is for.
        while True:
            apart = [k.replace("{", "").replace("}", "") for k in budgets._keys(name)]
            if store.client.keyslot(apart[0]) != store.client.keyslot(apart[1]):
                break
            name += "x"
        with pytest.raises(redis.exceptions.RedisClusterException, match="same key slot"):
            await store.client.eval(_RESERVE, 2, *apart, 2, 1000)
    finally:
        await store.close()


async def test_sign_in_failures_are_throttled_through_the_cluster(
        app, cluster_settings, make_citizen):
    citizen = await make_citizen()
    settings = cluster_settings.with_overrides(login_failures_per_phone=2)
    async with own_app(settings) as application, \
            client_of_app(application) as c:
        answers = [await c.post("/v1/auth/token", json={"phone": citizen.phone,
                                                        "password": "wrong-password-1"})
                   for _ in range(3)]
        assert [r.status_code for r in answers] == [401, 401, 429], [r.text for r in answers]
        assert int(answers[-1].headers["Retry-After"]) > 1


def client_of_app(application):
    from tests.conftest import client_of
    return client_of(application, f"198.51.100.{secrets.randbelow(200) + 1}")


# --- claims: Idempotency-Key and the per-citizen throttle --------------------------------


async def test_claims_replay_by_key_and_are_throttled_per_citizen_on_the_cluster(
        app, cluster_settings, make_citizen):
    citizen = await make_citizen()
    settings = cluster_settings.with_overrides(claims_per_minute=3)
    async with own_app(settings) as application, client_of_app(application) as c:
        data = {"mode": "metro", "distance_km": "7.5"}
        first = await claim(c, citizen, "transit_trip", days_ago(1), data, "cluster-key-0001")
        again = await claim(c, citizen, "transit_trip", days_ago(1), data, "cluster-key-0001")
        assert first.status_code == again.status_code == 201, (first.text, again.text)
        assert first.headers["Idempotent-Replayed"] == "false"
        assert again.headers["Idempotent-Replayed"] == "true"
        assert again.json() == first.json()
        both = await asyncio.gather(*(
            claim(c, citizen, "transit_trip", days_ago(2, hour=8 + i), data) for i in range(4)))
        statuses = sorted(r.status_code for r in both)
        assert 429 in statuses, [r.text for r in both]
        refused = next(r for r in both if r.status_code == 429)
        assert int(refused.headers["Retry-After"]) >= 1
        async with app.state.db.connect() as conn:
            rows = (await conn.execute(text(
                "SELECT count(*) FROM behaviours WHERE citizen_id = :c"),
                {"c": citizen.id})).scalar()
        assert rows == 1 + statuses.count(201)  # the replay made nothing; no 429 wrote


# --- leaderboards ------------------------------------------------------------------------


async def board(c, district: str, period: str = "all", user=None) -> dict:
    r = await c.get("/v1/leaderboards/", headers=user.headers if user else {},
                    params={"scope": "district", "district": district, "period": period})
    assert r.status_code == 200, r.text
    return r.json()


async def test_leaderboards_build_update_and_rebuild_from_postgresql_on_the_cluster(
        app, cluster_app, cluster_client, client, make_citizen, partner, redis_cluster,
        cluster_settings):
    district = "pengshui"
    riders = []
    for n, km in enumerate(["5.0", "20.0", "12.0"]):
        rider = await make_citizen(district=district, nickname=f"集群{n}")
        ref = card()
        await bind(client, rider, partner, ref)
        r = await partner.push([trip(ref, days_ago(1, hour=7), km=km)])
        assert r.json()["counts"] == {"credited": 1}, r.text
        riders.append((rider, ref))
    # First read on the cluster: built from PostgreSQL.
    shown = await board(cluster_client, district, user=riders[0][0])
    assert [x["reduction_g"] for x in shown["items"]] == await truth(app, district)
    assert [x["nickname"] for x in shown["items"]] == ["集群1", "集群2", "集群0"]
    assert shown["me"]["rank"] == 3
    boards = cluster_app.state.leaderboards
    one = boards.board("district", "all", district)
    keys = [boards._key(one, s) for s in ("", ":built", ":rebuilding", ":dirty")]
    assert len({slot_owner(redis_cluster, k) for k in keys}) == 1
    # Kept current by the update script (four keys, one tag) after a commit in this app.
    on_cluster = Partner(cluster_client, {"id": partner.id, "secret": partner.secret})
    r = await on_cluster.push([trip(riders[0][1], days_ago(2, hour=7), km="40.0")])
    assert r.json()["counts"] == {"credited": 1}, r.text
    after = await board(cluster_client, district, user=riders[0][0])
    assert [x["reduction_g"] for x in after["items"]] == await truth(app, district)
    assert after["me"]["rank"] == 1
    # The cluster lost everything (every master flushed): rebuilt from PostgreSQL on the
    # next read, the same ranking; and again after the scripts are gone.
    for port in redis_cluster.ports:
        with redis_cluster.node(port) as n:
            n.flushall()
    assert sum(keys_per_node(redis_cluster, cluster_settings.redis_prefix).values()) == 0
    assert await board(cluster_client, district, user=riders[0][0]) == after
    for port in redis_cluster.ports:
        with redis_cluster.node(port) as n:
            n.script_flush()
    r = await on_cluster.push([trip(riders[2][1], days_ago(3, hour=7), km="60.0")])
    assert r.json()["counts"] == {"credited": 1}, r.text
    last = await board(cluster_client, district)
    assert [x["reduction_g"] for x in last["items"]] == await truth(app, district)
    assert last["items"][0]["nickname"] == "集群2"
    # An explicit rebuild racing credits on the cluster loses none of them.
    pushes = [on_cluster.push([trip(ref, days_ago(4, hour=9 + i), km="3.0")])
              for i, (_, ref) in enumerate(riders)]
    await asyncio.gather(*pushes, *(boards.rebuild(one) for _ in range(3)))
    final = await board(cluster_client, district)
    assert [x["reduction_g"] for x in final["items"]] == await truth(app, district)


async def test_the_rebuild_command_rebuilds_every_board_on_the_cluster(
        app, monkeypatch, cluster_settings, redis_cluster):
    for port in redis_cluster.ports:
        with redis_cluster.node(port) as n:
            n.flushall()
    monkeypatch.setenv("DATABASE_URL", cluster_settings.database_url)
    monkeypatch.setenv("REDIS_URL", redis_cluster.url)
    monkeypatch.setenv("REDIS_PREFIX", cluster_settings.redis_prefix)
    rebuilt = await asyncio.to_thread(  # the command runs its own event loop
        CliRunner().invoke, main, ["leaderboards", "rebuild", "--period", "all"])
    assert rebuilt.exit_code == 0, rebuilt.output
    lines = rebuilt.stdout.splitlines()
    assert len(lines) == 1 + 38 and all(re.fullmatch(r"\S+ all: \d+\.\d\d s", x)
                                        for x in lines), lines
    built = keys_per_node(redis_cluster, cluster_settings.redis_prefix + "{lb:")
    assert sum(built.values()) >= 39 and all(built.values()), built  # every master holds some
    with redis_cluster.node(slot_owner(redis_cluster, (
            key := cluster_settings.redis_prefix + "{lb:d:pengshui:all:all}"))) as n:
        assert n.exists(key + ":built")
        assert n.zcard(key) == len(await truth(app, "pengshui"))


# --- live events -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cluster_process(app, cluster_settings):
    """Another API process, on the same PostgreSQL and the same cluster."""
    with live_server(cluster_settings.database_url, cluster_settings.redis_url,
                     REDIS_PREFIX=cluster_settings.redis_prefix,
                     JWT_KEYS_DIR=str(cluster_settings.jwt_keys_dir)) as live:
        yield live.base_url


async def test_an_event_made_in_one_process_reaches_a_stream_on_another_over_the_cluster(
        cluster_client, make_citizen, cluster_process):
    me, other = await make_citizen(), await make_citizen()
    async with listening(cluster_process, me) as mine, \
            listening(cluster_process, other) as theirs:
        r = await claim(cluster_client, me, "transit_trip", days_ago(1),
                        {"mode": "metro", "distance_km": "9.5"})
        assert r.status_code == 201 and r.json()["status"] == "credited", r.text
        credited = await next_event(mine, "points_credited")
        assert credited["data"]["behaviour_id"] == r.json()["id"]
        await asyncio.sleep(0.5)
        assert theirs.empty()


async def test_stream_leases_and_their_control_channel_work_across_the_cluster(
        cluster_settings, redis_cluster):
    """Two notifiers on two clients (two processes): a citizen allowed one stream opens one
    on each; the first is ended through the control channel, wherever it was heard."""
    first = Notifier(await store_of(cluster_settings), streams_per_citizen=1)
    second = Notifier(await store_of(cluster_settings), streams_per_citizen=1)
    citizen = uuid.uuid4()
    try:
        async with first.stream(citizen) as old, second.stream(citizen) as new:
            async with asyncio.timeout(10):
                assert await old.get() is None  # ended: the newer one holds the lease
            event = Event(id="e1", type="points_credited", at=days_ago(0), data={"n": 1})
            await first.publish([(citizen, event)])
            async with asyncio.timeout(10):
                got = await new.get()
            assert got is not None and got.id == "e1"
            assert await second.redis.client.zcard(second._leases(citizen)) == 1
    finally:
        for notifier in (first, second):
            await notifier.close()
            await notifier.redis.close()
