"""CSV cells and rows (common/tabular.py): pure, table-driven."""

from __future__ import annotations

import csv
import datetime as dt
import io
import uuid
from decimal import Decimal

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from carbon_inclusion.common.tabular import cell, columns_of, lines, safe_text


@pytest.mark.parametrize(("value", "shown"), [
    (None, ""), (True, "true"), (False, "false"), (0, 0), (-3, -3),
    (Decimal("-0.500"), Decimal("-0.500")),  # a number, never escaped
    ("plain", "plain"), ("绿色出行者", "绿色出行者"),
    ("=1+2", "'=1+2"), ("+86 138", "'+86 138"), ("-5", "'-5"), ("@SUM(A1)", "'@SUM(A1)"),
    ("\tcmd", "'\tcmd"), ("\rcmd", "'\rcmd"), ("a=b", "a=b"), ("", ""),
    ([{"first": "A", "quantity": 1}], '[{"first":"A","quantity":1}]'),
    (["=cmd"], '["=cmd"]'), ({"x": "y"}, '{"x":"y"}'),
])
def test_a_cell_is_the_json_text_with_formulas_defused(value, shown):
    assert cell(value) == shown


class Row(msgspec.Struct):
    id: uuid.UUID
    at: dt.datetime
    grams: Decimal
    name: str
    note: str | None
    tags: list[str]
    renamed: int = msgspec.field(name="count")


def test_rows_read_back_as_the_json_shows_them():
    at = dt.datetime(2026, 11, 23, 8, 0, tzinfo=dt.UTC)
    row = Row(uuid.UUID(int=7), at, Decimal("159180.0"), '=HYPERLINK("x")', None,
              ["a", "b"], 3)
    text = lines(columns_of(Row), [row])
    parsed = list(csv.reader(io.StringIO(text, newline="")))
    json_row = msgspec.json.decode(msgspec.json.encode(row))
    assert parsed[0] == ["id", "at", "grams", "name", "note", "tags", "count"]
    assert parsed[1] == [json_row["id"], json_row["at"], "159180.0", '\'=HYPERLINK("x")', "",
                         '["a","b"]', "3"]
    assert lines(columns_of(Row), [row], header=False) == text.split("\r\n", 1)[1]


@given(st.text())
def test_no_text_cell_starts_a_formula(text):
    shown = safe_text(text)
    assert not shown.startswith(("=", "+", "-", "@", "\t", "\r"))
    assert shown.removeprefix("'") == text or shown == text
