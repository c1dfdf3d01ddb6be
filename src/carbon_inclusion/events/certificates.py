"""Certificates: content fixed at issue, its SHA-256, and the same content as HTML and PDF.

The content is a JSON object; ``sha256`` is over its canonical form (sorted keys, no
spaces, UTF-8), so anyone holding the JSON can check it. The page and the PDF show it as a
person reads a certificate: tonnes at the programme's rounding (``core.footprint.tonnes``,
0.001 t, half to even), the issue time in the programme's time zone to the second, the
programme's operator as issuer, retired serials as ranges, and a QR code of the
verification URL large enough to scan from print (46 mm on the PDF).

The PDF's mechanics (the embedded CJK font, the A4 page, wrapping, the flow down the page)
are ``common.pdf``'s, shared with batches' monitoring reports.

An event's certificate states its ``basis``: ``estimated`` (预估; neutralised before the
event ended, ``pre-event``) or ``actual`` (the final one, ``post-event``). A final
certificate that trues up an estimate names the one it ``supersedes`` and the ``true_up``:
the shortfall retired with it, or the voluntary surplus the estimate retired beyond the
actual need (retired credits are never returned).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import html
import io
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from carbon_inclusion.common import pdf
from carbon_inclusion.common.canonical import canonical_json
from carbon_inclusion.core import footprint
from carbon_inclusion.core.serials import range_text

SOURCE_NAMES = {"venue_energy": "场馆能源 Venue energy", "travel": "交通出行 Travel",
                "accommodation": "住宿 Accommodation", "catering": "餐饮 Catering",
                "materials": "物料 Materials", "waste": "废弃物 Waste"}
STATUS_NAMES = {"cancelled": ("已作废", "CANCELLED"), "superseded": ("已被取代", "SUPERSEDED")}
GREEN = pdf.GREEN
wrap = pdf.wrap
QR_HTML_PX, QR_PDF_PT = 240, 130  # 130 pt = 46 mm


def digest(content: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(content)).hexdigest()


BASIS_NAMES = {"estimated": "预估 Estimated (before the event; to be trued up)",
               "actual": "实际 Actual (after the event)"}


def event_facts(event: Any) -> dict[str, Any]:
    """What a certificate states of an event and its footprint (``event``: an ``EventOut``
    whose ``footprint`` is the one certified)."""
    fp = event.footprint
    return {"id": str(event.id), "name": event.name, "starts_on": event.starts_on.isoformat(),
            "ends_on": event.ends_on.isoformat(), "venue": event.venue,
            "attendees": event.attendees,
            "footprint_g": str(fp.total_g), "footprint_t": str(fp.total_t),
            "methodology_code": fp.methodology_code,
            "methodology_version": fp.methodology_version,
            "breakdown": [{"source": s.source, "grams": str(s.grams)} for s in fp.breakdown]}


def estimate_purpose(organisation: dict[str, str], event: Any) -> dict[str, Any]:
    """The content of a pre-event certificate, before its number and serials."""
    return {"kind": "event", "organisation": organisation,
            "event": event_facts(event), "basis": "estimated",
            "neutralisation": "pre-event",
            "statement": {"zh": "本证书依据活动结束前的预估排放量签发，活动结束后将依据实际数据"
                                "核定并签发最终证书。",
                          "en": "Issued on the footprint estimated before the event ended; "
                                "the final certificate follows from the actual figures."}}


def final_purpose(organisation: dict[str, str], event: Any, *,
                  true_up: dict[str, Any] | None = None,
                  supersedes: dict[str, str] | None = None) -> dict[str, Any]:
    """The content of a final certificate (actual figures), before its number and serials;
    with ``true_up`` when it settles a pre-event neutralisation, whose certificate it
    ``supersedes``."""
    content: dict[str, Any] = {
        "kind": "event", "organisation": organisation,
        "event": event_facts(event), "basis": "actual",
        "neutralisation": "post-event"}
    if true_up is None:
        return content
    content["true_up"] = true_up
    if supersedes is not None:
        content["supersedes"] = supersedes
    if true_up["voluntary_surplus_t"]:
        n = true_up["voluntary_surplus_t"]
        content["statement"] = {
            "zh": f"实际排放量低于预估。为预估注销的减排量不予撤回，超出实际所需的 {n} 吨为自愿"
                  "额外注销，不可用于其他活动或履约。",
            "en": f"The actual footprint is below the estimate. Credits retired for the "
                  f"estimate stay retired; the {n} t beyond the actual need are a voluntary "
                  "surplus retirement and cannot be claimed for another event or obligation."}
    elif true_up["additionally_retired_t"]:
        n = true_up["additionally_retired_t"]
        content["statement"] = {
            "zh": f"实际排放量高于预估，已补充注销 {n} 吨。",
            "en": f"The actual footprint is above the estimate; {n} t more were retired."}
    return content



def title(content: dict[str, Any]) -> tuple[str, str]:
    if content["kind"] == "event":
        return "碳中和证书", "Carbon Neutrality Certificate"
    return "碳普惠减排量履约抵销证明", "Compliance Offset Certificate"


def tonnes(value: Decimal | str | int) -> str:
    """Tonnes as shown: to 0.001 t, half to even, as ``core.footprint`` rounds them."""
    t = Decimal(value).quantize(footprint.TONNES_QUANTUM, rounding=footprint.TONNES_ROUNDING)
    return f"{t:,.3f} t"


def grams_as_tonnes(grams: Decimal | str) -> str:
    return tonnes(footprint.tonnes(Decimal(grams)))


def local_time(issued_at: str, tz: ZoneInfo) -> str:
    """An RFC 3339 instant as the programme's local time, to the second, with its offset."""
    moment = dt.datetime.fromisoformat(issued_at).astimezone(tz).replace(microsecond=0)
    offset = moment.strftime("%z")
    return f"{moment:%Y-%m-%d %H:%M:%S} (UTC{offset[:3]}:{offset[3:]}, {tz.key})"


