"""OpenAPI helpers: every route documents its problem+json error responses."""

from __future__ import annotations

import copy
from decimal import Decimal

import msgspec
from litestar import Litestar
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import (
    OpenAPI,
    OpenAPIHeader,
    OpenAPIMediaType,
    Parameter,
    Reference,
    RequestBody,
    Schema,
)
from litestar.openapi.spec.enums import OpenAPIFormat, OpenAPIType
from litestar.plugins import OpenAPISchemaPlugin
from litestar.routes import HTTPRoute
from litestar.typing import FieldDefinition

from carbon_inclusion.common.numbers import PLAIN_PATTERN, SIGNIFICANT_DIGITS, is_amount
from carbon_inclusion.web.csv import CSV_TYPE, SUFFIX
from carbon_inclusion.web.idempotency import KEY_PATTERN, REPLAYED
from carbon_inclusion.web.problems import PROBLEM_JSON, Problem

_DESCRIPTIONS = {
    400: "Malformed request",
    401: "Missing, invalid or expired credentials",
    403: "The caller's role may not use this route",
    404: "Not found (or not the caller's)",
    409: "Conflicts with the current state",
    413: "Request body too large",
    422: "Invalid input; `errors[]` names each field",
    429: "Rate limited; see Retry-After",
    503: "A storage service is unavailable; see Retry-After",
}


class AmountSchema(OpenAPISchemaPlugin):
    """``common.numbers.Amount``: a JSON number, or a string of plain ASCII digits."""

    __slots__ = ()

    def is_plugin_supported_field(self, field_definition: FieldDefinition) -> bool:
        return field_definition.annotation is Decimal and any(
            is_amount(m) for m in (field_definition.metadata or ()))

    def to_openapi_schema(self, field_definition: FieldDefinition, schema_creator: object
                          ) -> Schema:
        return Schema(
            one_of=[Schema(type=OpenAPIType.NUMBER),
                    Schema(type=OpenAPIType.STRING, pattern=PLAIN_PATTERN)],
            description=f"A decimal: a JSON number or a string of ASCII digits (\"12.5\"); "
                        f"at most {SIGNIFICANT_DIGITS} significant digits.",
        )


def problems(*statuses: int) -> dict[int, ResponseSpec]:
    """Problem responses for ``statuses`` plus the ones every route can answer."""
    wanted = sorted({400, 422, 503, *statuses})
    return {
        s: ResponseSpec(Problem, description=_DESCRIPTIONS.get(s, "Error"), media_type=PROBLEM_JSON,
                        generate_examples=False)
        for s in wanted
    }


def already_done(data: type, what: str) -> dict[int, ResponseSpec]:
    """The 200 of a route asked to do what is done already (join a challenge joined,
    neutralise an event neutralised). Routes taking an ``Idempotency-Key`` answer a replay
    with the first 201 instead (``web.idempotency.created``)."""
    return {200: ResponseSpec(data, description=what, generate_examples=False)}


def complete_document(app: Litestar) -> None:
    """What Litestar's generated document does not say by itself, said once here for every
    operation, from the code that enforces it:

    * who may call it, as the route's ``opt`` tells the guard: public ones need nothing
      (``security: []``), partner ones the signature of DESIGN §9, the rest a bearer token
      (the document's default);
    * that request bodies take no fields beyond their schema (``additionalProperties:
      false`` for every struct declared ``forbid_unknown_fields``, as the decoder refuses
      them);
    * that ``Idempotency-Key`` is required, with its pattern (``require_key`` answers 422
      without it; it is optional to the framework only so that the 422 can say why);
    * the JSON body of a signed route (``opt["signed_body"]``: its struct, then any other
      it names), which the handler reads as bytes to check the signature before decoding;
    * the raw body of a route taking one (``opt["raw_body"]``: its media types, e.g. a
      photo), and the binary 200 of one answering one (``opt["binary_answer"]``);
    * a description on every operation: its summary and who may call it, where the route
      says no more;
    * the values of the ``Idempotent-Replayed`` header, as ``created`` writes them;
    * the answers of the edge (``web.decoding``) to an operation that takes a body: 408 when
      the body does not arrive in time, 413 when it is too large, 415 when it is not JSON;
    * the CSV answer of a route declared with ``web.csv.CSV``: ``text/csv`` beside the JSON
      of its 200, and the only answer of its ``.csv`` path.
    """
    document = app.openapi_schema
    paths = document.paths or {}
    for route in app.routes:
        if not isinstance(route, HTTPRoute) or route.path_format not in paths:
            continue
        item = paths[route.path_format]
        for handler in route.route_handlers:
            for method in handler.http_methods:
                operation = getattr(item, method.lower(), None)
                if operation is None:
                    continue
                if handler.opt.get("partner"):
                    operation.security = [{"partnerSignature": []}]
                elif handler.opt.get("public"):
                    operation.security = []
                if signed := handler.opt.get("signed_body"):
                    operation.request_body = _json_body(document, signed)
                if raw := handler.opt.get("raw_body"):
                    operation.request_body = RequestBody(required=True, content={
                        media: OpenAPIMediaType(schema=_BINARY) for media in raw})
                if (binary := handler.opt.get("binary_answer")) and operation.responses:
                    ok = operation.responses.get("200")
                    if ok is not None:
                        ok.content = {media: OpenAPIMediaType(schema=_BINARY)
                                      for media in binary}
                if not operation.description:
                    operation.description = f"{operation.summary}. {_callers(handler.opt)}"
                if operation.request_body is not None and operation.responses:
                    _edge_answers(operation.responses, raw)
                if handler.opt.get("csv") and operation.responses:
                    _csv_answer(operation.responses, route.path_format.endswith(SUFFIX))
                for response in (operation.responses or {}).values():
                    header = (getattr(response, "headers", None) or {}).get(REPLAYED)
                    if isinstance(header, OpenAPIHeader):
                        header.schema = Schema(type=OpenAPIType.STRING, enum=["false", "true"])
                for parameter in operation.parameters or []:
                    if isinstance(parameter, Parameter) and parameter.name == "Idempotency-Key":
                        parameter.required = True
                        parameter.schema = Schema(type=OpenAPIType.STRING,
                                                  pattern=KEY_PATTERN.pattern)
    strict = _strict_structs()
    for name, schema in (document.components.schemas or {}).items():
        if name in strict and isinstance(schema, Schema):
            schema.additional_properties = False


