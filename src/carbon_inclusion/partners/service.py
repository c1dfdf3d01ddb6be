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
from sqlalchemy.ext.asyncio import AsyncConnection

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
    Unauthenticated,
)
from carbon_inclusion.partners import repository
from carbon_inclusion.partners.models import Binding, Partner
from carbon_inclusion.partners.schemas import BindingOut, PartnerOut, PartnerSecretOut
from carbon_inclusion.security.secrets import (
    RefHasher,
    SecretBox,
    derive_key,
    sign_partner_request,
)
from carbon_inclusion.settings import Settings

MAX_CLOCK_SKEW_S = 300

# Called inside the binding's transaction: (conn, citizen_id, partner_id, ref_hash) -> the
# number of waiting records credited.
OnBound = Callable[[AsyncConnection, uuid.UUID, str, bytes], Awaitable[int]]


def ref_lock_key(partner_id: str, ref_hash: bytes) -> int:
    """Transaction-lock key of one partner reference: binding it and receiving records for
    it take this lock, so a record is either seen bound or credited when the binding is."""
    return locks.lock_key("partner_ref", partner_id, ref_hash.hex())


@dataclass(frozen=True, slots=True)
class AuthenticatedPartner:
    id: str
    name: str
    kind: str


def mask_ref(external_ref: str) -> str:
    return "*" * max(0, min(len(external_ref) - 4, 8)) + external_ref[-4:]


class PartnerService:
    def __init__(self, db: Database, settings: Settings, clock: Clock = SYSTEM_CLOCK) -> None:
        self.db = db
        self.clock = clock
        self.box = SecretBox(derive_key(settings.secret_key, "partner-secrets"))
        self.hash_ref = RefHasher(derive_key(settings.secret_key, "binding-refs"))
        self.grace = dt.timedelta(seconds=settings.partner_secret_grace_s)
        self.on_bound: OnBound | None = None
        self._cache: dict[str, tuple[float, Partner | None]] = {}

    # --- administration -----------------------------------------------------------------

    async def create(self, actor_id: uuid.UUID, partner_id: str, name: str,
                     kind: str) -> PartnerSecretOut:
        secret = secrets.token_urlsafe(32)
        partner = Partner(id=partner_id, name=" ".join(name.split()), kind=kind,
                          secret_sealed=self.box.seal(secret, context=partner_id))
        try:
            async with self.db.transaction() as session:
                session.add(partner)
                await session.flush()
                record(session, actor_id=actor_id, action="partner.created",
                       subject_type="partner", subject_id=partner_id)
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

    async def list(self) -> list[PartnerOut]:
        async with self.db.read() as session:
            rows = await repository.all_partners(session)
        return [PartnerOut(p.id, p.name, p.kind, p.status, p.created_at) for p in rows]

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
        return AuthenticatedPartner(partner.id, partner.name, partner.kind)

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

    async def bind(self, citizen_id: uuid.UUID, partner_id: str,
                   external_ref: str) -> BindingOut:
        ref_hash = self.hash_ref(partner_id, external_ref)
        try:
            async with self.db.transaction() as session:
                partner = await repository.get(session, partner_id)
                if partner is None:
                    raise InvalidInput.field("partner_id", f"unknown partner {partner_id!r}")
                await repository.lock(session, ref_lock_key(partner_id, ref_hash))
                existing = await repository.active_binding(session, partner_id, ref_hash)
                if existing is not None:
                    if existing.citizen_id == citizen_id:
                        return _binding_out(existing, mask_ref(external_ref))
                    raise _bound_elsewhere()
                binding = Binding(citizen_id=citizen_id, partner_id=partner_id,
                                  ref_hash=ref_hash, ref_hint=mask_ref(external_ref))
                session.add(binding)
                await session.flush()
                credited = 0
                if self.on_bound is not None:
                    credited = await self.on_bound(await session.connection(), citizen_id,
                                                   partner_id, ref_hash)
        except IntegrityError as exc:  # bound elsewhere meanwhile (the unique index says so)
            if constraint_of(exc) != "uq_bindings_active_ref":
                raise
            raise domain_error(exc) from None
        out = _binding_out(binding, binding.ref_hint)
        out.records_credited = credited
        return out

    async def bindings(self, citizen_id: uuid.UUID) -> list[BindingOut]:
        async with self.db.read() as session:
            rows = await repository.bindings_of(session, citizen_id)
        return [_binding_out(b, b.ref_hint) for b in rows]

    async def unbind(self, citizen_id: uuid.UUID, binding_id: uuid.UUID) -> None:
        async with self.db.transaction() as session:
            if not await repository.remove_binding(session, citizen_id, binding_id,
                                                   self.clock.now()):
                raise NotFound("No such binding.")


def _bound_elsewhere() -> DomainError:
    """The error of the unique index on active references, also when code sees it first."""
    return CONSTRAINT_ERRORS["uq_bindings_active_ref"]()


def _binding_out(b: Binding, masked: str) -> BindingOut:
    return BindingOut(id=b.id, partner_id=b.partner_id, external_ref_masked=masked,
                      created_at=b.created_at)
