"""The composition root: ``create_app(settings)`` wires storage, services, routes and errors."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar, Router
from litestar.datastructures import State
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, Contact, License, SecurityScheme, Tag
from litestar.routes import HTTPRoute
from litestar.types import Message, Receive, Scope, Send

from carbon_inclusion.accounts.directory import Directory
from carbon_inclusion.accounts.routes import (
    AdminAccountsController,
    AuthController,
    DistrictController,
    MeController,
    OrganisationController,
)
from carbon_inclusion.accounts.service import AccountsService
from carbon_inclusion.admin.overview import PublicOverview
from carbon_inclusion.admin.routes import AdminStatsController, PublicOverviewController
from carbon_inclusion.admin.service import ProgrammeStats
from carbon_inclusion.audit.routes import AdminAuditController
from carbon_inclusion.audit.service import AuditLog
from carbon_inclusion.behaviours import repository as behaviours_repository
from carbon_inclusion.behaviours.routes import (
    AdminIngestionController,
    AdminReviewController,
    AdminSimulateController,
    BehaviourController,
    PartnerBehaviourController,
    WalletController,
)
from carbon_inclusion.behaviours.service import BehaviourService
from carbon_inclusion.common.clock import SYSTEM_CLOCK, Clock
from carbon_inclusion.db import Database
from carbon_inclusion.emissions.routes import (
    AdminEmissionsController,
    OrganisationEmissionsController,
    VerifierEmissionsController,
)
from carbon_inclusion.emissions.service import EmissionsService
from carbon_inclusion.events import repository as events_repository
from carbon_inclusion.events.listing import CertificateList
from carbon_inclusion.events.routes import (
    AdminCertificateController,
    CertificateController,
    ComplianceController,
    EventController,
)
from carbon_inclusion.events.service import EventService
from carbon_inclusion.gamification.badges import BadgeService
from carbon_inclusion.gamification.challenges import ChallengeService
from carbon_inclusion.gamification.leaderboards import Leaderboards
from carbon_inclusion.gamification.routes import (
    AdminBadgeController,
    AdminChallengeController,
    BadgeController,
    ChallengeController,
    ChallengeJoinController,
    LeaderboardController,
    MyGameController,
)
from carbon_inclusion.gamification.service import ProgressService
from carbon_inclusion.logs import configure_logging
from carbon_inclusion.methodologies.routes import (
    AdminMethodologyController,
    MethodologyController,
)
from carbon_inclusion.methodologies.service import MethodologyService
from carbon_inclusion.notifications.routes import EventStreamController
from carbon_inclusion.notifications.service import Notifier, points_credited
from carbon_inclusion.partners.routes import (
    AdminPartnerController,
    BindingController,
    PartnerBindingController,
    PartnerDirectoryController,
)
from carbon_inclusion.partners.service import PartnerService
from carbon_inclusion.photos.routes import PhotoController
from carbon_inclusion.photos.service import PhotoService, open_photo_store
from carbon_inclusion.privacy.routes import MyDataController, PrivacyNoticeController
from carbon_inclusion.privacy.service import PrivacyService
from carbon_inclusion.ratelimit import RateLimiter
from carbon_inclusion.redis_store import RedisStore
from carbon_inclusion.registry.batches import BatchService
from carbon_inclusion.registry.orders import OrderService
from carbon_inclusion.registry.provenance import ProvenanceService
from carbon_inclusion.registry.routes import (
    AdminRegistryController,
    OrderController,
    RegistryController,
    VerifierBatchController,
)
from carbon_inclusion.registry.service import RegistryService
from carbon_inclusion.rewards.routes import (
    AdminRewardController,
    PartnerVoucherController,
    RedemptionController,
    RewardController,
)
from carbon_inclusion.rewards.service import RewardService
from carbon_inclusion.security.tokens import AccessTokens, KeyRing
from carbon_inclusion.settings import Settings
from carbon_inclusion.web.auth import PUBLIC, BearerAuthMiddleware, current_principal, role_guard
from carbon_inclusion.web.decoding import BODY_METHODS, check_request, timed_receive
from carbon_inclusion.web.docs import LocalSwaggerUI
from carbon_inclusion.web.docs import assets_router as docs_assets_router
from carbon_inclusion.web.health import HealthController
from carbon_inclusion.web.observe import MetricsController, observe
from carbon_inclusion.web.openapi import AmountSchema, complete_document
from carbon_inclusion.web.pages import pages_router
from carbon_inclusion.web.problems import EXCEPTION_HANDLERS

API_VERSION = "1.0.0"

ROUTE_HANDLERS = [
    HealthController,
    MetricsController,
    AuthController,
    MeController,
    DistrictController,
    OrganisationController,
    AdminAccountsController,
    PrivacyNoticeController,
    MyDataController,
    MethodologyController,
    AdminMethodologyController,
    PartnerDirectoryController,
    AdminPartnerController,
    BindingController,
    PartnerBindingController,
    BehaviourController,
    PhotoController,
    WalletController,
    PartnerBehaviourController,
    AdminReviewController,
    AdminIngestionController,
    AdminSimulateController,
    RewardController,
    RedemptionController,
    AdminRewardController,
    PartnerVoucherController,
    LeaderboardController,
    AdminBadgeController,
    BadgeController,
    MyGameController,
    EventStreamController,
    AdminChallengeController,
    ChallengeController,
    ChallengeJoinController,
    AdminRegistryController,
    RegistryController,
    VerifierBatchController,
    OrderController,
    EventController,
    ComplianceController,
    CertificateController,
    AdminCertificateController,
    VerifierEmissionsController,
    OrganisationEmissionsController,
    AdminEmissionsController,
    AdminAuditController,
    AdminStatsController,
    PublicOverviewController,
]


def build_state(settings: Settings, clock: Clock = SYSTEM_CLOCK) -> State:
    """Every long-lived object the routes use, built once per process; ``clock`` is the one
    source of "now" that services take (tests pin it)."""
    db = Database.from_settings(settings)
    redis = RedisStore.from_settings(settings)
    ring = KeyRing.load(settings.jwt_keys_dir, settings.jwt_active_kid,
                        create=not settings.is_production)
    tokens = AccessTokens(ring, issuer=settings.jwt_issuer, audience=settings.jwt_audience,
                          ttl_s=settings.access_token_ttl_s)
    limiter = RateLimiter(redis)
    accounts = AccountsService(db, tokens, limiter, settings, clock)
    methodologies = MethodologyService(db, clock)
    partners = PartnerService(db, settings, clock, limiter)
    leaderboards = Leaderboards(db, redis, settings, clock)
    notifier = Notifier(redis, clock, settings.live_streams_per_citizen)
    badges = BadgeService(db, settings, notifier, clock)
    challenges = ChallengeService(db, settings, notifier, clock)
    registry = RegistryService(db, settings, clock, behaviours=behaviours_repository,
                               certificate_of=events_repository.valid_certificate_of)
    provenance = ProvenanceService(db, settings, behaviours=behaviours_repository)
    batches = BatchService(db, settings, registry, clock, behaviours=behaviours_repository,
                           provenance=provenance)
    orders = OrderService(db, settings, clock)
    events = EventService(db, settings, clock)
    emissions = EmissionsService(db, settings, clock,
                                 offsets_used=events_repository.compliance_used_t)
    behaviours = BehaviourService(
        db, settings, methodologies, partners, limiter, on_change=leaderboards.touched,
        on_credited=[badges.on_credited, challenges.on_credited],
        on_paid=points_credited(notifier), clock=clock, may_earn=[accounts.require_consent],
        consented=accounts.consented_among)
    # A confirmed binding credits what waited for it, in the binding's transaction. Wired
    # here, not by the behaviour service itself: a second service (a test's, with other
    # settings) must not take the hook from the app's, with its consent filter.
    partners.on_bound = behaviours.credit_bound
    rewards = RewardService(db, settings, clock)
    store = open_photo_store(settings)
    photos = PhotoService(db, settings, store, limiter, clock)
    privacy = PrivacyService(db, accounts, settings, clock, photos=photos)
    progress = ProgressService(db, settings, clock)
    directory = Directory(db, accounts.phones)
    certificates = CertificateList(db, settings)
    audit = AuditLog(db)
    stats = ProgrammeStats(db, settings, clock)
    overview = PublicOverview(db, redis, settings, clock)
    return State(
        {
            "settings": settings,
            "clock": clock,
            "db": db,
            "redis": redis,
            "tokens": tokens,
            "limiter": limiter,
            "accounts": accounts,
            "privacy": privacy,
            "store": store,
            "photos": photos,
            "methodologies": methodologies,
            "partners": partners,
            "behaviours": behaviours,
            "rewards": rewards,
            "progress": progress,
            "leaderboards": leaderboards,
            "notifier": notifier,
            "badges": badges,
            "challenges": challenges,
            "registry": registry,
            "batches": batches,
            "provenance": provenance,
            "orders": orders,
            "events": events,
            "emissions": emissions,
            "directory": directory,
            "certificates": certificates,
            "audit": audit,
            "stats": stats,
            "overview": overview,
        }
    )


def _from_state(name: str) -> Provide:
    def provide(state: State) -> object:
        return state[name]

    provide.__name__ = f"provide_{name}"
    return Provide(provide, sync_to_thread=False)


# Every tag an operation carries, declared once with what it groups (a test checks both ways).
TAGS = {
    "auth": "Registration, sign-in, token refresh and sign-out; the keys that verify tokens.",
    "accounts": "The signed-in user's profile and the programme's districts.",
    "enterprises": "The organisation an enterprise user belongs to.",
    "methodologies": "Published methodologies: how a behaviour becomes grams of CO2e.",
    "partners": "Data partners: the directory citizens bind to, and the routes partners call "
    "with a signed request (DESIGN §9).",
    "bindings": "A citizen's bindings of partner cards and accounts.",
    "behaviours": "Low-carbon behaviours recorded by citizens or pushed by partners.",
    "wallet": "A citizen's points: balance and ledger entries.",
    "rewards": "Rewards on sale and the redemptions that spend points on them.",
    "gamification": "Badges, challenges, leaderboards and live notifications.",
    "registry": "Serial-numbered carbon credits: batches, serials, holdings and orders.",
    "events": "Enterprise events, their footprints, neutralisation, compliance offsets and "
    "certificates.",
    "compliance": "Compliance offsets (碳履约): the register of organisations' verified annual "
    "emissions, entered by verification bodies, that caps them.",
    "privacy": "Personal data (PIPL): the privacy notice and consent to it, export of "
    "one's own data and deletion of one's account.",
    "admin": "Programme administration; administrators only.",
    "verifier": "Independent verification bodies (核证机构): checking proposed credit "
    "batches; verifiers only.",
    "programme": "The programme in public figures: reductions, participants, credits and "
    "the newest certificates.",
    "operations": "Health, readiness and metrics of the service.",
}


def openapi_config() -> OpenAPIConfig:
    return OpenAPIConfig(
        # ASCII: client generators name their packages after the title.
        title="Carbon-inclusion API",
        version=API_VERSION,
        description=(
            "The API of a city-wide carbon-inclusion (碳普惠) programme. "
            "Citizens record low-carbon behaviours and earn points; methodologies turn "
            "behaviours into grams of CO2e; enterprises buy serial-numbered credits to make "
            "events carbon neutral. Errors are RFC 9457 problem+json."
        ),
        contact=Contact(name="Carbon-inclusion maintainers"),
        license=License(name="Apache-2.0", identifier="Apache-2.0"),
        tags=[Tag(name=name, description=text) for name, text in TAGS.items()],
        # The docs page and the live document are public.
        openapi_router=Router("/docs", route_handlers=[], opt={"public": True},
                              include_in_schema=False),
        # Swagger UI from the service's own files, never a CDN (web/docs.py).
        render_plugins=[LocalSwaggerUI(path="/")],
        components=Components(
            security_schemes={
                "bearer": SecurityScheme(type="http", scheme="bearer", bearer_format="JWT"),
                "partnerSignature": SecurityScheme(
                    type="apiKey", name="X-Signature", security_scheme_in="header",
                    description="HMAC-SHA256 of the timestamp and body with the partner's "
                    "secret, beside `X-Partner-Id` and `X-Timestamp` (DESIGN §9)."),
            }
        ),
        security=[{"bearer": []}],
        use_handler_docstrings=False,
    )


class App(Litestar):
    """Litestar, with every HTTP request observed (``web.observe``: request id, access log,
    metrics) from outside the router, so requests that match no route are seen too; a
    request's body must arrive within ``body_timeout_s`` (``BODY_TIMEOUT``)."""

    body_timeout_s: float = 30.0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            if scope["method"] == "OPTIONS":
                send = self._true_allow(scope, send)
            elif scope["method"] in BODY_METHODS:
                receive = timed_receive(receive, self.body_timeout_s)
        await observe(super().__call__, scope, receive, send)

    def _true_allow(self, scope: Scope, send: Send) -> Send:
        """Litestar's automatic OPTIONS answer lists the methods of the first handler
        registered on a path only (its handler keeps the route it was made for, which a
        second handler on the path replaces): say every method the path has."""
        if not hasattr(self, "_allow"):
            self._allow = {route.path_format: ", ".join(sorted(route.methods))
                           for route in self.routes if isinstance(route, HTTPRoute)}

        async def send_allow(message: Message) -> None:
            allow = self._allow.get(scope.get("path_template", ""))
            if message["type"] == "http.response.start" and allow:
                message["headers"] = [(k, v) for k, v in message.get("headers", ())
                                      if k.lower() != b"allow"] + [(b"allow", allow.encode())]
            await send(message)

        return send_allow