_EDGE = {"408": "The request body did not arrive in time (BODY_TIMEOUT_S)",
         "413": "Request body too large",
         "415": "The request body is not JSON (Content-Type must be application/json)"}


_BINARY = Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.BINARY)


def _edge_answers(responses: dict, raw: tuple[str, ...] | None = None) -> None:
    """Add the edge's 408/413/415 to an operation's responses, shaped like its 422 (a
    raw-body route's 415 names the types it takes instead of JSON)."""
    model = responses.get("422")
    if model is None:
        return
    for status, text in _EDGE.items():
        if raw and status == "415":
            text = f"The request body is not one of {', '.join(raw)} (see Content-Type)"
        elif status in responses:
            continue
        responses[status] = copy.copy(responses.get(status, model))
        responses[status].description = text


def _csv_answer(responses: dict, only: bool) -> None:
    """The 200 of a route that answers CSV too: ``text/csv`` (UTF-8 with a byte-order mark,
    a header row, ``common.tabular``) beside its JSON, or alone on its ``.csv`` path."""
    ok = responses.get("200")
    if ok is None or not ok.content:
        return
    csv = OpenAPIMediaType(schema=Schema(
        type=OpenAPIType.STRING, description="CSV: UTF-8 with a byte-order mark, a header "
        "row of the items' field names, one row per item"))
    if only:
        ok.content = {CSV_TYPE: csv}
        ok.description = "The rows as CSV"
    else:
        ok.content = {**ok.content, CSV_TYPE: csv}


def _callers(opt: dict) -> str:
    """Who may call a route, in the words of ``web.auth.role_guard``, which enforces it."""
    if opt.get("partner"):
        return "Called by a data partner, signed as DESIGN §9 says."
    if opt.get("public"):
        return "Public: no credentials needed."
    roles = " or ".join(opt.get("roles") or ())
    return f"For {roles} accounts (bearer token)." if roles else "Closed to every caller."


def _json_body(document: OpenAPI, structs: tuple[type, ...]) -> RequestBody:
    """A required JSON body of ``structs[0]``, with the schemas of all ``structs`` (msgspec's
    own, which already say ``additionalProperties: false`` where fields are forbidden)."""
    refs, components = msgspec.json.schema_components(
        structs, ref_template="#/components/schemas/{name}")
    schemas = document.components.schemas
    for name, schema in components.items():
        schemas.setdefault(name, _schema_fields(schema))
    return RequestBody(required=True, content={"application/json": OpenAPIMediaType(
        schema=Reference(ref=refs[0]["$ref"]))})


_FIELD_NAMES = {"additionalProperties": "additional_properties", "minLength": "min_length",
                "maxLength": "max_length", "minItems": "min_items", "maxItems": "max_items",
                "anyOf": "any_of"}


def _schema_fields(schema: dict) -> Schema | Reference:
    """A JSON Schema dict (msgspec's) as Litestar's ``Schema``, nested ones included."""
    if "$ref" in schema:
        return Reference(ref=schema["$ref"])
    out = {}
    for key, value in schema.items():
        name = _FIELD_NAMES.get(key, key)
        if key == "properties":
            value = {k: _schema_fields(v) for k, v in value.items()}
        elif key in ("items", "additionalProperties") and isinstance(value, dict):
            value = _schema_fields(value)
        elif key == "anyOf":
            value = [_schema_fields(v) for v in value]
        elif key == "type":
            value = OpenAPIType(value)
        out[name] = value
    return Schema(**out)


def _strict_structs() -> set[str]:
    """Names of our msgspec structs that refuse unknown fields."""
    found: set[str] = set()
    todo: list[type] = [msgspec.Struct]
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        if cls.__module__.startswith("carbon_inclusion.") and getattr(
                cls, "__struct_config__", None) and cls.__struct_config__.forbid_unknown_fields:
            found.add(cls.__name__)
    return found
