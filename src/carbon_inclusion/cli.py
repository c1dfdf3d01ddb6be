"""The ``carbon-inclusion`` command: serve, db upgrade, seed, admin, openapi, methodology, and
the scheduled jobs (points expire, vouchers expire, privacy reduce, db partitions)."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from carbon_inclusion.settings import Settings, SettingsError

T = TypeVar("T")


def _settings() -> Settings:
    try:
        return Settings.from_env()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None


def _storage(*, serving: bool = False, schema: bool = True) -> Settings:
    """The settings, with the PostgreSQL and Redis this command is to use, resolved as
    ``serve`` resolves them (``devservices``): the URLs given, else the embedded servers
    that ``make run`` runs (``.data/services.json``, checked for life), else the local ones,
    else embedded ones started for this command and stopped after it. Says which on stderr.
    Beside a live ``serve`` (``make run``), links (certificates) start as its do, unless
    PUBLIC_BASE_URL is set; ``serving``: this command is that ``serve``. With ``schema``,
    a database not migrated to this code's schema is refused with what to run."""
    from carbon_inclusion.devservices import DevServices, install_signal_handlers

    settings = _settings()
    try:
        services = DevServices(
            Path(".data"),
            database_url=os.environ.get("DATABASE_URL") or None,
            redis_url=os.environ.get("REDIS_URL") or None,
            mode=os.environ.get("EMBEDDED_SERVICES") or "auto",
        )
        endpoints = services.start()
    except (RuntimeError, ValueError, OSError, subprocess.SubprocessError) as exc:
        raise click.ClickException(f"storage: {exc}") from None
    install_signal_handlers(services)
    context = click.get_current_context(silent=True)
    if context is not None:
        context.call_on_close(lambda: services.stop(say_left_running=serving))
    line = f"storage: {endpoints.describe()}"
    if serving:
        services.record_serving(settings.public_url, settings.port)
    elif not os.environ.get("PUBLIC_BASE_URL") and (live := services.serving()):
        settings = settings.with_overrides(public_base_url=live[0])
        os.environ["PUBLIC_BASE_URL"] = live[0]
        line += f"; links to {live[0]} ({live[1]})"
    click.echo(line, err=True)
    # Anything that reads the environment again (the app's factory) sees the same storage.
    os.environ["DATABASE_URL"] = endpoints.database_url
    os.environ["REDIS_URL"] = endpoints.redis_url
    settings = settings.with_overrides(database_url=endpoints.database_url,
                                       redis_url=endpoints.redis_url)
    if schema:
        _check_schema(settings)
    return settings


def _check_schema(settings: Settings) -> None:
    from carbon_inclusion.db.migrate import head_revision, revision_of

    async def current(db: Any) -> str | None:
        async with db.engine.connect() as conn:
            return await revision_of(conn)

    at, head = _with_db(settings, current), head_revision()
    if at != head:
        raise click.ClickException(
            f"this database is {'not migrated' if at is None else f'at revision {at}'}, "
            f"and this code's schema is {head}: run `make run` (which migrates it) or "
            "`carbon-inclusion db upgrade` first")


def _step(what: str) -> Callable[[], None]:
    """Say on stderr that a long step begins; the returned function says it ended, and how
    long it took."""
    began = time.monotonic()
    click.echo(f"{what}…", err=True)

    def done(result: str = "done") -> None:
        click.echo(f"{what}: {result} ({time.monotonic() - began:.1f} s)", err=True)

    return done


def _with_db(settings: Settings, fn: Callable[[Any], Awaitable[T]]) -> T:
    from carbon_inclusion.db import Database

    async def run() -> T:
        db = Database.from_settings(settings)
        try:
            return await fn(db)
        finally:
            await db.dispose()

    return asyncio.run(run())


@click.group()
def main() -> None:
    """Carbon-inclusion (碳普惠) programme backend."""


