"""The PDF mechanics certificates and monitoring reports share (``common.pdf``)."""

from __future__ import annotations

import io

from pypdf import PdfReader
from reportlab.pdfbase.pdfmetrics import stringWidth

from carbon_inclusion.common import pdf


def test_long_text_wraps_inside_its_column():
    font, _ = pdf.register_fonts()
    text = "兹证明重庆两江绿色会展有限公司已注销 5.000 t CO2e 碳普惠减排量" * 4
    lines = pdf.wrap(text, font, 12, 300)
    assert len(lines) > 1 and "".join(lines).replace(" ", "") == text.replace(" ", "")
    assert all(stringWidth(line, font, 12) <= 300 for line in lines)
    url = "http://127.0.0.1:8203/v1/certificates/0193a0c4-7d2e-7b1a-9c3e-1234567890ab"
    assert pdf.wrap(url, font, 9, 200)[0].endswith("/")  # breaks after a slash


def test_a_long_table_runs_onto_new_pages_with_its_header_and_the_same_bytes_each_time():
    def render() -> bytes:
        buffer = io.BytesIO()
        page = pdf.document(buffer, title="测试 Test", author="重庆碳惠通", subject="Test")
        flow = pdf.Flow(page, top=pdf.A4[1] - 72)
        flow.heading("按日 By day")
        flow.table([pdf.Column("日期 Day", 120), pdf.Column("克 Grams", 120, "right")],
                   [(f"2026-11-{n:02d}", f"{n * 1000:,}") for n in range(1, 200)])
        return pdf.finish(page, buffer)

    first = render()
    assert first == render()  # invariant: a report can be hashed
    reader = PdfReader(io.BytesIO(first))
    assert len(reader.pages) > 2
    for page in reader.pages:  # the header again on every page the table runs onto
        assert "克 Grams" in page.extract_text()
    assert "199,000" in reader.pages[-1].extract_text()
