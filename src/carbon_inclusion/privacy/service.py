"""Export, deletion and retention of citizens' personal data (PIPL).

Trip records are 行踪轨迹, sensitive personal information. What accounting needs of a
behaviour is kept for good: its type, programme day, district, status, grams, points, the
methodology version and the inputs that version declares (so its grams can be recomputed).
Everything else in ``behaviours.data`` (station ids, lines, coordinates, card records, any
key the methodology does not read) and every partner record's raw payload is raw, and is
reduced after ``TRIP_RETENTION_DAYS`` or when the account is deleted.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid

from carbon_inclusion.accounts import repository as accounts_repo
from carbon_inclusion.accounts.service import AccountsService
from carbon_inclusion.behaviours import repository as behaviours_repo
from carbon_inclusion.common.clock import SYSTEM_CLOCK, Clock
from carbon_inclusion.common.storage import ObjectStore
from carbon_inclusion.db import Database
from carbon_inclusion.errors import Forbidden, InvalidInput, NotFound, RateLimited
from carbon_inclusion.gamification import repository as gamification_repo
from carbon_inclusion.ledger import repository as ledger_repo
from carbon_inclusion.methodologies import repository as methodologies_repo
from carbon_inclusion.partners import repository as partners_repo
from carbon_inclusion.photos import repository as photos_repo
from carbon_inclusion.photos.service import PhotoService, expire_photos
from carbon_inclusion.privacy import repository as repo
from carbon_inclusion.privacy.schemas import (
    ConsentOut,
    ExportOut,
    PrivacyNoticeOut,
    ReductionOut,
)
from carbon_inclusion.ratelimit import Reservation
from carbon_inclusion.rewards import repository as rewards_repo
from carbon_inclusion.security.passwords import verify_password
from carbon_inclusion.settings import Settings


def pseudonym(user_id: uuid.UUID) -> str:
    """What a deleted account is called from then on (leaderboards, admin views)."""
    return "已注销用户-" + hashlib.blake2b(user_id.bytes, digest_size=4).hexdigest()


class PrivacyService:
    def __init__(self, db: Database, accounts: AccountsService,
                 settings: Settings, clock: Clock = SYSTEM_CLOCK, *,
                 photos: PhotoService) -> None:
        self.db = db
        self.accounts = accounts
        self.photos = photos
        self.settings = settings
        self.clock = clock

    # --- the notice and consent ---------------------------------------------------------

    def notice(self) -> PrivacyNoticeOut:
        n = self.accounts.current_notice()
        return PrivacyNoticeOut(version=n.version, effective_on=n.effective_on,
                                notice=n.document)

    async def consent(self, user_id: uuid.UUID, version: int) -> ConsentOut:
        accepted = await self.accounts.consent(user_id, version)
        return ConsentOut(version=accepted, accepted_at=self.clock.now(),
                          consent_required=await self.accounts.consent_required(user_id))

    # --- export -------------------------------------------------------------------------

    async def export(self, user_id: uuid.UUID) -> ExportOut:
        """Every own record, read in one snapshot."""
        async with self.db.engine.connect() as conn:
            await conn.execution_options(isolation_level="REPEATABLE READ")
            profile = await accounts_repo.export_profile(conn, user_id)
            if profile is None:
                raise NotFound("No such user.")
            stored = profile.pop("phone_ciphertext")
            profile["phone"] = self.accounts.phones.decrypt(stored) if stored else None
            out = ExportOut(
                exported_at=self.clock.now(),
                profile=profile,
                consents=await accounts_repo.export_consents(conn, user_id),
                sessions=await accounts_repo.export_refresh_tokens(conn, user_id),
                bindings=await partners_repo.export_bindings(conn, user_id),
                behaviours=await behaviours_repo.export_behaviours(conn, user_id),
                partner_records=await behaviours_repo.export_partner_records(conn, user_id),
                wallet=await ledger_repo.export_wallet(conn, user_id),
                ledger_entries=await ledger_repo.export_entries(conn, user_id),
                redemptions=await rewards_repo.export_redemptions(conn, user_id),
                badges=await gamification_repo.export_awards(conn, user_id),
                challenges=await gamification_repo.export_participations(conn, user_id),
                photos=await photos_repo.export(conn, user_id),
            )
            await conn.rollback()
        return out

    # --- deletion -----------------------------------------------------------------------

    async def delete_account(self, user_id: uuid.UUID, password: str) -> None:
        """Erase the citizen's personal data after re-checking their password.

        Personal fields are replaced (``accounts.repository.erase_personal_data``), bindings
        removed, refresh tokens revoked, trip data reduced to what accounting needs, photos
        deleted (rows and objects, ``PhotoService.erase``); the row
        stays with status ``deleted``, so ledger entries, credit batches and certificates
        keep their (now pseudonymous) owner. Password checks are throttled per account like
        sign-in (a budget reserved before the check).
        """
        s = self.settings
        budget = await self.accounts.budgets.reserve(f"reauth:{user_id}",
                                                     s.login_failures_per_phone, s.login_window_s)
        if not isinstance(budget, Reservation):
            raise RateLimited("Too many wrong passwords; try again later.",
                              retry_after=budget.retry_after_s)
        ok = failed = False
        try:
            async with self.db.read() as session:
                user = await accounts_repo.user(session, user_id)
            if user is None or user.status == "deleted":
                raise NotFound("No such user.")
            if user.role != "citizen":
                raise Forbidden("Only citizen accounts are deleted this way.")
            ok = verify_password(user.password_hash, password)
            failed = not ok
        finally:
            await self.accounts.budgets.settle(budget, failed=failed, forget=ok)
        if not ok:
            raise InvalidInput.field("password", "is not this account's password",
                                     code="wrong_password")
        now = self.clock.now()
        async with self.db.transaction() as session:
            locked = await accounts_repo.user_for_update(session, user_id)
            if locked is None or locked.status == "deleted":
                raise NotFound("No such user.")
            conn = await session.connection()
            keep = await methodologies_repo.input_names(conn)
            await accounts_repo.erase_personal_data(session, user_id,
                                                    pseudonym=pseudonym(user_id), at=now)
            await partners_repo.erase_bindings(conn, user_id)
            await behaviours_repo.reduce_data(conn, keep, citizen_id=user_id)
            await behaviours_repo.blank_partner_records(conn, citizen_id=user_id)
            await self.photos.erase(conn, user_id)
        self.accounts.forget(user_id)

    # --- retention ----------------------------------------------------------------------

    async def reduce(self) -> ReductionOut:
        return await reduce_trip_data(self.db, self.settings, self.clock,
                                      store=self.photos.store)


async def reduce_trip_data(db: Database, settings: Settings,
                           clock: Clock = SYSTEM_CLOCK, *, store: ObjectStore) -> ReductionOut:
    """Reduce trip data older than ``TRIP_RETENTION_DAYS`` (run daily from the scheduler:
    ``carbon-inclusion privacy reduce``). Runs are serialised by an advisory lock and change
    nothing already reduced, so two at once are safe. Partner records still inside the claim
    window are left whole: binding their card may still credit them. Photos of the behaviours
    reduced go (``photos.service.expire_photos``), and so do photos no claim took."""
    now = clock.now()
    before = now - dt.timedelta(days=settings.trip_retention_days)
    records_before = min(before, now - dt.timedelta(days=settings.claim_window_days))
    async with db.connect() as conn:
        await repo.lock_reduction(conn)
        keep = await methodologies_repo.input_names(conn)
        behaviours = await behaviours_repo.reduce_data(conn, keep, before=before)
        records = await behaviours_repo.blank_partner_records(conn, before=records_before)
        photos = await expire_photos(conn, store, settings, now)
    return ReductionOut(before=before, behaviours=behaviours, partner_records=records,
                        photos=photos)
