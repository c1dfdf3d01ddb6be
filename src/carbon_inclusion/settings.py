"""Runtime settings: one frozen object read from the environment.

Every setting has an environment variable (listed in the README). ``Settings.from_env`` is the
only place that reads ``os.environ``; everything else receives a ``Settings``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEV_SECRET_KEY = "dev-only-secret-key-change-me-in-production-0000"  # noqa: S105
ENVIRONMENTS = ("development", "test", "production")


class SettingsError(ValueError):
    """The environment does not describe a runnable service."""


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise SettingsError(f"{name} must be at least {minimum}, got {value}")
    return value


def _decimal(env: Mapping[str, str], name: str, default: Decimal,
             ok: Callable[[Decimal], bool], meaning: str) -> Decimal:
    """``name`` as a Decimal for which ``ok`` holds; ``meaning`` says what it must be."""
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = Decimal(raw)
    except ArithmeticError:
        value = None
    if value is None or not value.is_finite() or not ok(value):
        raise SettingsError(f"{name} must be {meaning}, got {raw!r}")
    return value


def _money(env: Mapping[str, str], name: str, default: Decimal) -> Decimal:
    return _decimal(env, name, default, lambda v: v > 0 and v == v.quantize(Decimal("0.01")),
                    "a positive amount in whole fen, like 40.00")


def _share(env: Mapping[str, str], name: str, default: Decimal) -> Decimal:
    return _decimal(env, name, default, lambda v: 0 < v <= 1,
                    "a fraction above 0 and at most 1, like 0.05")


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in ("1", "true", "yes", "on"):
        return True
    if raw.lower() in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{name} must be true or false, got {raw!r}")


def normalise_database_url(url: str) -> str:
    """Accept ``postgres://`` / ``postgresql://`` URLs and pin the asyncpg driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    return url


