"""Signed partner requests (DESIGN §9): check the signature over the exact bytes received,
then decode them; one way for every signed route."""

from __future__ import annotations

from typing import TypeVar

import msgspec
from litestar import Request

from carbon_inclusion.common.decoding import field_of
from carbon_inclusion.errors import InvalidInput
from carbon_inclusion.partners.service import AuthenticatedPartner, PartnerService

T = TypeVar("T")


async def signed_body(request: Request, partners: PartnerService,
                      body_type: type[T]) -> tuple[AuthenticatedPartner, T]:
    """The partner that signed the request, and its body as ``body_type``.

    A bad or missing signature is 401 before a byte is decoded; a body that is not
    ``body_type`` is 422 naming the field (``malformed_body`` when it is not JSON).
    """
    body = await request.body()
    partner = await partners.authenticate(request.headers.get("x-partner-id"),
                                          request.headers.get("x-timestamp"),
                                          request.headers.get("x-signature"), body)
    try:
        return partner, msgspec.json.decode(body, type=body_type)
    except msgspec.ValidationError as exc:
        raise InvalidInput.field(*field_of(exc)) from None
    except msgspec.DecodeError:
        raise InvalidInput.field("body", "is not valid JSON", code="malformed_body") from None
