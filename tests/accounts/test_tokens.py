"""Token attacks: every forged or stale access token is a 401 problem."""

from __future__ import annotations

import base64
import json
import time
import uuid

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from carbon_inclusion.security.tokens import AccessTokens, KeyRing, generate_key_file


def b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def claims(app, citizen, **override) -> dict:
    tokens = app.state.tokens
    now = int(time.time())
    base = {"iss": tokens.issuer, "aud": tokens.audience, "sub": citizen.id, "role": "citizen",
            "iat": now, "nbf": now, "exp": now + 600, "jti": uuid.uuid4().hex}
    base.update(override)
    return base


async def get_me(client, token: str):
    return await client.get("/v1/me", headers={"Authorization": f"Bearer {token}"})


def sign(app, payload: dict, **headers) -> str:
    key = app.state.tokens.ring.active
    return jwt.encode(payload, key.private, algorithm="EdDSA", headers={"kid": key.kid, **headers})


async def test_a_genuine_token_works(client, app, citizen):
    assert (await get_me(client, sign(app, claims(app, citizen)))).status_code == 200


async def test_alg_none_is_rejected(client, app, citizen):
    token = f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims(app, citizen))}."
    r = await get_me(client, token)
    assert r.status_code == 401
    assert r.headers["www-authenticate"].startswith("Bearer")


async def test_hs256_signed_with_the_public_key_is_rejected(client, app, citizen):
    key = app.state.tokens.ring.active
    public_pem = key.public.public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)
    header = {"alg": "HS256", "kid": key.kid, "typ": "JWT"}
    signing_input = f"{b64(header)}.{b64(claims(app, citizen))}".encode()
    import hashlib
    import hmac

    sig = hmac.new(public_pem, signing_input, hashlib.sha256).digest()
    token = signing_input.decode() + "." + base64.urlsafe_b64encode(sig).rstrip(b"=").decode()
    assert (await get_me(client, token)).status_code == 401


@pytest.mark.parametrize(
    "override",
    [
        {"iss": "someone-else"},
        {"aud": "another-api"},
        {"exp": int(time.time()) - 60},
        {"nbf": int(time.time()) + 600},
        {"role": "superuser"},
        {"sub": "not-a-uuid"},
        {"sub": str(uuid.uuid4())},
    ],
    ids=["wrong-iss", "wrong-aud", "expired", "not-yet-valid", "bad-role", "bad-sub",
         "unknown-user"],
)
async def test_bad_claims_are_rejected(client, app, citizen, override):
    assert (await get_me(client, sign(app, claims(app, citizen, **override)))).status_code == 401


async def test_a_token_claiming_another_role_than_the_account_has_is_rejected(client, app,
                                                                              citizen):
    token = sign(app, claims(app, citizen, role="admin"))
    assert (await get_me(client, token)).status_code == 401


async def test_missing_claims_are_rejected(client, app, citizen):
    payload = claims(app, citizen)
    del payload["jti"]
    assert (await get_me(client, sign(app, payload))).status_code == 401


async def test_a_tampered_payload_is_rejected(client, app, citizen, admin):
    header, _, signature = sign(app, claims(app, citizen)).split(".")
    forged = b64(claims(app, citizen, sub=admin.id, role="admin"))
    assert (await get_me(client, f"{header}.{forged}.{signature}")).status_code == 401


async def test_an_unknown_kid_is_rejected(client, app, citizen):
    stranger = Ed25519PrivateKey.generate()
    token = jwt.encode(claims(app, citizen), stranger, algorithm="EdDSA",
                       headers={"kid": "not-ours"})
    assert (await get_me(client, token)).status_code == 401


async def test_a_token_signed_by_a_foreign_key_under_our_kid_is_rejected(client, app, citizen):
    stranger = Ed25519PrivateKey.generate()
    token = jwt.encode(claims(app, citizen), stranger, algorithm="EdDSA",
                       headers={"kid": app.state.tokens.ring.active.kid})
    assert (await get_me(client, token)).status_code == 401


@pytest.mark.parametrize("header", ["Basic abc", "Bearer", "Bearer    ", "token"])
async def test_malformed_authorization_headers_are_401(client, header):
    r = await client.get("/v1/me", headers={"Authorization": header})
    assert r.status_code == 401


async def test_jwks_publishes_the_verification_keys(client, app):
    keys = (await client.get("/.well-known/jwks.json")).json()["keys"]
    assert [k["kid"] for k in keys] == list(app.state.tokens.ring.keys)
    assert all(k["kty"] == "OKP" and k["crv"] == "Ed25519" and "d" not in k for k in keys)


def test_rotation_keeps_old_tokens_valid_and_signs_with_the_new_key(tmp_path):
    generate_key_file(tmp_path, "2026-01")
    old = AccessTokens(KeyRing.load(tmp_path, create=False), issuer="i", audience="a", ttl_s=60)
    user = uuid.uuid4()
    token = old.issue(user, "citizen")
    generate_key_file(tmp_path, "2026-02")
    new = AccessTokens(KeyRing.load(tmp_path, create=False), issuer="i", audience="a", ttl_s=60)
    assert new.ring.active.kid == "2026-02"
    assert new.verify(token).sub == user
    assert jwt.get_unverified_header(new.issue(user, "citizen"))["kid"] == "2026-02"
    (tmp_path / "2026-01.pem").unlink()
    retired = AccessTokens(KeyRing.load(tmp_path, create=False), issuer="i", audience="a",
                           ttl_s=60)
    with pytest.raises(Exception, match="unknown key"):
        retired.verify(token)


def test_keys_new_adds_a_key_that_becomes_active_while_the_old_one_still_verifies(
        tmp_path, monkeypatch):
    from click.testing import CliRunner

    from carbon_inclusion.cli import main
    from carbon_inclusion.security.tokens import KeyRing

    monkeypatch.setenv("JWT_KEYS_DIR", str(tmp_path))
    kids = []
    for _ in range(2):
        done = CliRunner().invoke(main, ["keys", "new"])
        assert done.exit_code == 0, done.output
        kids.append(done.output.strip())
        time.sleep(1.1)  # kids sort by creation time
    ring = KeyRing.load(tmp_path, None, create=False)
    assert {k["kid"] for k in ring.jwks()["keys"]} == set(kids)
    assert ring.active.kid == kids[-1]
