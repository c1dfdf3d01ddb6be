"""The committed OpenAPI document as the teams that generate clients from it will use it.

It validates against the OpenAPI 3.1 schema; it keeps the intent of Spectral's
``spectral:oas`` rules (checked here in Python, so the suite needs no Node); and
``openapi-python-client`` generates a client from it with no warning and no operation left
out, which then drives one citizen's and one partner's happy path against a live server.
"""

from __future__ import annotations

import datetime as dt
import importlib
import json
import re
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import msgspec
import pytest
from openapi_spec_validator import OpenAPIV31SpecValidator

from carbon_inclusion.security.secrets import sign_partner_request
from tests.conftest import ROOT
from tests.live import (
    BIN,
    PASSWORD,
)

DOCUMENT = ROOT / "openapi" / "openapi.json"
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
PACKAGE = "carbon_inclusion_api_client"


@pytest.fixture(scope="module")
def document() -> dict:
    return json.loads(DOCUMENT.read_text(encoding="utf-8"))


def operations(document: dict) -> Iterator[tuple[str, str, dict]]:
    for path, item in document["paths"].items():
        for method in METHODS:
            if method in item:
                yield method.upper(), path, item[method]


def walk(node: object, at: str = "#") -> Iterator[tuple[str, dict]]:
    """Every JSON object in ``node``, with its JSON pointer."""
    if isinstance(node, dict):
        yield at, node
        for key, value in node.items():
            yield from walk(value, f"{at}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from walk(value, f"{at}/{i}")


# --- the document itself -------------------------------------------------------------------


def test_the_document_validates_against_the_openapi_3_1_schema(document):
    assert document["openapi"].startswith("3.1.")
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
              for e in OpenAPIV31SpecValidator(document).iter_errors()]
    assert errors == []


def test_every_operation_has_an_id_a_description_and_declared_tags(document):
    declared = {tag["name"]: tag.get("description") for tag in document.get("tags", [])}
    ids, used = [], set()
    for method, path, operation in operations(document):
        where = f"{method} {path}"
        assert operation.get("operationId"), where
        assert (operation.get("description") or "").strip(), where
        assert operation.get("tags"), where
        assert set(operation["tags"]) <= set(declared), where
        ids.append(operation["operationId"])
        used.update(operation["tags"])
    assert len(ids) == len(set(ids)), "operationIds are unique"
    assert all(declared.values()), "every global tag says what it groups"
    assert set(declared) == used, "no global tag groups nothing"


def test_info_has_an_ascii_title_a_contact_and_a_license(document):
    info = document["info"]
    assert info["title"].isascii(), "generators name their packages after it"
    assert "碳普惠" in info["description"]
    assert info["contact"]
    assert info["license"]["name"] and info["license"].get("identifier") == "Apache-2.0"


def test_every_component_is_used(document):
    refs = {node["$ref"] for _, node in walk(document) if isinstance(node.get("$ref"), str)}
    for kind, components in document["components"].items():
        if kind == "securitySchemes":  # used by name in `security`, not by $ref
            continue
        for name in components:
            assert f"#/components/{kind}/{name}" in refs, f"unused: {kind}/{name}"


def test_every_reference_resolves(document):
    for at, node in walk(document):
        ref = node.get("$ref")
        if isinstance(ref, str):
            target: object = document
            for part in ref.removeprefix("#/").split("/"):
                assert isinstance(target, dict) and part in target, f"{at}: {ref}"
                target = target[part]


def test_every_array_says_what_its_items_are(document):
    for at, node in walk(document):
        types = node.get("type")
        if types == "array" or (isinstance(types, list) and "array" in types):
            assert "items" in node or "prefixItems" in node, at


def test_every_response_header_and_parameter_has_a_schema(document):
    for method, path, operation in operations(document):
        for status, response in operation["responses"].items():
            for name, header in response.get("headers", {}).items():
                assert "schema" in header or "content" in header, (method, path, status, name)
        for parameter in operation.get("parameters", []):
            assert "schema" in parameter or "content" in parameter, (method, path, parameter)


def test_every_operation_answers_some_success(document):
    for method, path, operation in operations(document):
        assert any(str(s).startswith(("2", "3")) for s in operation["responses"]), (method, path)


def test_every_operation_with_a_body_documents_the_edge_s_answers(document):
    """408 (body too slow), 413 (too large), 415 (not JSON): what web/decoding answers."""
    with_body = [(method, path, op) for method, path, op in operations(document)
                 if "requestBody" in op]
    assert with_body
    missing = [f"{method} {path}" for method, path, op in with_body
               if not {"408", "413", "415"} <= set(op["responses"])]
    assert missing == []


