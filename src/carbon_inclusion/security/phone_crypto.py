"""Phone numbers at rest: AES-256-GCM for the number, a blind index to find it.

Two keys are derived (HKDF-SHA256) from one master secret, PHONE_KEY (in development and
tests, SECRET_KEY when PHONE_KEY is unset; production refuses to start without PHONE_KEY):

* the encryption key: ``users.phone_ciphertext`` = 12-byte random nonce ‖ AES-GCM(phone),
  with the column's name as associated data, so a ciphertext cannot be moved to another
  column and decrypt;
* the index key: ``users.phone_index`` = HMAC-SHA256(normalised phone), deterministic, so
  sign-in finds a phone and the unique constraint keeps one account per phone, without the
  database (or a dump of it) holding the number. A separate key, so the index reveals
  nothing about the encryption key and the other way round.

Pure: no settings, no I/O (the migration that encrypts the existing rows uses it too).
"""

from __future__ import annotations

import hashlib
import hmac
import os
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

if TYPE_CHECKING:
    from carbon_inclusion.settings import Settings

_AAD = b"users.phone"
NONCE_BYTES = 12


def _derive(master: bytes, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                info=b"carbon-inclusion " + purpose).derive(master)


class PhoneCipher:
    def __init__(self, master_key: str) -> None:
        if not master_key:
            raise ValueError("a phone key is needed")
        master = master_key.encode()
        self._aead = AESGCM(_derive(master, b"phone encryption v1"))
        self._index_key = _derive(master, b"phone index v1")

    def index(self, phone: str) -> bytes:
        """The blind index of a normalised phone (32 bytes)."""
        return hmac.new(self._index_key, phone.encode(), hashlib.sha256).digest()

    def encrypt(self, phone: str) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, phone.encode(), _AAD)

    def decrypt(self, stored: bytes) -> str:
        """Raises ``cryptography.exceptions.InvalidTag`` under the wrong key."""
        data = bytes(stored)
        return self._aead.decrypt(data[:NONCE_BYTES], data[NONCE_BYTES:], _AAD).decode()


def phone_cipher_of(settings: Settings) -> PhoneCipher:
    """The cipher a ``Settings`` describes: PHONE_KEY, or SECRET_KEY when it is unset
    (``Settings.validate`` refuses that in production)."""
    return PhoneCipher(settings.phone_key or settings.secret_key)
