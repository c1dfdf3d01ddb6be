"""Contract fuzzing: schemathesis drives every operation of our own OpenAPI document.

A real API process, on a database of its own (what the fuzzer creates never reaches the
other suites), is asked every operation with generated valid and invalid inputs, as an
anonymous caller and signed in as a citizen, an enterprise user, an administrator and a
verifier, and
the partner routes also signed by a partner (the signature covers the very bytes sent). Every
check schemathesis has must pass: no server error, every status and header documented,
every body as its schema says, invalid input refused, authentication never ignored.
``FUZZ_EXAMPLES`` (default 5) bounds the examples per operation and mode.

One check is left out: ``positive_data_acceptance``, which expects every request that fits
the schema to succeed. Ours refuse some such requests on purpose, with a 422 naming the
field: a reference to a partner or reward that does not exist, a cursor this API never
issued, ``district`` without ``scope=district``, a phone number that is not a mainland
mobile one. A schema cannot say those; the 422s are documented on every operation.
"""

from __future__ import annotations

import json
import os
import secrets
import time

import httpx
import pytest
import requests
import schemathesis
from schemathesis import GenerationMode
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import ignored_auth, positive_data_acceptance

from carbon_inclusion.openapi_doc import render_openapi
from carbon_inclusion.security.secrets import sign_partner_request
from tests.live import (
    PASSWORD,
)

pytestmark = pytest.mark.slow

# Asked by a signed-in caller these end the session the fuzzer is using (logout), or stream
# until the client goes (SSE); their own tests cover them.
SKIPPED = {("POST", "/v1/auth/logout"), ("GET", "/v1/me/events")}
ROLES = ("anonymous", "citizen", "enterprise", "admin", "verifier")


def _config() -> SchemathesisConfig:
    config = SchemathesisConfig()
    config.projects.default.generation.update(
        modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
        max_examples=int(os.environ.get("FUZZ_EXAMPLES", "5")), deterministic=True,
        # OpenAPI does not forbid query parameters or headers beyond those declared, and
        # like most HTTP APIs ours ignores them: they are not invalid input.
        allow_extra_parameters=False)
    return config


schema = schemathesis.openapi.from_dict(json.loads(render_openapi()), config=_config())
partner_routes = schema.include(path_regex="^/v1/partner/")


def _phone() -> str:
    return "137" + str(secrets.randbelow(10**8)).zfill(8)


def _token(base: str, phone: str) -> str:
    r = httpx.post(base + "/v1/auth/token", json={"phone": phone, "password": PASSWORD})
    r.raise_for_status()
    return r.json()["access_token"]


@pytest.fixture(scope="module")
def headers(server) -> dict[str, dict[str, str]]:
    """Authorization headers of one user of each role, on the fuzzed server."""
    base = server.base_url
    admin = _phone()
    server.cli("admin", "create", "--phone", admin, "--password", PASSWORD)
    admin_auth = {"Authorization": f"Bearer {_token(base, admin)}"}
    citizen = _phone()
    httpx.post(base + "/v1/auth/register", json={
        "phone": citizen, "password": PASSWORD, "nickname": "fuzz", "district": "yuzhong",
        "privacy_notice_version": 1,
    }).raise_for_status()
    server.verify_phone(citizen)
    org = httpx.post(base + "/v1/admin/organisations", headers=admin_auth,
                     json={"name": "模糊测试会展公司"})
    org.raise_for_status()
    member = _phone()
    httpx.post(base + f"/v1/admin/organisations/{org.json()['id']}/users", headers=admin_auth,
               json={"phone": member, "password": PASSWORD, "nickname": "fuzz-org"}
               ).raise_for_status()
    body = httpx.post(base + "/v1/admin/organisations", headers=admin_auth,
                      json={"name": "模糊测试核证机构", "kind": "verification_body"})
    body.raise_for_status()
    checker = _phone()
    httpx.post(base + f"/v1/admin/organisations/{body.json()['id']}/users", headers=admin_auth,
               json={"phone": checker, "password": PASSWORD, "nickname": "fuzz-verifier"}
               ).raise_for_status()
    return {"anonymous": {}, "admin": admin_auth,
            "citizen": {"Authorization": f"Bearer {_token(base, citizen)}"},
            "enterprise": {"Authorization": f"Bearer {_token(base, member)}"},
            "verifier": {"Authorization": f"Bearer {_token(base, checker)}"}}


@pytest.mark.parametrize("role", ROLES)
@schema.parametrize()
def test_the_api_keeps_its_contract_under_generated_input(case, role, server, headers):
    if (case.method.upper(), case.path) in SKIPPED:
        pytest.skip("ends the fuzzer's session or never ends")
    case.call_and_validate(base_url=server.base_url, headers=headers[role],
                           excluded_checks=[positive_data_acceptance])


@pytest.fixture(scope="module")
def partner(server, headers) -> dict[str, str]:
    r = httpx.post(server.base_url + "/v1/admin/partners", headers=headers["admin"],
                   json={"id": "fuzz-" + secrets.token_hex(3), "name": "模糊测试公交",
                         "kind": "transit"})
    r.raise_for_status()
    return r.json()


@partner_routes.parametrize()
def test_partner_routes_keep_their_contract_when_signed(case, server, partner):
    kwargs = case.as_transport_kwargs(base_url=server.base_url)
    if "json" in kwargs:
        body = json.dumps(kwargs.pop("json")).encode()
    else:
        body = kwargs.pop("data", None) or b""
        body = body.encode() if isinstance(body, str) else body
    signed = {}
    if "X-Signature" in (case.headers or {}):  # else the case is about a missing signature
        ts = str(int(time.time()))
        signed = {"X-Partner-Id": partner["id"], "X-Timestamp": ts,
                  "X-Signature": sign_partner_request(partner["secret"], ts, body)}
        kwargs["headers"].update(signed)
    response = requests.request(**kwargs, data=body, timeout=30)
    # ``ignored_auth`` would resend these with our signature still on; unsigned and badly
    # signed requests are the main test's (every role is unsigned there) and test_partners'.
    case.validate_response(response, excluded_checks=[positive_data_acceptance, ignored_auth],
                           headers=signed or None, transport_kwargs=kwargs | {"data": body})
