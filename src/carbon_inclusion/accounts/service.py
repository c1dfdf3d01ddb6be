"""Accounts and sign-in: registration, password sign-in, refresh rotation, logout."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from sqlalchemy.ext.asyncio import AsyncConnection

from carbon_inclusion.accounts import repository as repo
from carbon_inclusion.accounts.consents import PrivacyNotice, current_notice, notice_dir
from carbon_inclusion.accounts.models import (
    District,
    Organisation,
    PrivacyConsent,
    RefreshToken,
    User,
)
from carbon_inclusion.accounts.phones import normalise_phone
from carbon_inclusion.accounts.schemas import (
    DistrictOut,
    OrganisationRef,
    ProgressOut,
    RegisterRequest,
    TokenPair,
    UserOut,
)
from carbon_inclusion.accounts.sms import SmsSender, sms_sender
from carbon_inclusion.common.clock import SYSTEM_CLOCK, Clock
from carbon_inclusion.common.integrity import integrity_errors
from carbon_inclusion.db import Database
from carbon_inclusion.errors import (
    Conflict,
    FieldError,
    Forbidden,
    InvalidInput,
    NotFound,
    RateLimited,
    Unauthenticated,
)
from carbon_inclusion.ratelimit import FailureBudgets, RateLimiter, Reservation
from carbon_inclusion.security.passwords import (
    hash_password,
    needs_rehash,
    password_problems,
    verify_password,
)
from carbon_inclusion.security.phone_crypto import phone_cipher_of
from carbon_inclusion.security.tokens import AccessTokens
from carbon_inclusion.settings import Settings

_CONSENTS_REMEMBERED = 100_000  # per process; cleared when full
BAD_CREDENTIALS = "The phone number or password is incorrect."
CODE_SMS = "【碳普惠】验证码 {code}，{minutes} 分钟内有效。请勿告诉他人。"
TAKEN_SMS = "【碳普惠】有人尝试用本号码注册；本号码已有账户，如非本人操作请忽略。"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: what the access token says, checked against the user's current row."""

    id: uuid.UUID
    role: str
    organisation_id: uuid.UUID | None
    district_code: str | None
    # False until the phone is confirmed: the account may read but not earn or redeem.
    verified: bool = True


@runtime_checkable
class ProgressReader(Protocol):
    """A citizen's level and streaks for their profile; gamification's ``ProgressService``
    is the one (wired in ``app.build_state``), so accounts does not import gamification."""

    async def progress(self, citizen_id: uuid.UUID) -> ProgressOut: ...


@runtime_checkable
class AccountDeleter(Protocol):
    """Deletes a citizen's account and erases their personal data across domains;
    ``privacy.service.PrivacyService`` is the one (wired as the ``privacy`` dependency)."""

    async def delete_account(self, user_id: uuid.UUID, password: str) -> None: ...


def _clean_nickname(raw: str) -> str | None:
    nickname = " ".join(raw.split())
    if not 1 <= len(nickname) <= 20:
        return None
    if any(not ch.isprintable() for ch in nickname):
        return None
    return nickname


