"""App claims: a behaviour the citizen reports, recorded once per Idempotency-Key.

The hot path: one statement takes the key's lock (try: a concurrent duplicate gets 409 at
once) and the lock of the citizen's behaviours of this type, and reads the versions that
may score it; the pipeline then records it in its usual few statements.
"""

from __future__ import annotations

import uuid

import msgspec
from sqlalchemy.exc import IntegrityError

from carbon_inclusion.behaviours import repository
from carbon_inclusion.behaviours.pipeline import Candidate, Recorder, lock_key
from carbon_inclusion.behaviours.schemas import BehaviourOut, ClaimIn
from carbon_inclusion.behaviours.views import behaviour_out, has_nul
from carbon_inclusion.common import idempotency
from carbon_inclusion.common.integrity import constraint_of, domain_error
from carbon_inclusion.db import Database
from carbon_inclusion.errors import Conflict, FieldError, InvalidInput, RateLimited
from carbon_inclusion.methodologies import repository as methodologies
from carbon_inclusion.photos import repository as photos
from carbon_inclusion.photos.service import photo_ref, refs_of
from carbon_inclusion.ratelimit import RateLimiter
from carbon_inclusion.settings import Settings

# The unique key that says an Idempotency-Key was used before: answer as the first time.
KEY_USED = "uq_behaviours_citizen_id_idempotency_key"


class ClaimService:
    def __init__(self, db: Database, settings: Settings, recorder: Recorder,
                 limiter: RateLimiter) -> None:
        self.db = db
        self.settings = settings
        self.recorder = recorder
        self.limiter = limiter

    async def claim(self, citizen_id: uuid.UUID, district: str | None, key: str,
                    body: ClaimIn) -> tuple[BehaviourOut, bool]:
        """Record a self-reported behaviour once per Idempotency-Key.

        Returns the behaviour and whether it was created now (False: a replay).
        """
        if has_nul(body.data):
            raise InvalidInput.field("data", "must not contain NUL characters")
        digest = idempotency.request_hash(msgspec.to_builtins(body))
        decision = await self.limiter.hit(f"claims:{citizen_id}",
                                          self.settings.claims_per_minute, 60)
        if not decision.allowed:
            raise RateLimited("Too many behaviours recorded in a minute.",
                              retry_after=decision.retry_after_s)
        candidate = Candidate(
            citizen_id=citizen_id, district=district or "", type=body.type,
            occurred_at=body.occurred_at, data=body.data, source="app",
            evidence="self_reported", idempotency_key=key, request_hash=digest,
            photo_id=body.photo_id)
        base_url = self.settings.public_url
        try:
            async with self.db.connect() as conn:
                got, versions = await methodologies.versions_after_locks(
                    conn, [body.type], try_key=idempotency.lock_key("claim", citizen_id, key),
                    wait_key=lock_key(citizen_id, body.type))
                if not got:
                    raise idempotency.in_use("request")
                photo = None
                if body.photo_id is not None:
                    photo = await photos.get(conn, body.photo_id, citizen_id)
                    if photo is None:
                        raise InvalidInput.field("photo_id", "no such photo of yours: upload "
                                                 "it first (POST /v1/photos)",
                                                 code="unknown_photo")
                (outcome,) = await self.recorder.record(conn, [candidate], versions=versions,
                                                        locked=True)
                if outcome.errors:
                    raise InvalidInput(
                        "; ".join(f"{e.field}: {e.message}" for e in outcome.errors),
                        code="invalid_behaviour", errors=outcome.errors)
                assert outcome.behaviour is not None and outcome.evaluation is not None
                b = outcome.behaviour
                # After the behaviour is written: a replay meets its Idempotency-Key first.
                if photo is not None and not await photos.attach(
                        conn, citizen_id, photo.id, b["id"], b["occurred_at"], b["created_at"]):
                    raise Conflict("This photo is attached to another behaviour already.",
                                   code="photo_already_attached",
                                   errors=[FieldError("photo_id",
                                                      "is attached to another behaviour")])
                ref = None if photo is None else photo_ref(photo, base_url)
                return behaviour_out(b, outcome.evaluation, ref), True
        except IntegrityError as exc:
            if constraint_of(exc) != KEY_USED:
                error = domain_error(exc)  # uq_behaviours_period: period_taken
                if error is None:
                    raise
                raise error from None
        async with self.db.engine.connect() as conn:
            existing = await repository.by_key(conn, citizen_id, key)
            assert existing is not None
            idempotency.check_replay(existing.request_hash, digest, "claim")
            methodology = await self.recorder.compiled_by_id(conn, existing.methodology_id)
            refs = await refs_of(conn, [(citizen_id, existing.id)], base_url)
        return behaviour_out(existing._asdict(), methodology.evaluate(existing.data,
                                                                       existing.evidence),
                             refs.get(existing.id)), False
