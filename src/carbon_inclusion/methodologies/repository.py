"""Every statement on ``methodology_versions``. Other domains call these functions.

ORM (session) statements for the lifecycle; Core on the caller's connection for what the
hot paths read (the versions that may score a claim come back in the claim's first
statement). Which version is in force at an instant is decided in one place, ``in_force``.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, or_, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from carbon_inclusion.methodologies.models import FOOTPRINT_BEHAVIOUR, MethodologyVersion

PUBLIC_STATUSES = ("published", "retired")


@dataclass(frozen=True, slots=True)
class Version:
    """A published (or retired) methodology version's identity and period in force."""

    id: uuid.UUID
    code: str
    version: int
    sha256: str
    in_force_from: dt.datetime
    in_force_to: dt.datetime | None
    behaviour: str

    def in_force(self, at: dt.datetime) -> bool:
        """Whether the version applies at ``at``: periods are half-open, [from, to)."""
        return self.in_force_from <= at and (self.in_force_to is None or at < self.in_force_to)


Versions = dict[str, list[Version]]


def in_force(versions: Iterable[Version], at: dt.datetime) -> Version | None:
    """The version in force at ``at``: the one whose period holds it; should periods of two
    codes for one behaviour overlap, the one that came into force last (then the lowest
    code, the highest version)."""
    holding = [v for v in versions if v.in_force(at)]
    if not holding:
        return None
    return min(holding, key=lambda v: (-v.in_force_from.timestamp(), v.code, -v.version))


# --- reading versions ---------------------------------------------------------------------

_VERSIONS_JSON = (
    "(SELECT coalesce(json_agg(json_build_array(id, code, version, sha256, in_force_from, "
    "in_force_to, behaviour)), '[]') FROM methodology_versions "
    "WHERE behaviour = ANY(CAST(:types AS text[])) AND status IN ('published', 'retired') "
    "AND kind = :kind)")
_VERSIONS = text(f"SELECT {_VERSIONS_JSON}")
# A claim's first statement: the Idempotency-Key's lock (try: a concurrent duplicate is
# answered at once), then the lock of the citizen's behaviours of this type, and the versions.
_LOCKED_VERSIONS = text(
    "SELECT CASE WHEN pg_try_advisory_xact_lock(:try_key) "  # noqa: S608 - constant SQL
    "THEN (SELECT true FROM pg_advisory_xact_lock(:wait_key)) ELSE false END AS got, "
    f"{_VERSIONS_JSON} AS versions")


def _parse(raw: str | list[Any]) -> Versions:
    rows = json.loads(raw) if isinstance(raw, str) else raw
    out: Versions = defaultdict(list)
    for vid, code, version, sha, start, end, behaviour in rows:
        out[behaviour].append(Version(
            uuid.UUID(vid), code, version, sha, dt.datetime.fromisoformat(start),
            dt.datetime.fromisoformat(end) if end else None, behaviour))
    return out


async def versions(conn: AsyncConnection, behaviours: Iterable[str], *,
                   kind: str = "behaviour") -> Versions:
    """The published and retired versions scoring ``behaviours``, by behaviour."""
    return _parse(await conn.scalar(_VERSIONS, {"types": sorted(set(behaviours)),
                                                "kind": kind}))


async def versions_after_locks(conn: AsyncConnection, behaviours: Iterable[str], *,
                               try_key: int, wait_key: int) -> tuple[bool, Versions]:
    """``versions``, in the statement that first tries the lock ``try_key`` and, when it is
    got, waits for ``wait_key`` (one round trip). ``(False, {})`` when ``try_key`` is held."""
    row = (await conn.execute(_LOCKED_VERSIONS, {
        "try_key": try_key, "wait_key": wait_key, "types": sorted(set(behaviours)),
        "kind": "behaviour"})).one()
    return (True, _parse(row.versions)) if row.got else (False, {})


async def documents(conn: AsyncConnection, ids: Iterable[uuid.UUID], *,
                    public: bool = True) -> list[tuple[str, dict[str, Any]]]:
    """``(sha256, document)`` of the versions ``ids`` (with ``public``, only published or
    retired ones)."""
    stmt = select(MethodologyVersion.sha256, MethodologyVersion.document).where(
        MethodologyVersion.id.in_(list(ids)))
    if public:
        stmt = stmt.where(MethodologyVersion.status.in_(PUBLIC_STATUSES))
    return [(r.sha256, r.document) for r in (await conn.execute(stmt)).all()]


async def by_ids(conn: AsyncConnection, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Any]:
    """The versions ``ids``, any status, by id: ``id, code, version, behaviour, status,
    sha256, document, in_force_from, in_force_to`` (the registry's reports and checks)."""
    rows = await conn.execute(select(
        MethodologyVersion.id, MethodologyVersion.code, MethodologyVersion.version,
        MethodologyVersion.behaviour, MethodologyVersion.status, MethodologyVersion.sha256,
        MethodologyVersion.document, MethodologyVersion.in_force_from,
        MethodologyVersion.in_force_to).where(MethodologyVersion.id.in_(list(ids))))
    return {r.id: r for r in rows}


async def ids_of(conn: AsyncConnection, code: str, versions: Iterable[int]) -> list[uuid.UUID]:
    """The ids of versions ``versions`` of ``code``, in version order."""
    return list((await conn.execute(
        select(MethodologyVersion.id).where(MethodologyVersion.code == code,
                                            MethodologyVersion.version.in_(list(versions)))
        .order_by(MethodologyVersion.version))).scalars())


