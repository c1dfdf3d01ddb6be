"""Object storage: bytes by key, behind one small async interface, two backends.

* ``FileStore``: a directory (created on demand); each object a file, written to a temporary
  name and renamed, so a reader never sees half an object;
* ``S3Store``: an S3-compatible service (AWS S3, MinIO, Ceph, any that speaks the S3 REST
  API), requests signed with AWS Signature Version 4 over ``httpx``: path-style
  (``{endpoint}/{bucket}/{key}``) when an endpoint is given, else AWS's virtual-hosted
  ``https://{bucket}.s3.{region}.amazonaws.com``.

``open_store`` picks one from a URL (``file:///var/lib/ci/objects``, ``file:.data/objects``,
``s3://bucket`` or ``s3://bucket/prefix``). Keys are made by the service (``photos/<citizen
id>/<photo id>``), never taken from a request, and checked here once more (``check_key``):
no absolute path, no ``..``, only ``[a-z0-9/._-]``. ``delete`` of a missing key is not an
error, so a retried erasure finishes. A backend that cannot be reached raises
``errors.Unavailable`` (503 with ``Retry-After``); nothing is half-written on either.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import hmac
import os
import re
import tempfile
import uuid
from pathlib import Path
from typing import Protocol
from urllib.parse import quote, urlsplit

import httpx

from carbon_inclusion.errors import Unavailable

_KEY = re.compile(r"^[a-z0-9][a-z0-9._-]*(/[a-z0-9][a-z0-9._-]*)*$")


class ObjectStore(Protocol):
    """Where uploaded objects live; every method may raise ``Unavailable``."""

    async def put(self, key: str, data: bytes, content_type: str) -> None: ...

    async def get(self, key: str) -> bytes | None:
        """The object's bytes, or None when there is no such object."""
        ...

    async def delete(self, key: str) -> None:
        """Remove the object; a missing one is not an error."""
        ...

    async def close(self) -> None: ...


def check_key(key: str) -> str:
    if len(key) > 512 or not _KEY.match(key) or ".." in key.split("/"):
        raise ValueError(f"not an object key: {key!r}")
    return key


class FileStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*check_key(key).split("/"))

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        await self._run(self._put, self._path(key), data)

    async def get(self, key: str) -> bytes | None:
        return await self._run(self._get, self._path(key))

    async def delete(self, key: str) -> None:
        await self._run(self._delete, self._path(key))

    async def close(self) -> None:
        return None

    @staticmethod
    async def _run(fn, *args):  # type: ignore[no-untyped-def]
        try:
            return await asyncio.to_thread(fn, *args)
        except OSError as exc:
            raise Unavailable(f"The object store cannot be used: {exc.strerror or exc}.") \
                from exc

    @staticmethod
    def _put(path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    @staticmethod
    def _get(path: Path) -> bytes | None:
        try:
            return path.read_bytes()
        except FileNotFoundError:
            return None

    @staticmethod
    def _delete(path: Path) -> None:
        path.unlink(missing_ok=True)


# --- S3 -----------------------------------------------------------------------------------

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def sign_v4(method: str, url: str, headers: dict[str, str], payload_sha256: str, *,
            access_key: str, secret_key: str, region: str, now: dt.datetime,
            service: str = "s3") -> dict[str, str]:
    """``headers`` plus ``x-amz-date``, ``x-amz-content-sha256`` and the ``Authorization``
    of AWS Signature Version 4 for a request with no query string (all this module sends).
    ``url``'s path must be encoded already as S3 wants it (``_encode``)."""
    parts = urlsplit(url)
    amz_date = now.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    day = amz_date[:8]
    signed = {k.lower(): " ".join(v.strip().split()) for k, v in headers.items()}
    signed["host"] = parts.netloc
    signed["x-amz-date"] = amz_date
    signed["x-amz-content-sha256"] = payload_sha256
    names = sorted(signed)
    canonical = "\n".join([
        method, parts.path or "/", "",
        "".join(f"{n}:{signed[n]}\n" for n in names), ";".join(names), payload_sha256])
    scope = f"{day}/{region}/{service}/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope,
                         hashlib.sha256(canonical.encode()).hexdigest()])
    key = _hmac(_hmac(_hmac(_hmac(f"AWS4{secret_key}".encode(), day), region), service),
                "aws4_request")
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    out = {k: v for k, v in signed.items() if k != "host"}
    out["authorization"] = (f"AWS4-HMAC-SHA256 Credential={access_key}/{scope}, "
                            f"SignedHeaders={';'.join(names)}, Signature={signature}")
    return out


