"""Certificates: content fixed at issue, its SHA-256, and the same content as HTML and PDF.

The content is a JSON object; ``sha256`` is over its canonical form (sorted keys, no
spaces, UTF-8), so anyone holding the JSON can check it. The PDF sets Chinese in the
standard Adobe-GB1 CID font STSong-Light, which every PDF reader has or substitutes: no font
file ships with the product, and the text stays extractable (UniGB-UCS2-H).
"""

from __future__ import annotations

import hashlib
import html
import io
from typing import Any

from carbon_inclusion.common.canonical import canonical_json

SOURCE_NAMES = {"venue_energy": "场馆能源 Venue energy", "travel": "交通出行 Travel",
                "accommodation": "住宿 Accommodation", "catering": "餐饮 Catering",
                "materials": "物料 Materials", "waste": "废弃物 Waste"}


def digest(content: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(content)).hexdigest()


def title(content: dict[str, Any]) -> tuple[str, str]:
    if content["kind"] == "event":
        return "碳中和证书", "Carbon Neutrality Certificate"
    return "碳普惠减排量履约抵销证明", "Compliance Offset Certificate"


def _lines(content: dict[str, Any]) -> list[tuple[str, str]]:
    """(label, value) rows shared by the HTML page and the PDF."""
    rows = [("证书编号 Number", content["number"]),
            ("机构 Organisation", content["organisation"]["name"])]
    if content["kind"] == "event":
        e = content["event"]
        rows += [("活动 Event", e["name"]), ("日期 Dates", f"{e['starts_on']} – {e['ends_on']}"),
                 ("地点 Venue", e["venue"]), ("参会人数 Attendees", str(e["attendees"])),
                 ("排放量 Footprint", f"{e['footprint_t']} t CO2e "
                  f"({e['methodology_code']} v{e['methodology_version']})")]
        rows += [(SOURCE_NAMES.get(s["source"], s["source"]), f"{s['grams']} g")
                 for s in e["breakdown"]]
    else:
        c = content["compliance"]
        rows += [("履约年度 Year", str(c["year"])),
                 ("核查排放量 Verified emissions", f"{c['verified_emissions_t']} t CO2e"),
                 ("抵销上限 Cap", f"{c['cap_t']} t ({c['cap_share']})")]
        if c.get("verified_by"):  # checked against the register (older ones were stated)
            rows.append(("核查机构 Verified by", f"{c['verified_by']['name']}"
                         f" ({c.get('report_reference') or 'no report reference'}, "
                         f"revision {c['register_revision']})"))
    rows.append(("注销减排量 Retired", f"{content['retired']['quantity_t']} t CO2e"))
    rows += [("序列号 Serials", f"{s['first']} … {s['last']} ({s['quantity']} t; "
              f"{s['methodology_code']}, vintage {s['vintage_from']} – {s['vintage_to']})")
             for s in content["retired"]["serials"]]
    rows.append(("签发时间 Issued", content["issued_at"]))
    return rows


def render_html(content: dict[str, Any], sha256: str, status: str, url: str) -> str:
    zh, en = title(content)
    esc = html.escape
    rows = "\n".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in _lines(content))
    banner = ("" if status == "valid" else
              '<p class="cancelled">已作废 CANCELLED — this certificate is no longer valid.</p>')
    return f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{esc(zh)} {esc(content['number'])}</title>
<style>
body {{ font-family: "Noto Sans CJK SC", "PingFang SC", "Microsoft YaHei", sans-serif;
       max-width: 52rem; margin: 2rem auto; padding: 0 1rem; color: #123; }}
h1 {{ color: #1b6e3a; }} th {{ text-align: left; padding-right: 1rem; vertical-align: top; }}
td, th {{ padding: .25rem 0; }} .hash {{ font-family: monospace; word-break: break-all; }}
.cancelled {{ color: #b00; font-weight: bold; }}
</style></head><body>
<h1>{esc(zh)}<br><small>{esc(en)}</small></h1>
{banner}
<table>
{rows}
</table>
<p>SHA-256: <span class="hash">{esc(sha256)}</span></p>
<p><a href="{esc(url)}">{esc(url)}</a></p>
<div>{qr_svg(url)}</div>
</body></html>
"""


def qr_svg(url: str) -> str:
    from reportlab.graphics import renderSVG

    svg = renderSVG.drawToString(_qr_drawing(url, 120))
    return svg[svg.index("<svg"):]  # without the XML prologue, to sit inside HTML


def _qr_drawing(url: str, size: float) -> Any:
    from reportlab.graphics.barcode.qr import QrCodeWidget
    from reportlab.graphics.shapes import Drawing

    widget = QrCodeWidget(url, barLevel="M")
    x0, y0, x1, y1 = widget.getBounds()
    drawing = Drawing(size, size, transform=[size / (x1 - x0), 0, 0, size / (y1 - y0), 0, 0])
    drawing.add(widget)
    return drawing


def render_pdf(content: dict[str, Any], sha256: str, status: str, url: str) -> bytes:
    from reportlab.graphics import renderPDF
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    font = "STSong-Light"
    if font not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(font))
    zh, en = title(content)
    buffer = io.BytesIO()
    page = canvas.Canvas(buffer, pagesize=A4, invariant=True)
    page.setTitle(f"{zh} {content['number']}")
    width, height = A4
    y = height - 72
    page.setFont(font, 22)
    page.drawString(56, y, zh)
    page.setFont("Helvetica", 14)
    page.drawString(56, y - 22, en)
    y -= 56
    if status != "valid":
        page.setFillColorRGB(0.7, 0, 0)
        page.setFont(font, 14)
        page.drawString(56, y, "已作废 CANCELLED")
        page.setFillColorRGB(0, 0, 0)
        y -= 24
    for label, value in _lines(content):
        page.setFont(font, 9)
        page.drawString(56, y, label)
        page.setFont(font, 10)
        for part in _wrap(value, 60):
            page.drawString(210, y, part)
            y -= 14
        y -= 4
        if y < 150:
            page.showPage()
            y = height - 72
    page.setFont("Courier", 8)
    page.drawString(56, 110, f"SHA-256 {sha256}")
    page.drawString(56, 98, url)
    renderPDF.draw(_qr_drawing(url, 90), page, width - 56 - 90, 40)
    page.showPage()
    page.save()
    return buffer.getvalue()


def _wrap(text: str, width: int) -> list[str]:
    return [text[i:i + width] for i in range(0, len(text), width)] or [""]
