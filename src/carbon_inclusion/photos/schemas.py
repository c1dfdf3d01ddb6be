from __future__ import annotations

import datetime as dt
import uuid
from typing import Literal

import msgspec

ContentType = Literal["image/jpeg", "image/png", "image/webp"]


class PhotoOut(msgspec.Struct):
    """An uploaded photo: name it as ``photo_id`` in a self-report (``POST /v1/behaviours``)
    to attach it; a photo goes with one behaviour only."""

    id: uuid.UUID
    content_type: ContentType
    bytes: int
    sha256: str  # hex of the image's SHA-256
    created_at: dt.datetime
    behaviour_id: uuid.UUID | None  # the behaviour it is attached to, once it is
    url: str  # GET it here (its owner and administrators only)


class PhotoRef(msgspec.Struct):
    """The photo a behaviour carries, as a behaviour shows it."""

    id: uuid.UUID
    content_type: ContentType
    bytes: int
    sha256: str
    url: str
