"""Register fixtures: an enterprise and its organisation, and a verifier's entries."""

from __future__ import annotations

import secrets

import pytest

from tests.conftest import User


def key() -> str:
    return "e-" + secrets.token_hex(8)


async def enter(client, verifier: User, organisation_id: str, year: int, tonnes: str,
                idempotency_key: str | None = None, **extra):
    """A verifier's entry (or correction) of ``organisation_id``'s emissions for ``year``."""
    return await client.post(
        f"/v1/verifier/organisations/{organisation_id}/emissions",
        json={"year": year, "verified_emissions_t": tonnes} | extra,
        headers={**verifier.headers, "Idempotency-Key": idempotency_key or key()})


async def register(client, user: User, organisation_id: str | None = None, **params):
    """The register as ``user`` reads it: a verifier or an administrator by organisation,
    an enterprise user its own."""
    path = {"verifier": f"/v1/verifier/organisations/{organisation_id}/emissions",
            "admin": f"/v1/admin/organisations/{organisation_id}/emissions",
            "enterprise": "/v1/organisation/emissions"}[user.role]
    return await client.get(path, headers=user.headers, params=params)


@pytest.fixture
async def buyer(client, admin, make_user) -> User:
    """An enterprise user of an organisation of the test's own (``extra['organisation']``)."""
    r = await client.post("/v1/admin/organisations", headers=admin.headers,
                          json={"name": f"重庆履约企业 {secrets.token_hex(3)}"})
    assert r.status_code == 201, r.text
    user = await make_user("enterprise", organisation_id=r.json()["id"])
    user.extra["organisation"] = r.json()
    return user
