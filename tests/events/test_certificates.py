"""What a certificate shows, as a person (and a phone) reads it: tonnes at the programme's
rounding, local time, the issuer, serial ranges, a QR code that scans to the certificate's
URL on the port the service listens on, and a PDF that carries its own CJK font."""

from __future__ import annotations

import io
import re
from decimal import Decimal
from zoneinfo import ZoneInfo

import pypdfium2
import pytest
import zxingcpp
from PIL import Image, ImageDraw
from pypdf import PdfReader

from carbon_inclusion.events import certificates
from tests.conftest import client_of, own_app
from tests.events.test_events import EVENT, buy, org
from tests.registry.conftest import methodology

__all__ = ["methodology", "org"]  # fixtures, used by name

SHANGHAI = ZoneInfo("Asia/Shanghai")
SMALL = EVENT | {"name": "碳普惠沙龙", "attendees": 12, "hotel_room_nights": 0, "meals": 12,
                 "vegetarian_meals": 0, "electricity_kwh": "40", "materials": [],
                 "waste_kg": "5", "travel": [{"mode": "metro", "distance_km": "10",
                                              "people": 12}]}
BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


def content(**changes) -> dict:
    base = {"kind": "event", "number": "CQTHT-C-2026-000007",
            "organisation": {"id": "o", "name": "重庆两江绿色会展有限公司"},
            "event": {"id": "e", "name": "低碳论坛", "starts_on": "2026-11-10",
                      "ends_on": "2026-11-11", "venue": "重庆国际博览中心", "attendees": 120,
                      "footprint_g": "4159180.0", "footprint_t": "4.159",
                      "methodology_code": "CQ-EVENT", "methodology_version": 1,
                      "breakdown": [{"source": "travel", "grams": "3999680.0"},
                                    {"source": "waste", "grams": "159500.0"}]},
            "retired": {"quantity_t": 5, "serials": [
                {"first": "CQTHT-TRANSIT-2026-000001", "last": "CQTHT-TRANSIT-2026-000004",
                 "quantity": 4, "methodology_code": "CQ-TRANSIT",
                 "vintage_from": "2026-01-01", "vintage_to": "2026-03-31"},
                {"first": "CQTHT-TRANSIT-2026-000009", "last": "CQTHT-TRANSIT-2026-000009",
                 "quantity": 1, "methodology_code": "CQ-TRANSIT",
                 "vintage_from": "2026-04-01", "vintage_to": "2026-06-30"}]},
            "issued_at": "2026-11-12T06:03:27.123456+00:00", "url": "http://x/"}
    return base | changes


def test_the_view_shows_tonnes_local_time_the_issuer_and_ranges():
    v = certificates.view(content(), "ab" * 32, "valid", "http://x/", tz=SHANGHAI,
                          operator="某市碳普惠运营中心")
    rows = dict(v.rows)
    assert rows["排放量 Footprint"] == "4.159 t CO2e (CQ-EVENT v1)"
    # Sources in tonnes, to 0.001 t, half to even: 3.99968 t -> 4.000, 0.1595 t -> 0.160.
    assert rows["　交通出行 Travel"] == "4.000 t CO2e"
    assert rows["　废弃物 Waste"] == "0.160 t CO2e"
    assert rows["注销减排量 Retired"] == "5.000 t CO2e"
    assert v.issued == "2026-11-12 14:03:27 (UTC+08:00, Asia/Shanghai)"
    assert v.issuer == "某市碳普惠运营中心"  # the setting, for a certificate that names none
    assert [s for s, _ in v.serials] == ["CQTHT-TRANSIT-2026-000001 – 000004",
                                         "CQTHT-TRANSIT-2026-000009"]
    assert "5.000 t CO2e" in v.statement[0] and "重庆两江绿色会展有限公司" in v.statement[0]
    named = certificates.view(content(issuer="碳惠通运营中心"), "", "cancelled", "", tz=SHANGHAI,
                              operator="某市碳普惠运营中心")
    assert named.issuer == "碳惠通运营中心"  # the one it was issued by
    assert named.banner == ("已作废", "CANCELLED")


@pytest.fixture
async def on_8203(settings):
    """The service as ``PORT=8203 make run`` starts it (PUBLIC_BASE_URL unset)."""
    assert settings.public_base_url == ""
    async with own_app(settings, port=8203) as application, \
            client_of(application, "203.0.113.9", "http://127.0.0.1:8203") as c:
        yield application, c


async def neutralised(on_8203, admin, verifier, citizen, methodology, org, event: dict
                      ) -> dict:
    application, client = on_8203
    made = (await client.post("/v1/events/", headers=org.headers, json=event)).json()
    await buy(application, client, admin, verifier, citizen, methodology, org,
              made["footprint"]["credits_needed"])
    r = await client.post(f"/v1/events/{made['id']}/neutralize", headers=org.headers)
    assert r.status_code == 201, r.text
    return r.json()


def decode(image: Image.Image) -> list[str]:
    return [x.text for x in zxingcpp.read_barcodes(image)
            if x.format == zxingcpp.BarcodeFormat.QRCode]


def svg_image(page: str) -> Image.Image:
    """The page's QR code (one SVG path of unit squares) drawn at 6 px a module."""
    svg = re.search(r'<svg class="qr" viewBox="0 0 (\d+) \d+".*?d="([^"]+)"', page)
    assert svg, "the page has its QR code"
    n, scale = int(svg.group(1)), 6
    image = Image.new("L", (n * scale, n * scale), 255)
    pen = ImageDraw.Draw(image)
    for c, r, k in re.findall(r"M(\d+) (\d+)h(\d+)v1h-\d+z", svg.group(2)):
        x, y = int(c) * scale, int(r) * scale
        pen.rectangle([x, y, x + int(k) * scale - 1, y + scale - 1], fill=0)
    return image


