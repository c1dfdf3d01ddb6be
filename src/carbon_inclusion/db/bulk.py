"""Set-based writes: one statement for many rows, by passing each column as an array.

``executemany`` runs a statement once per row, which also fires statement-level triggers
once per row; ``INSERT … SELECT * FROM unnest(…)`` is one statement whatever the row count.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import TextClause, text


def unnest_insert_sql(table: str, columns: Sequence[tuple[str, str]], prefix: str = "",
                      tail: str = "") -> str:
    """``INSERT INTO table (a, b) SELECT * FROM unnest(CAST(:a AS t[]), …) tail``.

    ``columns`` are (name, PostgreSQL type) pairs; names and types are code, never input.
    ``prefix`` prefixes the bind names, so several inserts can share one statement.
    """
    names = ", ".join(name for name, _ in columns)
    arrays = ", ".join(f"CAST(:{prefix}{name} AS {kind}[])" for name, kind in columns)
    return f"INSERT INTO {table} ({names}) SELECT * FROM unnest({arrays}) {tail}"  # noqa: S608


def unnest_insert(table: str, columns: Sequence[tuple[str, str]], tail: str = "") -> TextClause:
    return text(unnest_insert_sql(table, columns, tail=tail))


def as_arrays(rows: Iterable[Mapping[str, Any]], columns: Sequence[tuple[str, str]],
              prefix: str = "") -> dict[str, list[Any]]:
    """The bind parameters of ``unnest_insert``: one list per column."""
    rows = list(rows)
    return {prefix + name: [row[name] for row in rows] for name, _ in columns}
