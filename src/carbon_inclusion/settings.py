"""Runtime settings: one frozen object read from the environment.

Every setting has an environment variable (listed in the README), named on its field below
with its type, bound and default. ``Settings.from_env`` is the only place that reads
``os.environ``, and ``msgspec.convert`` turns the text into the typed fields; everything
else receives a ``Settings``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec

from carbon_inclusion.common.decoding import field_of
from carbon_inclusion.common.storage import StoreURLError, parse_store_url

DEV_SECRET_KEY = "dev-only-secret-key-change-me-in-production-0000"  # noqa: S105
ENVIRONMENTS = ("development", "test", "production")
SMS_SENDERS = ("outbox",)  # accounts.sms.SENDERS: the implemented ones


DEFAULT_OPERATOR = "碳惠通碳普惠平台运营中心"
WILDCARD_HOSTS = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}  # noqa: S104


def listening_url(host: str, port: int) -> str:
    """``http://HOST:PORT``, as a link: a wildcard address as the loopback one, an IPv6
    address in brackets."""
    host = WILDCARD_HOSTS.get(host.strip(), host.strip())
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


class SettingsError(ValueError):
    """The environment does not describe a runnable service."""


AtLeast0 = Annotated[int, msgspec.Meta(ge=0)]
AtLeast1 = Annotated[int, msgspec.Meta(ge=1)]
AtLeast60 = Annotated[int, msgspec.Meta(ge=60)]
AtLeast300 = Annotated[int, msgspec.Meta(ge=300)]
AtLeast1024 = Annotated[int, msgspec.Meta(ge=1024)]
PhotoBytes = Annotated[int, msgspec.Meta(ge=1024, le=50 * 1024 * 1024)]
Flag = Annotated[bool, msgspec.Meta(description="true or false")]
Money = Annotated[Decimal, msgspec.Meta(description="a positive amount in whole fen, like 40.00")]
Share = Annotated[Decimal, msgspec.Meta(
    description="a fraction above 0 and at most 1, like 0.05")]


def normalise_database_url(url: str) -> str:
    """Accept ``postgres://`` / ``postgresql://`` URLs and pin the asyncpg driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    return url


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    environment: str = msgspec.field(default="development", name="APP_ENV")
    database_url: str = msgspec.field(
        default="postgresql+asyncpg://postgres@127.0.0.1:5432/carbon_inclusion",
        name="DATABASE_URL")
    redis_url: str = msgspec.field(default="redis://127.0.0.1:6379/0", name="REDIS_URL")
    # Every Redis key and channel starts with this, so several deployments (or a test session)
    # can share one Redis without seeing each other.
    redis_prefix: str = msgspec.field(default="ci:", name="REDIS_PREFIX")
    # REDIS_URL names one node of a Redis Cluster (also said by a redis+cluster:// URL).
    redis_cluster: Flag = msgspec.field(default=False, name="REDIS_CLUSTER")
    host: str = msgspec.field(default="127.0.0.1", name="HOST")
    port: AtLeast1 = msgspec.field(default=8000, name="PORT")
    workers: AtLeast1 = msgspec.field(default=2, name="WEB_WORKERS")
    # Enough for the concurrency a worker sees, so connections are reused, not re-opened.
    db_pool_size: AtLeast1 = msgspec.field(default=20, name="DB_POOL_SIZE")
    db_max_overflow: AtLeast0 = msgspec.field(default=5, name="DB_MAX_OVERFLOW")
    # How long a request waits for a free connection before it is answered 503.
    db_pool_timeout: AtLeast1 = msgspec.field(default=5, name="DB_POOL_TIMEOUT")
    programme_timezone: str = msgspec.field(default="Asia/Shanghai", name="PROGRAMME_TZ")
    # Base of public links (certificates and their QR codes); unset: where the service
    # listens, http://HOST:PORT (a wildcard HOST as 127.0.0.1).
    public_base_url: str = msgspec.field(default="", name="PUBLIC_BASE_URL")
    # Who runs the programme: the issuer named on certificates.
    programme_operator: str = msgspec.field(
        default=DEFAULT_OPERATOR, name="PROGRAMME_OPERATOR")
    secret_key: str = msgspec.field(default=DEV_SECRET_KEY, name="SECRET_KEY")
    # The master key phone numbers are encrypted (and blind-indexed) with; unset: derived
    # from SECRET_KEY, which production refuses. Changing it makes every stored phone
    # unreadable and unfindable (security/phone_crypto.py).
    phone_key: str = msgspec.field(default="", name="PHONE_KEY")
    jwt_issuer: str = msgspec.field(default="carbon-inclusion", name="JWT_ISSUER")
    jwt_audience: str = msgspec.field(default="carbon-inclusion-api", name="JWT_AUDIENCE")
    jwt_keys_dir: Path = msgspec.field(
        default_factory=lambda: Path(".data/jwt"), name="JWT_KEYS_DIR")
    jwt_active_kid: str | None = msgspec.field(default=None, name="JWT_ACTIVE_KID")
    access_token_ttl_s: AtLeast60 = msgspec.field(default=900, name="ACCESS_TOKEN_TTL")
    refresh_token_ttl_s: AtLeast300 = msgspec.field(
        default=30 * 24 * 3600, name="REFRESH_TOKEN_TTL")
    max_body_bytes: AtLeast1024 = msgspec.field(default=64 * 1024, name="MAX_BODY_BYTES")
    # Connections: seconds a client has to send a request's headers (granian's HTTP/1
    # header read timeout) and its body (the edge's body read timeout), and how many live
    # event streams a citizen may hold open per API process (the oldest is closed).
    header_timeout_s: AtLeast1 = msgspec.field(default=10, name="HEADER_TIMEOUT")
    body_timeout_s: AtLeast1 = msgspec.field(default=30, name="BODY_TIMEOUT")
    live_streams_per_citizen: AtLeast1 = msgspec.field(
        default=3, name="LIVE_STREAMS_PER_CITIZEN")
    # Sign-in throttling: failed attempts per phone and per client address (failures only:
    # many citizens share one carrier-grade NAT address), reserved before the password check.
    login_failures_per_phone: AtLeast1 = msgspec.field(
        default=5, name="LOGIN_FAILURES_PER_PHONE")
    login_failures_per_ip: AtLeast1 = msgspec.field(default=60, name="LOGIN_FAILURES_PER_IP")
    login_window_s: AtLeast1 = msgspec.field(default=900, name="LOGIN_WINDOW")
    # Registrations (and code re-sends) per client address per REGISTRATION_WINDOW.
    registrations_per_ip: AtLeast1 = msgspec.field(default=10, name="REGISTRATIONS_PER_IP")
    registration_window_s: AtLeast1 = msgspec.field(default=3600, name="REGISTRATION_WINDOW")
    # Phone verification: how long a one-time code holds, wrong codes per phone per
    # LOGIN_WINDOW, re-sends per phone per REGISTRATION_WINDOW, and how SMS are sent.
    phone_code_ttl_s: AtLeast1 = msgspec.field(default=300, name="PHONE_CODE_TTL")
    phone_code_attempts: AtLeast1 = msgspec.field(default=5, name="PHONE_CODE_ATTEMPTS")
    phone_code_resends: AtLeast1 = msgspec.field(default=3, name="PHONE_CODE_RESENDS")
    sms_sender: str = msgspec.field(default="outbox", name="SMS_SENDER")
    log_json: Flag = msgspec.field(default=True, name="LOG_JSON")
    # How long a rotated partner secret keeps verifying.
    partner_secret_grace_s: AtLeast0 = msgspec.field(
        default=24 * 3600, name="PARTNER_SECRET_GRACE")
    # Bindings: attempts (and binding-code guesses) per citizen per hour; how long a
    # partner's one-time binding code is valid.
    binding_attempts_per_hour: AtLeast1 = msgspec.field(
        default=10, name="BINDING_ATTEMPTS_PER_HOUR")
    binding_code_ttl_s: AtLeast1 = msgspec.field(default=600, name="BINDING_CODE_TTL")
    # Behaviours: how old a behaviour may be when it is claimed or its card is bound, how far
    # in the future a clock may run, and how close two records must be to be the same trip.
    claim_window_days: AtLeast1 = msgspec.field(default=30, name="CLAIM_WINDOW_DAYS")
    clock_skew_s: AtLeast0 = msgspec.field(default=300, name="CLOCK_SKEW")
    same_trip_window_s: AtLeast0 = msgspec.field(default=600, name="SAME_TRIP_WINDOW")
    claims_per_minute: AtLeast1 = msgspec.field(default=30, name="CLAIMS_PER_MINUTE")
    partner_batches_per_minute: AtLeast1 = msgspec.field(
        default=600, name="PARTNER_BATCHES_PER_MINUTE")
    # Raw trip data older than this is reduced to what accounting needs (privacy reduce).
    trip_retention_days: AtLeast1 = msgspec.field(default=365, name="TRIP_RETENTION_DAYS")
    # Points earned in a year expire at the end of the N-th year after it; 0: never.
    points_expiry_years: AtLeast0 = msgspec.field(default=0, name="POINTS_EXPIRY_YEARS")
    # Credits: the programme's price per tonne (CNY, whole fen) and how long a quote holds them.
    credit_price_cny: Money = msgspec.field(default=Decimal("40.00"), name="CREDIT_PRICE_CNY")
    order_hold_minutes: AtLeast1 = msgspec.field(default=30, name="ORDER_HOLD_MINUTES")
    # Unpaid quotes cannot hoard the registry: an organisation has at most this many open
    # (reserved, unexpired) quotes, and reserves at most this share of the credits on the
    # market (available + reserved by open quotes), see ``core.quotes``.
    order_open_quotes_per_org: AtLeast1 = msgspec.field(
        default=3, name="ORDER_OPEN_QUOTES_PER_ORG")
    order_max_reserved_share: Share = msgspec.field(
        default=Decimal("0.5"), name="ORDER_MAX_RESERVED_SHARE")
    # Seconds the public overview (GET /v1/public/overview) is kept in Redis before it is
    # read again from PostgreSQL; 0: read every time.
    overview_cache_s: AtLeast0 = msgspec.field(default=60, name="OVERVIEW_CACHE_S")
    # Uploaded objects (photo evidence): a directory (file:///abs/dir, or file:rel/dir under
    # the working directory) or an S3-compatible bucket (s3://bucket[/prefix]) with the
    # S3_* settings; S3_ENDPOINT_URL unset means AWS itself (the region's endpoint).
    storage_url: str = msgspec.field(default="file:.data/objects", name="STORAGE_URL")
    s3_endpoint_url: str = msgspec.field(default="", name="S3_ENDPOINT_URL")
    s3_region: str = msgspec.field(default="us-east-1", name="S3_REGION")
    s3_access_key_id: str = msgspec.field(default="", name="S3_ACCESS_KEY_ID")
    s3_secret_access_key: str = msgspec.field(default="", name="S3_SECRET_ACCESS_KEY")
    # Photo evidence: the largest upload accepted, and uploads per citizen per hour. Photos
    # of behaviours are deleted with the raw trip data (TRIP_RETENTION_DAYS).
    photo_max_bytes: PhotoBytes = msgspec.field(default=5 * 1024 * 1024, name="PHOTO_MAX_BYTES")
    photos_per_hour: AtLeast1 = msgspec.field(default=30, name="PHOTOS_PER_HOUR")
    # A photo no claim took within this many hours is deleted (privacy reduce).
    photo_unattached_hours: AtLeast1 = msgspec.field(default=24, name="PHOTO_UNATTACHED_HOURS")
    # Compliance offsets may cover at most this share of an enterprise's verified emissions.
    compliance_offset_cap: Share = msgspec.field(
        default=Decimal("0.05"), name="COMPLIANCE_OFFSET_CAP")

    @property
    def is_production(self) -> bool:
        return self.environment == "production"

    @property
    def public_url(self) -> str:
        """The base of public links: ``PUBLIC_BASE_URL``, else where the service listens."""
        return self.public_base_url or listening_url(self.host, self.port)

    @property
    def redis_is_cluster(self) -> bool:
        return self.redis_cluster or self.redis_url.startswith(
            ("redis+cluster://", "rediss+cluster://"))

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.programme_timezone)

    def with_overrides(self, **changes: Any) -> Settings:
        return msgspec.structs.replace(self, **changes)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        try:
            settings = msgspec.convert(_variables(env), cls, strict=False, dec_hook=_path)
        except msgspec.ValidationError as exc:
            name, _ = field_of(exc)
            raise SettingsError(_problem(name, env[name])) from None
        for name, ok in _DECIMAL_OK.items():
            value = getattr(settings, _FIELDS[name].name)
            try:
                good = value.is_finite() and ok(value)
            except ArithmeticError:  # 1E+400 cannot even be quantized to the fen
                good = False
            if not good:
                raise SettingsError(_problem(name, env[name]))
        settings = msgspec.structs.replace(
            settings, database_url=normalise_database_url(settings.database_url),
            public_base_url=settings.public_base_url.strip().rstrip("/"))
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
        if self.is_production and (len(self.phone_key) < 32 or self.phone_key == self.secret_key):
            raise SettingsError(
                "production refuses to start without PHONE_KEY "
                "(at least 32 characters, not the SECRET_KEY)"
            )
        if self.sms_sender not in SMS_SENDERS:
            raise SettingsError(f"SMS_SENDER must be one of {', '.join(SMS_SENDERS)} "
                                f"(no other sender is implemented)")
        if not self.public_url.startswith(("http://", "https://")):
            raise SettingsError("PUBLIC_BASE_URL must be an http:// or https:// URL, "
                                f"got {self.public_base_url!r}")
        if not self.programme_operator.strip():
            raise SettingsError("PROGRAMME_OPERATOR must name the programme's operator")
        if not self.database_url.startswith("postgresql+asyncpg://"):
            raise SettingsError("DATABASE_URL must be a PostgreSQL URL")
        if self.redis_is_cluster:
            self._validate_cluster()
        self._validate_storage()
        if self.is_production and (self.secret_key == DEV_SECRET_KEY or len(self.secret_key) < 32):
            raise SettingsError(
                "production refuses to start without SECRET_KEY "
                "(at least 32 characters, not the development default)"
            )

    def _validate_storage(self) -> None:
        try:
            kind, _, _ = parse_store_url(self.storage_url)
        except StoreURLError as exc:
            raise SettingsError(str(exc)) from None
        if kind == "s3" and not (self.s3_access_key_id and self.s3_secret_access_key):
            raise SettingsError("STORAGE_URL s3://… needs S3_ACCESS_KEY_ID and "
                                "S3_SECRET_ACCESS_KEY")
        if self.s3_endpoint_url and not self.s3_endpoint_url.startswith(
                ("http://", "https://")):
            raise SettingsError("S3_ENDPOINT_URL must be an http:// or https:// URL, "
                                f"got {self.s3_endpoint_url!r}")

    def _validate_cluster(self) -> None:
        url = self.redis_url
        for scheme in ("redis+cluster://", "rediss+cluster://", "redis://", "rediss://"):
            if url.startswith(scheme):
                break
        else:
            raise SettingsError("REDIS_URL of a Redis Cluster must name a node as "
                                f"redis://host:port or redis+cluster://host:port, got {url!r}")
        path = url.split("//", 1)[1].split("?", 1)[0].partition("/")[2]
        if path not in ("", "0"):
            raise SettingsError(f"a Redis Cluster has only database 0; REDIS_URL names /{path}")
        if "{" in self.redis_prefix or "}" in self.redis_prefix:
            raise SettingsError("REDIS_PREFIX must not contain { or } on a Redis Cluster "
                                "(it would be every key's hash tag: one node for all)")


