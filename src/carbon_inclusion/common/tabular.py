"""Rows as CSV: one form for every list and table the API also answers in CSV.

* UTF-8, with a byte-order mark first (Excel, which administrators open these in, reads a
  file without one in the machine's legacy code page and shows the Chinese as mojibake;
  Python reads it with ``encoding="utf-8-sig"``), then a header row of field names, then one
  row per item, lines ended CRLF (RFC 4180, as the ``csv`` module writes them).
* A cell is the text the JSON answer shows for the field, unquoted: decimals and integers
  as written, times RFC 3339 as the JSON writes them, null as an empty cell, true/false, and
  a nested list or object as its compact JSON.
* **Formula injection.** A spreadsheet runs a cell that starts with ``=``, ``+``, ``-`` or
  ``@`` (and some, after a tab or carriage return) as a formula, so a nickname like
  ``=HYPERLINK(...)`` would run on the administrator's machine. Every *text* cell starting
  with one of those gets a leading ``'`` (OWASP's advice), which spreadsheets show as text;
  numbers are typed numbers and left alone, so ``-3`` stays a number.

Framework-free: the edge (``web.csv``) streams what this writes.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

import msgspec

BOM = "\ufeff"
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_text(text: str) -> str:
    """``text`` as a cell a spreadsheet shows and never evaluates."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def cell(value: Any) -> str | int | Decimal:
    """One JSON value (as ``msgspec.to_builtins`` gives it, decimals kept) as a CSV cell:
    the text the JSON answer shows, without quotes."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | Decimal):
        return value
    if isinstance(value, str):
        return safe_text(value)
    # A nested list or object: its JSON, which may hold text that starts a formula too.
    return safe_text(msgspec.json.encode(value).decode())


def columns_of(row_type: type[msgspec.Struct]) -> tuple[str, ...]:
    """The header of a table of ``row_type``: its fields, in order, as JSON names them."""
    return tuple(f.encode_name for f in msgspec.structs.fields(row_type))


def lines(columns: Sequence[str], rows: Iterable[msgspec.Struct | dict[str, Any]], *,
          header: bool = True) -> str:
    """CSV text of ``rows`` (structs or dicts keyed by the columns): the header row first
    when ``header``, without the byte-order mark."""
    out = io.StringIO()
    writer = csv.writer(out)
    if header:
        writer.writerow(columns)
    for row in rows:
        # Times, dates and ids as the JSON answer writes them; decimals stay numbers.
        values = msgspec.to_builtins(row, builtin_types=(Decimal,))
        writer.writerow([cell(values.get(c)) for c in columns])
    return out.getvalue()