@dataclass(frozen=True)
class View:
    """What a certificate shows, shared by the HTML page and the PDF."""

    zh: str
    en: str
    number: str
    statement: tuple[str, str]  # the certification sentence, Chinese and English
    rows: list[tuple[str, str]]  # (label, value)
    serials: list[tuple[str, str]]  # (range, what it is)
    issuer: str
    issued: str
    status: str
    banner: tuple[str, str] | None  # (Chinese, English) when not valid
    url: str
    sha256: str
    replaced_by_url: str | None = None  # a superseded or reissued one's successor


def view(content: dict[str, Any], sha256: str, status: str, url: str, *, tz: ZoneInfo,
         operator: str, replaced_by_url: str | None = None) -> View:
    zh, en = title(content)
    organisation = content["organisation"]["name"]
    retired = content["retired"]
    retired_t = tonnes(retired["quantity_t"])
    rows = [("证书编号 Number", content["number"]), ("机构 Organisation", organisation)]
    if content["kind"] == "event":
        e = content["event"]
        footprint_t = tonnes(e["footprint_t"])
        statement = (
            f"兹证明{organisation}已注销 {retired_t} CO2e 碳普惠减排量，抵消“{e['name']}”"
            f"的温室气体排放 {footprint_t} CO2e，实现碳中和。",
            f"This certifies that {organisation} has retired {retired_t} CO2e of "
            f"carbon-inclusion credits, offsetting the {footprint_t} CO2e footprint of "
            f"“{e['name']}”.")
        rows += [("活动 Event", e["name"]),
                 ("日期 Dates", e["starts_on"] if e["starts_on"] == e["ends_on"]
                  else f"{e['starts_on']} – {e['ends_on']}"),
                 ("地点 Venue", e["venue"]), ("参会人数 Attendees", str(e["attendees"]))]
        if "basis" in content:  # certificates issued before true-ups have none
            rows.append(("核算依据 Basis", BASIS_NAMES.get(content["basis"], content["basis"])))
        rows.append(("排放量 Footprint", f"{footprint_t} CO2e "
                     f"({e['methodology_code']} v{e['methodology_version']})"))
        rows += [(f"　{SOURCE_NAMES.get(s['source'], s['source'])}",
                  f"{grams_as_tonnes(s['grams'])} CO2e") for s in e["breakdown"]]
        if "true_up" in content:
            t = content["true_up"]
            rows += [("预估排放量 Estimated", f"{grams_as_tonnes(t['estimated_g'])} CO2e"),
                     ("实际所需 Needed", f"{tonnes(t['needed_t'])}; retired for the estimate "
                      f"{tonnes(t['retired_for_estimate_t'])}"),
                     ("补充注销 Retired now", tonnes(t["additionally_retired_t"])),
                     ("自愿额外注销 Voluntary surplus", tonnes(t["voluntary_surplus_t"]))]
        if "supersedes" in content:
            rows.append(("取代 Supersedes", content["supersedes"]["number"]))
        if "statement" in content:
            rows.append(("说明 Statement", f"{content['statement']['zh']} "
                         f"{content['statement']['en']}"))
    else:
        c = content["compliance"]
        statement = (
            f"兹证明{organisation}已注销 {retired_t} CO2e 碳普惠减排量，用于 {c['year']} "
            "年度碳排放履约抵销。",
            f"This certifies that {organisation} has retired {retired_t} CO2e of "
            f"carbon-inclusion credits to offset its verified emissions of {c['year']}.")
        rows += [("履约年度 Year", str(c["year"])),
                 ("核查排放量 Verified emissions", f"{tonnes(c['verified_emissions_t'])} CO2e"),
                 ("抵销上限 Cap", f"{tonnes(c['cap_t'])} ({c['cap_share']})")]
        if c.get("verified_by"):  # checked against the register (older ones were stated)
            rows.append(("核查机构 Verified by", f"{c['verified_by']['name']}"
                         f" ({c.get('report_reference') or 'no report reference'}, "
                         f"revision {c['register_revision']})"))
    rows.append(("注销减排量 Retired", f"{retired_t} CO2e"))
    serials = [(range_text(s["first"], s["last"]),
                f"{tonnes(s['quantity'])} · {s['methodology_code']} · vintage "
                f"{s['vintage_from']} – {s['vintage_to']}") for s in retired["serials"]]
    if content.get("replaces"):
        rows.append(("取代 Replaces", content["replaces"]))
    banner = None if status == "valid" else STATUS_NAMES.get(status, (status, status.upper()))
    return View(zh=zh, en=en, number=content["number"], statement=statement, rows=rows,
                serials=serials, issuer=content.get("issuer") or operator,
                issued=local_time(content["issued_at"], tz), status=status, banner=banner,
                url=url, sha256=sha256, replaced_by_url=replaced_by_url)


