"""Every paginated route answers a crafted ``?cursor=`` with 422 naming ``cursor``.

The routes are read from the OpenAPI document (every GET taking a ``cursor`` query
parameter), so a new paged list is covered the day it is added.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from tests.registry.conftest import credit, issue_batch, methodology, vintage

__all__ = ["methodology"]  # a fixture, used by name

DOCUMENT = json.loads((Path(__file__).parents[1] / "openapi" / "openapi.json").read_text())


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


CRAFTED = [
    _b64(json.dumps(v).encode()) for v in (
        ["x", "y"], [1, 2], [None, None], [], ["x"], [1], [None], [True, False],
        ["2026-01-01T00:00:00", "not-a-uuid"],  # naive time
        ["2026-01-01T00:00:00+08:00", "00000000-0000-0000-0000-00000000000g"],
        ["\u0000", "\u0000"], [["nested"], {"a": 1}], {"a": 1}, "string", 7,
        [1e308, -1e308], ["x", "y", "z"],
    )
] + ["%%%", "not base64!", _b64(b"\xff\xfe not json"), _b64(b"[" * 5000), "A" * 5000, "====",
     _b64(b"NaN"), _b64(b'["NaN", "Infinity"]')]


# Path parameters this test knows how to fill (the ``callers`` fixture's organisation, the
# ``batch`` fixture's issued batch).
FILLED = ("{organisation_id}", "{batch_id}")


def paginated_paths() -> list[str]:
    paths = []
    for path, item in DOCUMENT["paths"].items():
        get = item.get("get")
        if get and any(p.get("name") == "cursor" and p.get("in") == "query"
                       for p in get.get("parameters", [])):
            rest = path
            for name in FILLED:
                rest = rest.replace(name, "")
            assert "{" not in rest, f"{path}: give this test a way to fill its path"
            paths.append(path)
    return sorted(paths)


def test_the_document_has_the_paginated_lists_we_know():
    assert {"/v1/behaviours", "/v1/wallet/entries", "/v1/admin/reviews",
            "/v1/redemptions", "/v1/admin/orders", "/v1/admin/orders.csv",
            "/v1/admin/organisations", "/v1/admin/organisations.csv", "/v1/admin/users",
            "/v1/admin/users.csv", "/v1/admin/certificates", "/v1/admin/certificates.csv",
            "/v1/admin/audit", "/v1/admin/audit.csv", "/v1/registry/batches/{batch_id}/behaviours",
            "/v1/registry/batches/{batch_id}/behaviours.csv",
            "/v1/verifier/batches/{batch_id}/behaviours",
            "/v1/admin/credit-batches/{batch_id}/behaviours"} <= set(paginated_paths())


@pytest.fixture
async def callers(make_citizen, make_user, organisation, verifier):
    return [None, await make_citizen(), await make_user("enterprise", organisation["id"]),
            await make_user("admin"), verifier]


@pytest.fixture
async def batch(app, client, admin, verifier, citizen, methodology) -> dict:
    """An issued batch of three behaviours (its behaviour list pages)."""
    await credit(app, citizen.id, methodology, "400000", 3)
    return await issue_batch(client, admin, verifier, vintage(methodology))


@pytest.fixture
def fill(organisation):
    def filled(path: str, batch: dict | None = None) -> str:
        if batch is not None:
            path = path.replace("{batch_id}", batch["id"])
        return path.replace("{organisation_id}", organisation["id"])
    return filled


async def _caller_for(client, callers, path):
    for user in callers:
        headers = user.headers if user else {}
        r = await client.get(path, headers=headers)
        if r.status_code == 200:
            return headers
    raise AssertionError(f"{path}: no caller may read it")


async def _crafted_cursors_are_422(client, callers, path):
    headers = await _caller_for(client, callers, path)
    for cursor in CRAFTED:
        r = await client.get(path, params={"cursor": cursor}, headers=headers)
        assert r.status_code == 422, (path, cursor, r.status_code, r.text)
        body = r.json()
        assert r.headers["content-type"].startswith("application/problem+json")
        assert [e["field"] for e in body["errors"]] == ["cursor"], (path, cursor, body)


async def _returned_cursor_pages(client, callers, path):
    headers = await _caller_for(client, callers, path)
    r = await client.get(path, params={"limit": 1}, headers=headers)
    assert r.status_code == 200, r.text
    if path.endswith(".csv"):  # the whole list from the cursor on (web/csv.py), no cursor out
        first = await client.get(path.removesuffix(".csv"), params={"limit": 1},
                                 headers=headers)
        if first.json()["next_cursor"] is not None:
            rest = await client.get(path, params={"cursor": first.json()["next_cursor"]},
                                    headers=headers)
            assert rest.status_code == 200, rest.text
            assert len(rest.text.splitlines()) == len(r.text.splitlines()) - 1
        return
    cursor = r.json()["next_cursor"]
    if cursor is not None:  # a list with more than one row: the cursor leads on
        nxt = await client.get(path, params={"limit": 1, "cursor": cursor}, headers=headers)
        assert nxt.status_code == 200, nxt.text
        assert nxt.json()["items"] != r.json()["items"]


# A batch's lists need a batch (made only for them).
OF_A_BATCH = [p for p in paginated_paths() if "{batch_id}" in p]
OTHERS = [p for p in paginated_paths() if "{batch_id}" not in p]


@pytest.mark.parametrize("path", OTHERS)
async def test_a_crafted_cursor_is_422_naming_cursor(client, callers, fill, path):
    await _crafted_cursors_are_422(client, callers, fill(path))


@pytest.mark.parametrize("path", OF_A_BATCH)
async def test_a_crafted_cursor_of_a_batch_list_is_422_naming_cursor(
        client, callers, fill, batch, path):
    await _crafted_cursors_are_422(client, callers, fill(path, batch))


@pytest.mark.parametrize("path", OTHERS)
async def test_a_returned_cursor_still_pages(client, callers, fill, path):
    await _returned_cursor_pages(client, callers, fill(path))


@pytest.mark.parametrize("path", OF_A_BATCH)
async def test_a_returned_cursor_of_a_batch_list_still_pages(client, callers, fill, batch,
                                                             path):
    await _returned_cursor_pages(client, callers, fill(path, batch))
