"""The web pages: the console at ``/console`` and the public pages ``/``, ``/registry`` and
``/verify``.

They are static files shipped in the package (``web/static/``): an HTML shell per page and
ES modules that call the public API (``/v1/...``) with the user's own token. No figure or
decision is made here or in the browser code: every one comes from the API, and access is
the API's (the pages themselves are public; what they show depends on who signs in).

Every answer carries a Content-Security-Policy that allows only this service ('self'):
no inline script or style, no other host, no framing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from litestar import Response, Router, get
from litestar.datastructures import CacheControlHeader
from litestar.enums import MediaType
from litestar.static_files import create_static_files_router

STATIC = Path(__file__).parent / "static"
ASSETS = "/assets"

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
       "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; "
       "form-action 'self'; frame-ancestors 'none'")
HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
           "Referrer-Policy": "same-origin"}

PAGES = {"/": "home.html", "/registry": "registry.html", "/verify": "verify.html",
         "/console": "console.html"}


def _page(name: str) -> Response[bytes]:
    # Read per request: a few KB, and an edited file shows without a restart.
    return Response((STATIC / name).read_bytes(), media_type=MediaType.HTML,
                    headers={**HEADERS, "Cache-Control": "no-cache"})


def _handler(path: str, name: str) -> Any:
    @get(path, media_type=MediaType.HTML, include_in_schema=False, name=f"page:{name}",
         sync_to_thread=False)
    def page() -> Response[bytes]:
        return _page(name)

    return page


def _csp_after(response: Any) -> Any:
    response.headers.update(HEADERS)
    return response


def pages_router(opt: dict[str, Any]) -> Router:
    """The page routes and their assets, all public (``opt``)."""
    assets = create_static_files_router(
        path=ASSETS, directories=[STATIC / "assets"], opt=opt, include_in_schema=False,
        name="page-assets", after_request=_csp_after,
        cache_control=CacheControlHeader(no_cache=True))
    handlers = [_handler(path, name) for path, name in PAGES.items()]
    return Router("/", route_handlers=[*handlers, assets], opt=opt, include_in_schema=False)