@main.command()
@click.option("--host", default=None, help="Address to listen on (HOST).")
@click.option("--port", type=int, default=None, help="Port to listen on (PORT).")
@click.option("--workers", type=int, default=None, help="Worker processes (WEB_WORKERS).")
@click.option("--no-setup", is_flag=True, help="Skip migrations and seed data.")
def serve(host: str | None, port: int | None, workers: int | None, no_setup: bool) -> None:
    """Resolve storage (starting embedded servers if needed), migrate, seed and serve."""
    # The workers read the environment: the options go there, and so does the storage used
    # (``_storage``); PUBLIC_BASE_URL, unless set, follows HOST and PORT.
    for name, value in (("HOST", host), ("PORT", port), ("WEB_WORKERS", workers)):
        if value is not None:
            os.environ[name] = str(value)
    _share_metrics()
    settings = _storage(serving=True, schema=False)
    if not no_setup:
        _setup(settings)
    from carbon_inclusion.security.tokens import KeyRing

    # Create the development signing key once, before workers race to do it.
    KeyRing.load(settings.jwt_keys_dir, settings.jwt_active_kid,
                 create=not settings.is_production)
    from granian import Granian
    from granian.constants import Interfaces
    from granian.http import HTTP1Settings

    where = f"http://{_url_host(settings.host)}:{settings.port}"
    click.echo(f"serving on {where} (docs at {where}/docs; certificates link to "
               f"{settings.public_url}); Ctrl-C stops", err=True)
    try:
        Granian(
            "carbon_inclusion.app:create_app_from_env",
            factory=True,
            address=settings.host,
            port=settings.port,
            interface=Interfaces.ASGI,
            workers=settings.workers,
            log_access=False,
            # A client that has not sent its headers in time is disconnected.
            http1_settings=HTTP1Settings(header_read_timeout=settings.header_timeout_s * 1000),
        ).serve()
    finally:
        click.echo(f"stopped serving on {where}", err=True)


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _share_metrics() -> None:
    """Let every worker's metrics be summed on a scrape (prometheus_client's multiprocess
    mode): an emptied folder, named before this process or its workers import
    prometheus_client (``PROMETHEUS_MULTIPROC_DIR`` to choose it)."""
    assert "prometheus_client" not in sys.modules, "set up metrics before importing them"
    chosen = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not chosen:  # one folder per server; those of servers gone are removed
        for old in Path(".data/metrics").glob("*"):
            if old.name.isdigit() and not Path(f"/proc/{old.name}").exists():
                shutil.rmtree(old, ignore_errors=True)
    folder = Path(chosen or Path(".data") / "metrics" / str(os.getpid()))
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.db"):
        stale.unlink()
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(folder)


def _setup(settings: Settings) -> None:
    from carbon_inclusion.db.migrate import upgrade
    from carbon_inclusion.seeding import seed_all

    done = _step("migrating the database to the latest schema")
    upgrade(settings.database_url)
    done()
    done = _step("loading the reference data of seed/")
    counts = _with_db(settings, lambda db: seed_all(db, settings=settings))
    done(", ".join(f"{n} {what}" for what, n in counts.items()))


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.option("--revision", default="head")
def db_upgrade(revision: str) -> None:
    """Apply migrations up to REVISION (default: head)."""
    from carbon_inclusion.db.migrate import upgrade

    settings = _storage(schema=False)
    done = _step(f"migrating the database to {revision}")
    upgrade(settings.database_url, revision)
    done()
    click.echo(f"database at {revision}")


@db.command("partitions")
@click.option("--ahead", default=3, show_default=True, type=click.IntRange(0, 24),
              help="Months to create beyond the current one.")
@click.option("--detach-before", "detach_before", metavar="YYYY-MM", default=None,
              help="Detach the months before this one (refused when still needed).")