# --- HTML ---------------------------------------------------------------------------------

_CSS = """
body { font-family: "Noto Sans CJK SC", "Source Han Sans SC", "PingFang SC",
       "Microsoft YaHei", "WenQuanYi Micro Hei", sans-serif; margin: 0; color: #123;
       background: #eef3ef; }
main { max-width: 52rem; margin: 2rem auto; padding: 2rem 2.5rem; background: #fff;
       border: 3px double #1b6e3a; }
h1 { color: #1b6e3a; text-align: center; margin: 0 0 1.5rem; font-size: 2rem; }
h1 small { display: block; font-size: 1rem; color: #456; letter-spacing: .05em; }
.statement { font-size: 1.1rem; line-height: 1.7; }
.statement .en { color: #456; font-size: .95rem; }
table { border-collapse: collapse; width: 100%; margin: 1rem 0; }
th { text-align: left; padding: .3rem 1rem .3rem 0; vertical-align: top; color: #456;
     font-weight: normal; white-space: nowrap; width: 1%; }
td { padding: .3rem 0; }
h2 { font-size: 1rem; color: #1b6e3a; border-bottom: 1px solid #cdd; margin-top: 1.5rem; }
.serial { font-family: monospace; font-size: 1rem; }
.verify { display: flex; gap: 1.5rem; align-items: flex-start; margin-top: 1.5rem;
          border-top: 1px solid #cdd; padding-top: 1rem; }
.verify svg { flex: none; width: 240px; height: 240px; }
.hash, .url { font-family: monospace; word-break: break-all; }
.banner { color: #b00; font-weight: bold; font-size: 1.3rem; text-align: center;
          border: 2px solid #b00; padding: .5rem; }
"""


def render_html(content: dict[str, Any], sha256: str, status: str, url: str, *,
                tz: ZoneInfo, operator: str, replaced_by_url: str | None = None) -> str:
    v = view(content, sha256, status, url, tz=tz, operator=operator,
             replaced_by_url=replaced_by_url)
    esc = html.escape
    rows = "\n".join(f"<tr><th>{esc(k)}</th><td>{esc(x)}</td></tr>" for k, x in v.rows)
    serials = "\n".join(f'<tr><td class="serial">{esc(r)}</td><td>{esc(x)}</td></tr>'
                        for r, x in v.serials)
    successor = ("" if v.replaced_by_url is None else
                 f' → <a href="{esc(v.replaced_by_url)}">{esc(v.replaced_by_url)}</a>')
    banner = ("" if v.banner is None else
              f'<p class="banner">{esc(v.banner[0])} {esc(v.banner[1])} — this certificate '
              f"is no longer valid.{successor}</p>")
    return f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{esc(v.zh)} {esc(v.number)}</title>