@dataclass(frozen=True, slots=True)
class Settings:
    environment: str = "development"
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/carbon_inclusion"
    redis_url: str = "redis://127.0.0.1:6379/0"
    # Every Redis key and channel starts with this, so several deployments (or a test session)
    # can share one Redis without seeing each other.
    redis_prefix: str = "ci:"
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 2
    # Enough for the concurrency a worker sees, so connections are reused, not re-opened.
    db_pool_size: int = 20
    db_max_overflow: int = 5
    # How long a request waits for a free connection before it is answered 503.
    db_pool_timeout: int = 5
    programme_timezone: str = "Asia/Shanghai"
    public_base_url: str = "http://127.0.0.1:8000"
    secret_key: str = DEV_SECRET_KEY
    jwt_issuer: str = "carbon-inclusion"
    jwt_audience: str = "carbon-inclusion-api"
    jwt_keys_dir: Path = field(default_factory=lambda: Path(".data/jwt"))
    jwt_active_kid: str | None = None
    access_token_ttl_s: int = 900
    refresh_token_ttl_s: int = 30 * 24 * 3600
    max_body_bytes: int = 64 * 1024
    # Sign-in throttling: failed attempts per phone, and all attempts per client address.
    login_failures_per_phone: int = 5
    login_attempts_per_ip: int = 60
    login_window_s: int = 900
    log_json: bool = True
    # How long a rotated partner secret keeps verifying.
    partner_secret_grace_s: int = 24 * 3600
    # Behaviours: how old a behaviour may be when it is claimed or its card is bound, how far
    # in the future a clock may run, and how close two records must be to be the same trip.
    claim_window_days: int = 30
    clock_skew_s: int = 300
    same_trip_window_s: int = 600
    claims_per_minute: int = 30
    partner_batches_per_minute: int = 600
    # Points earned in a year expire at the end of the N-th year after it; 0: never.
    points_expiry_years: int = 0
    # Credits: the programme's price per tonne (CNY, whole fen) and how long a quote holds them.
    credit_price_cny: Decimal = Decimal("40.00")
    order_hold_minutes: int = 30
    # Compliance offsets may cover at most this share of an enterprise's verified emissions.
    compliance_offset_cap: Decimal = Decimal("0.05")

    @property
    def is_production(self) -> bool:
        return self.environment == "production"

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.programme_timezone)

    def with_overrides(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        d = cls()
        settings = cls(
            environment=env.get("APP_ENV", d.environment),
            database_url=normalise_database_url(env.get("DATABASE_URL") or d.database_url),
            redis_url=env.get("REDIS_URL") or d.redis_url,
            redis_prefix=env.get("REDIS_PREFIX", d.redis_prefix),
            host=env.get("HOST", d.host),
            port=_int(env, "PORT", d.port, 1),
            workers=_int(env, "WEB_WORKERS", d.workers, 1),
            db_pool_size=_int(env, "DB_POOL_SIZE", d.db_pool_size, 1),
            db_max_overflow=_int(env, "DB_MAX_OVERFLOW", d.db_max_overflow, 0),
            db_pool_timeout=_int(env, "DB_POOL_TIMEOUT", d.db_pool_timeout, 1),
            programme_timezone=env.get("PROGRAMME_TZ", d.programme_timezone),
            public_base_url=env.get("PUBLIC_BASE_URL", d.public_base_url).rstrip("/"),
            secret_key=env.get("SECRET_KEY", d.secret_key),
            jwt_issuer=env.get("JWT_ISSUER", d.jwt_issuer),
            jwt_audience=env.get("JWT_AUDIENCE", d.jwt_audience),
            jwt_keys_dir=Path(env.get("JWT_KEYS_DIR") or d.jwt_keys_dir),
            jwt_active_kid=env.get("JWT_ACTIVE_KID") or None,
            access_token_ttl_s=_int(env, "ACCESS_TOKEN_TTL", d.access_token_ttl_s, 60),
            refresh_token_ttl_s=_int(env, "REFRESH_TOKEN_TTL", d.refresh_token_ttl_s, 300),
            max_body_bytes=_int(env, "MAX_BODY_BYTES", d.max_body_bytes, 1024),
            login_failures_per_phone=_int(
                env, "LOGIN_FAILURES_PER_PHONE", d.login_failures_per_phone, 1
            ),
            login_attempts_per_ip=_int(env, "LOGIN_ATTEMPTS_PER_IP", d.login_attempts_per_ip, 1),
            login_window_s=_int(env, "LOGIN_WINDOW", d.login_window_s, 1),
            log_json=_bool(env, "LOG_JSON", d.log_json),
            partner_secret_grace_s=_int(env, "PARTNER_SECRET_GRACE", d.partner_secret_grace_s, 0),
            claim_window_days=_int(env, "CLAIM_WINDOW_DAYS", d.claim_window_days, 1),
            clock_skew_s=_int(env, "CLOCK_SKEW", d.clock_skew_s, 0),
            same_trip_window_s=_int(env, "SAME_TRIP_WINDOW", d.same_trip_window_s, 0),
            claims_per_minute=_int(env, "CLAIMS_PER_MINUTE", d.claims_per_minute, 1),
            partner_batches_per_minute=_int(
                env, "PARTNER_BATCHES_PER_MINUTE", d.partner_batches_per_minute, 1),
            points_expiry_years=_int(env, "POINTS_EXPIRY_YEARS", d.points_expiry_years, 0),
            credit_price_cny=_money(env, "CREDIT_PRICE_CNY", d.credit_price_cny),
            order_hold_minutes=_int(env, "ORDER_HOLD_MINUTES", d.order_hold_minutes, 1),
            compliance_offset_cap=_share(env, "COMPLIANCE_OFFSET_CAP", d.compliance_offset_cap),
        )
        if settings.is_production and "JWT_KEYS_DIR" not in env:
            raise SettingsError("production needs JWT_KEYS_DIR (a directory of Ed25519 PEM keys)")
        settings.validate()
        return settings

    def validate(self) -> None:
        if self.environment not in ENVIRONMENTS:
            raise SettingsError(f"APP_ENV must be one of {', '.join(ENVIRONMENTS)}")
        try:
            ZoneInfo(self.programme_timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise SettingsError(f"PROGRAMME_TZ {self.programme_timezone!r} is unknown") from None
        if not self.database_url.startswith("postgresql+asyncpg://"):
            raise SettingsError("DATABASE_URL must be a PostgreSQL URL")
        if self.is_production and (self.secret_key == DEV_SECRET_KEY or len(self.secret_key) < 32):
            raise SettingsError(
                "production refuses to start without SECRET_KEY "
                "(at least 32 characters, not the development default)"
            )
