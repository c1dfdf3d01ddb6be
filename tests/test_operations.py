"""Operability: request ids in headers and logs, Prometheus metrics."""

from __future__ import annotations

import io
import json
import logging
import re

from carbon_inclusion.logs import JsonFormatter, RequestIdFilter
from tests.behaviours.conftest import claim, days_ago


def sample(text: str, name: str, **labels: str) -> float:
    """One sample's value from the Prometheus text, 0 when it is not there yet."""
    want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        m = re.match(r"^(\w+)(?:\{(.*)\})? (\S+)$", line)
        if m and m[1] == name and ",".join(sorted((m[2] or "").split(","))) == want:
            return float(m[3])
    return 0.0


async def test_every_response_carries_a_request_id_and_a_sane_one_is_kept(client):
    ok, missing = await client.get("/healthz"), await client.get("/v1/no-such-route")
    assert missing.status_code == 404
    ids = {ok.headers["X-Request-Id"], missing.headers["X-Request-Id"]}
    assert len(ids) == 2 and all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)
    kept = await client.get("/healthz", headers={"X-Request-Id": "edge-7f3a.42:1"})
    assert kept.headers["X-Request-Id"] == "edge-7f3a.42:1"
    for garbage in ("x" * 65, "new\u2028line", "a b", ""):
        r = await client.get("/healthz", headers={"X-Request-Id": garbage.encode("utf-8")})
        assert re.fullmatch(r"[0-9a-f]{32}", r.headers["X-Request-Id"]), garbage


async def test_log_lines_are_json_with_the_request_id_of_the_request(client, citizen):
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestIdFilter())
    logger = logging.getLogger("carbon_inclusion")
    logger.addHandler(handler)
    try:
        r = await claim(client, citizen, "transit_trip", days_ago(1),
                        {"mode": "metro", "distance_km": "4.2"})
        bad = await client.get("/v1/behaviours/not-a-uuid", headers=citizen.headers)
    finally:
        logger.removeHandler(handler)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    access = {x["request_id"]: x for x in lines if x["logger"] == "carbon_inclusion.access"}
    first = access[r.headers["X-Request-Id"]]
    assert (first["method"], first["route"], first["status"]) == ("POST", "/v1/behaviours",
                                                                  201)
    assert first["duration_ms"] > 0 and first["level"] == "info"
    assert access[bad.headers["X-Request-Id"]]["status"] == bad.status_code


async def test_metrics_count_requests_behaviours_and_postings_once_committed(
        client, citizen):
    before = (await client.get("/metrics")).text
    r = await claim(client, citizen, "transit_trip", days_ago(2),
                    {"mode": "bus", "distance_km": "6.0"})
    assert r.status_code == 201 and r.json()["status"] == "credited", r.text
    refused = await client.post("/v1/redemptions/", headers={
        **citizen.headers, "Idempotency-Key": "r-" + "9" * 12},
        json={"reward_id": "01890000-0000-7000-8000-000000000000", "quantity": 1})
    assert refused.json()["code"] == "unknown_reward"  # refused: nothing posted
    await client.get("/v1/nope")
    page = await client.get("/metrics")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/plain")
    after = page.text

    def grew(name: str, **labels: str) -> float:
        return sample(after, name, **labels) - sample(before, name, **labels)

    assert grew("carbon_http_requests_total", method="POST", route="/v1/behaviours",
                status="201") == 1
    assert grew("carbon_http_requests_total", method="GET", route="unmatched",
                status="404") == 1
    assert grew("carbon_behaviours_credited_total", type="transit_trip", source="app") == 1
    assert grew("carbon_ledger_postings_total", kind="behaviour_credit") == 2
    assert grew("carbon_redemptions_total") == 0
    assert grew("carbon_http_request_duration_seconds_count", method="POST",
                route="/v1/behaviours") == 1
