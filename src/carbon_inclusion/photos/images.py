"""What kind of image a body is, by its first bytes (its "magic number"), not by what the
client says: JPEG (``FF D8 FF``), PNG (the 8-byte PNG signature) and WebP (a RIFF container
of form ``WEBP``). Pure: bytes in, a media type out."""

from __future__ import annotations

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def sniff(body: bytes) -> str | None:
    """The media type ``body`` starts like, or None when it is none of the three."""
    if body.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if body.startswith(PNG_SIGNATURE):
        return "image/png"
    if len(body) >= 12 and body[:4] == b"RIFF" and body[8:12] == b"WEBP":
        return "image/webp"
    return None


NAMES = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WebP"}
