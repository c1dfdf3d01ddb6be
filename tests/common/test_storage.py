"""The object store: both backends pass one contract; the S3 one against a local
S3-compatible server (moto's), its requests signed as AWS Signature V4 says."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import socket
from pathlib import Path

import pytest

from carbon_inclusion.common.storage import (
    FileStore,
    S3Store,
    StoreURLError,
    check_key,
    open_store,
    parse_store_url,
    sign_v4,
)
from carbon_inclusion.errors import Unavailable


@pytest.fixture(params=["file", "s3"])
async def store(request, tmp_path, s3_server):
    if request.param == "file":
        s = FileStore(tmp_path / "objects")  # not there yet: made on the first put
    else:
        s = S3Store(s3_server.bucket, prefix="contract-" + secrets.token_hex(3),
                    endpoint=s3_server.endpoint, region=s3_server.region,
                    access_key=s3_server.access_key, secret_key=s3_server.secret_key)
    yield s
    await s.close()


async def test_an_object_put_is_got_back_byte_for_byte_and_deleted_once_for_all(store):
    key = f"photos/{secrets.token_hex(4)}/a.b-c_d"
    data = bytes(range(256)) * 40  # every byte value, NUL included
    assert await store.get(key) is None
    await store.put(key, data, "image/png")
    assert await store.get(key) == data
    await store.put(key, b"\xff\xd8\xffsecond", "image/jpeg")  # a put replaces
    assert await store.get(key) == b"\xff\xd8\xffsecond"
    await store.delete(key)
    assert await store.get(key) is None
    await store.delete(key)  # a missing object deletes without error (a retried erasure)


async def test_objects_are_apart_by_key(store):
    base = f"photos/{secrets.token_hex(4)}"
    await store.put(f"{base}/1", b"one", "image/png")
    await store.put(f"{base}/2", b"two", "image/png")
    await store.delete(f"{base}/1")
    assert await store.get(f"{base}/1") is None
    assert await store.get(f"{base}/2") == b"two"


@pytest.mark.parametrize("key", ["../etc/passwd", "/abs", "a/../b", "a//b", "A", "a b", "",
                                 "photos/", "x" * 513, "photos/\x00"])
async def test_a_key_that_could_leave_the_store_is_refused_before_any_request(store, key):
    with pytest.raises(ValueError, match="not an object key"):
        await store.put(key, b"x", "image/png")
    with pytest.raises(ValueError, match="not an object key"):
        await store.get(key)


def test_check_key_takes_the_keys_the_service_makes():
    assert check_key("photos/0192e1c2-aaaa-7bbb-8ccc-0123456789ab/x") .startswith("photos/")


async def test_the_s3_store_writes_where_and_as_it_says(s3_server):
    store = S3Store(s3_server.bucket, prefix="p/q", endpoint=s3_server.endpoint,
                    access_key=s3_server.access_key, secret_key=s3_server.secret_key)
    try:
        await store.put("photos/abc", b"\x89PNG\r\n\x1a\nrest", "image/png")
        head = s3_server.client().head_object(Bucket=s3_server.bucket, Key="p/q/photos/abc")
        assert head["ContentType"] == "image/png" and head["ContentLength"] == 12
        await store.delete("photos/abc")
        assert "p/q/photos/abc" not in s3_server.object_keys()
    finally:
        await store.close()


async def test_a_file_store_that_cannot_write_is_unavailable_not_a_crash(tmp_path):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the directory should be")
    store = FileStore(blocker)
    with pytest.raises(Unavailable):
        await store.put("photos/x", b"x", "image/png")


async def test_an_unreachable_s3_service_is_unavailable(tmp_path):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    store = S3Store("b", endpoint=f"http://127.0.0.1:{port}", access_key="a", secret_key="s",
                    timeout_s=2)
    try:
        for call in (store.put("k", b"x", "image/png"), store.get("k"), store.delete("k")):
            with pytest.raises(Unavailable):
                await call
    finally:
        await store.close()


async def test_an_s3_service_that_refuses_is_unavailable(s3_server):
    store = S3Store("no-such-bucket-" + secrets.token_hex(3), endpoint=s3_server.endpoint,
                    access_key="a", secret_key="s")
    try:
        with pytest.raises(Unavailable, match="HTTP 404"):
            await store.put("k", b"x", "image/png")
    finally:
        await store.close()


def test_signature_v4_matches_aws_published_example():
    """The GET Object example of the S3 API reference ("Signature Calculations for the
    Authorization Header: Transferring Payload in a Single Chunk"), byte for byte."""
    headers = sign_v4(
        "GET", "https://examplebucket.s3.amazonaws.com/test.txt", {"Range": "bytes=0-9"},
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        access_key="AKIAIOSFODNN7EXAMPLE",
        secret_key="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", region="us-east-1",
        now=dt.datetime(2013, 5, 24, tzinfo=dt.UTC))
    assert headers["authorization"] == (
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
        "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
        "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")
    assert headers["x-amz-date"] == "20130524T000000Z"


def test_signature_v4_matches_botocore_for_a_put_with_a_key_to_encode(monkeypatch):
    import botocore.auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    url = "http://127.0.0.1:9000/bucket/photos/a%20b/c"
    body = b"\xff\xd8\xff body"
    sha = hashlib.sha256(body).hexdigest()
    now = dt.datetime(2026, 12, 3, 10, 30, 5, tzinfo=dt.UTC)
    ours = sign_v4("PUT", url, {"Content-Type": "image/jpeg"}, sha, access_key="AK",
                   secret_key="SK", region="cn-north-1", now=now)
    request = AWSRequest("PUT", url, data=body, headers={
        "Content-Type": "image/jpeg", "X-Amz-Content-SHA256": sha})
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: now)
    botocore.auth.S3SigV4Auth(Credentials("AK", "SK"), "s3", "cn-north-1").add_auth(request)
    assert request.headers["X-Amz-Date"] == ours["x-amz-date"]
    assert ours["authorization"] == request.headers["Authorization"]


@pytest.mark.parametrize(("url", "parsed"), [
    ("file:.data/objects", ("file", ".data/objects", "")),
    ("file:///var/lib/ci/objects", ("file", "/var/lib/ci/objects", "")),
    ("file://localhost/srv/o", ("file", "/srv/o", "")),
    ("s3://bucket", ("s3", "bucket", "")),
    ("s3://bucket/some/prefix/", ("s3", "bucket", "some/prefix")),
])
def test_storage_urls(url, parsed):
    assert parse_store_url(url) == parsed


@pytest.mark.parametrize("url", ["ftp://x/y", "file://elsewhere/x", "file:", "s3:///nobucket",
                                 "/just/a/path", ""])
def test_storage_urls_that_name_no_store_are_refused(url):
    with pytest.raises(StoreURLError):
        parse_store_url(url)


def test_open_store_needs_credentials_for_s3(tmp_path: Path):
    with pytest.raises(StoreURLError, match="S3_ACCESS_KEY_ID"):
        open_store("s3://bucket")
    assert isinstance(open_store(f"file:{tmp_path}"), FileStore)
