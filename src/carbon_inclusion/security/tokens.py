"""Access tokens: Ed25519-signed JWTs with key rotation by ``kid``.

Verification pins the algorithm (EdDSA) and the key by ``kid``: ``alg: none``, HS256 signed
with a public key, unknown or removed keys, and wrong ``iss``/``aud`` are all rejected.
Rotation: put a new PEM in ``JWT_KEYS_DIR`` and make it active (``JWT_ACTIVE_KID`` or the
newest file name); older keys keep verifying until their file is removed, so nobody is
logged out by a rotation.
"""

from __future__ import annotations

import base64
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from carbon_inclusion.errors import Unauthenticated

ALGORITHM = "EdDSA"
ROLES = ("citizen", "enterprise", "admin", "verifier")


@dataclass(frozen=True, slots=True)
class KeyPair:
    kid: str
    private: Ed25519PrivateKey
    public: Ed25519PublicKey

    def jwk(self) -> dict[str, str]:
        raw = self.public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        x = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
        return {"kty": "OKP", "crv": "Ed25519", "x": x, "kid": self.kid, "use": "sig",
                "alg": ALGORITHM}


def generate_key_file(directory: Path, kid: str | None = None) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    kid = kid or time.strftime("%Y%m%d%H%M%S") + "-" + os.urandom(3).hex()
    path = directory / f"{kid}.pem"
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    return path


class KeyRing:
    def __init__(self, keys: list[KeyPair], active_kid: str) -> None:
        self.keys = {k.kid: k for k in keys}
        if active_kid not in self.keys:
            raise ValueError(f"active key {active_kid!r} is not in the key ring")
        self.active = self.keys[active_kid]

    @classmethod
    def load(cls, directory: Path, active_kid: str | None = None, *, create: bool) -> KeyRing:
        files = sorted(directory.glob("*.pem")) if directory.is_dir() else []
        if not files:
            if not create:
                raise ValueError(f"no signing keys (*.pem) in {directory}")
            files = [generate_key_file(directory)]
        keys = []
        for path in files:
            private = serialization.load_pem_private_key(path.read_bytes(), password=None)
            if not isinstance(private, Ed25519PrivateKey):
                raise ValueError(f"{path} is not an Ed25519 private key")
            keys.append(KeyPair(path.stem, private, private.public_key()))
        return cls(keys, active_kid or keys[-1].kid)

    def jwks(self) -> dict[str, Any]:
        return {"keys": [k.jwk() for k in self.keys.values()]}


@dataclass(frozen=True, slots=True)
class Claims:
    sub: uuid.UUID
    role: str
    jti: str
    exp: int


class AccessTokens:
    def __init__(self, ring: KeyRing, *, issuer: str, audience: str, ttl_s: int) -> None:
        self.ring = ring
        self.issuer = issuer
        self.audience = audience
        self.ttl_s = ttl_s
        # Tokens already verified, until they expire: a signature check and JWT parse cost
        # more than the rest of a typical request's Python work. Bounded; cleared when full.
        self._verified: dict[str, Claims] = {}

    def issue(self, user_id: uuid.UUID, role: str, *, now: int | None = None) -> str:
        now = int(time.time()) if now is None else now
        payload = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": str(user_id),
            "role": role,
            "iat": now,
            "nbf": now,
            "exp": now + self.ttl_s,
            "jti": uuid.uuid4().hex,
        }
        key = self.ring.active
        return jwt.encode(payload, key.private, algorithm=ALGORITHM, headers={"kid": key.kid})

    def verify(self, token: str) -> Claims:
        cached = self._verified.get(token)
        if cached is not None and time.time() < cached.exp:
            return cached
        claims = self._verify(token)
        if len(self._verified) >= 100_000:
            self._verified.clear()
        self._verified[token] = claims
        return claims

    def _verify(self, token: str) -> Claims:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise Unauthenticated("The access token is malformed.", code="invalid_token") from None
        if header.get("alg") != ALGORITHM:
            raise Unauthenticated("The access token's algorithm is not accepted.",
                                  code="invalid_token")
        key = self.ring.keys.get(str(header.get("kid")))
        if key is None:
            raise Unauthenticated("The access token was signed by an unknown key.",
                                  code="invalid_token")
        try:
            payload = jwt.decode(
                token,
                key.public,
                algorithms=[ALGORITHM],
                audience=self.audience,
                issuer=self.issuer,
                leeway=5,
                options={"require": ["exp", "iat", "nbf", "sub", "jti", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("The access token has expired.", code="token_expired") from None
        except jwt.PyJWTError:
            raise Unauthenticated("The access token is not valid.", code="invalid_token") from None
        role = payload.get("role")
        if role not in ROLES:
            raise Unauthenticated("The access token has no valid role.", code="invalid_token")
        try:
            sub = uuid.UUID(payload["sub"])
        except (ValueError, TypeError):
            raise Unauthenticated("The access token is not valid.", code="invalid_token") from None
        return Claims(sub=sub, role=role, jti=str(payload["jti"]), exp=int(payload["exp"]))