def _encode(path: str) -> str:
    """A path as S3's canonical URI has it: each segment percent-encoded, ``/`` kept."""
    return quote(path, safe="/-_.~")


class S3Store:
    def __init__(self, bucket: str, *, prefix: str = "", endpoint: str = "",
                 region: str = "us-east-1", access_key: str = "", secret_key: str = "",
                 timeout_s: float = 30.0, client: httpx.AsyncClient | None = None) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.region = region
        self.access_key = access_key
        self.secret_key = secret_key
        if endpoint:
            self.base = f"{endpoint.rstrip('/')}/{_encode(bucket)}"
        else:
            self.base = f"https://{bucket}.s3.{region}.amazonaws.com"
        self.client = client or httpx.AsyncClient(timeout=timeout_s)

    def _url(self, key: str) -> str:
        check_key(key)
        return f"{self.base}/{_encode(f'{self.prefix}/{key}' if self.prefix else key)}"

    async def _send(self, method: str, key: str, body: bytes = b"",
                    headers: dict[str, str] | None = None) -> httpx.Response:
        url = self._url(key)
        signed = sign_v4(method, url, headers or {}, hashlib.sha256(body).hexdigest()
                         if body else EMPTY_SHA256, access_key=self.access_key,
                         secret_key=self.secret_key, region=self.region,
                         now=dt.datetime.now(dt.UTC))
        try:
            return await self.client.request(method, url, content=body or None,
                                             headers=signed)
        except httpx.HTTPError as exc:
            raise Unavailable(f"The object store is unreachable: {exc!r}.") from exc

    @staticmethod
    def _refused(r: httpx.Response, what: str) -> Unavailable:
        return Unavailable(f"The object store refused to {what} (HTTP {r.status_code}: "
                           f"{r.text[:200]}).")

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        r = await self._send("PUT", key, data, {
            "content-type": content_type, "content-length": str(len(data))})
        if r.status_code != 200:
            raise self._refused(r, "store an object")

    async def get(self, key: str) -> bytes | None:
        r = await self._send("GET", key)
        if r.status_code == 404:
            return None
        if r.status_code != 200:
            raise self._refused(r, "read an object")
        return r.content

    async def delete(self, key: str) -> None:
        r = await self._send("DELETE", key)
        if r.status_code not in (200, 204, 404):
            raise self._refused(r, "delete an object")

    async def close(self) -> None:
        await self.client.aclose()


class StoreURLError(ValueError):
    """A storage URL this module cannot open."""


def parse_store_url(url: str) -> tuple[str, str, str]:
    """``("file", directory, "")`` or ``("s3", bucket, prefix)``; ``StoreURLError`` else."""
    parts = urlsplit(url)
    if parts.scheme == "file":
        if parts.netloc not in ("", "localhost") or not parts.path:
            raise StoreURLError(f"a file: storage URL names a local directory, got {url!r}")
        return "file", parts.path, ""
    if parts.scheme == "s3":
        if not parts.netloc:
            raise StoreURLError(f"an s3:// storage URL names a bucket, got {url!r}")
        return "s3", parts.netloc, parts.path.strip("/")
    raise StoreURLError(f"STORAGE_URL must be file:<directory> or s3://<bucket>, got {url!r}")


def open_store(url: str, *, endpoint: str = "", region: str = "us-east-1",
               access_key: str = "", secret_key: str = "") -> ObjectStore:
    """The store a URL names: ``file:`` a directory, ``s3://bucket[/prefix]`` a bucket."""
    kind, where, prefix = parse_store_url(url)
    if kind == "file":
        return FileStore(Path(where))
    if not (access_key and secret_key):
        raise StoreURLError("an s3:// storage URL needs S3_ACCESS_KEY_ID and "
                            "S3_SECRET_ACCESS_KEY")
    return S3Store(where, prefix=prefix, endpoint=endpoint, region=region,
                   access_key=access_key, secret_key=secret_key)


def new_key(*parts: uuid.UUID | str) -> str:
    """A key made of ids (``photos/<citizen>/<photo>``), checked."""
    return check_key("/".join(str(p) for p in parts))
