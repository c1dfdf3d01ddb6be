from __future__ import annotations

import json
from pathlib import Path

import pytest

from carbon_inclusion.openapi_doc import render_openapi
from carbon_inclusion.settings import DEV_SECRET_KEY, Settings, SettingsError

ROOT = Path(__file__).resolve().parents[1]


def test_committed_openapi_document_matches_what_the_app_serves():
    committed = (ROOT / "openapi" / "openapi.json").read_text(encoding="utf-8")
    assert committed == render_openapi(), "openapi/ drifted: run `make openapi` and commit"


def test_every_operation_has_an_id_tags_and_documented_problems():
    doc = json.loads(render_openapi())
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            assert op.get("operationId"), (method, path)
            assert op.get("tags"), (method, path)
            if path not in ("/healthz", "/readyz", "/metrics", "/.well-known/jwks.json"):
                assert "422" in op["responses"] or method == "get", (method, path)
                assert "503" in op["responses"], (method, path)


async def test_health_and_readiness(client):
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"postgres": "ok", "migrations": "ok", "redis": "ok"}


async def test_unknown_routes_and_methods_are_problems(client):
    r = await client.get("/v1/nothing-here")
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/problem+json")
    r = await client.delete("/v1/districts")
    assert r.status_code == 405
    assert r.json()["status"] == 405


async def test_the_docs_page_is_served(client):
    r = await client.get("/docs")
    assert r.status_code == 200
    assert "text/html" in r.headers["content-type"]


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"APP_ENV": "production", "JWT_KEYS_DIR": "/k"}, "SECRET_KEY"),
        ({"APP_ENV": "production", "JWT_KEYS_DIR": "/k", "SECRET_KEY": DEV_SECRET_KEY},
         "SECRET_KEY"),
        ({"APP_ENV": "production", "SECRET_KEY": "x" * 40}, "JWT_KEYS_DIR"),
        ({"PROGRAMME_TZ": "Mars/Olympus"}, "PROGRAMME_TZ"),
        ({"PORT": "eighty"}, "PORT"),
        ({"APP_ENV": "staging"}, "APP_ENV"),
        ({"CREDIT_PRICE_CNY": "forty"}, "CREDIT_PRICE_CNY"),
        ({"CREDIT_PRICE_CNY": "40.001"}, "whole fen"),
        ({"CREDIT_PRICE_CNY": "-1"}, "CREDIT_PRICE_CNY"),
        ({"COMPLIANCE_OFFSET_CAP": "1.5"}, "at most 1"),
        ({"COMPLIANCE_OFFSET_CAP": "NaN"}, "COMPLIANCE_OFFSET_CAP"),
        ({"DB_POOL_TIMEOUT": "0"}, "DB_POOL_TIMEOUT"),
    ],
)
def test_settings_refuse_what_cannot_run(env, message):
    with pytest.raises(SettingsError, match=message):
        Settings.from_env(env)


def test_production_refuses_to_start_without_signing_keys(tmp_path):
    from carbon_inclusion.app import create_app

    settings = Settings.from_env({"APP_ENV": "production", "SECRET_KEY": "s" * 40,
                                  "PHONE_KEY": "p" * 40, "JWT_KEYS_DIR": str(tmp_path)})
    with pytest.raises(ValueError, match="no signing keys"):
        create_app(settings)


@pytest.mark.parametrize("phone_key", [None, "short", "s" * 40])
def test_production_refuses_to_start_without_its_own_phone_key(tmp_path, phone_key):
    env = {"APP_ENV": "production", "SECRET_KEY": "s" * 40, "JWT_KEYS_DIR": str(tmp_path)}
    if phone_key is not None:
        env["PHONE_KEY"] = phone_key
    with pytest.raises(SettingsError, match="PHONE_KEY"):
        Settings.from_env(env)


def test_an_sms_sender_that_is_not_implemented_refuses_to_start():
    with pytest.raises(SettingsError, match="SMS_SENDER"):
        Settings.from_env({"SMS_SENDER": "aliyun"})


def test_settings_read_the_environment():
    s = Settings.from_env({"DATABASE_URL": "postgres://u@h:5/d", "PROGRAMME_TZ": "Asia/Urumqi",
                           "WEB_WORKERS": "4"})
    assert s.database_url == "postgresql+asyncpg://u@h:5/d"
    assert s.tz.key == "Asia/Urumqi"
    assert s.workers == 4
    money = Settings.from_env({"CREDIT_PRICE_CNY": "36.50", "COMPLIANCE_OFFSET_CAP": "0.08",
                               "ORDER_HOLD_MINUTES": "10", "DB_POOL_TIMEOUT": "9"})
    assert (str(money.credit_price_cny), str(money.compliance_offset_cap)) == ("36.50", "0.08")
    assert (money.order_hold_minutes, money.db_pool_timeout) == (10, 9)
    assert Settings.from_env({}).programme_timezone == "Asia/Shanghai"


async def test_options_lists_every_method_of_the_path_to_anyone(client):
    for path, allow in (("/v1/bindings", "GET, OPTIONS, POST"),
                        ("/v1/admin/rewards", "GET, OPTIONS, POST"),
                        ("/healthz", "GET, OPTIONS")):
        r = await client.options(path)
        assert (r.status_code, r.headers["allow"]) == (204, allow), path


async def test_query_instants_must_be_rfc_3339_with_an_offset(client, citizen):
    for raw in ("0.5", "1700000000", "2026-11-23", "2026-11-23T08:00:00", "yesterday"):
        r = await client.get("/v1/behaviours/", params={"occurred_from": raw},
                             headers=citizen.headers)
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "occurred_from", raw
    ok = await client.get("/v1/behaviours/", params={"occurred_from": "2026-11-23T08:00+08:00"},
                          headers=citizen.headers)
    assert ok.status_code == 200


async def test_a_version_number_beyond_what_is_stored_is_a_422_not_a_crash(client):
    r = await client.get("/v1/methodologies/CQ-TRANSIT/versions/12833385205636937775234064234")
    assert (r.status_code, r.json()["errors"][0]["field"]) == (422, "version")
