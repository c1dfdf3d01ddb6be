"""Authentication middleware and the deny-by-default role guard.

Every route declares who may call it in its ``opt``: ``public=True`` (anyone; a valid token is
still read so public pages can personalise) or ``roles=(...)``. A route declaring neither is
refused to everyone, so a forgotten declaration fails closed.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from carbon_inclusion.accounts.service import Principal
from carbon_inclusion.errors import Forbidden, Unauthenticated

if TYPE_CHECKING:
    from litestar.types import ASGIApp, Receive, Scope, Send

PUBLIC = {"public": True}
CITIZEN = {"roles": ("citizen",)}
ENTERPRISE = {"roles": ("enterprise",)}
ADMIN = {"roles": ("admin",)}
VERIFIER = {"roles": ("verifier",)}
ANY_USER = {"roles": ("citizen", "enterprise", "admin", "verifier")}
PARTNER = {"public": True, "partner": True}  # authenticated by signature in the handler
# Added to a citizen route that earns or spends: refused (403 phone_unverified) until the
# citizen has confirmed their phone.
VERIFIED = {"verified": True}


class BearerAuthMiddleware:
    """Reads ``Authorization: Bearer``; sets ``scope["user"]`` to a Principal or None."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            scope["user"] = await self._principal(scope)
        await self.app(scope, receive, send)

    async def _principal(self, scope: Scope) -> Principal | None:
        header = None
        for name, value in scope.get("headers", ()):
            if name == b"authorization":
                header = value.decode("latin-1")
                break
        if header is None and scope["type"] == "websocket":
            # Browsers cannot set headers on a WebSocket; accept ?access_token= there only.
            from urllib.parse import parse_qs

            qs = parse_qs(scope.get("query_string", b"").decode("latin-1"))
            if "access_token" in qs:
                header = "Bearer " + qs["access_token"][0]
        if header is None:
            return None
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("Use 'Authorization: Bearer <access token>'.",
                                  code="invalid_token")
        state: Any = scope["app"].state
        claims = state.tokens.verify(token.strip())
        principal = await state.accounts.principal(claims.sub, claims.role)
        if principal is None:
            raise Unauthenticated("The account behind this token is not active.",
                                  code="invalid_token")
        return principal


async def role_guard(connection: ASGIConnection, handler: BaseRouteHandler) -> None:
    # async on purpose: Litestar runs a sync guard in a worker thread, on every request.
    opt = handler.opt
    if opt.get("public") or _is_options(handler):
        return
    roles = opt.get("roles")
    if not roles:
        raise Forbidden("This route is closed.")
    user = connection.scope.get("user")
    if user is None:
        raise Unauthenticated("Sign in to use this route.")
    if user.role not in roles:
        raise Forbidden(f"This route is for {' or '.join(roles)} accounts.")
    if opt.get("verified") and not user.verified:
        raise Forbidden("Confirm your phone number first (POST /v1/auth/verify-phone).",
                        code="phone_unverified")


def _is_options(handler: BaseRouteHandler) -> bool:
    """Litestar's automatic OPTIONS answer: which methods a path has, open to anyone (the
    OpenAPI document says as much)."""
    return getattr(handler, "http_methods", None) == {"OPTIONS"}


def current_principal(request: Request) -> Principal:
    user = request.scope.get("user")
    if user is None:
        raise Unauthenticated("Sign in to use this route.")
    return user


def organisation_of(principal: Principal) -> uuid.UUID:
    """The organisation an enterprise user acts for; every enterprise account has one."""
    if principal.organisation_id is None:
        raise Forbidden("This account belongs to no organisation.")
    return principal.organisation_id
