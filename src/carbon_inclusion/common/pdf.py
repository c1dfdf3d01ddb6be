"""PDF mechanics shared by certificates and monitoring reports (no framework, no domain).

Every string is set in WenQuanYi Micro Hei (文泉驿微米黑, Apache-2.0), a TrueType font shipped
by the ``paperang-p2-fonts-cjk`` wheel — the same file as Debian's fonts-wqy-microhei —
never one looked up on the machine: each PDF embeds the subset of the glyphs it uses
(``FontFile2``), so it renders the same on any viewer, with or without Chinese fonts, and
its text stays extractable.

``document`` opens an A4 canvas (reportlab, ``invariant``: the same content gives the same
bytes); ``Flow`` writes down a page from the top — paragraphs, label/value rows, headings,
tables — and starts a new page (calling ``on_new_page``, e.g. to draw a frame) when the next
piece would not fit; ``wrap`` breaks a string into lines of a width.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from typing import Any

FONT, MONO = "WenQuanYiMicroHei", "WenQuanYiMicroHeiMono"
FONT_FILE = ("paperang_p2_fonts_cjk", "fonts/wqy-microhei.ttc")  # subfonts: 0 sans, 1 mono
GREEN = (0.106, 0.431, 0.227)  # #1b6e3a, the programme's colour
LABEL_GREY = (0.3, 0.35, 0.4)
A4 = (595.2755905511812, 841.8897637795277)  # points, as reportlab.lib.pagesizes.A4


@cache
def register_fonts() -> tuple[str, str]:
    """Register the shipped CJK font (sans and mono) with reportlab, once per process."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    package, name = FONT_FILE
    path = str(files(package).joinpath(name))
    pdfmetrics.registerFont(TTFont(FONT, path, subfontIndex=0))
    pdfmetrics.registerFont(TTFont(MONO, path, subfontIndex=1))
    return FONT, MONO


def document(buffer: io.BytesIO, *, title: str, author: str, subject: str) -> Any:
    """An A4 reportlab canvas writing to ``buffer``, with the fonts registered and the
    document's metadata set."""
    from reportlab.pdfgen import canvas

    font, _ = register_fonts()
    page = canvas.Canvas(buffer, pagesize=A4, invariant=True, initialFontName=font)
    page.setTitle(title)
    page.setAuthor(author)
    page.setSubject(subject)
    return page


def wrap(text: str, font: str, size: float, width: float) -> list[str]:
    """``text`` in lines no wider than ``width`` points: Latin text breaks at a space when
    there is one in the line, Chinese (and anything without spaces) between characters."""
    from reportlab.pdfbase.pdfmetrics import stringWidth

    lines: list[str] = []
    rest = text
    while rest:
        if stringWidth(rest, font, size) <= width:
            lines.append(rest)
            break
        cut = 1
        while cut < len(rest) and stringWidth(rest[:cut + 1], font, size) <= width:
            cut += 1
        # after the last space or slash in the line's second half
        space = max(rest.rfind(" ", 0, cut + 1), rest.rfind("/", 0, cut) + 1)
        if space > cut // 2 and not _is_cjk(rest[cut - 1]):
            cut = space
        lines.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip(" ")
    return lines or [""]


def _is_cjk(char: str) -> bool:
    return "\u2e80" <= char <= "\u9fff" or "\uff00" <= char <= "\uffef"


@dataclass(frozen=True)
class Column:
    """A column of ``Flow.table``: its header, width in points and alignment."""

    header: str
    width: float
    align: str = "left"  # or "right"
    mono: bool = False


