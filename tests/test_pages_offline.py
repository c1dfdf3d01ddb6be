"""Every page the service serves loads everything from the service itself: no CDN, no web
font, no other host, so it works offline (and from mainland China).

The test finds every HTML page the app serves — the docs page of the OpenAPI router and
every GET route whose answer is text/html — reads each, and follows what a browser would
load: ``<script src>``, ``<link href>`` (stylesheets, icons), ``<img>``/``<source>``/
``<iframe>`` ``src``, ``<object data>``, ``url(...)`` and ``@import`` in inline styles and
in the stylesheets themselves. Each must be on the page's own host, and answer 200.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import pytest
from litestar.enums import MediaType
from litestar.routes import HTTPRoute

from tests.events.test_certificates import SMALL, neutralised, on_8203
from tests.events.test_events import org
from tests.registry.conftest import methodology

__all__ = ["methodology", "on_8203", "org"]  # fixtures, used by name

LOADS = {"script": ("src",), "link": ("href",), "img": ("src", "srcset"),
         "source": ("src", "srcset"), "iframe": ("src",), "embed": ("src",),
         "object": ("data",), "audio": ("src",), "video": ("src", "poster"),
         "input": ("src",)}
CSS_URL = re.compile(r"""url\(\s*['"]?([^'")\s]+)|@import\s+['"]([^'"]+)""")


class Loads(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.styles: list[str] = []
        self.links: list[str] = []  # <a href>: navigation, not loaded
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        for name in LOADS.get(tag, ()):
            if values.get(name):
                self.urls += [u.split()[0] for u in values[name].split(",")] \
                    if name == "srcset" else [values[name]]
        if values.get("style"):
            self.styles.append(values["style"] or "")
        if tag == "a" and values.get("href"):
            self.links.append(values["href"] or "")
        self._in_style = tag == "style"

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.styles.append(data)


def css_urls(css: str) -> list[str]:
    return [a or b for a, b in CSS_URL.findall(css) if not (a or b).startswith("data:")]


def html_paths(app, samples: dict[str, str]) -> list[str]:
    """The path of every HTML page the app serves, path parameters from ``samples``."""
    paths = ["/docs"]
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            if "GET" in handler.http_methods and handler.media_type == MediaType.HTML:
                path = route.path_format
                for name in re.findall(r"{(\w+)}", path):
                    assert name in samples, f"give the test a sample {name} for {path}"
                    path = path.replace("{" + name + "}", samples[name])
                paths.append(path)
    return sorted(set(paths))


async def test_no_page_or_asset_refers_to_another_host(on_8203, admin, verifier, citizen,
                                                      methodology, org):
    cert = await neutralised(on_8203, admin, verifier, citizen, methodology, org, SMALL)
    app, client = on_8203
    base = str(client.base_url)
    host = urlsplit(base).netloc
    # /docs/{path}: the docs router answers its page at /docs/ too.
    pages = html_paths(app, {"certificate_id": cert["id"], "path": ""})
    assert "/docs" in pages and f"/v1/certificates/{cert['id']}/html" in pages
    seen: set[str] = set()
    for path in pages:
        page = await client.get(path, headers={"Accept": "text/html"})
        assert page.status_code == 200 and page.headers["content-type"].startswith(
            "text/html"), path
        found = Loads()
        found.feed(page.text)
        wanted = found.urls + [u for style in found.styles for u in css_urls(style)]
        assert all(urlsplit(urljoin(base, a)).netloc == host for a in found.links), \
            (path, found.links)  # links lead back to this service too
        while wanted:
            url = urljoin(urljoin(base, path), wanted.pop())
            assert urlsplit(url).netloc == host, f"{path} loads {url}"
            if url in seen:
                continue
            seen.add(url)
            asset = await client.get(url)
            assert asset.status_code == 200, url
            if asset.headers["content-type"].startswith("text/css"):
                wanted += [urljoin(url, u) for u in css_urls(asset.text)]
    assert any(u.endswith("swagger-ui-bundle.js") for u in seen)
    assert any(u.endswith("swagger-ui.css") for u in seen)


async def test_the_docs_page_asks_no_validator_and_reads_its_own_document(client):
    page = (await client.get("/docs")).text
    assert "validatorUrl: null" in page  # Swagger UI would ask validator.swagger.io
    assert 'url: "/docs/openapi.json"' in page
    assert (await client.get("/docs/openapi.json")).json()["openapi"].startswith("3.1")
    licence = await client.get("/docs/assets/LICENSE")
    assert licence.status_code == 200 and b"Apache License" in licence.content


@pytest.mark.parametrize("path", ["/docs/assets/../../../etc/passwd", "/docs/assets/nope.js"])
async def test_only_the_docs_assets_are_served(client, path):
    assert (await client.get(path)).status_code == 404


# --- the console and the public pages (web/pages.py) ---------------------------------------

PAGES = ["/", "/registry", "/verify", "/console"]
# URLs a script or stylesheet may name without loading them: the SVG namespace.
NOT_LOADED = {"http://www.w3.org/2000/svg"}
ABSOLUTE = re.compile(r"""(?:https?:)?//[A-Za-z0-9.-]+\.[A-Za-z]{2,}[^\s'"`)]*""")
IMPORTS = re.compile(r"""(?:\bimport\s*(?:[\w{}*\s,]+from\s*)?|\bimport\s*\()"""
                     r"""\s*["'`]([^"'`$]+)["'`]""")


async def test_the_pages_and_every_asset_load_from_this_service_only(client):
    from carbon_inclusion.web.pages import CSP, STATIC

    for path in PAGES:
        page = await client.get(path, headers={"Accept": "text/html"})
        assert page.status_code == 200 and page.headers["content-type"].startswith(
            "text/html"), path
        assert page.headers["content-security-policy"] == CSP, path
        found = Loads()
        found.feed(page.text)
        assert found.urls and all(u.startswith("/assets/") for u in found.urls), found.urls
    assert "'self'" in CSP and "http" not in CSP and "*" not in CSP
    assets = sorted(p for p in (STATIC / "assets").rglob("*") if p.is_file())
    assert any(p.suffix == ".js" for p in assets) and any(p.suffix == ".css" for p in assets)
    for file in assets:
        url = "/assets/" + file.relative_to(STATIC / "assets").as_posix()
        asset = await client.get(url)
        assert asset.status_code == 200, url
        assert asset.headers["content-security-policy"] == CSP, url
        text = asset.content.decode("utf-8")
        others = {u for u in ABSOLUTE.findall(text) if u not in NOT_LOADED}
        assert not others, (url, others)  # no CDN, no web font, no other host
        if file.suffix == ".css":
            assert all(u.startswith(("/", ".")) for u in css_urls(text)), url
        for spec in IMPORTS.findall(text):  # ES module imports: relative, same origin
            assert spec.startswith(("./", "../", "/")), (url, spec)
            target = urljoin(url, spec)
            assert (await client.get(target)).status_code == 200, (url, target)


@pytest.mark.parametrize("path", ["/assets/../pages.py", "/assets/js/nope.js", "/console/x"])
async def test_only_the_page_assets_are_served(client, path):
    assert (await client.get(path)).status_code == 404