def test_path_parameters_are_declared_as_the_path_names_them(document):
    for method, path, operation in operations(document):
        named = set(re.findall(r"{([^}]+)}", path))
        declared = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
        assert named == declared, (method, path)


def test_component_names_carry_no_module_prefix_and_structs_no_shared_name(document):
    # Litestar prefixes a component with its module when two structs share a name; the
    # prefixed names change with the code's layout, and a generator drops one of the pair.
    for name in document["components"]["schemas"]:
        assert re.fullmatch(r"[A-Z][A-Za-z0-9]*", name), name
    import carbon_inclusion.app  # noqa: F401 - every struct of the API imported

    seen: dict[str, str] = {}
    todo: list[type] = [msgspec.Struct]
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        # Ours, declared in a module (not the signature models Litestar makes per handler).
        module = sys.modules.get(cls.__module__)
        if cls.__module__.startswith("carbon_inclusion.") and getattr(
                module, cls.__name__, None) is cls:
            where = f"{cls.__module__}.{cls.__qualname__}"
            assert seen.setdefault(cls.__name__, where) == where, (seen[cls.__name__], where)


# --- a client generated from it -------------------------------------------------------------

# A team that generates a client says what to do with content types the generator has no
# model for: the certificate's PDF comes back as bytes, and so do photos, which go up as
# bytes too.
GENERATOR_CONFIG = "content_type_overrides:\n" + "".join(
    f"  {media}: application/octet-stream\n"
    for media in ("application/pdf", "image/jpeg", "image/png", "image/webp"))


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Iterator[tuple[str, Path]]:
    """``openapi-python-client generate`` on the document: its output and the project."""
    where = tmp_path_factory.mktemp("client")
    config = where / "config.yaml"
    config.write_text(GENERATOR_CONFIG)
    project = where / "project"
    done = subprocess.run(  # noqa: S603
        [str(BIN / "openapi-python-client"), "generate", "--path", str(DOCUMENT),
         "--config", str(config), "--output-path", str(project), "--meta", "none"],
        cwd=where, capture_output=True, text=True, timeout=300,
        env={"PATH": f"{BIN}:/usr/bin:/bin"})  # its ruff hooks, from our venv
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    sys.path.insert(0, str(where))
    project.rename(where / PACKAGE)  # --meta none: the folder is the package
    try:
        yield output, where / PACKAGE
    finally:
        sys.path.remove(str(where))
        for name in [m for m in sys.modules if m.split(".")[0] == PACKAGE]:
            del sys.modules[name]


def test_the_generator_warns_of_nothing(generated):
    output, _ = generated
    assert "will not be generated" not in output
    assert "warning" not in output.lower(), output


def test_every_operation_has_a_generated_function(document, generated):
    from openapi_python_client.strings import PythonIdentifier

    _, package = generated
    modules = {p.stem for p in (package / "api").glob("*/*.py") if p.stem != "__init__"}
    expected = {str(PythonIdentifier(op["operationId"], prefix="field_"))
                for _, _, op in operations(document)}
    assert expected - modules == set(), "operations left out of the client"
    assert len(modules) == len(expected)


def _phone() -> str:
    return "139" + str(secrets.randbelow(10**8)).zfill(8)


def _ok(response, status: int = 200):
    assert response.status_code == status, response.content
    return response.parsed