async def document_of(conn: AsyncConnection, version_id: uuid.UUID) -> tuple[str, dict[str, Any]]:
    row = (await conn.execute(
        select(MethodologyVersion.sha256, MethodologyVersion.document)
        .where(MethodologyVersion.id == version_id))).one()
    return row.sha256, row.document


async def by_code_version(conn: AsyncConnection, code: str,
                          version: int) -> tuple[str, dict[str, Any]] | None:
    """``(behaviour, document)`` of one version, any status."""
    row = (await conn.execute(
        select(MethodologyVersion.behaviour, MethodologyVersion.document)
        .where(MethodologyVersion.code == code,
               MethodologyVersion.version == version))).first()
    return (row.behaviour, row.document) if row else None


async def version_in_force(conn: AsyncConnection, behaviour: str, at: dt.datetime, *,
                           kind: str = "behaviour") -> tuple[Version, dict[str, Any]] | None:
    """The version in force for ``behaviour`` at ``at`` (``in_force``), with its document."""
    version = in_force((await versions(conn, [behaviour], kind=kind)).get(behaviour, ()), at)
    if version is None:
        return None
    return version, (await document_of(conn, version.id))[1]


# --- lifecycle (ORM, in the caller's session) -------------------------------------------

async def lock_code(session: AsyncSession, code: str) -> None:
    """Serialises version numbering and publication per code; other codes proceed."""
    await session.execute(text("SELECT pg_advisory_xact_lock(hashtext('methodology:' || :c))"),
                          {"c": code})


async def latest_version(session: AsyncSession, code: str) -> int | None:
    return await session.scalar(select(func.max(MethodologyVersion.version))
                                .where(MethodologyVersion.code == code))


async def get(session: AsyncSession, code: str, version: int, *,
              for_update: bool = False) -> MethodologyVersion | None:
    stmt = select(MethodologyVersion).where(MethodologyVersion.code == code,
                                            MethodologyVersion.version == version)
    if for_update:
        stmt = stmt.with_for_update()
    return (await session.scalars(stmt)).first()


async def public_of_code_from(session: AsyncSession, code: str, start: dt.datetime,
                              exclude_id: uuid.UUID | None) -> Sequence[MethodologyVersion]:
    """Published and retired versions of ``code`` in force at or after ``start``, locked."""
    stmt = select(MethodologyVersion).where(
        MethodologyVersion.code == code,
        MethodologyVersion.status.in_(PUBLIC_STATUSES),
        or_(MethodologyVersion.in_force_to.is_(None), MethodologyVersion.in_force_to > start),
    )
    if exclude_id is not None:
        stmt = stmt.where(MethodologyVersion.id != exclude_id)
    return (await session.scalars(stmt.with_for_update())).all()


async def page(session: AsyncSession, *, limit: int, statuses: tuple[str, ...],
               code: str | None, behaviour: str | None,
               after: tuple[str, int] | None) -> Sequence[MethodologyVersion]:
    """Up to ``limit`` versions by code, newest version first, after the keyset ``after``."""
    stmt = select(MethodologyVersion).where(MethodologyVersion.status.in_(statuses))
    if code:
        stmt = stmt.where(MethodologyVersion.code == code)
    if behaviour:
        stmt = stmt.where(MethodologyVersion.behaviour == behaviour)
    if after is not None:
        stmt = stmt.where(
            (MethodologyVersion.code > after[0])
            | ((MethodologyVersion.code == after[0]) & (MethodologyVersion.version < after[1])))
    stmt = stmt.order_by(MethodologyVersion.code, MethodologyVersion.version.desc())
    return (await session.scalars(stmt.limit(limit))).all()


# --- used by gamification, registry and events ------------------------------------------

async def scores(conn: AsyncConnection, behaviour: str) -> bool:
    """Whether any version (of any status) scores ``behaviour`` (challenges)."""
    return bool(await conn.scalar(text(
        "SELECT 1 FROM methodology_versions WHERE behaviour = :b AND kind = 'behaviour' "
        "LIMIT 1"), {"b": behaviour}))


async def scored_behaviours(conn: AsyncConnection) -> list[str]:
    """Every behaviour a version (of any status) scores, sorted (badge statistics)."""
    return list((await conn.execute(text(
        "SELECT DISTINCT behaviour FROM methodology_versions WHERE kind = 'behaviour' "
        "ORDER BY 1"))).scalars())


async def code_is_published(conn: AsyncConnection, code: str) -> bool:
    """Whether a behaviour methodology ``code`` has a published or retired version
    (credit issuance)."""
    return bool(await conn.scalar(text(
        "SELECT 1 FROM methodology_versions WHERE code = :c AND status <> 'draft' "
        "AND kind = 'behaviour' LIMIT 1"), {"c": code}))


async def footprint_in_force(conn: AsyncConnection,
                             at: dt.datetime) -> tuple[Version, dict[str, Any]] | None:
    """The footprint methodology in force at ``at``, with its document (events)."""
    return await version_in_force(conn, FOOTPRINT_BEHAVIOUR, at, kind="footprint")


# --- used by privacy --------------------------------------------------------------------


async def input_names(conn: AsyncConnection) -> dict[str, list[str]]:
    """Each methodology version's declared inputs (``document.inputs``' names), by version id
    as text: what a behaviour's ``data`` must keep so its grams can be recomputed."""
    rows = await conn.execute(select(MethodologyVersion.id, MethodologyVersion.document))
    return {str(r.id): sorted((r.document or {}).get("inputs") or {}) for r in rows}
