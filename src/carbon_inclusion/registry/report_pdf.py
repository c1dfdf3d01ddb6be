"""A batch's monitoring report as a PDF: the same content as its JSON, as a person reads it
(grams with thousands separators and in tonnes at the programme's rounding, times in the
programme's time zone), on A4 pages with ``common.pdf``'s embedded CJK font."""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal
from zoneinfo import ZoneInfo

from carbon_inclusion.common import pdf
from carbon_inclusion.core import footprint
from carbon_inclusion.core.serials import range_text
from carbon_inclusion.registry.schemas import ReportOut, ShareOut

STATUS = {"proposed": "已提交 Proposed (awaiting verification)",
          "verified": "已核证 Verified (not yet issued)",
          "returned": "已退回 Returned with findings", "issued": "已签发 Issued"}
SHARE_COLUMNS = (pdf.Column("", 200), pdf.Column("行为数 Behaviours", 100, "right"),
                 pdf.Column("克 Grams CO2e", 110, "right"), pdf.Column("吨 t", 57, "right"))


def grams(value: Decimal) -> str:
    return f"{value:,.3f}".rstrip("0").rstrip(".")


def tonnes(value: Decimal) -> str:
    t = footprint.tonnes(value).quantize(footprint.TONNES_QUANTUM,
                                         rounding=footprint.TONNES_ROUNDING)
    return f"{t:,.3f}"


def when(moment: dt.datetime | None, tz: ZoneInfo) -> str:
    if moment is None:
        return "—"
    return f"{moment.astimezone(tz):%Y-%m-%d %H:%M:%S %z}"


