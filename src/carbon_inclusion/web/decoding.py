"""Decoding that cannot be crashed: every request is checked at the edge before a handler
(or the framework's own decoding) sees it.

* path and query parameters, and the header values the service reads, must not hold a NUL
  character (PostgreSQL text cannot store one): 422 naming the parameter;
* a body whose ``Content-Type`` says anything but JSON (``application/json`` or
  ``application/*+json``) is 415; a body with no ``Content-Type`` is read as JSON;
* a route that takes a raw body (``opt["raw_body"]``: the media types it takes, e.g. a
  photo) is left to its handler, which checks the type (415 naming ``Content-Type``) and
  reads the body within its own limit (``read_body``, 413);
* a JSON body may nest at most ``MAX_DEPTH`` arrays/objects deep (deeper ones exhausted the
  decoder's recursion): 422 naming ``body``; and no string in it (key or value) may hold a
  NUL character (``\\u0000``): 422 naming the field;
* a body a route declares as a type is decoded strictly first: ``"2"`` is not an integer,
  and a decimal quantity (``common.numbers.Amount``) is a JSON number or plain ASCII digits.

The checks cost nothing measurable on the hot path: the depth is only worked out when a body
has more than ``MAX_DEPTH`` brackets at all, then over the brackets outside strings (C-speed
regular expression and ``bytes.translate``); a body is only parsed to find a NUL when the
bytes ``\\u0000`` occur in it.
"""

from __future__ import annotations

import asyncio
import re
import weakref
from decimal import Decimal
from itertools import accumulate
from typing import Any
from urllib.parse import parse_qsl

import msgspec
import msgspec.inspect
from litestar import Request
from litestar.exceptions import HTTPException

from carbon_inclusion.common.decoding import field_of
from carbon_inclusion.common.numbers import is_amount, to_amount
from carbon_inclusion.errors import InvalidInput, TooLarge

MAX_DEPTH = 32
NUL_MESSAGE = "must not contain a NUL character"
BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Headers whose values the service reads (the rest are only passed through or ignored).
READ_HEADERS = frozenset({b"authorization", b"idempotency-key", b"x-partner-id",
                          b"x-timestamp", b"x-signature"})

# A JSON string, the unrolled-loop form (no per-character alternation).
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")
_STEP = {0x5B: 1, 0x7B: 1, 0x5D: -1, 0x7D: -1}


def too_deep(body: bytes) -> bool:
    """True when ``body`` nests arrays/objects more than ``MAX_DEPTH`` deep."""
    if body.count(b"[") + body.count(b"{") <= MAX_DEPTH:
        return False
    if b'"' not in body:
        outside = body
    elif b'\\"' not in body:  # no escaped quote: strings are between quote pairs
        outside = b"".join(body.split(b'"')[::2])
    else:
        outside = _STRING.sub(b"", body)
    brackets = outside.translate(None, _NOT_BRACKET)
    return max(accumulate(map(_STEP.__getitem__, brackets)), default=0) > MAX_DEPTH


Path = list[str | int]


def _nul_path(value: Any, path: Path) -> Path | None:
    """The path (keys and indices) of the first string, key or value, holding a NUL."""
    if isinstance(value, str):
        return path if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            if "\x00" in key:
                return [*path, key]
            found = _nul_path(item, [*path, key])
            if found is not None:
                return found
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found = _nul_path(item, [*path, i])
            if found is not None:
                return found
    return None


def _declared(path: Path, body_type: Any) -> Path:
    """``path`` cut at the deepest field ``body_type`` declares: inside a free-form object
    (``dict[str, Any]``) the field named is the object."""
    if body_type is None:
        return path
    info: Any = msgspec.inspect.type_info(body_type)
    for n, part in enumerate(path):
        while isinstance(info, msgspec.inspect.UnionType | msgspec.inspect.Metadata):
            if isinstance(info, msgspec.inspect.Metadata):
                info = info.type
            else:
                inner = [t for t in info.types if not isinstance(t, msgspec.inspect.NoneType)]
                if len(inner) != 1:
                    return path[:n]
                info = inner[0]
        if isinstance(info, msgspec.inspect.StructType) and isinstance(part, str):
            field = next((f for f in info.fields if f.encode_name == part), None)
            if field is None:
                return path[:n + 1]
            info = field.type
        elif isinstance(info, msgspec.inspect.ListType | msgspec.inspect.SetType
                        | msgspec.inspect.FrozenSetType
                        | msgspec.inspect.VarTupleType) and isinstance(part, int):
            info = info.item_type
        else:
            return path[:n]
    return path


def _dotted(path: Path) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out or "body"


def check_json(body: bytes, body_type: Any = None) -> None:
    """Refuse a JSON body nested too deep or holding a NUL in a string (``InvalidInput``);
    a body that is not JSON at all is left to the decoder that follows (400)."""
    if too_deep(body):
        raise InvalidInput.field("body", f"nests deeper than {MAX_DEPTH} levels")
    if b"\\u0000" in body:
        try:
            doc = msgspec.json.decode(body)
        except (msgspec.DecodeError, RecursionError):
            return
        path = _nul_path(doc, [])
        if path is not None:
            raise InvalidInput.field(_dotted(_declared(path, body_type)), NUL_MESSAGE)


_I = msgspec.inspect


def _amount_fields(info: Any, seen: frozenset[type] = frozenset()) -> bool:
    """Whether a type (``msgspec.inspect`` form) has an ``Amount`` anywhere inside."""
    if isinstance(info, _I.Metadata):
        return is_amount(info) or _amount_fields(info.type, seen)
    if isinstance(info, _I.UnionType):
        return any(_amount_fields(t, seen) for t in info.types)
    if isinstance(info, _I.StructType):
        if info.cls in seen:
            return False
        return any(_amount_fields(f.type, seen | {info.cls}) for f in info.fields)
    if isinstance(info, _I.ListType | _I.SetType | _I.FrozenSetType | _I.VarTupleType):
        return _amount_fields(info.item_type, seen)
    return False


