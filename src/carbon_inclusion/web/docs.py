"""The API docs at ``/docs``: Swagger UI, every file of it served by this service.

Litestar's render plugins load their script from a public CDN at run time, which leaves
``/docs`` blank offline (and slow or blocked from mainland China). Here the page loads
Swagger UI from ``/docs/assets/``, the files of the ``swagger-ui-py`` wheel (Swagger UI
5, Apache-2.0, its licence beside them at ``/docs/assets/LICENSE``); the wheel's
Python code is never imported. The page reads the document from ``/docs/openapi.json``
and has Swagger UI's online validator switched off, so it asks no other host for
anything.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from litestar import Request, Router
from litestar.datastructures import CacheControlHeader
from litestar.openapi.plugins import OpenAPIRenderPlugin
from litestar.static_files import create_static_files_router

ASSETS = "/docs/assets"
DOCUMENT = "/docs/openapi.json"


def assets_dir() -> Path:
    """The folder of Swagger UI's files in the installed ``swagger-ui-py`` wheel."""
    spec = importlib.util.find_spec("swagger_ui")  # found, not imported
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("swagger-ui-py is not installed: the docs page has no assets")
    return Path(next(iter(spec.submodule_search_locations))) / "static"


def assets_router(opt: dict[str, Any]) -> Router:
    return create_static_files_router(
        path=ASSETS, directories=[assets_dir()], opt=opt, include_in_schema=False,
        name="docs-assets", cache_control=CacheControlHeader(max_age=86400, public=True))


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="icon" type="image/png" href="{assets}/favicon-32x32.png">
<link rel="stylesheet" href="{assets}/swagger-ui.css">
<style>body {{ margin: 0; }}</style>
</head><body>
<div id="swagger-ui"></div>
<script src="{assets}/swagger-ui-bundle.js"></script>
<script>
window.ui = SwaggerUIBundle({{
  url: "{document}",
  dom_id: "#swagger-ui",
  deepLinking: true,
  persistAuthorization: true,
  displayRequestDuration: true,
  validatorUrl: null,
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout"
}});
</script>
</body></html>
"""


class LocalSwaggerUI(OpenAPIRenderPlugin):
    """Swagger UI from this service's own files (see the module docstring)."""

    def __init__(self, path: str = "/") -> None:
        super().__init__(path=path, favicon="")

    def render(self, request: Request, openapi_schema: dict[str, Any]) -> bytes:
        import html

        title = html.escape(str(openapi_schema.get("info", {}).get("title", "API")))
        return _PAGE.format(title=title, assets=ASSETS, document=DOCUMENT).encode()