async def _partitions_at_start(db: Database, clock: Clock) -> None:
    """The current and next month's partitions (a read when they exist, as they do when the
    scheduler runs ``db partitions``). Never stops a start: PostgreSQL may be down (/readyz
    says so) and the default partitions take any row meanwhile."""
    from carbon_inclusion.db import partitions

    month = partitions.month_of(clock.now())
    try:
        async with asyncio.timeout(5), db.engine.begin() as conn:
            report = await partitions.ensure(conn, month, partitions.next_month(month))
    except Exception as exc:  # logged, the start goes on
        logging.getLogger(__name__).warning("partitions not checked at start: %s", exc)
        return
    for line in [*(f"created partition {n}" for n in report.created), *report.notes]:
        logging.getLogger(__name__).info(line)


def create_app(settings: Settings | None = None, clock: Clock = SYSTEM_CLOCK) -> Litestar:
    settings = settings or Settings.from_env()
    configure_logging(settings)
    state = build_state(settings, clock)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        await _partitions_at_start(app.state.db, clock)
        try:
            yield
        finally:
            # What commits queued for Redis goes out before the connections close.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.gather(
                    app.state.leaderboards.drain(), app.state.notifier.drain()), 5)
            await app.state.notifier.close()
            await app.state.store.close()
            await app.state.db.dispose()
            await app.state.redis.close()

    app = App(
        route_handlers=[*ROUTE_HANDLERS, docs_assets_router(PUBLIC), pages_router(PUBLIC)],
        state=state,
        lifespan=[lifespan],
        dependencies={
            "settings": _from_state("settings"),
            "db": _from_state("db"),
            "accounts": _from_state("accounts"),
            "privacy": _from_state("privacy"),
            "photos": _from_state("photos"),
            "methodologies": _from_state("methodologies"),
            "partners": _from_state("partners"),
            "behaviours": _from_state("behaviours"),
            "rewards": _from_state("rewards"),
            "progress": _from_state("progress"),
            "leaderboards": _from_state("leaderboards"),
            "notifier": _from_state("notifier"),
            "badges": _from_state("badges"),
            "challenges": _from_state("challenges"),
            "registry": _from_state("registry"),
            "batches": _from_state("batches"),
            "provenance": _from_state("provenance"),
            "orders": _from_state("orders"),
            "events": _from_state("events"),
            "emissions": _from_state("emissions"),
            "directory": _from_state("directory"),
            "certificates": _from_state("certificates"),
            "audit": _from_state("audit"),
            "stats": _from_state("stats"),
            "overview": _from_state("overview"),
            "principal": Provide(current_principal, sync_to_thread=False),
        },
        middleware=[BearerAuthMiddleware],
        guards=[role_guard],
        before_request=check_request,
        exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
        request_max_body_size=settings.max_body_bytes,
        openapi_config=openapi_config(),
        plugins=[AmountSchema()],
        debug=False,
    )
    app.body_timeout_s = settings.body_timeout_s
    complete_document(app)
    return app


def create_app_from_env() -> Litestar:
    """Factory for the ASGI server (``granian --factory``), called once per worker."""
    _end_with_parent()
    app = create_app(Settings.from_env())
    # Everything built so far lives as long as the worker: keep it out of the collector's
    # way, and collect the young generation less often (fewer, shorter pauses under load).
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 50)
    return app


def _end_with_parent() -> None:
    """A worker whose server process is killed (``kill -9``, a crash) would go on serving
    its port beside the next ``make run``: on Linux, ask the kernel to end it when its
    parent goes, and end now if the parent is gone already. SIGKILL: a granian worker
    given SIGTERM stops listening, then waits for its parent forever."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    parent = os.getppid()
    pr_set_pdeathsig = 1
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:
        os.kill(os.getpid(), signal.SIGKILL)