def _odd_amount(value: Any, info: Any, path: Path) -> tuple[Path, str] | None:
    """The path and message of the first ``Amount`` field of ``value`` (the raw JSON, numbers
    as ``Decimal``) whose form ``common.numbers`` refuses."""
    if isinstance(info, _I.Metadata):
        if is_amount(info):
            try:
                to_amount(value)
            except ValueError as exc:
                return path, str(exc)
            return None
        return _odd_amount(value, info.type, path)
    if isinstance(info, _I.UnionType):
        for t in info.types:
            found = _odd_amount(value, t, path)
            if found is not None:
                return found
    elif isinstance(info, _I.StructType) and isinstance(value, dict):
        for f in info.fields:
            if f.encode_name in value:
                found = _odd_amount(value[f.encode_name], f.type, [*path, f.encode_name])
                if found is not None:
                    return found
    elif isinstance(info, _I.ListType | _I.SetType | _I.FrozenSetType
                    | _I.VarTupleType) and isinstance(value, list):
        for i, item in enumerate(value):
            found = _odd_amount(item, info.item_type, [*path, i])
            if found is not None:
                return found
    return None


_AMOUNT_TYPES: dict[Any, Any] = {}
_RAW = msgspec.json.Decoder(float_hook=Decimal)  # JSON numbers exactly as written


def check_amounts(body: bytes, body_type: Any) -> None:
    """Refuse a decimal quantity (``Amount``) written in any form but a JSON number or plain
    ASCII digits (``InvalidInput`` naming the field). Bodies without one cost a dict look-up."""
    if body_type not in _AMOUNT_TYPES:
        info = _I.type_info(body_type)
        _AMOUNT_TYPES[body_type] = info if _amount_fields(info) else None
    info = _AMOUNT_TYPES[body_type]
    if info is None:
        return
    try:
        raw = _RAW.decode(body)
    except (msgspec.DecodeError, RecursionError):
        return
    found = _odd_amount(raw, info, [])
    if found is not None:
        raise InvalidInput.field(_dotted(found[0]), found[1])


def check_text(name: str, value: str) -> None:
    if "\x00" in value:
        raise InvalidInput.field(name, NUL_MESSAGE)


def is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/")
                                             and media.endswith("+json"))


# By handler object, not ``id()``: a process that builds more than one app (the tests do)
# could see an id used again by another app's handler once the first one is gone.
_BODY_TYPES: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()


def _body_type(request: Request) -> Any:
    """The type the handler declares for its body (``data``), or None."""
    handler = request.route_handler
    if handler not in _BODY_TYPES:
        param = handler.parsed_fn_signature.parameters.get("data")
        _BODY_TYPES[handler] = None if param is None else param.annotation
    return _BODY_TYPES[handler]


async def check_request(request: Request) -> None:
    """The ``before_request`` hook of every route (see the module docstring)."""
    scope = request.scope
    if "\x00" in scope["path"]:
        for name, value in request.path_params.items():
            if isinstance(value, str):
                check_text(name, value)
        raise InvalidInput.field("path", NUL_MESSAGE)
    query = scope.get("query_string", b"")
    if b"%00" in query or b"\x00" in query:
        for name, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
            check_text(name, name)
            check_text(name, value)
    for name, value in scope["headers"]:
        if name in READ_HEADERS and b"\x00" in value:
            raise InvalidInput.field(name.decode(), NUL_MESSAGE)
    if scope["method"] not in BODY_METHODS:
        return
    if request.route_handler.opt.get("raw_body"):
        return  # the handler checks its type and reads it within its own limit
    body = await request.body()
    if not body:
        return
    content_type = request.headers.get("content-type")
    if content_type is not None and not is_json(content_type):
        raise HTTPException(status_code=415, detail="The request body must be JSON "
                            "(Content-Type: application/json).")
    body_type = _body_type(request)
    check_json(body, body_type)
    if body_type is not None:
        check_amounts(body, body_type)
        try:
            msgspec.json.decode(body, type=body_type)
        except msgspec.ValidationError as exc:
            raise InvalidInput.field(*field_of(exc)) from None
        except (msgspec.DecodeError, RecursionError):
            pass  # the framework's decoder answers 400 malformed_body


async def read_body(request: Request, limit: int, too_large: TooLarge) -> bytes:
    """The body of a raw-body route, refused with ``too_large`` past ``limit`` bytes: at
    once when its ``Content-Length`` says so, else as soon as that many have arrived."""
    announced = request.headers.get("content-length")
    if announced is not None and announced.strip().isdigit() and int(announced) > limit:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


class BodyTimeout(Exception):
    """The client did not send its whole body within ``BODY_TIMEOUT`` seconds (408)."""


def timed_receive(receive: Any, seconds: float) -> Any:
    """``receive``, allowed ``seconds`` in all to deliver the request's body; once the body
    is complete, later calls (waiting for a disconnect) are passed through untimed."""
    deadline: float | None = None
    done = False

    async def receive_in_time() -> Any:
        nonlocal deadline, done
        if done:
            return await receive()
        loop = asyncio.get_running_loop()
        if deadline is None:
            deadline = loop.time() + seconds
        try:
            async with asyncio.timeout_at(deadline):
                message = await receive()
        except TimeoutError:
            raise BodyTimeout from None
        if message.get("type") != "http.request" or not message.get("more_body", False):
            done = True
        return message

    return receive_in_time
