"""Methodology lifecycle: draft → published → retired, with every action audited.

Documents are checked by ``carbon_inclusion.rules`` (pure); this module stores them, keeps
published versions immutable, keeps periods in force from overlapping, and picks the
version in force for a behaviour's ``occurred_at``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from carbon_inclusion import rules
from carbon_inclusion.audit.service import record
from carbon_inclusion.common.clock import SYSTEM_CLOCK, Clock
from carbon_inclusion.common.integrity import constraint_of, domain_error
from carbon_inclusion.common.pagination import decode_cursor, page
from carbon_inclusion.db import Database
from carbon_inclusion.errors import Conflict, FieldError, InvalidInput, NotFound
from carbon_inclusion.methodologies import repository
from carbon_inclusion.methodologies.models import FOOTPRINT_BEHAVIOUR, MethodologyVersion
from carbon_inclusion.methodologies.repository import PUBLIC_STATUSES
from carbon_inclusion.methodologies.schemas import EvaluationOut, VersionOut, VersionPage


def check_document(raw: Any) -> rules.Methodology:
    """Parse and type-check a submitted document, or raise InvalidInput naming each field."""
    if not isinstance(raw, dict):
        raise InvalidInput.field("body", "a methodology document is a JSON object",
                                 code="invalid_document")
    try:
        return rules.load_document(raw)
    except rules.DocumentError as exc:
        errors = [FieldError(e.field, e.message) for e in exc.errors]
        raise InvalidInput(
            "The methodology document does not check: "
            + "; ".join(f"{e.field}: {e.message}" for e in errors),
            code="invalid_document",
            errors=errors,
        ) from None


def version_out(row: MethodologyVersion) -> VersionOut:
    doc = row.document
    return VersionOut(
        code=row.code,
        version=row.version,
        behaviour=row.behaviour,
        kind=row.kind,
        status=row.status,
        title=dict(doc.get("title", {})),
        effective_from=dt.datetime.fromisoformat(doc["effective_from"]),
        effective_to=dt.datetime.fromisoformat(doc["effective_to"])
        if doc.get("effective_to") else None,
        in_force_from=row.in_force_from,
        in_force_to=row.in_force_to,
        sha256=row.sha256,
        created_at=row.created_at,
        published_at=row.published_at,
        retired_at=row.retired_at,
        document=doc,
    )


@dataclass(frozen=True, slots=True)
class Resolved:
    """The version in force for one behaviour, compiled and ready to evaluate."""

    id: uuid.UUID
    code: str
    version: int
    sha256: str
    compiled: rules.CompiledMethodology


def _overlaps(a_from: dt.datetime, a_to: dt.datetime | None,
              b_from: dt.datetime, b_to: dt.datetime | None) -> bool:
    return (b_to is None or a_from < b_to) and (a_to is None or b_from < a_to)


class MethodologyService:
    def __init__(self, db: Database, clock: Clock = SYSTEM_CLOCK) -> None:
        self.db = db
        self.clock = clock
        self._compiled: dict[tuple[str, int, str], rules.CompiledMethodology] = {}

    # --- administration -----------------------------------------------------------------

    async def create_draft(self, actor_id: uuid.UUID | None, raw: Any) -> VersionOut:
        m = check_document(raw)
        async with self.db.transaction() as session:
            await repository.lock_code(session, m.code)
            latest = await repository.latest_version(session, m.code)
            if latest is not None and m.version <= latest:
                raise Conflict(
                    f"{m.code} is already at version {latest}; a new version must be greater.",
                    code="version_not_increasing",
                    errors=[FieldError("version", f"must be greater than {latest}")],
                    latest_version=latest,
                )
            await self._check_overlap(session, m, exclude_id=None)
            row = MethodologyVersion(
                code=m.code, version=m.version, behaviour=m.behaviour, status="draft",
                kind="footprint" if m.behaviour == FOOTPRINT_BEHAVIOUR else "behaviour",
                document=m.to_dict(), sha256=m.sha256,
                in_force_from=m.effective_from, in_force_to=m.effective_to,
                created_by=actor_id,
            )
            session.add(row)
            await session.flush()
            record(session, actor_id=actor_id, action="methodology.draft_created",
                   subject_type="methodology", subject_id=f"{m.code}/v{m.version}",
                   document_sha256=m.sha256)
            return version_out(row)

    async def update_draft(self, actor_id: uuid.UUID | None, code: str, version: int,
                           raw: Any) -> VersionOut:
        m = check_document(raw)
        if (m.code, m.version) != (code, version):
            raise InvalidInput(
                "The document's code and version must match the URL.",
                code="identity_mismatch",
                errors=[FieldError("code", f"must be {code}"),
                        FieldError("version", f"must be {version}")],
            )
        async with self.db.transaction() as session:
            await repository.lock_code(session, code)
            row = await self._get(session, code, version, for_update=True)
            if row.status != "draft":
                raise Conflict(f"{code} v{version} is {row.status}; published versions never "
                               "change. Create a new version instead.", code="immutable_version")
            await self._check_overlap(session, m, exclude_id=row.id)
            row.document, row.sha256, row.behaviour = m.to_dict(), m.sha256, m.behaviour
            row.in_force_from, row.in_force_to = m.effective_from, m.effective_to
            record(session, actor_id=actor_id, action="methodology.draft_updated",
                   subject_type="methodology", subject_id=f"{code}/v{version}",
                   document_sha256=m.sha256)
            await session.flush()
            return version_out(row)

    async def publish(self, actor_id: uuid.UUID | None, code: str, version: int) -> VersionOut:
        now = self.clock.now()
        try:
            async with self.db.transaction() as session:
                await repository.lock_code(session, code)
                row = await self._get(session, code, version, for_update=True)
                if row.status != "draft":
                    raise Conflict(f"{code} v{version} is already {row.status}.",
                                   code="already_published")
                m = check_document(row.document)  # re-check: the engine may be stricter now
                superseded = await self._check_overlap(session, m, exclude_id=row.id)
                for prev in superseded:
                    # An open-ended earlier version is closed where the new one starts.
                    prev.in_force_to = m.effective_from
                    record(session, actor_id=actor_id, action="methodology.superseded",
                           subject_type="methodology", subject_id=f"{prev.code}/v{prev.version}",
                           document_sha256=prev.sha256,
                           details={"in_force_to": m.effective_from.isoformat(),
                                    "by_version": version})
                await session.flush()
                row.status, row.published_at = "published", now
                record(session, actor_id=actor_id, action="methodology.published",
                       subject_type="methodology", subject_id=f"{code}/v{version}",
                       document_sha256=row.sha256)
                await session.flush()
                return version_out(row)
        except IntegrityError as exc:  # a period published meanwhile overlaps: by name
            if constraint_of(exc) != "ex_methodology_versions_period":
                raise
            raise domain_error(exc) from None

    async def retire(self, actor_id: uuid.UUID | None, code: str, version: int,
                     reason: str) -> VersionOut:
        now = self.clock.now()
        async with self.db.transaction() as session:
            await repository.lock_code(session, code)
            row = await self._get(session, code, version, for_update=True)
            if row.status != "published":
                raise Conflict(f"{code} v{version} is {row.status}; only a published version "
                               "can be retired.", code="not_published")
            # Behaviours that occurred before now keep being scored by it; none after.
            end = max(now, row.in_force_from)
            if row.in_force_to is None or row.in_force_to > end:
                row.in_force_to = end
            row.status, row.retired_at, row.retire_reason = "retired", now, reason
            record(session, actor_id=actor_id, action="methodology.retired",
                   subject_type="methodology", subject_id=f"{code}/v{version}",
                   document_sha256=row.sha256, details={"reason": reason})
            await session.flush()
            return version_out(row)

    async def evaluate(self, code: str, version: int, data: dict[str, Any],
                       evidence: str) -> EvaluationOut:
        async with self.db.read() as session:
            row = await self._get(session, code, version)
        compiled = self._compile(row)
        result = evaluate_or_raise(compiled, data, evidence)
        return EvaluationOut(
            code=code, version=version, reduction_g=str(result.reduction_g),
            points=result.points, evidence=result.evidence, needs_review=result.needs_review,
            inputs=result.inputs, params=result.params, intermediates=result.intermediates,
            review_flags=compiled.review_details(result.flags),
        )

    async def _check_overlap(self, session: AsyncSession, m: rules.Methodology,
                             exclude_id: uuid.UUID | None) -> list[MethodologyVersion]:
        """Refuse overlapping periods; return open-ended predecessors this version closes."""
        superseded = []
        for other in await repository.public_of_code_from(session, m.code, m.effective_from,
                                                           exclude_id):
            if not _overlaps(m.effective_from, m.effective_to, other.in_force_from,
                             other.in_force_to):
                continue
            if other.in_force_to is None and other.in_force_from < m.effective_from:
                superseded.append(other)
                continue
            raise Conflict(
                f"The period overlaps {other.code} v{other.version} "
                f"({other.in_force_from.isoformat()} – "
                f"{other.in_force_to.isoformat() if other.in_force_to else 'open'}).",
                code="overlapping_period",
                errors=[FieldError("effective_from", "overlaps a published version")],
                overlapping_version=other.version,
            )
        return superseded

    # --- reading ------------------------------------------------------------------------

    async def get(self, code: str, version: int, *, public: bool) -> VersionOut:
        async with self.db.read() as session:
            row = await self._get(session, code, version)
        if public and row.status not in PUBLIC_STATUSES:
            raise NotFound(f"No published methodology {code} v{version}.")
        return version_out(row)

    async def list(self, *, limit: int, cursor: str | None, statuses: tuple[str, ...],
                   code: str | None = None, behaviour: str | None = None) -> VersionPage:
        after = decode_cursor(cursor, str, int)
        async with self.db.read() as session:
            rows = await repository.page(session, limit=limit + 1, statuses=statuses,
                                         code=code, behaviour=behaviour, after=after)
        shown, next_cursor = page(rows, limit, lambda r: (r.code, r.version))
        return VersionPage(items=[version_out(r) for r in shown], next_cursor=next_cursor)

    async def resolve(self, behaviour: str, occurred_at: dt.datetime) -> Resolved | None:
        """The version in force for ``behaviour`` at ``occurred_at`` (half-open periods)."""
        async with self.db.engine.connect() as conn:
            found = await repository.version_in_force(conn, behaviour, occurred_at)
        if found is None:
            return None
        v, document = found
        key = (v.code, v.version, v.sha256)
        compiled = self._compiled.get(key)
        if compiled is None:
            compiled = rules.compile_methodology(rules.load_document(document))
            self._compiled[key] = compiled
        return Resolved(v.id, v.code, v.version, v.sha256, compiled)
    def _compile(self, row: MethodologyVersion) -> rules.CompiledMethodology:
        key = (row.code, row.version, row.sha256)
        compiled = self._compiled.get(key)
        if compiled is None:
            compiled = rules.compile_methodology(rules.load_document(row.document))
            if row.status != "draft":  # drafts change; published versions never do
                self._compiled[key] = compiled
        return compiled

    async def _get(self, session: AsyncSession, code: str, version: int, *,
                   for_update: bool = False) -> MethodologyVersion:
        row = await repository.get(session, code, version, for_update=for_update)
        if row is None:
            raise NotFound(f"No methodology {code} v{version}.")
        return row

    # --- seed and CLI -------------------------------------------------------------------

    async def ensure_published(self, raw: dict[str, Any]) -> str:
        """Create and publish ``raw`` unless that exact version is already there."""
        m = check_document(raw)
        async with self.db.read() as session:
            existing = await repository.get(session, m.code, m.version)
        if existing is not None:
            if existing.sha256 != m.sha256:
                raise Conflict(f"{m.code} v{m.version} exists with a different document "
                               f"(sha256 {existing.sha256[:12]}…).", code="immutable_version")
            if existing.status == "draft":
                await self.publish(None, m.code, m.version)
                return "published"
            return "unchanged"
        await self.create_draft(None, raw)
        await self.publish(None, m.code, m.version)
        return "published"


def evaluate_or_raise(compiled: rules.CompiledMethodology, data: Any,
                      evidence: str) -> rules.Evaluation:
    if not isinstance(data, dict):
        raise InvalidInput.field("data", "must be an object of the methodology's inputs")
    try:
        return compiled.evaluate(data, evidence)
    except rules.InputError as exc:
        errors = [FieldError(e.field, e.message) for e in exc.errors]
        raise InvalidInput("; ".join(f"{e.field}: {e.message}" for e in errors),
                           code="invalid_behaviour_data", errors=errors) from None