@click.option("--drop", is_flag=True, help="Drop the detached months instead of keeping them.")
def db_partitions(ahead: int, detach_before: str | None, drop: bool) -> None:
    """Create the monthly partitions ahead and, when asked, detach old ones; run daily (or
    at least monthly) from the scheduler. Safe to run twice or concurrently."""
    import datetime as dt

    from carbon_inclusion.common.clock import SYSTEM_CLOCK
    from carbon_inclusion.db import partitions

    before = None
    if detach_before is not None:
        try:
            before = dt.date.fromisoformat(detach_before + "-01")
        except ValueError:
            raise click.BadParameter("YYYY-MM", param_hint="--detach-before") from None
    if drop and before is None:
        raise click.BadParameter("only with --detach-before", param_hint="--drop")
    settings = _storage()

    async def run(db: Any) -> tuple[partitions.Report, str]:
        now = SYSTEM_CLOCK.now()
        month = partitions.month_of(now)
        async with db.engine.begin() as conn:
            report = await partitions.ensure(conn, month, partitions.add_months(month, ahead))
        said = ""
        if before is not None:
            async with db.engine.begin() as conn:
                floor, why = await partitions.keep_floor(
                    conn, now.date(), retention_days=settings.trip_retention_days,
                    claim_window_days=settings.claim_window_days)
                said = f"oldest month needed: {floor:%Y-%m} ({why})"
                try:
                    await partitions.detach(conn, before, floor, drop=drop, report=report)
                except ValueError as exc:
                    raise click.ClickException(f"{exc}: {why}") from None
        return report, said

    report, said = _with_db(settings, run)
    for name in report.created:
        click.echo(f"created {name}")
    for name in report.detached:
        click.echo(f"detached {name}")
    for name in report.dropped:
        click.echo(f"dropped {name}")
    for note in report.notes:
        click.echo(note)
    if said:
        click.echo(said)
    if not (report.created or report.detached or report.dropped or report.notes):
        click.echo("partitions up to date")


@main.command()
@click.option("--demo", is_flag=True, help="Also fill an empty database with a demo month.")
def seed(demo: bool) -> None:
    """Load reference data from seed/ (safe to run again)."""
    from carbon_inclusion.seeding import seed_all

    settings = _storage()
    done = _step("loading the reference data of seed/")
    counts = _with_db(settings, lambda db: seed_all(db, settings=settings))
    done()
    click.echo(json.dumps(counts))
    if demo:
        from carbon_inclusion.app import build_state
        from carbon_inclusion.demo import DemoRefused, fill
        from carbon_inclusion.seeding import default_seed_dir

        began = time.monotonic()

        def say(line: str) -> None:
            click.echo(f"  {line} ({time.monotonic() - began:.1f} s)", err=True)

        async def run() -> dict:
            state = build_state(settings)
            try:
                return await fill(state, settings, default_seed_dir(), say)
            finally:
                await state.notifier.close()
                await state.db.dispose()
                await state.redis.close()

        done = _step("filling the database with a demo month of the programme (about 40 s)")
        try:
            filled = asyncio.run(run())
        except DemoRefused as exc:
            raise click.ClickException(str(exc)) from None
        done()
        click.echo(json.dumps(filled, ensure_ascii=False, indent=2))


@main.group()
def admin() -> None:
    """Administrator accounts."""


@admin.command("create")
@click.option("--phone", required=True)
@click.option("--nickname", default="admin")
@click.password_option(envvar="ADMIN_PASSWORD", help="Password (or ADMIN_PASSWORD).")
def admin_create(phone: str, nickname: str, password: str) -> None:
    """Create an administrator."""
    from carbon_inclusion.app import build_state
    from carbon_inclusion.errors import DomainError

    settings = _storage()
    state = build_state(settings)

    async def run() -> Any:
        try:
            return await state.accounts.create_user(
                role="admin", phone=phone, password=password, nickname=nickname
            )
        finally:
            await state.db.dispose()
            await state.redis.close()

    try:
        user = asyncio.run(run())
    except DomainError as exc:
        raise click.ClickException(exc.detail) from None
    click.echo(f"administrator {user.id} created")


@main.group()
def sms() -> None:
    """The development SMS outbox (SMS_SENDER=outbox)."""


@sms.command("codes")
@click.argument("phone")
def sms_codes(phone: str) -> None:
    """The one-time codes the outbox "sent" to PHONE, newest first (to verify by hand)."""
    from carbon_inclusion.accounts.phones import normalise_phone
    from carbon_inclusion.accounts.repository import outbox_codes

    normalised = normalise_phone(phone)
    if normalised is None:
        raise click.ClickException("not a mainland China mobile number")

    async def run(db: Any) -> list[str]:
        async with db.connect() as conn:
            return await outbox_codes(conn, normalised)

    for code in _with_db(_storage(), run):
        click.echo(code)