def test_a_generated_client_drives_a_citizen_and_a_partner_through_the_api(generated, server):
    client_module = importlib.import_module(PACKAGE)
    from carbon_inclusion_api_client import models
    from carbon_inclusion_api_client.api.admin import create_partner, create_reward
    from carbon_inclusion_api_client.api.auth import register, sign_in, verify_phone
    from carbon_inclusion_api_client.api.behaviours import claim_behaviour
    from carbon_inclusion_api_client.api.bindings import confirm_binding_by_partner, create_binding
    from carbon_inclusion_api_client.api.partners import push_partner_behaviours
    from carbon_inclusion_api_client.api.rewards import redeem_reward
    from carbon_inclusion_api_client.api.wallet import get_wallet

    anonymous = client_module.Client(base_url=server.base_url)

    def signed_in(phone: str):
        pair = _ok(sign_in.sync_detailed(client=anonymous, body=models.TokenRequest(
            phone=phone, password=PASSWORD)))
        return client_module.AuthenticatedClient(base_url=server.base_url,
                                                 token=pair.access_token)

    admin_phone = _phone()
    server.cli("admin", "create", "--phone", admin_phone, "--password", PASSWORD)
    admin = signed_in(admin_phone)

    # Register and sign in.
    phone = _phone()
    user = _ok(register.sync_detailed(client=anonymous, body=models.RegisterRequest.from_dict(
        {"phone": phone, "password": PASSWORD, "nickname": "生成的客户端",
         "district": "yuzhong", "privacy_notice_version": 1})), 201)
    assert (user.role, user.nickname) == ("citizen", "生成的客户端")
    code = server.cli("sms", "codes", phone).split()[0]  # the SMS, from the dev outbox
    _ok(verify_phone.sync_detailed(client=anonymous, body=models.VerifyPhoneRequest(
        phone=phone, code=code)), 204)
    citizen = signed_in(phone)

    # Record a claim: 12.5 km by metro yesterday, self-reported → 29 points.
    yesterday = (dt.datetime.now(dt.UTC) - dt.timedelta(days=1)).isoformat()
    claim = claim_behaviour.sync_detailed(
        client=citizen, idempotency_key="claim-" + secrets.token_hex(8),
        body=models.ClaimIn.from_dict({"type": "transit_trip", "occurred_at": yesterday,
                                       "data": {"mode": "metro", "distance_km": "12.5"}}))
    behaviour = _ok(claim, 201)
    assert claim.headers["Idempotent-Replayed"] == "false"
    assert (behaviour.status, behaviour.points) == ("credited", 29)

    # Read the wallet (a first claim may also have earned a badge's bonus).
    balance = _ok(get_wallet.sync_detailed(client=citizen)).balance
    assert balance >= 29

    # A partner, the citizen's card bound to it, and a signed batch of one trip on that card.
    partner = _ok(create_partner.sync_detailed(client=admin, body=models.PartnerCreate.from_dict(
        {"id": "gen-" + secrets.token_hex(3), "name": "重庆轨道交通", "kind": "transit"})), 201)
    card = "CQ" + secrets.token_hex(6).upper()
    binding = _ok(create_binding.sync_detailed(client=citizen, body=models.BindingCreate(
        partner_id=partner.id, external_ref=card)), 201)

    def sign(request: httpx.Request) -> None:
        """DESIGN §9, over the very bytes the generated client serialised."""
        ts = str(int(time.time()))
        request.headers.update({
            "X-Partner-Id": partner.id, "X-Timestamp": ts,
            "X-Signature": sign_partner_request(partner.secret, ts, request.read())})

    as_partner = client_module.Client(base_url=server.base_url,
                                      httpx_args={"event_hooks": {"request": [sign]}})
    # The partner confirms the binding (its channel saw the citizen hold the card).
    _ok(confirm_binding_by_partner.sync_detailed(
        client=as_partner, body=models.PartnerBindingConfirm.from_dict(
            {"external_ref": card, "binding_id": str(binding.id)})))
    two_days_ago = (dt.datetime.now(dt.UTC) - dt.timedelta(days=2)).isoformat()
    batch = _ok(push_partner_behaviours.sync_detailed(
        client=as_partner, body=models.PartnerBatchIn(records=[models.PartnerRecordIn.from_dict(
            {"external_id": "t-" + secrets.token_hex(6), "external_ref": card,
             "type": "transit_trip", "occurred_at": two_days_ago,
             "data": {"mode": "metro", "distance_km": "12.5"}})])))
    assert [(r.status, r.points) for r in batch.results] == [("credited", 58)]
    before = balance
    balance = _ok(get_wallet.sync_detailed(client=citizen)).balance
    assert balance >= before + 58

    # Redeem a reward.
    reward = _ok(create_reward.sync_detailed(client=admin, body=models.RewardIn.from_dict(
        {"name_zh": "轨道交通乘车券", "name_en": "Metro ride coupon", "kind": "coupon",
         "cost_points": 80, "stock": 3})), 201)
    redemption = _ok(redeem_reward.sync_detailed(
        client=citizen, idempotency_key="redeem-" + secrets.token_hex(8),
        body=models.RedeemIn(reward_id=reward.id)), 201)
    assert (redemption.status, redemption.points, len(redemption.codes)) == ("issued", 80, 1)
    assert _ok(get_wallet.sync_detailed(client=citizen)).balance == balance - 80