class Flow:
    """Writes down the page from ``top``, between ``left`` and ``right``; a piece that would
    go below ``bottom`` starts a new page (``on_new_page`` draws what every page has), where
    writing goes on from ``restart``."""

    def __init__(self, page: Any, *, top: float, left: float = 64.0,
                 right: float = A4[0] - 64.0, bottom: float = 72.0, restart: float | None = None,
                 on_new_page: Callable[[], None] | None = None) -> None:
        self.page = page
        self.font, self.mono = register_fonts()
        self.y = top
        self.left, self.right, self.bottom = left, right, bottom
        self.restart = A4[1] - 72 if restart is None else restart
        self.on_new_page = on_new_page

    @property
    def width(self) -> float:
        return self.right - self.left

    def room(self, needed: float, bottom: float | None = None) -> None:
        """A new page unless ``needed`` points fit above ``bottom`` (the flow's own)."""
        if self.y - needed < (self.bottom if bottom is None else bottom):
            self.page.showPage()
            if self.on_new_page is not None:
                self.on_new_page()
            self.y = self.restart

    def paragraph(self, text: str, size: float = 10.0, grey: float = 0.0, *,
                  mono: bool = False, leading: float = 1.55) -> None:
        font = self.mono if mono else self.font
        page = self.page
        page.setFillColorRGB(grey, grey, grey)
        for line in wrap(text, font, size, self.width):
            self.room(size * leading)
            page.setFont(font, size)
            page.drawString(self.left, self.y, line)
            self.y -= size * leading
        page.setFillColorRGB(0, 0, 0)

    def heading(self, text: str, size: float = 11.0) -> None:
        """A green heading (wrapped) with a rule under it; never alone at the foot of a
        page."""
        page = self.page
        lines = wrap(text, self.font, size, self.width)
        self.room(40 + (len(lines) - 1) * size * 1.3)
        self.y -= 6
        page.setFillColorRGB(*GREEN)
        page.setFont(self.font, size)
        for i, line in enumerate(lines):
            if i:
                self.y -= size * 1.3
            page.drawString(self.left, self.y, line)
        page.setStrokeColorRGB(*GREEN)
        page.setLineWidth(0.5)
        page.line(self.left, self.y - 4, self.right, self.y - 4)
        page.setFillColorRGB(0, 0, 0)
        page.setStrokeColorRGB(0, 0, 0)
        self.y -= 20

    def rows(self, rows: Sequence[tuple[str, str]], *, label_width: float = 150,
             value_size: float = 10.5, mono: bool = False, leading: float = 14) -> None:
        """Label/value rows: the label grey on the left, the value wrapped beside it."""
        page = self.page
        value_font = self.mono if mono else self.font
        for label, value in rows:
            lines = wrap(value, value_font, value_size, self.width - label_width)
            self.room(leading * len(lines) + 4)
            page.setFillColorRGB(*LABEL_GREY)
            page.setFont(self.font, 9.5)
            page.drawString(self.left, self.y, label)
            page.setFillColorRGB(0, 0, 0)
            page.setFont(value_font, value_size)
            for line in lines:
                page.drawString(self.left + label_width, self.y, line)
                self.y -= leading
            self.y -= 4

    def table(self, columns: Sequence[Column], rows: Sequence[Sequence[str]], *,
              size: float = 8.5, leading: float = 11.5) -> None:
        """A table with a header row, repeated at the top of each page it runs onto; a
        cell wraps within its column."""
        page = self.page

        def header() -> None:
            self.room(leading * 2 + 4)
            page.setFillColorRGB(*LABEL_GREY)
            page.setFont(self.font, size)
            x = self.left
            for c in columns:
                self._cell(c, c.header, x, self.font, size)
                x += c.width
            page.setStrokeColorRGB(0.8, 0.84, 0.84)
            page.setLineWidth(0.4)
            page.line(self.left, self.y - 3, self.left + sum(c.width for c in columns),
                      self.y - 3)
            page.setStrokeColorRGB(0, 0, 0)
            page.setFillColorRGB(0, 0, 0)
            self.y -= leading + 2

        header()
        for row in rows:
            cells = [wrap(value, self.mono if c.mono else self.font, size, c.width - 6)
                     for c, value in zip(columns, row, strict=True)]
            height = leading * max(len(lines) for lines in cells)
            if self.y - height < self.bottom:
                self.room(height)
                header()
            x = self.left
            for c, lines in zip(columns, cells, strict=True):
                font = self.mono if c.mono else self.font
                page.setFont(font, size)
                for i, line in enumerate(lines):
                    self._cell(c, line, x, font, size, self.y - i * leading)
                x += c.width
            self.y -= height
        self.y -= 6

    def _cell(self, column: Column, text: str, x: float, font: str, size: float,
              y: float | None = None) -> None:
        y = self.y if y is None else y
        if column.align == "right":
            self.page.drawRightString(x + column.width - 6, y, text)
        else:
            self.page.drawString(x, y, text)

    def space(self, points: float) -> None:
        self.y -= points


def finish(page: Any, buffer: io.BytesIO) -> bytes:
    """Close the last page and the document; its bytes."""
    page.showPage()
    page.save()
    return buffer.getvalue()
