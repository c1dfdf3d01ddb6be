"""Photo evidence: uploads checked and kept (metadata in PostgreSQL, bytes in the object
store), read back by their owner and by administrators (who review self-reports).

An upload is refused before anything is stored when its type is not one of
``models.CONTENT_TYPES`` (415), it is larger than ``PHOTO_MAX_BYTES`` (413), it is empty, or
its first bytes are not the image its ``Content-Type`` says (422 naming ``body``). Otherwise
its row is inserted and its object written in one transaction: a failed write rolls the row
back, and an object written for a transaction that then fails to commit is deleted again.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import logging
import uuid
from collections.abc import Iterable
from types import SimpleNamespace
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from carbon_inclusion.common import idempotency
from carbon_inclusion.common.clock import SYSTEM_CLOCK, Clock
from carbon_inclusion.common.storage import ObjectStore, new_key, open_store
from carbon_inclusion.db import Database
from carbon_inclusion.errors import (
    FieldError,
    InvalidInput,
    NotFound,
    RateLimited,
    TooLarge,
    UnsupportedMediaType,
)
from carbon_inclusion.ids import uuid7
from carbon_inclusion.photos import images
from carbon_inclusion.photos import repository as repo
from carbon_inclusion.photos.models import CONTENT_TYPES
from carbon_inclusion.photos.schemas import PhotoOut, PhotoRef
from carbon_inclusion.ratelimit import RateLimiter
from carbon_inclusion.settings import Settings

log = logging.getLogger(__name__)


def open_photo_store(settings: Settings) -> ObjectStore:
    """The object store ``STORAGE_URL`` and the ``S3_*`` settings name."""
    return open_store(settings.storage_url, endpoint=settings.s3_endpoint_url,
                      region=settings.s3_region, access_key=settings.s3_access_key_id,
                      secret_key=settings.s3_secret_access_key)


def media_type(content_type: str | None) -> str:
    """The media type of a ``Content-Type`` header, lower-case, without parameters."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def check_content_type(content_type: str | None) -> str:
    """The declared media type when photos take it, else ``UnsupportedMediaType``."""
    media = media_type(content_type)
    if media not in CONTENT_TYPES:
        message = (f"must be one of {', '.join(CONTENT_TYPES)}"
                   + (f", not {media}" if media else ""))
        raise UnsupportedMediaType(f"Content-Type: {message}.",
                                   errors=[FieldError("Content-Type", message)])
    return media


def too_large(limit: int) -> TooLarge:
    message = f"is larger than {limit} bytes"
    return TooLarge(f"body: {message} (PHOTO_MAX_BYTES).",
                    errors=[FieldError("body", message)])


def photo_url(base_url: str, photo_id: uuid.UUID) -> str:
    return f"{base_url}/v1/photos/{photo_id}"


def photo_ref(row: Any, base_url: str) -> PhotoRef:
    return PhotoRef(id=row.id, content_type=row.content_type, bytes=row.bytes,
                    sha256=row.sha256.hex(), url=photo_url(base_url, row.id))


async def refs_of(conn: AsyncConnection, behaviours: Iterable[tuple[uuid.UUID, uuid.UUID]],
                  base_url: str) -> dict[uuid.UUID, PhotoRef]:
    """The photos attached to these (citizen id, behaviour id) pairs, by behaviour id."""
    rows = await repo.of_behaviours(conn, behaviours)
    return {b: photo_ref(r, base_url) for b, r in rows.items()}