def _digest(text: str) -> str:
    """What a throttle key says about a phone or an address: not the thing itself."""
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _hash_secret(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def _split_refresh_token(token: str) -> tuple[uuid.UUID, str] | None:
    token_id, _, secret = token.partition(".")
    if not secret:
        return None
    try:
        return uuid.UUID(token_id), secret
    except ValueError:
        return None


class AccountsService:
    def __init__(
        self, db: Database, tokens: AccessTokens, limiter: RateLimiter, settings: Settings,
        clock: Clock = SYSTEM_CLOCK, sms: SmsSender | None = None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.tokens = tokens
        self.limiter = limiter
        self.budgets = FailureBudgets(limiter.store)
        self.settings = settings
        self.sms = sms if sms is not None else sms_sender(settings.sms_sender, db, clock)
        self.phones = phone_cipher_of(settings)
        self._code_key = hmac.new(settings.secret_key.encode(), b"phone-codes",
                                  hashlib.sha256).digest()
        self._principals: dict[uuid.UUID, tuple[float, Principal | None]] = {}
        self._consented: dict[uuid.UUID, int] = {}  # user → latest notice version accepted
        self.notices_dir = notice_dir()  # tests point it at their own notices

    # --- registration and profile -------------------------------------------------------

    async def register(self, body: RegisterRequest, client_ip: str | None = None, *,
                       verified: bool = False) -> UserOut:
        """A new citizen, unverified until the code sent to the phone comes back
        (``verified``: the demo's citizens). A phone that is already registered gets the same
        answer as a new one (a made-up account that is never stored) and its owner an SMS
        saying so: registration does not tell anyone which numbers have accounts.

        ``client_ip`` (None: the demo, the CLI) is throttled to REGISTRATIONS_PER_IP per
        REGISTRATION_WINDOW, counted before anything is hashed or stored."""
        s = self.settings
        if client_ip is not None:
            by_ip = await self.limiter.hit(f"register:ip:{_digest(client_ip)}",
                                           s.registrations_per_ip, s.registration_window_s)
            if not by_ip.allowed:
                raise RateLimited("Too many registrations from this address.",
                                  retry_after=by_ip.retry_after_s)
        errors: list[FieldError] = []
        phone = normalise_phone(body.phone)
        if phone is None:
            errors.append(FieldError("phone", "must be a mainland China mobile number"))
        problem = password_problems(body.password, phone_digits=phone or "")
        if problem:
            errors.append(FieldError("password", f"password {problem}"))
        nickname = _clean_nickname(body.nickname)
        if nickname is None:
            errors.append(FieldError("nickname", "must be 1 to 20 printable characters"))
        async with self.db.read() as session:
            district = await repo.district(session, body.district)
        if district is None:
            errors.append(FieldError("district", f"unknown district {body.district!r}"))
        consent, in_force = body.privacy_notice_version, self.current_notice().version
        if consent is not None and consent != in_force:
            errors.append(FieldError("privacy_notice_version",
                                     f"must be the notice in force ({in_force})"))
        if errors:
            raise InvalidInput("; ".join(f"{e.field}: {e.message}" for e in errors), errors=errors)
        assert phone is not None and nickname is not None and district is not None
        try:
            created = await self._create_user(
                role="citizen", phone=phone, password=body.password, nickname=nickname,
                district_code=body.district, verified=verified,
                consent_version=consent)
        except Conflict as exc:
            if exc.code != "phone_taken":
                raise
            await self.sms.send(phone, TAKEN_SMS)
            return UserOut(id=uuid.uuid4(), role="citizen", phone=phone, nickname=nickname,
                           district=district_out(district), organisation=None,
                           status="active", created_at=self.clock.now())
        if not verified:
            await self._send_code(created.id, phone)
        return created

    async def create_user(
        self,
        *,
        role: str,
        phone: str,
        password: str,
        nickname: str,
        organisation_id: uuid.UUID | None = None,
        district_code: str | None = None,
    ) -> UserOut:
        """For administrators and the CLI: validates like registration does."""
        normalised = normalise_phone(phone)
        if normalised is None:
            raise InvalidInput.field("phone", "must be a mainland China mobile number")
        problem = password_problems(password, phone_digits=normalised)
        if problem:
            raise InvalidInput.field("password", f"password {problem}", code="weak_password")
        clean = _clean_nickname(nickname)
        if clean is None:
            raise InvalidInput.field("nickname", "must be 1 to 20 printable characters")
        return await self._create_user(
            role=role, phone=normalised, password=password, nickname=clean,
            district_code=district_code, organisation_id=organisation_id, verified=True,
        )

    async def _create_user(self, *, role: str, phone: str, password: str, nickname: str,
                           district_code: str | None = None,
                           organisation_id: uuid.UUID | None = None,
                           verified: bool, consent_version: int | None = None) -> UserOut:
        user = User(
            role=role, phone_index=self.phones.index(phone),
            phone_ciphertext=self.phones.encrypt(phone),
            password_hash=hash_password(password), nickname=nickname,
            district_code=district_code, organisation_id=organisation_id, status="active",
            phone_verified_at=self.clock.now() if verified else None,
        )
        with integrity_errors():  # uq_users_phone: phone_taken
            async with self.db.transaction() as session:
                repo.add(session, user)
                if consent_version is not None:
                    await session.flush()
                    repo.add(session, PrivacyConsent(user_id=user.id, version=consent_version,
                                                     accepted_at=self.clock.now()))
        return await self.profile(user.id)

    async def profile(self, user_id: uuid.UUID) -> UserOut:
        async with self.db.read() as session:
            row = await repo.profile_row(session, user_id)
        if row is None:
            raise NotFound("No such user.")
        user, district, org = row
        return UserOut(
            id=user.id,
            role=user.role,
            phone=self.phones.decrypt(user.phone_ciphertext),
            nickname=user.nickname,
            district=district_out(district) if district else None,
            organisation=OrganisationRef(org.id, org.name) if org else None,
            status=user.status,
            created_at=user.created_at,
        )

    async def create_organisation(self, name: str, *, kind: str = "enterprise") -> Organisation:
        clean = " ".join(name.split())
        if not clean:
            raise InvalidInput.field("name", "must not be blank")
        org = Organisation(name=clean, kind=kind)
        with integrity_errors():  # uq_organisations_name: organisation_exists
            async with self.db.transaction() as session:
                repo.add(session, org)
        return org

    async def organisation(self, organisation_id: uuid.UUID) -> Organisation:
        async with self.db.read() as session:
            org = await repo.organisation(session, organisation_id)
        if org is None:
            raise NotFound("No such organisation.")
        return org

    async def districts(self) -> list[DistrictOut]:
        async with self.db.read() as session:
            rows = await repo.districts(session)
        return [district_out(d) for d in rows]

    async def set_status(self, user_id: uuid.UUID, status: str) -> None:
        async with self.db.transaction() as session:
            if not await repo.set_status(session, user_id, status):
                raise NotFound("No such user.")
            if status != "active":
                await repo.revoke_tokens(session, self.clock.now(), user_id=user_id)
        self._principals.pop(user_id, None)

    # --- phone verification -------------------------------------------------------------

    def _code_hash(self, user_id: uuid.UUID, code: str) -> bytes:
        return hmac.new(self._code_key, f"{user_id}:{code}".encode(), hashlib.sha256).digest()

    async def _send_code(self, user_id: uuid.UUID, phone: str) -> None:
        code = f"{secrets.randbelow(10**6):06d}"
        expires = self.clock.now() + dt.timedelta(seconds=self.settings.phone_code_ttl_s)
        async with self.db.transaction() as session:
            await repo.set_phone_code(session, user_id, self._code_hash(user_id, code), expires)
        minutes = max(1, self.settings.phone_code_ttl_s // 60)
        await self.sms.send(phone, CODE_SMS.format(code=code, minutes=minutes), code=code)

    async def verify_phone(self, phone_raw: str, code: str) -> None:
        """Confirm a phone with its one-time code: single use, expiring, PHONE_CODE_ATTEMPTS
        wrong codes per phone per LOGIN_WINDOW (reserved before the check, like sign-in).
        Unknown phone, verified phone, wrong or expired code: one answer."""
        s = self.settings
        phone = normalise_phone(phone_raw)
        budget = await self.budgets.reserve(f"verify:phone:{_digest(phone or phone_raw)}",
                                            s.phone_code_attempts, s.login_window_s)
        if not isinstance(budget, Reservation):
            raise RateLimited("Too many wrong codes for this phone number.",
                              retry_after=budget.retry_after_s)
        ok = failed = False
        try:
            user = None
            if phone is not None and code.isascii() and code.isdigit():
                async with self.db.read() as session:
                    user = await repo.user_by_phone(session, self.phones.index(phone))
            if user is not None and user.phone_verified_at is None:
                async with self.db.transaction() as session:
                    ok = await repo.spend_phone_code(
                        session, user.id, self._code_hash(user.id, code), self.clock.now())
            failed = not ok
        finally:
            await self.budgets.settle(budget, failed=failed, forget=ok)
        if not ok or user is None:
            raise InvalidInput.field("code", "is wrong or has expired", code="invalid_code")
        self._principals.pop(user.id, None)

    async def resend_code(self, phone_raw: str, client_ip: str | None = None) -> None:
        """A new code for an unverified phone (the last one stops working). The same answer
        whether or not the phone has an account, or is verified already; throttled per
        phone (PHONE_CODE_RESENDS) and per address (REGISTRATIONS_PER_IP), both per
        REGISTRATION_WINDOW."""
        s = self.settings
        phone = normalise_phone(phone_raw)
        if phone is None:
            raise InvalidInput.field("phone", "must be a mainland China mobile number")
        checks = [(f"resend:phone:{_digest(phone)}", s.phone_code_resends,
                   "Too many codes sent to this phone number.")]
        if client_ip is not None:
            checks.append((f"resend:ip:{_digest(client_ip)}", s.registrations_per_ip,
                           "Too many codes asked for from this address."))
        for name, limit, message in checks:
            decision = await self.limiter.hit(name, limit, s.registration_window_s)
            if not decision.allowed:
                raise RateLimited(message, retry_after=decision.retry_after_s)
        async with self.db.read() as session:
            user = await repo.user_by_phone(session, self.phones.index(phone))
        if user is not None and user.phone_verified_at is None and user.status == "active":
            await self._send_code(user.id, phone)

    # --- sign-in ------------------------------------------------------------------------

    async def sign_in(self, phone_raw: str, password: str, client_ip: str) -> TokenPair:
        """Both failure budgets (the phone's, the address's) are reserved before the password
        is checked, so a burst cannot have more guesses checked than they allow; a success
        gives its reservations back (and clears the phone's failures)."""
        s = self.settings
        phone = normalise_phone(phone_raw)
        by_phone = await self.budgets.reserve(f"login:phone:{_digest(phone or phone_raw)}",
                                              s.login_failures_per_phone, s.login_window_s)
        if not isinstance(by_phone, Reservation):
            raise RateLimited("Too many failed sign-in attempts for this phone number.",
                              retry_after=by_phone.retry_after_s)
        by_ip = await self.budgets.reserve(f"login:ip:{_digest(client_ip)}",
                                           s.login_failures_per_ip, s.login_window_s)
        if not isinstance(by_ip, Reservation):
            await self.budgets.settle(by_phone, failed=False)
            raise RateLimited("Too many failed sign-in attempts from this address.",
                              retry_after=by_ip.retry_after_s)
        ok = failed = False  # an error on the way (the database away) counts as no attempt
        try:
            user = None
            if phone is not None:
                async with self.db.read() as session:
                    user = await repo.user_by_phone(session, self.phones.index(phone))
            ok = verify_password(user.password_hash if user else None, password)
            ok = ok and user is not None and user.status == "active"
            failed = not ok
        finally:
            await self.budgets.settle(by_phone, failed=failed, forget=ok)
            await self.budgets.settle(by_ip, failed=failed)
        if not ok or user is None:
            raise Unauthenticated(BAD_CREDENTIALS, code="invalid_credentials")
        if needs_rehash(user.password_hash):
            async with self.db.transaction() as session:
                await repo.set_password_hash(session, user.id, hash_password(password))
        async with self.db.transaction() as session:
            refresh = self._new_refresh(session, user.id, family_id=uuid.uuid4())
        return self._pair(user.id, user.role, refresh)

    async def refresh(self, token: str) -> TokenPair:
        parts = _split_refresh_token(token)
        if parts is None:
            raise Unauthenticated("The refresh token is not valid.", code="invalid_token")
        token_id, secret = parts
        now = self.clock.now()
        reused_family: uuid.UUID | None = None
        async with self.db.transaction() as session:
            row = await repo.refresh_token_for_update(session, token_id)
            if row is None or not hmac.compare_digest(row.secret_hash, _hash_secret(secret)):
                raise Unauthenticated("The refresh token is not valid.", code="invalid_token")
            if row.revoked_at is not None or row.expires_at <= now:
                raise Unauthenticated("The refresh token has expired or was revoked.",
                                      code="invalid_token")
            if row.used_at is not None:
                # A rotated token came back: someone holds a copy. End the whole sign-in.
                await repo.revoke_tokens(session, now, family_id=row.family_id)
                reused_family = row.family_id
            else:
                user = await repo.user(session, row.user_id)
                if user is None or user.status != "active":
                    raise Unauthenticated("The account is not active.", code="invalid_token")
                row.used_at = now
                new = self._new_refresh(session, user.id, family_id=row.family_id)
                role = user.role
        if reused_family is not None:
            raise Unauthenticated(
                "The refresh token was already used; every session of this sign-in is revoked.",
                code="refresh_token_reused",
            )
        return self._pair(row.user_id, role, new)

    async def logout(self, principal: Principal, refresh_token: str | None) -> None:
        now = self.clock.now()
        async with self.db.transaction() as session:
            family = None
            if refresh_token is not None:
                parts = _split_refresh_token(refresh_token)
                if parts is None:
                    raise InvalidInput.field("refresh_token", "is not a refresh token")
                family = await repo.family_of(session, parts[0], principal.id)
                if family is None:
                    raise InvalidInput.field("refresh_token", "is not one of your sessions")
            await repo.revoke_tokens(session, now, user_id=principal.id, family_id=family)

    def _new_refresh(self, session, user_id: uuid.UUID, *, family_id: uuid.UUID) -> str:
        secret = secrets.token_urlsafe(32)
        row = RefreshToken(
            id=uuid.uuid4(),
            family_id=family_id,
            user_id=user_id,
            secret_hash=_hash_secret(secret),
            expires_at=self.clock.now()
            + dt.timedelta(seconds=self.settings.refresh_token_ttl_s),
        )
        repo.add(session, row)
        return f"{row.id}.{secret}"

    def _pair(self, user_id: uuid.UUID, role: str, refresh_token: str) -> TokenPair:
        return TokenPair(
            access_token=self.tokens.issue(user_id, role),
            refresh_token=refresh_token,
            expires_in=self.tokens.ttl_s,
        )

    # --- per-request principal ----------------------------------------------------------

    async def principal(self, user_id: uuid.UUID, role: str) -> Principal | None:
        """The active user behind a verified token, cached for a few seconds per process."""
        now = time.monotonic()
        cached = self._principals.get(user_id)
        if cached is not None and cached[0] > now:
            found = cached[1]
        else:
            async with self.db.engine.connect() as conn:
                row = await repo.principal_row(conn, user_id)
            found = None
            if row is not None and row.status == "active":
                found = Principal(user_id, row.role, row.organisation_id, row.district_code,
                                  verified=row.phone_verified_at is not None)
            if len(self._principals) > 50_000:
                self._principals.clear()
            self._principals[user_id] = (now + 5.0, found)
        if found is None or found.role != role:
            return None
        return found


    # --- consent to the privacy notice --------------------------------------------------

    def current_notice(self) -> PrivacyNotice:
        return current_notice(self.clock.now().astimezone(self.settings.tz).date(),
                              self.notices_dir)

    async def consent_required(self, user_id: uuid.UUID) -> bool:
        """Whether the user has not accepted the notice in force (a newer one asks again).

        Consents are append-only, so a consent once seen stays true until a newer notice
        comes into force: remembered per process, a claim does not ask the database again.
        """
        current = self.current_notice().version
        if self._consented.get(user_id, 0) >= current:
            return False
        async with self.db.read() as session:
            latest = await repo.latest_consent(session, user_id)
        if latest is not None and latest >= current:
            self._remember_consent(user_id, latest)
        return latest is None or latest < current

    async def consented_among(self, conn: AsyncConnection, user_ids: list[uuid.UUID]
                              ) -> set[uuid.UUID]:
        """Those of ``user_ids`` who accepted the notice in force (in the caller's
        transaction; one statement for those this process has not seen consent)."""
        current = self.current_notice().version
        known = {u for u in user_ids if self._consented.get(u, 0) >= current}
        rest = [u for u in user_ids if u not in known]
        if rest:
            for user_id, latest in (await repo.latest_consents(conn, rest)).items():
                if latest >= current:
                    known.add(user_id)
                    self._remember_consent(user_id, latest)
        return known

    def _remember_consent(self, user_id: uuid.UUID, version: int) -> None:
        if len(self._consented) >= _CONSENTS_REMEMBERED:
            self._consented.clear()
        self._consented[user_id] = version

    async def consent(self, user_id: uuid.UUID, version: int) -> int:
        """Record acceptance of ``version``, which must be the notice in force; returns it.
        Accepting the same version again adds another row (the history is evidence)."""
        current = self.current_notice().version
        if version != current:
            raise InvalidInput.field("version", f"must be the notice in force ({current})")
        async with self.db.transaction() as session:
            repo.add(session, PrivacyConsent(user_id=user_id, version=version,
                                             accepted_at=self.clock.now()))
        return version

    async def require_consent(self, user_id: uuid.UUID) -> None:
        """Refuses earning (403 ``consent_required``) until the notice in force is accepted."""
        if await self.consent_required(user_id):
            raise Forbidden("Accept the privacy notice in force (POST /v1/me/consents) "
                            "before recording behaviours.", code="consent_required")

    def forget(self, user_id: uuid.UUID) -> None:
        """Drop the cached principal and consent (after an account is deleted)."""
        self._principals.pop(user_id, None)
        self._consented.pop(user_id, None)


def district_out(d: District) -> DistrictOut:
    return DistrictOut(code=d.code, adcode=d.adcode, name_zh=d.name_zh, name_en=d.name_en,
                       kind=d.kind)
