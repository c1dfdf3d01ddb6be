"""Data partners: creation, secret rotation, request signatures; citizens' card bindings."""

from __future__ import annotations

import datetime as dt
import hmac
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from carbon_inclusion.audit.service import record
from carbon_inclusion.common import locks
from carbon_inclusion.common.clock import SYSTEM_CLOCK, Clock
from carbon_inclusion.common.integrity import CONSTRAINT_ERRORS, constraint_of, domain_error
from carbon_inclusion.db import Database
from carbon_inclusion.errors import (
    Conflict,
    DomainError,
    FieldError,
    InvalidInput,
    NotFound,
    RateLimited,
    Unauthenticated,
)
from carbon_inclusion.partners import repository
from carbon_inclusion.partners.models import Binding, BindingCode, Partner
from carbon_inclusion.partners.schemas import (
    BindingCodeOut,
    BindingOut,
    PartnerOut,
    PartnerSecretOut,
)
from carbon_inclusion.ratelimit import RateLimiter
from carbon_inclusion.security.secrets import (
    RefHasher,
    SecretBox,
    derive_key,
    sign_partner_request,
)
from carbon_inclusion.settings import Settings

MAX_CLOCK_SKEW_S = 300

# What a partner of each kind reports when the administrator says nothing else.
KIND_SCOPE: dict[str, tuple[str, ...]] = {
    "transit": ("transit_trip",), "charging": ("ev_charging",), "waste": ("waste_sorting",),
    "other": (),
}
# Binding codes: no 0/O, 1/I; 32**8 ≈ 10**12, and guesses are throttled per citizen.
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 8

# Called inside the binding's transaction: (conn, citizen_id, partner_id, ref_hash) -> the
# number of waiting records credited.
OnBound = Callable[[AsyncConnection, uuid.UUID, str, bytes], Awaitable[int]]


def ref_lock_key(partner_id: str, ref_hash: bytes) -> int:
    """Transaction-lock key of one partner reference: binding it and receiving records for
    it take this lock, so a record is either seen bound or credited when the binding is."""
    return locks.lock_key("partner_ref", partner_id, ref_hash.hex())


@dataclass(frozen=True, slots=True)
class AuthenticatedPartner:
    """A partner whose signature checked, with its scope: the behaviour types it may report
    (``None``: those of its kind) and the districts (``None``: any)."""

    id: str
    name: str
    kind: str
    behaviour_types: tuple[str, ...] | None = None
    districts: tuple[str, ...] | None = None

    def may_report(self, behaviour_type: str) -> bool:
        types = (self.behaviour_types if self.behaviour_types is not None
                 else KIND_SCOPE.get(self.kind, ()))
        return behaviour_type in types

    def covers(self, district: str) -> bool:
        return self.districts is None or district in self.districts


def mask_ref(external_ref: str) -> str:
    return "*" * max(0, min(len(external_ref) - 4, 8)) + external_ref[-4:]


