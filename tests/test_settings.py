"""Settings read from the environment by msgspec keep the hand parser's rules."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from carbon_inclusion.settings import Settings, SettingsError


def test_unset_and_empty_variables_give_the_defaults_except_where_empty_means_something():
    assert Settings.from_env({}) == Settings()
    empty = Settings.from_env({"PORT": "", "LOG_JSON": "", "CREDIT_PRICE_CNY": "",
                               "DATABASE_URL": "", "JWT_KEYS_DIR": "", "JWT_ACTIVE_KID": "",
                               "REDIS_PREFIX": ""})
    assert (empty.port, empty.log_json, empty.credit_price_cny) == (8000, True, Decimal("40.00"))
    assert (empty.database_url, empty.jwt_keys_dir) == (Settings().database_url,
                                                        Path(".data/jwt"))
    assert (empty.jwt_active_kid, empty.redis_prefix) == (None, "")


@pytest.mark.parametrize(("raw", "value"), [("yes", True), ("ON", True), ("1", True),
                                            ("off", False), ("No", False), ("false", False)])
def test_flags_read_the_usual_words(raw, value):
    assert Settings.from_env({"LOG_JSON": raw}).log_json is value


def test_values_are_typed_trimmed_and_normalised():
    s = Settings.from_env({"PORT": " 8080 ", "JWT_KEYS_DIR": "/keys", "JWT_ACTIVE_KID": "k1",
                           "PUBLIC_BASE_URL": "https://ci.example/", "POINTS_EXPIRY_YEARS": "0",
                           "DATABASE_URL": "postgresql://u@h/d"})
    assert (s.port, s.jwt_keys_dir, s.jwt_active_kid) == (8080, Path("/keys"), "k1")
    assert (s.public_base_url, s.points_expiry_years) == ("https://ci.example", 0)
    assert s.database_url == "postgresql+asyncpg://u@h/d"


@pytest.mark.parametrize(("env", "message"), [
    ({"PORT": "eighty"}, "PORT must be an integer, got 'eighty'"),
    ({"MAX_BODY_BYTES": "100"}, "MAX_BODY_BYTES must be at least 1024, got 100"),
    ({"LOG_JSON": "maybe"}, "LOG_JSON must be true or false, got 'maybe'"),
    ({"CREDIT_PRICE_CNY": "1e400"}, "CREDIT_PRICE_CNY must be a positive amount in whole fen"),
    ({"COMPLIANCE_OFFSET_CAP": "0"}, "COMPLIANCE_OFFSET_CAP must be a fraction above 0"),
])
def test_a_bad_value_is_refused_naming_the_variable(env, message):
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(env)
    assert str(caught.value).startswith(message)


@pytest.mark.parametrize(("env", "url"), [
    ({}, "http://127.0.0.1:8000"),
    ({"PORT": "8203"}, "http://127.0.0.1:8203"),
    ({"HOST": "0.0.0.0", "PORT": "8203"}, "http://127.0.0.1:8203"),  # noqa: S104
    ({"HOST": "::", "PORT": "9000"}, "http://[::1]:9000"),
    ({"HOST": "192.0.2.10"}, "http://192.0.2.10:8000"),
    ({"PORT": "8203", "PUBLIC_BASE_URL": ""}, "http://127.0.0.1:8203"),
    ({"PORT": "8203", "PUBLIC_BASE_URL": "https://thc.example/"}, "https://thc.example"),
])
def test_public_links_follow_host_and_port_unless_public_base_url_is_set(env, url):
    assert Settings.from_env(env).public_url == url


def test_links_follow_a_port_given_later_too():
    assert Settings().with_overrides(port=8203).public_url == "http://127.0.0.1:8203"


def test_the_programme_operator_is_a_setting():
    assert Settings.from_env({}).programme_operator == "碳惠通碳普惠平台运营中心"
    assert Settings.from_env({"PROGRAMME_OPERATOR": "某市碳普惠运营中心"}
                             ).programme_operator == "某市碳普惠运营中心"


@pytest.mark.parametrize(("env", "message"), [
    ({"PUBLIC_BASE_URL": "thc.example"}, "PUBLIC_BASE_URL must be an http:// or https:// URL"),
    ({"PROGRAMME_OPERATOR": "  "}, "PROGRAMME_OPERATOR must name"),
])
def test_links_and_issuer_that_cannot_work_are_refused(env, message):
    with pytest.raises(SettingsError, match=message):
        Settings.from_env(env)