def render(report: ReportOut, *, tz: ZoneInfo, operator: str) -> bytes:
    r = report
    buffer = io.BytesIO()
    zh, en = "碳普惠减排量监测报告", "Monitoring report"
    page = pdf.document(buffer, title=f"{zh} {r.methodology_code} {r.vintage_from}–"
                        f"{r.vintage_to}", author=operator, subject=f"{en} {r.batch_id}")
    width, height = pdf.A4
    font, _ = pdf.register_fonts()

    def foot() -> None:
        page.setFont(font, 7.5)
        page.setFillColorRGB(*pdf.LABEL_GREY)
        page.drawString(64, 40, f"{zh} {en} · {r.methodology_code} · batch {r.batch_id}")
        page.drawRightString(width - 64, 40, f"{page.getPageNumber()}")
        page.setFillColorRGB(0, 0, 0)

    flow = pdf.Flow(page, top=height - 80, on_new_page=foot)
    foot()
    page.setFillColorRGB(*pdf.GREEN)
    page.setFont(font, 22)
    page.drawCentredString(width / 2, flow.y, zh)
    page.setFont(font, 12)
    page.drawCentredString(width / 2, flow.y - 20, f"{en} · {r.methodology_code} · vintage "
                           f"{r.vintage_from} – {r.vintage_to}")
    page.setFillColorRGB(0, 0, 0)
    flow.space(50)

    v = r.verification
    rows = [("批次 Batch", str(r.batch_id)), ("状态 Status", STATUS.get(r.status, r.status)),
            ("方法学 Methodology", f"{r.methodology_code} v"
             + ", v".join(str(m.version) for m in r.methodologies)),
            ("减排量 Quantity", f"{r.quantity:,} t CO2e (credits)"),
            ("序列号 Serials", range_text(r.serials.first, r.serials.last)
             if r.serials else "— (numbered when issued)"),
            ("行为数 Behaviours", f"{r.behaviours:,}"),
            ("分配克数 Allocated", f"{grams(r.allocated_g)} g ({tonnes(r.allocated_g)} t)"),
            ("结转 Carry", f"in {grams(r.carry.carry_in_g)} g from "
             f"{r.carry.previous_batch_id or 'no earlier batch'}; out "
             f"{grams(r.carry.carry_out_g)} g to the methodology's next batch"),
            ("提交 Proposed", when(v.proposed_at, tz))]
    if v.verified_at:
        rows.append(("核证 Verified", f"{when(v.verified_at, tz)} · {v.verification_body}"))
    if v.statement:
        rows.append(("核证意见 Statement", v.statement))
    if v.returned_at:
        rows.append(("退回 Returned", f"{when(v.returned_at, tz)} · {v.verification_body}"))
        rows += [("　发现 Finding", f) for f in v.findings]
    if v.issued_at:
        rows.append(("签发 Issued", f"{when(v.issued_at, tz)} · {operator}"))
    flow.rows(rows, value_size=9.5)

    for m in r.methodologies:
        flow.heading(f"方法学 Methodology {m.code} v{m.version} — {m.title_zh} {m.title_en}")
        flow.rows([
            ("文件 Document", m.document_url), ("SHA-256", m.sha256),
            ("适用期 In force", f"{when(m.in_force_from, tz)} – {when(m.in_force_to, tz)}"),
            ("行为 Behaviour", m.behaviour),
            *((f"步骤 Step {s['name']}", s["formula"]) for s in m.steps),
            ("公式 reduction_g", f"{m.formula} (rounded to {m.rounding})"),
            ("证据 Evidence", "; ".join(f"{k}: ×{t.get('factor')}"
                                        + (", reviewed" if t.get("review") else "")
                                        for k, t in m.evidence.items())),
            ("每日上限 Daily limits", ", ".join(f"{k} {x}" for k, x in
                                                (m.daily_limits or {}).items()) or "none"),
            ("异常值 Outliers above", f"percentile {m.plausibility_percentile}"),
            ("本批 In this batch", f"{m.behaviours:,} behaviours, {grams(m.grams)} g")],
            value_size=9, label_width=120, leading=12.5)
        flow.table([pdf.Column("参数 Parameter", 95, mono=True), pdf.Column("值 Value", 95),
                    pdf.Column("单位 Unit", 70), pdf.Column("来源 Source", 207)],
                   [(p.name, p.value if isinstance(p.value, str)
                     else ", ".join(f"{k} {x}" for k, x in p.value.items()), p.unit,
                     p.source + (f" — {p.note}" if p.note else "")) for p in m.params],
                   size=7.5, leading=9.5)

    def shares(title: str, items: list[ShareOut]) -> None:
        flow.heading(title)
        flow.table(SHARE_COLUMNS, [(s.key, f"{s.behaviours:,}", grams(s.grams),
                                    tonnes(s.grams)) for s in items] or [("—", "0", "0", "0")])

    shares("按证据 By evidence", r.by_evidence)
    shares("按行为类型 By behaviour type", r.by_type)
    shares("按区县 By district", r.by_district)
    shares("按项目日 By programme day", r.by_day)
    flow.heading("数据提供方 Partners that supplied the data")
    flow.table((pdf.Column("合作方 Partner", 200), *SHARE_COLUMNS[1:]),
               [(f"{p.name} ({p.partner_id})", f"{p.behaviours:,}", grams(p.grams),
                 tonnes(p.grams)) for p in r.partners] or [("—", "0", "0", "0")])

    flow.heading("异常值 Outliers")
    flow.paragraph(r.outliers.definition, 8.5, 0.25)
    for g in r.outliers.groups:
        flow.space(4)
        flow.paragraph(f"v{g.methodology_version}: above percentile {g.percentile} = "
                       f"{grams(g.threshold_g)} g — {g.behaviours:,} behaviours, "
                       f"{grams(g.grams)} g", 9.5)
        if g.largest:
            flow.table([pdf.Column("行 Line", 45, "right"), pdf.Column("公民 Citizen", 95,
                                                                      mono=True),
                        pdf.Column("日 Day", 65), pdf.Column("区县 District", 70),
                        pdf.Column("克 Grams", 70, "right"), pdf.Column("输入 Inputs", 122)],
                       [(str(i.line), i.citizen, i.programme_day.isoformat(),
                         i.district_code, grams(i.grams),
                         ", ".join(f"{k} {x}" for k, x in i.inputs.items()))
                        for i in g.largest], size=7.5, leading=9.5)

    flow.heading("未纳入 Left out")
    flow.paragraph(r.excluded.definition, 8.5, 0.25)
    flow.rows([("审核后驳回 Rejected on review",
                f"{r.excluded.rejected_on_review.behaviours:,} behaviours, "
                f"{grams(r.excluded.rejected_on_review.grams)} g computed"),
               ("未审核的自报 Unreviewed self-reports",
                f"{r.excluded.unreviewed_self_reports.behaviours:,} behaviours, "
                f"{grams(r.excluded.unreviewed_self_reports.grams)} g credited (points only)")],
              value_size=9.5, label_width=170)
    flow.heading("逐条行为 Every behaviour")
    flow.paragraph("每条行为（假名化，无个人信息）见 Each behaviour, pseudonymous: "
                   f"{r.behaviours_url} (JSON, or CSV at {r.behaviours_url}.csv)", 8.5)
    return pdf.finish(page, buffer)