class PartnerService:
    def __init__(self, db: Database, settings: Settings, clock: Clock = SYSTEM_CLOCK,
                 limiter: RateLimiter | None = None) -> None:
        self.db = db
        self.clock = clock
        self.limiter = limiter
        self.settings = settings
        self.box = SecretBox(derive_key(settings.secret_key, "partner-secrets"))
        self.hash_ref = RefHasher(derive_key(settings.secret_key, "binding-refs"))
        self.hash_code = RefHasher(derive_key(settings.secret_key, "binding-codes"))
        self.grace = dt.timedelta(seconds=settings.partner_secret_grace_s)
        self.on_bound: OnBound | None = None
        self._cache: dict[str, tuple[float, Partner | None]] = {}

    # --- administration -----------------------------------------------------------------

    async def create(self, actor_id: uuid.UUID, partner_id: str, name: str, kind: str,
                     behaviour_types: list[str] | None = None,
                     districts: list[str] | None = None) -> PartnerSecretOut:
        """A new partner; its scope defaults to the behaviour type of its kind."""
        secret = secrets.token_urlsafe(32)
        types = list(KIND_SCOPE.get(kind, ())) if behaviour_types is None else behaviour_types
        partner = Partner(id=partner_id, name=" ".join(name.split()), kind=kind,
                          behaviour_types=sorted(set(types)),
                          districts=sorted(set(districts)) if districts is not None else None,
                          secret_sealed=self.box.seal(secret, context=partner_id))
        try:
            async with self.db.transaction() as session:
                session.add(partner)
                await session.flush()
                record(session, actor_id=actor_id, action="partner.created",
                       subject_type="partner", subject_id=partner_id,
                       details={"behaviour_types": partner.behaviour_types,
                                "districts": partner.districts})
        except IntegrityError:
            raise Conflict(f"A partner with id {partner_id!r} already exists.",
                           code="partner_exists",
                           errors=[FieldError("id", "already exists")]) from None
        return PartnerSecretOut(partner.id, partner.name, partner.kind, secret)

    async def rotate_secret(self, actor_id: uuid.UUID, partner_id: str) -> PartnerSecretOut:
        """A new secret; the old one keeps working for the grace period."""
        secret = secrets.token_urlsafe(32)
        until = self.clock.now() + self.grace
        async with self.db.transaction() as session:
            partner = await repository.get(session, partner_id, for_update=True)
            if partner is None:
                raise NotFound(f"No partner {partner_id!r}.")
            partner.previous_secret_sealed = partner.secret_sealed
            partner.previous_valid_until = until
            partner.secret_sealed = self.box.seal(secret, context=partner_id)
            record(session, actor_id=actor_id, action="partner.secret_rotated",
                   subject_type="partner", subject_id=partner_id,
                   details={"previous_valid_until": until.isoformat()})
        self._cache.pop(partner_id, None)
        return PartnerSecretOut(partner.id, partner.name, partner.kind, secret, until)

    async def set_scope(self, actor_id: uuid.UUID, partner_id: str,
                        behaviour_types: list[str], districts: list[str] | None) -> PartnerOut:
        """What the partner may report from now on (records already received stay)."""
        async with self.db.transaction() as session:
            partner = await repository.get(session, partner_id, for_update=True)
            if partner is None:
                raise NotFound(f"No partner {partner_id!r}.")
            partner.behaviour_types = sorted(set(behaviour_types))
            partner.districts = sorted(set(districts)) if districts is not None else None
            record(session, actor_id=actor_id, action="partner.scope_set",
                   subject_type="partner", subject_id=partner_id,
                   details={"behaviour_types": partner.behaviour_types,
                            "districts": partner.districts})
        self._cache.pop(partner_id, None)
        return _partner_out(partner)

    async def list(self) -> list[PartnerOut]:
        async with self.db.read() as session:
            rows = await repository.all_partners(session)
        return [_partner_out(p) for p in rows]

    # --- request signatures -------------------------------------------------------------

    async def authenticate(self, partner_id: str | None, timestamp: str | None,
                           signature: str | None, body: bytes) -> AuthenticatedPartner:
        """DESIGN §9. Any failure is the same 401, and nothing is stored."""
        if not partner_id or not timestamp or not signature:
            raise Unauthenticated("Partner requests need X-Partner-Id, X-Timestamp and "
                                  "X-Signature.", code="invalid_signature")
        try:
            sent = int(timestamp)
        except ValueError:
            raise Unauthenticated("X-Timestamp must be Unix seconds.",
                                  code="invalid_signature") from None
        if abs(self.clock.now().timestamp() - sent) > MAX_CLOCK_SKEW_S:
            raise Unauthenticated("X-Timestamp is more than 5 minutes off.",
                                  code="stale_signature")
        partner = await self._partner(partner_id)
        if partner is None or partner.status != "active":
            raise Unauthenticated("Unknown partner or bad signature.", code="invalid_signature")
        candidates = [partner.secret_sealed]
        if partner.previous_secret_sealed and partner.previous_valid_until and (
            partner.previous_valid_until > self.clock.now()
        ):
            candidates.append(partner.previous_secret_sealed)
        given = signature.strip().lower()
        ok = False
        for sealed in candidates:
            expected = sign_partner_request(self.box.open(sealed, context=partner.id),
                                            timestamp, body)
            ok |= hmac.compare_digest(expected, given)
        if not ok:
            raise Unauthenticated("Unknown partner or bad signature.", code="invalid_signature")
        return await self.scope(partner.id)

    async def scope(self, partner_id: str) -> AuthenticatedPartner:
        """The partner and what it may report (an unknown one: nothing)."""
        partner = await self._partner(partner_id)
        if partner is None:
            return AuthenticatedPartner(partner_id, "", "other", (), ())
        return AuthenticatedPartner(
            partner.id, partner.name, partner.kind, tuple(partner.behaviour_types or ()),
            tuple(partner.districts) if partner.districts is not None else None)

    async def exists(self, partner_id: str) -> bool:
        return await self._partner(partner_id) is not None

    async def _partner(self, partner_id: str) -> Partner | None:
        now = time.monotonic()
        cached = self._cache.get(partner_id)
        if cached is not None and cached[0] > now:
            return cached[1]
        async with self.db.read() as session:
            partner = await repository.get(session, partner_id[:32])
        self._cache[partner_id[:32]] = (now + 5.0, partner)
        return partner

    # --- bindings -----------------------------------------------------------------------
    #
    # A citizen's binding is ``pending`` and pays nothing until the partner confirms that the
    # citizen holds the reference: the citizen enters a one-time code that the partner's own
    # channel showed the holder (``POST /v1/partner/binding-codes``), or the partner signs a
    # confirmation of the binding's id. Only then are the records that waited credited.
    # A pending attempt never says whether the reference is bound elsewhere; a confirmation
    # (which proves the citizen holds the card) of a reference another citizen has confirmed
    # is refused (409), the other binding stays: the holder of that one must remove it.

    async def issue_code(self, partner: AuthenticatedPartner,
                         external_ref: str) -> BindingCodeOut:
        """A short-lived one-time code for the partner to show the holder of the reference."""
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
        ref_hash = self.hash_ref(partner.id, external_ref)
        expires = self.clock.now() + dt.timedelta(seconds=self.settings.binding_code_ttl_s)
        async with self.db.transaction() as session:
            repository.add_code(session, BindingCode(
                partner_id=partner.id, ref_hash=ref_hash,
                code_hash=self._code_hash(partner.id, ref_hash, code), expires_at=expires))
        return BindingCodeOut(code=code, expires_at=expires,
                              external_ref_masked=mask_ref(external_ref))

    async def bind(self, citizen_id: uuid.UUID, partner_id: str, external_ref: str,
                   code: str | None = None) -> BindingOut:
        """The citizen's binding of the reference: confirmed (and the waiting records
        credited) when ``code`` is a valid binding code of it, else pending."""
        await self._throttle(citizen_id)
        ref_hash = self.hash_ref(partner_id, external_ref)
        async with self.db.transaction() as session:
            partner = await repository.get(session, partner_id)
            if partner is None:
                raise InvalidInput.field("partner_id", f"unknown partner {partner_id!r}")
            await repository.lock(session, ref_lock_key(partner_id, ref_hash))
            own = await repository.own_binding(session, citizen_id, partner_id, ref_hash)
            if code is None or (own is not None and own.status == "confirmed"):
                if own is None:
                    own = Binding(citizen_id=citizen_id, partner_id=partner_id,
                                  ref_hash=ref_hash, ref_hint=mask_ref(external_ref),
                                  status="pending")
                    session.add(own)
                    await session.flush()
                    record(session, actor_id=citizen_id, action="binding.requested",
                           subject_type="binding", subject_id=str(own.id))
                return _binding_out(own)
            if own is None:
                own = Binding(citizen_id=citizen_id, partner_id=partner_id,
                              ref_hash=ref_hash, ref_hint=mask_ref(external_ref),
                              status="pending")
                session.add(own)
            return await self._confirm(session, own, "code", code)

    async def confirm(self, citizen_id: uuid.UUID, binding_id: uuid.UUID,
                      code: str) -> BindingOut:
        """Confirm the citizen's pending binding with the code the partner showed."""
        await self._throttle(citizen_id)
        async with self.db.transaction() as session:
            binding = await repository.binding(session, binding_id)
            if binding is None or binding.citizen_id != citizen_id or binding.removed_at:
                raise NotFound("No such binding.")
            await repository.lock(session, ref_lock_key(binding.partner_id, binding.ref_hash))
            await session.refresh(binding)
            if binding.removed_at is not None:
                raise NotFound("No such binding.")
            if binding.status == "confirmed":
                return _binding_out(binding)
            return await self._confirm(session, binding, "code", code)

    async def confirm_by_partner(self, partner: AuthenticatedPartner, external_ref: str,
                                 binding_id: uuid.UUID) -> BindingOut:
        """The partner's signed word that the citizen of ``binding_id`` holds the reference
        (the citizen showed the partner's channel the binding's id)."""
        ref_hash = self.hash_ref(partner.id, external_ref)
        async with self.db.transaction() as session:
            await repository.lock(session, ref_lock_key(partner.id, ref_hash))
            binding = await repository.binding(session, binding_id)
            if (binding is None or binding.removed_at is not None
                    or binding.partner_id != partner.id
                    or not hmac.compare_digest(binding.ref_hash, ref_hash)):
                raise NotFound("No binding of this reference with that id.")
            if binding.status == "confirmed":
                return _binding_out(binding)
            return await self._confirm(session, binding, "partner", None)

    async def _confirm(self, session: AsyncSession, binding: Binding, how: str,
                       code: str | None) -> BindingOut:
        """Inside the transaction, holding the reference's lock: check the code (``how`` is
        "code"), refuse a reference confirmed for someone else, confirm, credit."""
        now = self.clock.now()
        if code is not None and not await repository.take_code(
                session, binding.partner_id, binding.ref_hash,
                self._code_hash(binding.partner_id, binding.ref_hash, code), now):
            raise InvalidInput.field("code", "is not a valid binding code for this "
                                     "reference, or it has expired or been used",
                                     code="invalid_binding_code")
        other = await repository.confirmed_binding(session, binding.partner_id,
                                                   binding.ref_hash)
        if other is not None and other.id != binding.id:
            raise _bound_elsewhere()
        binding.status, binding.confirmed_at, binding.confirmed_by = "confirmed", now, how
        try:
            await session.flush()
        except IntegrityError as exc:  # confirmed elsewhere meanwhile (the unique index)
            if constraint_of(exc) != "uq_bindings_active_ref":
                raise
            raise domain_error(exc) from None
        record(session, actor_id=binding.citizen_id, action="binding.confirmed",
               subject_type="binding", subject_id=str(binding.id), details={"by": how})
        credited = 0
        if self.on_bound is not None:
            credited = await self.on_bound(await session.connection(), binding.citizen_id,
                                           binding.partner_id, binding.ref_hash)
        out = _binding_out(binding)
        out.records_credited = credited
        return out

    def _code_hash(self, partner_id: str, ref_hash: bytes, code: str) -> bytes:
        return self.hash_code(partner_id, f"{ref_hash.hex()}:{code.strip().upper()}")

    async def _throttle(self, citizen_id: uuid.UUID) -> None:
        """Binding attempts (and code guesses) per citizen per hour, before anything is
        looked up."""
        if self.limiter is None:
            return
        decision = await self.limiter.hit(f"binding:{citizen_id}",
                                          self.settings.binding_attempts_per_hour, 3600)
        if not decision.allowed:
            raise RateLimited("Too many binding attempts; try again later.",
                              retry_after=decision.retry_after_s)

    async def bindings(self, citizen_id: uuid.UUID) -> list[BindingOut]:
        async with self.db.read() as session:
            rows = await repository.bindings_of(session, citizen_id)
        return [_binding_out(b) for b in rows]

    async def unbind(self, citizen_id: uuid.UUID, binding_id: uuid.UUID) -> None:
        async with self.db.transaction() as session:
            if not await repository.remove_binding(session, citizen_id, binding_id,
                                                   self.clock.now()):
                raise NotFound("No such binding.")


def _bound_elsewhere() -> DomainError:
    """The error of the unique index on active references, also when code sees it first."""
    return CONSTRAINT_ERRORS["uq_bindings_active_ref"]()


def _binding_out(b: Binding) -> BindingOut:
    return BindingOut(id=b.id, partner_id=b.partner_id, external_ref_masked=b.ref_hint,
                      created_at=b.created_at, status=b.status)


def _partner_out(p: Partner) -> PartnerOut:
    return PartnerOut(p.id, p.name, p.kind, p.status, p.created_at,
                      list(p.behaviour_types or ()), p.districts)
