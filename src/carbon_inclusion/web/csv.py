"""CSV answers of lists and tables: ``Accept: text/csv``, or the same path with ``.csv``.

A route that answers CSV too is declared on both paths (``csv_paths``) with
``operation_id=csv_operation(...)`` (the ``.csv`` path's operation is ``…Csv``) and
``opt=CSV``, which ``web.openapi.complete_document`` reads to document the ``text/csv``
answer; its handler returns ``page_or_csv`` (a paged list) or ``table_or_csv`` (a table of
rows). The CSV itself is ``common.tabular``'s: UTF-8 with a byte-order mark, a header row,
formula-like text cells escaped.

**A paged list's CSV is the whole list**: every item that matches the filters, from
``cursor`` on when one is given, newest first as in JSON, streamed page by page (``limit``
is the size of the pages it is read in), so an export needs no loop on the client's side and
no page is held in memory for long. Bad parameters are refused before the first byte (the
first page is read before the answer starts), so they are still a problem+json 422.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, Protocol

import msgspec
from litestar import Request, Response
from litestar.enums import MediaType
from litestar.response import Stream

from carbon_inclusion.common.tabular import BOM, columns_of, lines

CSV_TYPE = "text/csv"
CSV_MEDIA = "text/csv; charset=utf-8"
SUFFIX = ".csv"
CSV = {"csv": True}  # a route's opt: it answers CSV too
VARY = {"Vary": "Accept"}
# What a CSV route's description says of its CSV answer.
CSV_NOTE = (" Also as CSV: `Accept: text/csv`, or the same path with `.csv`: the whole list "
            "from `cursor` on, streamed (`limit` is the size of the pages it is read in).")
TABLE_NOTE = " Also as CSV (its rows): `Accept: text/csv`, or the same path with `.csv`."


class Page(Protocol):
    @property
    def items(self) -> Sequence[Any]: ...

    @property
    def next_cursor(self) -> str | None: ...


def csv_paths(path: str) -> list[str]:
    """A route's path and its ``.csv`` twin."""
    return [path, path + SUFFIX]


def csv_operation(operation_id: str) -> Callable[..., str]:
    """The operation id of the JSON path, and ``…Csv`` for the ``.csv`` one."""

    def create(handler: Any, method: Any, components: list[Any]) -> str:
        last = components[-1] if components else ""
        return operation_id + "Csv" if str(last).endswith(SUFFIX) else operation_id

    return create


def wants_csv(request: Request[Any, Any, Any]) -> bool:
    return request.url.path.endswith(SUFFIX) or request.accept.best_match(
        [MediaType.JSON, CSV_TYPE]) == CSV_TYPE


def _headers(name: str) -> dict[str, str]:
    return {**VARY, "Content-Disposition": f'attachment; filename="{name}.csv"'}


async def page_or_csv(request: Request[Any, Any, Any],
                      fetch: Callable[[str | None], Awaitable[Page]], cursor: str | None,
                      row_type: type[msgspec.Struct], name: str) -> Response[Any]:
    """The page at ``cursor`` as JSON; or, asked for CSV, every page from it on."""
    first = await fetch(cursor)
    if not wants_csv(request):
        return Response(first, headers=VARY)
    columns = columns_of(row_type)

    async def rows() -> AsyncIterator[str]:
        yield BOM + lines(columns, first.items)
        page = first
        while page.next_cursor is not None:
            page = await fetch(page.next_cursor)
            yield lines(columns, page.items, header=False)

    return Stream(rows(), media_type=CSV_MEDIA, headers=_headers(name))


def table_or_csv(request: Request[Any, Any, Any], body: msgspec.Struct,
                 rows: Sequence[msgspec.Struct], row_type: type[msgspec.Struct],
                 name: str) -> Response[Any]:
    """``body`` as JSON; or, asked for CSV, its ``rows``."""
    if not wants_csv(request):
        return Response(body, headers=VARY)
    return Response(BOM + lines(columns_of(row_type), rows), media_type=CSV_MEDIA,
                    headers=_headers(name))
