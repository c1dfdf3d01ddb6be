from __future__ import annotations

import secrets
import struct
import zlib
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.methodologies.conftest import document


def _chunk(kind: bytes, data: bytes) -> bytes:
    return (struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))


PLAIN_PNG = 69  # bytes of the 1×1 PNG below without its text chunk
_TEXT_CHUNK = 16  # length, type, "pad\0" and CRC of the padding's chunk


def png(size: int | None = None) -> bytes:
    """A real 1×1 PNG, exactly ``size`` bytes long when given (a text chunk pads it), each
    one different (the padding is random)."""
    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    out = b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr)
    pad = 8 if size is None else size - PLAIN_PNG - _TEXT_CHUNK
    out += _chunk(b"tEXt", b"pad\x00" + secrets.token_hex(pad // 2 + 1).encode()[:pad])
    out += _chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00")) + _chunk(b"IEND", b"")
    assert size is None or len(out) == size, (size, len(out))
    return out


def jpeg() -> bytes:
    """The start and end markers of a JPEG around some bytes (only its start is read)."""
    return b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + secrets.token_bytes(64) + b"\xff\xd9"


def webp() -> bytes:
    payload = b"VP8 " + struct.pack("<I", 10) + secrets.token_bytes(10)
    return b"RIFF" + struct.pack("<I", 4 + len(payload)) + b"WEBP" + payload


def key() -> str:
    return "photo-" + secrets.token_hex(8)


async def upload(client, user, body: bytes, content_type: str | None = "image/png",
                 idempotency_key: str | None = None, **extra_headers: str):
    headers = {**user.headers, "Idempotency-Key": idempotency_key or key(), **extra_headers}
    if content_type is not None:
        headers["Content-Type"] = content_type
    return await client.post("/v1/photos/", headers=headers, content=body)


def objects_of(settings, citizen_id: str) -> list[Path]:
    """The files of a citizen's photos in the session's file store."""
    root = Path(settings.storage_url.removeprefix("file:")) / "photos" / citizen_id
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


async def photo_rows(app, citizen_id: str) -> int:
    async with app.state.db.engine.connect() as conn:
        return await conn.scalar(text("SELECT count(*) FROM photos WHERE citizen_id = :c"),
                                 {"c": citizen_id})


async def behaviour_rows(app, citizen_id: str) -> int:
    async with app.state.db.engine.connect() as conn:
        return await conn.scalar(text("SELECT count(*) FROM behaviours WHERE citizen_id = :c"),
                                 {"c": citizen_id})


async def publish_scene(client, admin, *, photo: str | None, photo_review: bool = False,
                        review: bool = False) -> str:
    """A methodology of a behaviour type of its own, published through the admin API, whose
    self-reports take a photo as ``photo`` says; returns the behaviour type."""
    code = "PH-" + secrets.token_hex(3).upper()
    tier: dict = {"factor": "1", "review": review}
    if photo is not None:
        tier["photo"] = photo
    if photo_review:
        tier["photo_review"] = True
    doc = document(code, evidence={"partner_verified": {"factor": "1"}, "self_reported": tier})
    r = await client.post("/v1/admin/methodologies/", json=doc, headers=admin.headers)
    assert r.status_code == 201, r.text
    r = await client.post(f"/v1/admin/methodologies/{code}/versions/1/publish",
                          headers=admin.headers)
    assert r.status_code == 200, r.text
    return doc["behaviour"]


@pytest.fixture
async def required_scene(client, admin) -> str:
    return await publish_scene(client, admin, photo="required")


@pytest.fixture
async def reviewed_scene(client, admin) -> str:
    return await publish_scene(client, admin, photo="optional", photo_review=True)