@main.group()
def keys() -> None:
    """Signing keys of access tokens (JWT_KEYS_DIR)."""


@keys.command("new")
def keys_new() -> None:
    """Add a new Ed25519 signing key; prints its kid. Tokens keep being signed by the
    active key (JWT_ACTIVE_KID, else the newest file) and every key in the folder verifies."""
    from carbon_inclusion.security.tokens import generate_key_file

    path = generate_key_file(_settings().jwt_keys_dir)
    click.echo(path.stem)


@main.group()
def openapi() -> None:
    """The OpenAPI document."""


@openapi.command("export")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path),
                default=Path("openapi/openapi.json"))
def openapi_export(path: Path) -> None:
    """Write the OpenAPI document the app serves to PATH."""
    from carbon_inclusion.openapi_doc import render_openapi

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_openapi(), encoding="utf-8")
    click.echo(f"wrote {path}")


@main.group()
def methodology() -> None:
    """Methodology documents kept in version control."""


def _read_document(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise click.ClickException(f"{path}: {exc}") from None


@methodology.command("check")
@click.argument("files", nargs=-1, required=True,
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
def methodology_check(files: tuple[Path, ...]) -> None:
    """Type-check methodology documents without touching the database."""
    from carbon_inclusion.errors import InvalidInput
    from carbon_inclusion.methodologies.service import check_document

    failed = False
    for path in files:
        try:
            m = check_document(_read_document(path))
        except InvalidInput as exc:
            failed = True
            for e in exc.errors:
                click.echo(f"{path}: {e.field}: {e.message}", err=True)
            continue
        click.echo(f"{path}: ok {m.code} v{m.version} sha256={m.sha256}")
    if failed:
        sys.exit(1)


@methodology.command("publish")
@click.argument("files", nargs=-1, required=True,
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
def methodology_publish(files: tuple[Path, ...]) -> None:
    """Create and publish methodology documents (already-published identical ones are kept)."""
    from carbon_inclusion.errors import DomainError
    from carbon_inclusion.methodologies.service import MethodologyService

    async def run(db: Any) -> list[str]:
        service = MethodologyService(db)
        out = []
        for path in files:
            doc = _read_document(path)
            out.append(f"{path}: {await service.ensure_published(doc)}")
        return out

    try:
        for line in _with_db(_storage(), run):
            click.echo(line)
    except DomainError as exc:
        detail = "; ".join(f"{e.field}: {e.message}" for e in exc.errors) or exc.detail
        raise click.ClickException(detail) from None


@main.group()
def points() -> None:
    """Scheduled work on the points ledger."""


@points.command("expire")
def points_expire() -> None:
    """Expire the points past their date (POINTS_EXPIRY_YEARS); run daily, e.g. from cron."""
    from carbon_inclusion.ledger.expiry import expire_points

    settings = _storage()
    if settings.points_expiry_years <= 0:
        click.echo("points do not expire (POINTS_EXPIRY_YEARS is 0); nothing to do")
        return
    run = _with_db(settings, lambda db: expire_points(
        db, years=settings.points_expiry_years, tz=settings.tz))
    click.echo(f"expired {run.points} points in {run.entries} entries")


@main.group()
def leaderboards() -> None:
    """Leaderboards kept in Redis."""


@leaderboards.command("rebuild")
@click.option("--scope", type=click.Choice(["city", "district", "both"]), default="both")
@click.option("--period", type=click.Choice(["week", "month", "all", "every"]),
              default="every")
def leaderboards_rebuild(scope: str, period: str) -> None:
    """Rebuild the current boards from PostgreSQL (readers keep the old ones meanwhile)."""
    from carbon_inclusion.accounts import repository as accounts
    from carbon_inclusion.app import build_state
    from carbon_inclusion.gamification.leaderboards import PERIODS

    settings = _storage()
    state = build_state(settings)

    async def run() -> list[str]:
        boards = state.leaderboards
        out = []
        try:
            async with state.db.engine.connect() as conn:
                districts = await accounts.district_codes(conn)
            for p in PERIODS if period == "every" else (period,):
                wanted = [("city", None)] if scope in ("city", "both") else []
                if scope in ("district", "both"):
                    wanted += [("district", d) for d in districts]
                for s, d in wanted:
                    began = time.perf_counter()
                    done = await boards.rebuild(boards.board(s, p, d))
                    out.append(f"{s}{':' + d if d else ''} {p}: "
                               + (f"{time.perf_counter() - began:.2f} s" if done
                                  else "another rebuild is running"))
        finally:
            await state.db.dispose()
            await state.redis.close()
        return out

    for line in asyncio.run(run()):
        click.echo(line)


@main.group()
def vouchers() -> None:
    """Scheduled work on issued vouchers."""


@vouchers.command("expire")
def vouchers_expire() -> None:
    """Expire the unused vouchers past their date: stock back, points back where the reward
    says so; run hourly, e.g. from cron."""
    from carbon_inclusion.rewards.service import RewardService

    settings = _storage()
    report = _with_db(settings, lambda db: RewardService(db, settings).expire_vouchers())
    click.echo(f"expired {report.vouchers} vouchers, refunded {report.points_refunded} points")


@main.group()
def challenges() -> None:
    """Challenges."""


@challenges.command("settle")
def challenges_settle() -> None:
    """Pay the winning districts of district challenges that have ended; run daily."""
    from carbon_inclusion.gamification.challenges import ChallengeService

    settings = _storage()
    report = _with_db(settings, lambda db: ChallengeService(db, settings).settle())
    for item in report["settled"]:
        click.echo(f"challenge {item['id']}: "
                   + (f"won by {item['winner']}" if item["winner"] else "no winner"))
    click.echo(f"settled {len(report['settled'])} challenge(s)")


@main.group()
def registry() -> None:
    """The credit registry."""


@registry.command("verify")
def registry_verify() -> None:
    """Check every invariant of the registry from the data, and recompute every allocated
    behaviour's grams from its inputs and published methodology version; exit 1 if any
    check fails."""
    from carbon_inclusion.behaviours import repository as behaviours
    from carbon_inclusion.registry.service import RegistryService

    settings = _storage()
    report = _with_db(settings, lambda db: RegistryService(
        db, settings, behaviours=behaviours).verify())
    click.echo(f"checked {report.batches} batch(es) and the {report.allocated} behaviour(s) "
               f"they hold ({report.evaluated} distinct input(s) evaluated):")
    for check in report.checks:
        verdict = "ok" if check.problems == 0 else f"{check.problems} problem(s)"
        click.echo(f"  {check.name}: {verdict}")
    for problem in report.problems:
        click.echo(f"FAIL {problem}")
    if not report.ok:
        raise SystemExit(1)
    click.echo(f"registry sound: {report.batches} batch(es), every check passed")


@main.group()
def orders() -> None:
    """Enterprises' credit orders."""


@orders.command("expire")
def orders_expire() -> None:
    """Release the credits of unpaid quotes past their time; run every few minutes."""
    from carbon_inclusion.registry.orders import OrderService

    settings = _storage()
    n = _with_db(settings, lambda db: OrderService(db, settings).expire())
    click.echo(f"expired {n} order(s)")


@main.group()
def privacy() -> None:
    """Citizens' personal data (PIPL)."""


@privacy.command("reduce")
def privacy_reduce() -> None:
    """Reduce raw trip data older than TRIP_RETENTION_DAYS to what accounting needs, and
    delete its photos and those no claim took; run daily from the scheduler (two runs at
    once are safe)."""
    from carbon_inclusion.photos.service import open_photo_store
    from carbon_inclusion.privacy.service import reduce_trip_data

    settings = _storage()

    async def reduce(db: Any) -> Any:
        store = open_photo_store(settings)
        try:
            return await reduce_trip_data(db, settings, store=store)
        finally:
            await store.close()

    run = _with_db(settings, reduce)
    click.echo(f"reduced {run.behaviours} behaviour(s) and {run.partner_records} partner "
               f"record(s) older than {run.before.isoformat()}; deleted {run.photos} "
               "photo(s)")


# Last, so that ``python -m carbon_inclusion.cli`` sees every command defined above.
if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
