from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get

from carbon_inclusion.web.auth import PUBLIC


class HealthController(Controller):
    tags = ["operations"]  # noqa: RUF012
    include_in_schema = True

    @get("/healthz", operation_id="healthz", opt=PUBLIC, summary="The process is up")
    async def healthz(self) -> dict[str, str]:
        return {"status": "ok"}

    @get("/readyz", operation_id="readyz", opt=PUBLIC,
         summary="PostgreSQL and Redis reachable, migrations at head")
    async def readyz(self, request: Request) -> Response[dict[str, Any]]:
        from carbon_inclusion.db.migrate import head_revision, revision_of

        state = request.app.state
        checks: dict[str, str] = {}
        try:
            async with state.db.engine.connect() as conn:
                current = await revision_of(conn)
            checks["postgres"] = "ok"
            checks["migrations"] = "ok" if current == head_revision() else f"at {current}"
        except Exception as exc:
            checks["postgres"] = f"unavailable: {type(exc).__name__}"
        try:
            await state.redis.ping()
            checks["redis"] = "ok"
        except Exception as exc:
            checks["redis"] = f"unavailable: {type(exc).__name__}"
        ready = all(v == "ok" for v in checks.values())
        return Response(
            {"status": "ready" if ready else "not_ready", "checks": checks},
            status_code=200 if ready else 503,
            headers=None if ready else {"Retry-After": "5"},
        )

    @get("/.well-known/jwks.json", operation_id="jwks", opt=PUBLIC, tags=["auth"],
         summary="Public keys that verify access tokens")
    async def jwks(self, request: Request) -> dict[str, Any]:
        return request.app.state.tokens.ring.jwks()
