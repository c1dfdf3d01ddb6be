"""Distribution readiness for Citus, read from the migrated schema (pg_catalog).

Fails when a table is not classified in ``db/distribution.py``, when a distributed table
has a unique key or an index without its distribution column, or when a foreign key would
cross shards (two distributed tables not joined on their distribution columns, or a
reference or local table pointing at a distributed one) — unless the classification lists
it as an exception with its reason. A second test proves the check catches each fault.
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from carbon_inclusion.db import distribution as d


@dataclass
class Classification:
    distributed: dict[str, d.Distributed]
    reference: dict[str, str]
    local: dict[str, str]
    exceptions: dict[tuple[str, str], str]

    def kind(self, table: str) -> str | None:
        return ("distributed" if table in self.distributed else "reference"
                if table in self.reference else "local" if table in self.local else None)


_TABLES = text("""
    SELECT c.relname FROM pg_class c
     WHERE c.relnamespace = CAST(:s AS regnamespace) AND c.relkind IN ('r', 'p')
       AND NOT c.relispartition ORDER BY 1""")
_COLUMNS = text("""
    SELECT c.relname AS tbl, a.attname AS col, a.attnotnull AS not_null FROM pg_attribute a
      JOIN pg_class c ON c.oid = a.attrelid
     WHERE c.relnamespace = CAST(:s AS regnamespace) AND c.relkind IN ('r', 'p')
       AND a.attnum > 0 AND NOT a.attisdropped""")
# Indexes of the tables themselves (not the partitions' copies), with their key columns.
_INDEXES = text("""
    SELECT t.relname AS tbl, i.relname AS name, x.indisunique AS uniq,
           array(SELECT a.attname FROM unnest(x.indkey) k JOIN pg_attribute a
                  ON a.attrelid = t.oid AND a.attnum = k) AS cols
      FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
      JOIN pg_class t ON t.oid = x.indrelid
     WHERE t.relnamespace = CAST(:s AS regnamespace) AND NOT t.relispartition""")
_FOREIGN_KEYS = text("""
    SELECT f.conname AS name, s.relname AS src, r.relname AS dst,
           array(SELECT a.attname FROM unnest(f.conkey) WITH ORDINALITY k(n, o)
                  JOIN pg_attribute a ON a.attrelid = f.conrelid AND a.attnum = k.n
                 ORDER BY k.o) AS src_cols,
           array(SELECT a.attname FROM unnest(f.confkey) WITH ORDINALITY k(n, o)
                  JOIN pg_attribute a ON a.attrelid = f.confrelid AND a.attnum = k.n
                 ORDER BY k.o) AS dst_cols
      FROM pg_constraint f JOIN pg_class s ON s.oid = f.conrelid
      JOIN pg_class r ON r.oid = f.confrelid
     WHERE f.contype = 'f' AND f.connamespace = CAST(:s AS regnamespace)
       AND f.conparentid = 0 AND NOT s.relispartition""")


async def problems(url: str, schema: str, c: Classification) -> list[str]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            p = {"s": schema}
            tables = list((await conn.execute(_TABLES, p)).scalars())
            columns = {(r.tbl, r.col): r.not_null for r in await conn.execute(_COLUMNS, p)}
            indexes = (await conn.execute(_INDEXES, p)).all()
            fks = (await conn.execute(_FOREIGN_KEYS, p)).all()
    finally:
        await engine.dispose()
    out: list[str] = []
    named = {*c.distributed, *c.reference, *c.local}
    out += [f"{t}: not classified (db/distribution.py)" for t in tables if t not in named]
    out += [f"{t}: classified but no such table" for t in sorted(named - set(tables))]
    seen: set[tuple[str, str]] = set()
    for t, spec in c.distributed.items():
        if t in tables and not columns.get((t, spec.column)):
            out.append(f"{t}: distribution column {spec.column} missing or nullable")
        for name in spec.fan_out:
            seen.add((t, name))
    for ix in indexes:
        spec = c.distributed.get(ix.tbl)
        if spec is None or spec.column in ix.cols:
            continue
        if (ix.tbl, ix.name) in c.exceptions:
            seen.add((ix.tbl, ix.name))
        elif (not ix.uniq and spec.alias in ix.cols) or (not ix.uniq and ix.name in spec.fan_out):
            continue
        else:
            what = "unique key" if ix.uniq else "index"
            out.append(f"{ix.tbl}: {what} {ix.name} {tuple(ix.cols)} lacks {spec.column}")
    for fk in fks:
        src, dst = c.kind(fk.src), c.kind(fk.dst)
        fault = None
        if src == "distributed" and dst == "distributed":
            a, b = c.distributed[fk.src], c.distributed[fk.dst]
            pairs = set(zip(fk.src_cols, fk.dst_cols, strict=True))
            if a.group != b.group or (a.column, b.column) not in pairs:
                fault = "joins two distributed tables off their distribution columns"
        elif dst == "distributed":
            fault = f"points from a {src} table at a distributed one"
        elif src == "distributed" and dst == "local":
            fault = "points from a distributed table at a local one"
        elif src == "reference" and dst == "local":
            fault = "points from a reference table at a local one"
        if fault is None:
            continue
        if (fk.src, fk.name) in c.exceptions:
            seen.add((fk.src, fk.name))
        else:
            out.append(f"{fk.src}: foreign key {fk.name} → {fk.dst} {fault}")
    stale = set(c.exceptions) - seen
    out += [f"{t}: exception {name} no longer needed (or gone)" for t, name in sorted(stale)]
    return out


def test_every_table_is_classified_and_nothing_crosses_shards(storage):
    found = asyncio.run(problems(storage.database_url, "public", Classification(
        d.DISTRIBUTED, d.REFERENCE, d.LOCAL, d.EXCEPTIONS)))
    assert found == [], "\n".join(found)


def test_the_check_finds_each_kind_of_fault(storage):
    schema = "probe_" + secrets.token_hex(4)

    async def make() -> None:
        engine = create_async_engine(storage.database_url)
        try:
            async with engine.begin() as conn:
                for sql in (
                    f"CREATE SCHEMA {schema}",
                    f"CREATE TABLE {schema}.people (id uuid PRIMARY KEY, phone text UNIQUE)",
                    f"CREATE TABLE {schema}.trips (id uuid PRIMARY KEY, citizen_id uuid NOT "
                    f"NULL REFERENCES {schema}.people, at timestamptz)",
                    f"CREATE INDEX trips_at ON {schema}.trips (at)",
                    f"CREATE TABLE {schema}.notes (trip uuid REFERENCES {schema}.trips)",
                    f"CREATE TABLE {schema}.kinds (code text PRIMARY KEY)",
                    f"CREATE TABLE {schema}.stray (x int)",
                ):
                    await conn.execute(text(sql))
        finally:
            await engine.dispose()

    async def drop() -> None:
        engine = create_async_engine(storage.database_url)
        try:
            async with engine.begin() as conn:
                await conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        finally:
            await engine.dispose()

    asyncio.run(make())
    try:
        found = asyncio.run(problems(storage.database_url, schema, Classification(
            {"people": d.Distributed("id"), "trips": d.Distributed("citizen_id")},
            {"notes": "x"}, {"gone": "x"}, {("people", "nowhere"): "x"})))
    finally:
        asyncio.run(drop())
    assert sorted(found) == sorted([
        "kinds: not classified (db/distribution.py)",
        "stray: not classified (db/distribution.py)",
        "gone: classified but no such table",
        "people: unique key people_phone_key ('phone',) lacks id",
        "trips: unique key trips_pkey ('id',) lacks citizen_id",
        "trips: index trips_at ('at',) lacks citizen_id",
        "notes: foreign key notes_trip_fkey → trips points from a reference table at a "
        "distributed one",
        "people: exception nowhere no longer needed (or gone)",
    ])
