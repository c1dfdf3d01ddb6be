"""Photo evidence: uploads checked before anything is stored, read by their owner and by
reviewers only, named by self-reports as their methodology says, erased with the account."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import uuid

import pytest

from carbon_inclusion.common.storage import S3Store
from tests.behaviours.conftest import claim as claim_without_photo
from tests.behaviours.conftest import days_ago
from tests.behaviours.conftest import key as claim_key
from tests.conftest import PASSWORD, client_of, own_app
from tests.methodologies.conftest import document
from tests.photos.conftest import (
    behaviour_rows,
    jpeg,
    key,
    objects_of,
    photo_rows,
    png,
    publish_scene,
    upload,
    webp,
)

PROBLEM = "application/problem+json"


async def claim(client, user, type_: str, photo_id: str | None, *, km: str = "5.0",
                idempotency_key: str | None = None, hour: int = 9):
    body: dict = {"type": type_, "occurred_at": days_ago(1, hour=hour).isoformat(),
                  "data": {"distance_km": km}}
    if photo_id is not None:
        body["photo_id"] = photo_id
    return await client.post("/v1/behaviours/", json=body, headers={
        **user.headers, "Idempotency-Key": idempotency_key or claim_key()})


def field_error(r, field: str) -> str:
    assert r.headers["content-type"].startswith(PROBLEM), r.text
    errors = {e["field"]: e["message"] for e in r.json()["errors"]}
    assert field in errors, r.text
    return errors[field]


async def nothing_stored(app, settings, citizen) -> None:
    assert await photo_rows(app, citizen.id) == 0
    assert objects_of(settings, citizen.id) == []


# --- uploading ------------------------------------------------------------------------------

@pytest.mark.parametrize(("make", "content_type"), [
    (png, "image/png"), (jpeg, "image/jpeg"), (webp, "image/webp"),
    (png, "IMAGE/PNG; charset=binary")])
async def test_an_upload_is_kept_with_its_size_and_hash(app, client, settings, citizen, make,
                                                       content_type):
    body = make()
    r = await upload(client, citizen, body, content_type)
    assert r.status_code == 201, r.text
    out = r.json()
    assert out["content_type"] == content_type.split(";")[0].lower()
    assert out["bytes"] == len(body)
    assert out["sha256"] == hashlib.sha256(body).hexdigest()
    assert out["behaviour_id"] is None and out["url"].endswith(f"/v1/photos/{out['id']}")
    assert r.headers["Idempotent-Replayed"] == "false"
    assert [p.read_bytes() for p in objects_of(settings, citizen.id)] == [body]


async def test_a_replayed_upload_answers_the_first_and_stores_once(app, client, settings,
                                                                   citizen):
    k, body = key(), png()
    first = await upload(client, citizen, body, idempotency_key=k)
    again = await upload(client, citizen, body, idempotency_key=k)
    assert again.status_code == 201 and again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    other = await upload(client, citizen, png(), idempotency_key=k)
    assert other.status_code == 422 and other.json()["code"] == "idempotency_key_reused"
    assert await photo_rows(app, citizen.id) == 1 and len(objects_of(settings, citizen.id)) == 1


async def test_concurrent_uploads_with_one_key_store_one_photo(app, client, settings, citizen):
    k, body = key(), png(2000)
    answers = await asyncio.gather(*(upload(client, citizen, body, idempotency_key=k)
                                     for _ in range(6)))
    assert {r.status_code for r in answers} == {201}, [r.text for r in answers]
    assert len({r.json()["id"] for r in answers}) == 1
    assert sorted(r.headers["Idempotent-Replayed"] for r in answers) == ["false"] + ["true"] * 5
    assert await photo_rows(app, citizen.id) == 1 and len(objects_of(settings, citizen.id)) == 1


async def test_a_photo_over_the_limit_is_413_and_nothing_is_stored(app, client, settings,
                                                                   citizen):
    limit = settings.photo_max_bytes
    at_limit = png(limit)
    too_big = at_limit + b"\x00"
    r = await upload(client, citizen, too_big)  # Content-Length says so: refused at once
    assert r.status_code == 413, r.text
    assert r.json()["code"] == "body_too_large"
    assert str(limit) in field_error(r, "body")

    async def chunks():  # no Content-Length: refused once the limit has streamed past
        for i in range(0, len(too_big), 65536):
            yield too_big[i:i + 65536]

    r = await client.post("/v1/photos/", content=chunks(), headers={
        **citizen.headers, "Idempotency-Key": key(), "Content-Type": "image/png"})
    assert r.status_code == 413, r.text
    field_error(r, "body")
    await nothing_stored(app, settings, citizen)
    ok = await upload(client, citizen, at_limit)
    assert ok.status_code == 201 and ok.json()["bytes"] == limit


@pytest.mark.parametrize("content_type", ["application/json", "text/plain", "image/gif",
                                          "image/svg+xml", "", None])
async def test_a_type_photos_do_not_take_is_415_naming_content_type(app, client, settings,
                                                                    citizen, content_type):
    r = await upload(client, citizen, png(), content_type)
    assert r.status_code == 415, r.text
    assert r.json()["code"] == "unsupported_media_type"
    assert "image/jpeg" in field_error(r, "Content-Type")
    await nothing_stored(app, settings, citizen)


@pytest.mark.parametrize(("body", "content_type", "said"), [
    (jpeg(), "image/png", "a JPEG image, not the PNG"),
    (png(), "image/webp", "a PNG image, not the WebP"),
    (b"GIF89a\x01\x00\x01\x00", "image/jpeg", "no JPEG, PNG or WebP image"),
    (b'{"not": "an image"}', "image/png", "no JPEG, PNG or WebP image"),
    (b"RIFF\x00\x00\x00\x00WAVEfmt ", "image/webp", "no JPEG, PNG or WebP image"),
])
async def test_a_body_that_is_not_the_image_its_type_says_is_422_naming_body(
        app, client, settings, citizen, body, content_type, said):
    r = await upload(client, citizen, body, content_type)
    assert r.status_code == 422, r.text
    assert r.json()["code"] == "photo_type_mismatch"
    assert said in field_error(r, "body")
    await nothing_stored(app, settings, citizen)


async def test_an_empty_upload_or_one_without_a_key_is_422(app, client, settings, citizen):
    r = await upload(client, citizen, b"")
    assert r.status_code == 422 and field_error(r, "body")
    r = await client.post("/v1/photos/", content=png(), headers={
        **citizen.headers, "Content-Type": "image/png"})
    assert r.status_code == 422 and field_error(r, "Idempotency-Key")
    await nothing_stored(app, settings, citizen)


async def test_uploads_are_throttled_per_citizen(settings, make_citizen):
    async with own_app(settings, photos_per_hour=2) as application, \
            client_of(application, "198.51.100.20") as c:
        citizen = await make_citizen()
        assert [(await upload(c, citizen, png())).status_code for _ in range(3)] == [
            201, 201, 429]


# --- reading --------------------------------------------------------------------------------

async def test_a_photo_is_read_by_its_owner_and_administrators_only(
        client, citizen, make_citizen, admin, enterprise, verifier):
    body = jpeg()
    photo = (await upload(client, citizen, body, "image/jpeg")).json()
    path = f"/v1/photos/{photo['id']}"
    for reader in (citizen, admin):
        r = await client.get(path, headers=reader.headers)
        assert r.status_code == 200 and r.content == body
        assert r.headers["content-type"] == "image/jpeg"
        assert r.headers["x-content-type-options"] == "nosniff"
        assert "no-store" in r.headers["cache-control"]
    other = await make_citizen()
    for r in (await client.get(path, headers=other.headers),
              await client.get(f"/v1/photos/{uuid.uuid4()}", headers=other.headers)):
        assert r.status_code == 404 and r.json()["code"] == "not_found"
    assert (await client.get(path)).status_code == 401
    for role in (enterprise, verifier):
        assert (await client.get(path, headers=role.headers)).status_code == 403


def test_a_claim_without_a_photo_hashes_as_claims_did_before_photos():
    """A client retrying across the upgrade replays its claim, not a 422: the request hash
    of a claim that names no photo is the one of the body without the field."""
    import msgspec

    from carbon_inclusion.behaviours.schemas import ClaimIn
    from carbon_inclusion.common.idempotency import request_hash

    raw = {"type": "transit_trip", "occurred_at": "2026-12-01T09:00:00+08:00",
           "data": {"mode": "metro", "distance_km": "5.0"}}
    body = msgspec.convert(raw, ClaimIn)
    assert request_hash(msgspec.to_builtins(body)) == request_hash(
        {**raw, "occurred_at": "2026-12-01T09:00:00+08:00"})
    with_photo = msgspec.convert({**raw, "photo_id": str(uuid.uuid4())}, ClaimIn)
    assert request_hash(msgspec.to_builtins(with_photo)) != request_hash(raw)


# --- the methodology's say -------------------------------------------------------------------

async def test_the_photo_rule_is_checked_on_submission_and_in_the_served_schema(client, admin):
    doc = document("PH-" + uuid.uuid4().hex[:5].upper(), evidence={
        "partner_verified": {"factor": "1"},
        "self_reported": {"factor": "1", "photo": "always"}})
    r = await client.post("/v1/admin/methodologies/", json=doc, headers=admin.headers)
    assert r.status_code == 422, r.text
    assert [e["field"] for e in r.json()["errors"]] == ["evidence.self_reported.photo"]
    schema = (await client.get("/v1/methodologies/schema")).json()
    photo = schema["$defs"]["EvidenceTier"]["properties"]["photo"]
    assert photo["anyOf"][0]["enum"] == ["optional", "required"]


# --- claims that carry photos -----------------------------------------------------------------

async def test_a_methodology_that_requires_a_photo_refuses_a_claim_without_one(
        app, client, citizen, required_scene):
    r = await claim(client, citizen, required_scene, None)
    assert r.status_code == 422, r.text
    assert "needs a photo" in field_error(r, "photo_id")
    assert await behaviour_rows(app, citizen.id) == 0

    photo = (await upload(client, citizen, png())).json()
    r = await claim(client, citizen, required_scene, photo["id"])
    assert r.status_code == 201, r.text
    b = r.json()
    assert b["status"] == "credited" and b["points"] > 0  # no review asked for
    assert b["photo"]["id"] == photo["id"] and b["photo"]["url"] == photo["url"]
    # The photo says where it went; the behaviour shows it wherever it is read.
    shown = await client.get(f"/v1/behaviours/{b['id']}", headers=citizen.headers)
    assert shown.json()["photo"]["id"] == photo["id"]
    listed = await client.get("/v1/behaviours/", headers=citizen.headers)
    assert listed.json()["items"][0]["photo"]["id"] == photo["id"]


async def test_a_photo_goes_with_one_behaviour_only(app, client, citizen, required_scene):
    photo = (await upload(client, citizen, png())).json()
    k = claim_key()
    first = await claim(client, citizen, required_scene, photo["id"], idempotency_key=k)
    assert first.status_code == 201, first.text
    # The same claim again is a replay, with its photo; another claim cannot take it.
    again = await claim(client, citizen, required_scene, photo["id"], idempotency_key=k)
    assert again.status_code == 201 and again.json() == first.json()
    second = await claim(client, citizen, required_scene, photo["id"], km="7.0")
    assert second.status_code == 409, second.text
    assert second.json()["code"] == "photo_already_attached"
    field_error(second, "photo_id")
    assert await behaviour_rows(app, citizen.id) == 1


async def test_two_claims_racing_for_one_photo_get_it_once(app, client, citizen,
                                                           required_scene):
    photo = (await upload(client, citizen, png())).json()
    answers = await asyncio.gather(*(claim(client, citizen, required_scene, photo["id"],
                                           km=f"{5 + i}.0") for i in range(5)))
    assert sorted(r.status_code for r in answers) == [201, 409, 409, 409, 409], [
        r.text for r in answers]
    assert await behaviour_rows(app, citizen.id) == 1


async def test_a_claim_may_name_only_its_own_photo_and_only_where_photos_are_taken(
        app, client, citizen, make_citizen, required_scene):
    other = await make_citizen()
    theirs = (await upload(client, other, png())).json()
    for photo_id in (theirs["id"], str(uuid.uuid4())):
        r = await claim(client, citizen, required_scene, photo_id)
        assert r.status_code == 422 and r.json()["code"] == "unknown_photo", r.text
        field_error(r, "photo_id")
    mine = (await upload(client, citizen, png())).json()
    r = await claim_without_photo(client, citizen, "transit_trip", days_ago(1),
                                  {"mode": "metro", "distance_km": "5.0"})
    assert r.status_code == 201  # the seed methodologies take no photo ...
    r = await client.post("/v1/behaviours/", headers={
        **citizen.headers, "Idempotency-Key": claim_key()}, json={
        "type": "transit_trip", "occurred_at": days_ago(1, hour=11).isoformat(),
        "data": {"mode": "metro", "distance_km": "5.0"}, "photo_id": mine["id"]})
    assert r.status_code == 422, r.text  # ... so one is refused there
    assert "takes no photo" in field_error(r, "photo_id")
    assert await behaviour_rows(app, citizen.id) == 1
    assert await behaviour_rows(app, other.id) == 0


async def test_a_photo_sends_a_claim_to_review_where_the_methodology_says_so(
        client, citizen, admin, reviewed_scene):
    plain = await claim(client, citizen, reviewed_scene, None)
    assert plain.status_code == 201 and plain.json()["status"] == "credited"
    assert plain.json()["photo"] is None
    body = webp()
    photo = (await upload(client, citizen, body, "image/webp")).json()
    r = await claim(client, citizen, reviewed_scene, photo["id"], km="6.0", hour=12)
    assert r.status_code == 201, r.text
    b = r.json()
    assert (b["status"], b["reason"], b["points"]) == ("pending_review", "needs_review", 0)

    # The queue shows the photo and a link the reviewer opens.
    queue, cursor = [], None
    while True:
        page = (await client.get("/v1/admin/reviews/", headers=admin.headers,
                                 params={"limit": 100, **({"cursor": cursor} if cursor
                                                          else {})})).json()
        queue += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            break
    waiting = next(x for x in queue if x["id"] == b["id"])
    assert waiting["photo"]["id"] == photo["id"]
    assert waiting["photo"]["content_type"] == "image/webp"
    opened = await client.get(waiting["photo"]["url"], headers=admin.headers)
    assert opened.status_code == 200 and opened.content == body
    one = await client.get(f"/v1/admin/reviews/{b['id']}", headers=admin.headers)
    assert one.json()["photo"]["id"] == photo["id"]
    approved = await client.post(f"/v1/admin/reviews/{b['id']}/approve",
                                 headers=admin.headers, json={"reason": "photo shows it"})
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "credited" and approved.json()["points"] > 0
    assert approved.json()["photo"]["id"] == photo["id"]


# --- erasure ----------------------------------------------------------------------------------

async def test_deleting_the_account_deletes_its_photos(app, client, settings, citizen, admin,
                                                       required_scene):
    attached = (await upload(client, citizen, png())).json()
    loose = (await upload(client, citizen, jpeg(), "image/jpeg")).json()
    assert (await claim(client, citizen, required_scene, attached["id"])).status_code == 201
    assert len(objects_of(settings, citizen.id)) == 2
    exported = (await client.get("/v1/me/export", headers=citizen.headers)).json()
    assert {p["id"] for p in exported["photos"]} == {attached["id"], loose["id"]}

    gone = await client.request("DELETE", "/v1/me", headers=citizen.headers,
                                json={"password": PASSWORD})
    assert gone.status_code == 204, gone.text
    await nothing_stored(app, settings, citizen)
    for photo in (attached, loose):
        r = await client.get(f"/v1/photos/{photo['id']}", headers=admin.headers)
        assert r.status_code == 404
    assert await behaviour_rows(app, citizen.id) == 1  # the behaviour stays, pseudonymous


async def test_retention_deletes_old_behaviours_photos_and_photos_no_claim_took(
        app, client, settings, citizen, admin):
    from sqlalchemy import text

    from tests.privacy.test_privacy import _old_trip, transit_partner

    await transit_partner(client, admin)  # _old_trip's partner record names one
    now = dt.datetime.now(dt.UTC)
    old_trip = await _old_trip(app, citizen.id, now - dt.timedelta(
        days=settings.trip_retention_days + 2), {"mode": "metro", "distance_km": "12.5"})
    loose_old, loose_new, of_old_trip = [(await upload(client, citizen, png())).json()
                                         for _ in range(3)]
    async with app.state.db.connect() as conn:
        await conn.execute(text("UPDATE photos SET created_at = :at WHERE id = :p"), {
            "at": now - dt.timedelta(hours=settings.photo_unattached_hours + 1),
            "p": loose_old["id"]})
        await conn.execute(text(
            "UPDATE photos SET behaviour_id = b.id, behaviour_occurred_at = b.occurred_at, "
            "attached_at = now() FROM behaviours b WHERE b.id = :b AND photos.id = :p"),
            {"b": old_trip, "p": of_old_trip["id"]})
    assert len(objects_of(settings, citizen.id)) == 3

    runs = await asyncio.gather(app.state.privacy.reduce(), app.state.privacy.reduce())
    assert sum(r.photos for r in runs) >= 2 and min(r.photos for r in runs) == 0
    async with app.state.db.engine.connect() as conn:
        left = {str(r.id) for r in await conn.execute(text(
            "SELECT id FROM photos WHERE citizen_id = :c"), {"c": citizen.id})}
    assert left == {loose_new["id"]}
    assert [p.name for p in objects_of(settings, citizen.id)] == [loose_new["id"]]


# --- the same end to end on an S3-compatible store ---------------------------------------------

async def test_photos_on_an_s3_compatible_store_end_to_end(settings, s3_server, make_citizen,
                                                           make_user):
    prefix = "e2e-" + uuid.uuid4().hex[:6]
    async with own_app(settings, storage_url=f"s3://{s3_server.bucket}/{prefix}",
                       s3_endpoint_url=s3_server.endpoint, s3_region=s3_server.region,
                       s3_access_key_id=s3_server.access_key,
                       s3_secret_access_key=s3_server.secret_key) as application:
        assert isinstance(application.state.store, S3Store)
        async with client_of(application, "198.51.100.21") as c:
            citizen, admin = await make_citizen(), await make_user("admin")
            scene = await publish_scene(c, admin, photo="required")
            body = png(3000)
            photo = (await upload(c, citizen, body)).json()
            stored = f"{prefix}/photos/{citizen.id}/{photo['id']}"
            assert s3_server.object_keys() == sorted({*s3_server.object_keys(), stored})
            assert s3_server.client().get_object(
                Bucket=s3_server.bucket, Key=stored)["Body"].read() == body
            assert (await claim(c, citizen, scene, photo["id"])).status_code == 201
            r = await c.get(f"/v1/photos/{photo['id']}", headers=admin.headers)
            assert r.status_code == 200 and r.content == body
            bad = await upload(c, citizen, jpeg(), "image/png")
            assert bad.status_code == 422
            assert [k for k in s3_server.object_keys() if k.startswith(f"{prefix}/")] == [stored]
            gone = await c.request("DELETE", "/v1/me", headers=citizen.headers,
                                   json={"password": PASSWORD})
            assert gone.status_code == 204, gone.text
            assert not [k for k in s3_server.object_keys() if k.startswith(f"{prefix}/")]


async def test_an_upload_the_store_cannot_take_is_503_and_leaves_no_row(settings,
                                                                        make_citizen):
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    async with own_app(settings, storage_url="s3://nowhere",
                       s3_endpoint_url=f"http://127.0.0.1:{port}", s3_access_key_id="a",
                       s3_secret_access_key="s") as application, \
            client_of(application, "198.51.100.22") as c:
        citizen = await make_citizen()
        r = await upload(c, citizen, png())
        assert r.status_code == 503, r.text
        assert r.headers["retry-after"] and r.json()["code"] == "dependency_unavailable"
        assert await photo_rows(application, citizen.id) == 0