def _metas(kind: Any) -> list[msgspec.Meta]:
    out: list[msgspec.Meta] = []
    for arg in get_args(kind):
        out += [arg] if isinstance(arg, msgspec.Meta) else _metas(arg)
    return out


_FIELDS = {f.encode_name: f for f in msgspec.structs.fields(Settings)}
_MINIMUM = {name: next((m.ge for m in _metas(f.type) if m.ge is not None), None)
            for name, f in _FIELDS.items()}
_MAXIMUM = {name: next((m.le for m in _metas(f.type) if m.le is not None), None)
            for name, f in _FIELDS.items()}
_MEANING = {name: next((m.description for m in _metas(f.type) if m.description), None)
            for name, f in _FIELDS.items()}
# Text keeps an empty value (REDIS_PREFIX="" is no prefix); numbers, flags, paths, the key id
# and the two URLs fall back to their default when set empty.
_EMPTY_IS_DEFAULT = {name for name, f in _FIELDS.items() if f.type is not str} | {
    "DATABASE_URL", "REDIS_URL"}
_FLAG_WORDS = {"yes": "true", "on": "true", "no": "false", "off": "false"}
# What msgspec's constraints cannot say: exact to the fen, a finite fraction.
_DECIMAL_OK: dict[str, Callable[[Decimal], bool]] = {
    "CREDIT_PRICE_CNY": lambda v: v > 0 and v == v.quantize(Decimal("0.01")),
    "COMPLIANCE_OFFSET_CAP": lambda v: 0 < v <= 1,
    "ORDER_MAX_RESERVED_SHARE": lambda v: 0 < v <= 1,
}


def _variables(env: Mapping[str, str]) -> dict[str, str]:
    """The settings' variables that are set, as msgspec should read them."""
    out: dict[str, str] = {}
    for name, f in _FIELDS.items():
        value = env.get(name)
        if value is None or (value == "" and name in _EMPTY_IS_DEFAULT):
            continue
        if _MEANING[name] == "true or false":
            value = _FLAG_WORDS.get(value.lower(), value)
        elif f.type is not str:
            value = value.strip()
        out[name] = value
    return out


def _path(kind: type, value: Any) -> Any:
    if kind is Path and isinstance(value, str):
        return Path(value)
    raise NotImplementedError


def _problem(name: str, raw: str) -> str:
    """What is wrong with ``name``, in the words the service has always used."""
    minimum = _MINIMUM[name]
    if minimum is None:
        return f"{name} must be {_MEANING[name] or 'text'}, got {raw!r}"
    if raw.strip().lstrip("-").isdigit():
        maximum = _MAXIMUM[name]
        if maximum is not None and int(raw) > maximum:
            return f"{name} must be at most {maximum}, got {int(raw)}"
        return f"{name} must be at least {minimum}, got {int(raw)}"
    return f"{name} must be an integer, got {raw!r}"
