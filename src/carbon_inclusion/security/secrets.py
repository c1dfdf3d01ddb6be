"""Keys derived from SECRET_KEY: sealing partner secrets and hashing external references."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


def derive_key(secret_key: str, purpose: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                info=f"carbon-inclusion:{purpose}".encode()).derive(secret_key.encode())


class SecretBox:
    """AES-256-GCM for secrets the server must read back (partner HMAC secrets)."""

    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)

    def seal(self, plaintext: str, *, context: str) -> str:
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, plaintext.encode(), context.encode())
        return base64.b64encode(nonce + sealed).decode()

    def open(self, token: str, *, context: str) -> str:
        raw = base64.b64decode(token)
        return self._aead.decrypt(raw[:12], raw[12:], context.encode()).decode()


class RefHasher:
    """Keyed hash of a partner's card or account number: stored instead of the number."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def __call__(self, partner_id: str, external_ref: str) -> bytes:
        return hmac.new(self._key, f"{partner_id}\x00{external_ref}".encode(),
                        hashlib.sha256).digest()


def sign_partner_request(secret: str, timestamp: str, body: bytes) -> str:
    """DESIGN §9: hex(HMAC-SHA256(secret, timestamp + "." + body))."""
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