<style>{_CSS}</style></head><body><main>
<h1>{esc(v.zh)}<small>{esc(v.en)}</small></h1>
{banner}
<p class="statement">{esc(v.statement[0])}<br><span class="en">{esc(v.statement[1])}</span></p>
<table>
{rows}
</table>
<h2>注销的序列号 Retired serials</h2>
<table>
{serials}
</table>
<table>
<tr><th>签发机构 Issuer</th><td>{esc(v.issuer)}</td></tr>
<tr><th>签发时间 Issued</th><td>{esc(v.issued)}</td></tr>
</table>
<div class="verify">{qr_svg(v.url)}
<div><p>扫码或访问以下地址验证本证书 Scan or open to verify:<br>
<a class="url" href="{esc(v.url)}">{esc(v.url)}</a></p>
<p><a href="{esc(verify_url(v.url))}">在线核验 Check its status</a> ·
<a href="{esc(v.url)}/pdf">PDF</a></p>
<p>SHA-256（证书内容的规范 JSON / canonical JSON of the content）:<br>
<span class="hash">{esc(v.sha256)}</span></p></div></div>
</main></body></html>
"""


def verify_url(url: str) -> str:
    """The public /verify page of the certificate at ``url`` (its status, any successor)."""
    base, _, cert_id = url.rpartition("/v1/certificates/")
    return f"{base}/verify?c={cert_id}"


QUIET = 4  # modules of white around the code, as the standard asks


def qr_modules(url: str) -> list[list[bool]]:
    """The QR code of ``url`` (error correction M), as rows of dark (True) modules."""
    from reportlab.graphics.barcode import qrencoder

    code = qrencoder.QRCode(None, qrencoder.QRErrorCorrectLevel.M)
    code.addData(url)
    code.make()
    return [[bool(m) for m in row] for row in code.modules]


def _runs(modules: list[list[bool]]) -> list[tuple[int, int, int]]:
    """``(row, column, length)`` of each horizontal run of dark modules."""
    out = []
    for r, row in enumerate(modules):
        c = 0
        while c < len(row):
            if row[c]:
                start = c
                while c < len(row) and row[c]:
                    c += 1
                out.append((r, start, c - start))
            else:
                c += 1
    return out


def qr_svg(url: str, size: int = QR_HTML_PX) -> str:
    """The QR code as inline SVG: one path, crisp edges, quiet zone included."""
    modules = qr_modules(url)
    n = len(modules) + 2 * QUIET
    path = "".join(f"M{c + QUIET} {r + QUIET}h{k}v1h-{k}z" for r, c, k in _runs(modules))
    return (f'<svg class="qr" viewBox="0 0 {n} {n}" width="{size}" height="{size}" '
            f'shape-rendering="crispEdges" role="img" aria-label="QR code: {html.escape(url)}">'
            f'<rect width="{n}" height="{n}" fill="#fff"/><path fill="#000" d="{path}"/></svg>')


def draw_qr(page: Any, url: str, x: float, y: float, size: float) -> None:
    """The QR code on a PDF canvas, ``size`` points square at (x, y), quiet zone included."""
    modules = qr_modules(url)
    box = size / (len(modules) + 2 * QUIET)
    page.saveState()
    page.setFillColorRGB(1, 1, 1)
    page.rect(x, y, size, size, stroke=0, fill=1)
    page.setFillColorRGB(0, 0, 0)
    for r, c, k in _runs(modules):
        page.rect(x + (c + QUIET) * box, y + size - (r + QUIET + 1) * box, k * box, box,
                  stroke=0, fill=1)
    page.restoreState()


# --- PDF ----------------------------------------------------------------------------------

def render_pdf(content: dict[str, Any], sha256: str, status: str, url: str, *,
               tz: ZoneInfo, operator: str, replaced_by_url: str | None = None) -> bytes:
    v = view(content, sha256, status, url, tz=tz, operator=operator,
             replaced_by_url=replaced_by_url)
    font, mono = pdf.register_fonts()
    buffer = io.BytesIO()
    page = pdf.document(buffer, title=f"{v.zh} {v.number}", author=v.issuer, subject=v.en)
    width, height = pdf.A4

    def frame() -> None:
        page.setStrokeColorRGB(*GREEN)
        page.setLineWidth(2.5)
        page.rect(28, 28, width - 56, height - 56)
        page.setLineWidth(0.6)
        page.rect(34, 34, width - 68, height - 68)
        page.setStrokeColorRGB(0, 0, 0)
        if v.banner is not None:  # a cancelled certificate says so across every page
            page.saveState()
            page.setFillColorRGB(0.8, 0.1, 0.1, alpha=0.18)
            page.setFont(font, 64)
            page.translate(width / 2, height / 2)
            page.rotate(35)
            page.drawCentredString(0, 0, f"{v.banner[0]} {v.banner[1]}")
            page.restoreState()

    flow = pdf.Flow(page, top=height - 96, on_new_page=frame)
    left, right = flow.left, flow.right
    frame()
    y = flow.y
    page.setFillColorRGB(*GREEN)
    page.setFont(font, 28)
    page.drawCentredString(width / 2, y, v.zh)
    page.setFont(font, 14)
    page.drawCentredString(width / 2, y - 24, v.en)
    page.setFillColorRGB(0, 0, 0)
    page.setFont(font, 10)
    page.drawCentredString(width / 2, y - 44, f"证书编号 No. {v.number}")
    y -= 72
    if v.banner is not None:
        page.setFillColorRGB(0.7, 0, 0)
        page.setFont(font, 14)
        page.drawCentredString(width / 2, y, f"{v.banner[0]} {v.banner[1]} — "
                               "this certificate is no longer valid")
        if v.replaced_by_url is not None:
            page.setFont(mono, 8)
            page.drawCentredString(width / 2, y - 14, f"→ {v.replaced_by_url}")
            y -= 14
        page.setFillColorRGB(0, 0, 0)
        y -= 26
    flow.y = y
    for text, size, grey in ((v.statement[0], 12.5, 0.0), (v.statement[1], 10, 0.3)):
        flow.paragraph(text, size, grey)
        flow.space(6)
    flow.space(6)
    flow.rows(v.rows, value_size=10.5)
    flow.heading("注销的序列号 Retired serials")
    for serial, what in v.serials:
        flow.room(32)
        page.setFont(mono, 10.5)
        page.drawString(left, flow.y, serial)
        page.setFont(font, 9)
        page.setFillColorRGB(*pdf.LABEL_GREY)
        page.drawString(left + 12, flow.y - 13, what)
        page.setFillColorRGB(0, 0, 0)
        flow.space(32)
    # Issue and verification: who issued it and when, the URL and the hash on the left,
    # the QR code on the right; at the foot of the page.
    qr_x, qr_y = right - QR_PDF_PT, 64.0
    flow.room(0, bottom=qr_y + QR_PDF_PT + 44)
    flow.y = qr_y + QR_PDF_PT + 30
    flow.heading("签发与验证 Issue and verification")
    text_w = qr_x - left - 12
    ty = qr_y + QR_PDF_PT - 16
    for label, value in (("签发机构 Issuer", v.issuer), ("签发时间 Issued", v.issued)):
        page.setFillColorRGB(*pdf.LABEL_GREY)
        page.setFont(font, 8.5)
        page.drawString(left, ty, label)
        page.setFillColorRGB(0, 0, 0)
        page.setFont(font, 10)
        for line in wrap(value, font, 10, text_w - 80):
            page.drawString(left + 80, ty, line)
            ty -= 13
        ty -= 2
    for label, value in (("扫码或访问以下地址验证本证书 Scan or open to verify:", v.url),
                         ("SHA-256（证书内容的规范 JSON / canonical JSON of the content）",
                          v.sha256)):
        ty -= 6
        page.setFont(font, 9)
        page.drawString(left, ty, label)
        ty -= 12
        page.setFont(mono, 8)
        for line in wrap(value, mono, 8, text_w):
            page.drawString(left, ty, line)
            ty -= 10
    draw_qr(page, v.url, qr_x, qr_y, QR_PDF_PT)
    page.linkURL(v.url, (qr_x, qr_y, qr_x + QR_PDF_PT, qr_y + QR_PDF_PT), relative=0)
    return pdf.finish(page, buffer)