class PhotoService:
    def __init__(self, db: Database, settings: Settings, store: ObjectStore,
                 limiter: RateLimiter, clock: Clock = SYSTEM_CLOCK) -> None:
        self.db = db
        self.settings = settings
        self.store = store
        self.limiter = limiter
        self.clock = clock
        self.base_url = settings.public_url

    def _out(self, row: Any) -> PhotoOut:
        return PhotoOut(id=row.id, content_type=row.content_type, bytes=row.bytes,
                        sha256=row.sha256.hex(), created_at=row.created_at,
                        behaviour_id=row.behaviour_id, url=photo_url(self.base_url, row.id))

    async def upload(self, citizen_id: uuid.UUID, key: str, content_type: str | None,
                     body: bytes) -> tuple[PhotoOut, bool]:
        """Keep a photo once per Idempotency-Key; returns it and whether it is new."""
        declared = check_content_type(content_type)
        if len(body) > self.settings.photo_max_bytes:
            raise too_large(self.settings.photo_max_bytes)
        if not body:
            raise InvalidInput.field("body", "send the image as the request body",
                                     code="empty_photo")
        found = images.sniff(body)
        if found != declared:
            what = f"a {images.NAMES[found]} image" if found else "no JPEG, PNG or WebP image"
            raise InvalidInput.field(
                "body", f"is {what}, not the {images.NAMES[declared]} its Content-Type says",
                code="photo_type_mismatch")
        sha = hashlib.sha256(body).digest()
        digest = hashlib.sha256(declared.encode() + b"\n" + sha).digest()
        async with self.db.engine.connect() as conn:
            existing = await repo.by_key(conn, citizen_id, key)
        if existing is not None:
            idempotency.check_replay(existing.request_hash, digest, "photo")
            return self._out(existing), False
        decision = await self.limiter.hit(f"photos:{citizen_id}",
                                          self.settings.photos_per_hour, 3600)
        if not decision.allowed:
            raise RateLimited("Too many photos uploaded in an hour.",
                              retry_after=decision.retry_after_s)
        photo_id = uuid7()
        row = {"id": photo_id, "citizen_id": citizen_id,
               "key": new_key("photos", citizen_id, photo_id), "content_type": declared,
               "bytes": len(body), "sha256": sha, "idempotency_key": key,
               "request_hash": digest, "created_at": self.clock.now()}
        written = False
        try:
            async with self.db.connect() as conn:
                if not await repo.insert_new(conn, row):  # a concurrent first request won
                    existing = await repo.by_key(conn, citizen_id, key)
                else:
                    await self.store.put(row["key"], body, declared)
                    written = True
        except BaseException:
            if written:  # the row did not commit: neither may its object stay
                with contextlib.suppress(Exception):
                    await self.store.delete(row["key"])
            raise
        if not written:
            assert existing is not None
            idempotency.check_replay(existing.request_hash, digest, "photo")
            return self._out(existing), False
        return self._out(SimpleNamespace(**row, behaviour_id=None)), True

    async def read(self, photo_id: uuid.UUID, citizen_id: uuid.UUID | None
                   ) -> tuple[PhotoOut, bytes]:
        """A photo and its bytes; ``citizen_id`` None means an administrator."""
        async with self.db.engine.connect() as conn:
            row = await repo.get(conn, photo_id, citizen_id)
        if row is None:
            raise NotFound("No such photo.")
        data = await self.store.get(row.key)
        if data is None:  # the row outlived its object (an erasure that did not commit)
            log.warning("photo %s has no object under %s", row.id, row.key)
            raise NotFound("No such photo.")
        return self._out(row), data

    async def erase(self, conn: AsyncConnection, citizen_id: uuid.UUID) -> int:
        """Delete the citizen's photos, rows and objects, inside the caller's transaction:
        the objects go before the commit, so a failed commit leaves rows without objects
        (read as gone, erased again on a retry), never a citizen's photo without its row."""
        keys = await repo.erase(conn, citizen_id)
        for key in keys:
            await self.store.delete(key)
        return len(keys)


async def expire_photos(conn: AsyncConnection, store: ObjectStore, settings: Settings,
                        now: dt.datetime) -> int:
    """Retention (``privacy reduce``): photos of behaviours that occurred more than
    ``TRIP_RETENTION_DAYS`` ago, and photos no claim took within ``PHOTO_UNATTACHED_HOURS``,
    deleted, rows and objects, in the caller's transaction (objects first, as ``erase``)."""
    keys = await repo.expire(
        conn, attached_before=now - dt.timedelta(days=settings.trip_retention_days),
        loose_before=now - dt.timedelta(hours=settings.photo_unattached_hours))
    for key in keys:
        await store.delete(key)
    return len(keys)
