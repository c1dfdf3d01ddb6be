"""OpenAPI helpers: every route documents its problem+json error responses."""

from __future__ import annotations

from litestar.openapi.datastructures import ResponseSpec

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
