"""Role guards deny by default: each role reaches its own routes and no one else's."""

from __future__ import annotations

import pytest
from litestar import get

from carbon_inclusion.web.auth import role_guard


async def test_each_role_reaches_its_own_route_only(client, citizen, enterprise, admin,
                                                    organisation):
    routes = {
        "citizen": ("GET", "/v1/me"),
        "enterprise": ("GET", "/v1/organisation"),
        "admin": ("POST", f"/v1/admin/users/{citizen.id}/enable"),
    }
    callers = {"citizen": citizen, "enterprise": enterprise, "admin": admin}
    for route_role, (method, path) in routes.items():
        anonymous = await client.request(method, path)
        assert anonymous.status_code == 401, (route_role, "anonymous")
        for caller_role, caller in callers.items():
            r = await client.request(method, path, headers=caller.headers)
            allowed = caller_role == route_role or route_role == "citizen"  # /v1/me: any user
            assert (r.status_code < 400) == allowed, (route_role, caller_role, r.text)
            if not allowed:
                assert r.status_code == 403
                assert r.headers["content-type"].startswith("application/problem+json")


async def test_the_enterprise_user_sees_its_organisation(client, enterprise, organisation):
    r = await client.get("/v1/organisation", headers=enterprise.headers)
    assert r.json()["id"] == organisation["id"]


async def test_admin_routes_are_403_for_citizens(client, citizen):
    r = await client.post("/v1/admin/organisations", headers=citizen.headers,
                          json={"name": "mine now"})
    assert r.status_code == 403


async def test_a_route_that_declares_no_access_is_closed_to_everyone():
    class Conn:
        scope = {"user": None}  # noqa: RUF012

    @get("/x")
    async def undeclared() -> None:
        return None

    with pytest.raises(Exception, match="closed"):
        await role_guard(Conn(), undeclared)  # type: ignore[arg-type]


async def test_a_verification_body_s_users_are_verifiers(client, admin, verification_body):
    assert verification_body["kind"] == "verification_body"
    r = await client.post(f"/v1/admin/organisations/{verification_body['id']}/users",
                          headers=admin.headers,
                          json={"phone": "13900001234", "password": "Verify-2026-body",
                                "nickname": "核证员"})
    assert r.status_code == 201, r.text
    assert r.json()["role"] == "verifier"
    token = (await client.post("/v1/auth/token", json={
        "phone": "13900001234", "password": "Verify-2026-body"})).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    assert (await client.get("/v1/me", headers=headers)).json()["role"] == "verifier"
    # A verifier buys nothing and administers nothing.
    assert (await client.get("/v1/organisation", headers=headers)).status_code == 403
    r = await client.post("/v1/admin/organisations", headers=headers, json={"name": "x"})
    assert r.status_code == 403


async def test_an_organisation_kind_outside_the_list_is_422(client, admin):
    r = await client.post("/v1/admin/organisations", headers=admin.headers,
                          json={"name": "x", "kind": "bank"})
    assert r.status_code == 422
    assert "kind" in r.text