async def test_the_qr_code_scans_to_the_certificate_url_on_the_port_it_is_served_on(
        on_8203, admin, verifier, citizen, methodology, org):
    cert = await neutralised(on_8203, admin, verifier, citizen, methodology, org, SMALL)
    _, client = on_8203
    url = f"http://127.0.0.1:8203/v1/certificates/{cert['id']}"
    assert cert["url"] == url and cert["content"]["url"] == url
    pdf = (await client.get(f"/v1/certificates/{cert['id']}/pdf")).content
    page = pypdfium2.PdfDocument(pdf)[0]
    # As printed and scanned: 72 dpi is about what a phone sees of a page held at arm's length.
    for dpi in (72, 150):
        assert decode(page.render(scale=dpi / 72).to_pil()) == [url], dpi
    html = (await client.get(f"/v1/certificates/{cert['id']}/html")).text
    assert decode(svg_image(html)) == [url]
    assert 'width="240"' in html  # on screen, 240 px: large enough to scan off a monitor


async def test_the_pdf_embeds_a_subset_of_its_cjk_font(on_8203, admin, verifier, citizen,
                                                       methodology, org):
    cert = await neutralised(on_8203, admin, verifier, citizen, methodology, org, SMALL)
    _, client = on_8203
    pdf = (await client.get(f"/v1/certificates/{cert['id']}/pdf")).content
    reader = PdfReader(io.BytesIO(pdf))
    fonts = {}
    for page in reader.pages:
        for font in page["/Resources"]["/Font"].values():
            font = font.get_object()
            fonts[font["/BaseFont"]] = font
    assert fonts, "the PDF names its fonts"
    for name, font in fonts.items():
        descriptor = font["/FontDescriptor"].get_object()  # standard fonts have none
        embedded = descriptor["/FontFile2"].get_object()
        assert font["/Subtype"] == "/TrueType", name
        assert re.fullmatch(r"/[A-Z]{6}\+WenQuanYiMicroHei(Mono)?-\d+", name), name
        assert len(embedded.get_data()) < 500_000, "a subset, not the 5 MB font"
    words = "".join(p.extract_text() for p in reader.pages)
    assert "碳中和证书" in words and SMALL["name"] in words and cert["sha256"] in words


async def test_the_page_shows_tonnes_ranges_local_time_and_the_issuer(
        on_8203, admin, verifier, citizen, methodology, org, settings):
    one = await neutralised(on_8203, admin, verifier, citizen, methodology, org, SMALL)
    _, client = on_8203
    serials = one["content"]["retired"]["serials"]
    assert one["content"]["retired"]["quantity_t"] == 1 == len(serials)
    html = (await client.get(f"/v1/certificates/{one['id']}",
                             headers={"Accept": "text/html"})).text
    serial = serials[0]["first"]
    assert html.count(serial) == 1 and " … " not in html  # one credit, one serial
    assert not re.search(r"\d g\b", html), "no raw grams"
    footprint_t = Decimal(one["content"]["event"]["footprint_t"])
    assert f"{footprint_t:.3f} t CO2e" in html
    assert "(UTC+08:00, Asia/Shanghai)" in html
    assert not re.search(r"\d\d:\d\d:\d\d\.\d", html), "no microseconds"
    assert settings.programme_operator in html and one["content"]["issuer"] == \
        settings.programme_operator

    many = await neutralised(on_8203, admin, verifier, citizen, methodology, org, EVENT)
    html = (await client.get(f"/v1/certificates/{many['id']}/html")).text
    for s in many["content"]["retired"]["serials"]:
        assert s["first"] != s["last"]
        assert f"{s['first']} – {s['last'].rsplit('-', 1)[1]}" in html


async def test_the_certificate_url_answers_what_the_accept_header_asks_for(
        on_8203, admin, verifier, citizen, methodology, org):
    cert = await neutralised(on_8203, admin, verifier, citizen, methodology, org, SMALL)
    _, client = on_8203
    url = f"/v1/certificates/{cert['id']}"
    for accept, kind in [("application/pdf", "application/pdf"), ("text/html", "text/html"),
                         (BROWSER, "text/html"), ("application/json", "application/json"),
                         ("*/*", "application/json"), (None, "application/json"),
                         ("application/pdf;q=0.5, text/html;q=0.9", "text/html")]:
        r = await client.get(url, headers={"Accept": accept} if accept else {})
        assert r.status_code == 200, (accept, r.text)
        assert r.headers["content-type"].startswith(kind), accept
        assert r.headers["vary"] == "Accept"
    pdf = await client.get(url, headers={"Accept": "application/pdf"})
    assert pdf.content.startswith(b"%PDF-") and cert["number"] in pdf.headers[
        "content-disposition"]
    assert (await client.get(url)).json()["id"] == cert["id"]


async def test_a_certificate_is_found_by_its_number_as_printed(on_8203, admin, verifier,
                                                              citizen, methodology, org):
    cert = await neutralised(on_8203, admin, verifier, citizen, methodology, org, SMALL)
    _, client = on_8203
    found = await client.get(f"/v1/certificates/numbers/{cert['number']}")
    assert found.status_code == 200, found.text
    assert found.json()["id"] == cert["id"] and found.json()["sha256"] == cert["sha256"]
    typed = await client.get(f"/v1/certificates/numbers/{cert['number'].lower()}")
    assert typed.json()["id"] == cert["id"]  # as a person types it
    missing = await client.get("/v1/certificates/numbers/CQTHT-C-1999-000001")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")
    too_long = await client.get("/v1/certificates/numbers/" + "X" * 49)
    assert too_long.status_code in (400, 422)
