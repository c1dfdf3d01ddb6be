"""Provenance to the behaviour: a batch's behaviour list and its monitoring report.

**The behaviour list** (``lines``; as CSV, ``web.csv`` streams its pages) shows every
behaviour a batch holds (a returned batch: what it held), one per line in the batch's order
(``credit_allocations.line``: by programme day, then behaviour), with no personal data: the
citizen is a *pseudonym*, 16 hex digits of HMAC-SHA256 over the batch's id and the
citizen's id (16 bytes each) under a key derived from SECRET_KEY (HKDF, purpose
``batch-pseudonyms``). The same citizen has the same pseudonym throughout one batch and
unrelated ones in two batches, so a batch can be checked per citizen (caps, repeats) but
citizens cannot be followed across batches; without the key a pseudonym cannot be tied to
anyone. Never shown: the user's id, phone or nickname, the behaviour's id or exact time,
the partner's record id or card reference. ``inputs`` are only the declared inputs of the
version that scored the behaviour (a stored behaviour may carry more, from before inputs
were all that was kept: station, card, coordinates; those never show), typed by the
document as enums and bounded numbers. Pages are keyed by (batch, line), so a cursor names
no behaviour either.

**The monitoring report** (``report``): the batch's figures and verification; each
methodology version it used, with every parameter and its source as published; behaviours
and grams by evidence, type, district and programme day; the partners that supplied them;
the outliers (``OUTLIERS``); what of the methodology and vintage was left out
(``EXCLUDED``); and the carry from the previous batch. The public registry shows both once a
batch is issued (404 before, as for the batch itself); verifiers and administrators read them
in any status at their own routes.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from carbon_inclusion import rules
from carbon_inclusion.common.pagination import decode_cursor, encode_cursor
from carbon_inclusion.db import Database
from carbon_inclusion.errors import InvalidInput, NotFound
from carbon_inclusion.methodologies import repository as methodologies
from carbon_inclusion.partners import repository as partners
from carbon_inclusion.registry import report_pdf
from carbon_inclusion.registry import repository as repo
from carbon_inclusion.registry.schemas import (
    BehaviourLineOut,
    BehaviourLinePage,
    CarryOut,
    CountOut,
    ExcludedOut,
    OutlierGroup,
    OutliersOut,
    PartnerShare,
    ReportMethodology,
    ReportOut,
    ReportParam,
    ShareOut,
    VerificationOut,
)
from carbon_inclusion.registry.service import BehaviourReads, View, batch_url, batches_out
from carbon_inclusion.security.secrets import derive_key
from carbon_inclusion.settings import Settings

PSEUDONYM_HEX = 16
OUTLIERS_SHOWN = 20

OUTLIERS = (
    "An outlier is a behaviour of the batch whose grams lie above the p-th percentile of the "
    "grams of the batch's behaviours scored by the same methodology version, p being that "
    "version's plausibility_percentile (99 where its document sets none); the percentile is "
    "the nearest rank: the smallest grams with at least p % of those behaviours at or below "
    "it (threshold_g). Outliers are listed for the verifier's attention and stay in the "
    "batch; `largest` shows at most 20 of each version, largest first, and the behaviour list "
    "has every one by line.")
EXCLUDED = (
    "Behaviours of the batch's methodology on programme days of its vintage that the batch "
    "does not hold: those a person rejected on review before the batch was proposed (grams: "
    "what the methodology computed for them), and the self-reports credited without review "
    "recorded before it (their points are paid; their grams are never in a credit).")


def pseudonym(key: bytes, batch_id: uuid.UUID, citizen_id: uuid.UUID) -> str:
    """The citizen's pseudonym in this batch (see the module's docstring)."""
    return hmac.new(key, batch_id.bytes + citizen_id.bytes,
                    hashlib.sha256).hexdigest()[:PSEUDONYM_HEX]


def _bad_cursor() -> InvalidInput:
    return InvalidInput.field("cursor", "is not a cursor this API returned")


class ProvenanceService:
    def __init__(self, db: Database, settings: Settings, *,
                 behaviours: BehaviourReads) -> None:
        self.db = db
        self.behaviours = behaviours
        self.base_url = settings.public_url
        self.tz = settings.tz
        self.operator = settings.programme_operator
        self._key = derive_key(settings.secret_key, "batch-pseudonyms")

    async def _batch(self, conn: AsyncConnection, batch_id: uuid.UUID, view: View) -> Any:
        row = await repo.batch(conn, batch_id, "issued" if view == "public" else None)
        if row is None:
            raise NotFound("No such batch.")
        return row

    # --- the behaviour list ---------------------------------------------------------------

    async def lines(self, batch_id: uuid.UUID, *, view: View, limit: int,
                    cursor: str | None) -> BehaviourLinePage:
        after = decode_cursor(cursor, uuid.UUID, int)
        if after is not None and (after[0] != batch_id or after[1] < 0):
            raise _bad_cursor()
        async with self.db.engine.connect() as conn:
            row = await self._batch(conn, batch_id, view)
            rows = await repo.lines_page(conn, batch_id, released=row.status == "returned",
                                         after=after[1] if after else 0, limit=limit + 1)
            items = await self._lines_out(conn, batch_id, rows[:limit])
        more = len(rows) > limit and items
        return BehaviourLinePage(items, encode_cursor(batch_id, items[-1].line) if more
                                 else None)

    async def _lines_out(self, conn: AsyncConnection, batch_id: uuid.UUID,
                         rows: Sequence[Any]) -> list[BehaviourLineOut]:
        """The behaviour list's items for ``(line, behaviour_id, grams)`` rows."""
        details = await self.behaviours.lines(conn, [r.behaviour_id for r in rows])
        inputs = await self._input_names(conn, {d.methodology_id for d in details.values()})
        out = []
        for r in rows:
            d = details[r.behaviour_id]
            declared = inputs.get(d.methodology_id, frozenset())
            out.append(BehaviourLineOut(
                line=r.line, citizen=pseudonym(self._key, batch_id, d.citizen_id),
                type=d.type, programme_day=d.programme_day, district_code=d.district_code,
                source=d.source, partner_id=d.partner_id, evidence=d.evidence,
                reviewed=d.reviewed, methodology_code=d.methodology_code,
                methodology_version=d.methodology_version,
                inputs={k: str(v) for k, v in sorted((d.data or {}).items()) if k in declared},
                grams=r.grams))
        return out

    @staticmethod
    async def _input_names(conn: AsyncConnection, version_ids: set[uuid.UUID]
                           ) -> dict[uuid.UUID, frozenset[str]]:
        versions = await methodologies.by_ids(conn, {v for v in version_ids if v})
        return {vid: frozenset((v.document or {}).get("inputs") or {})
                for vid, v in versions.items()}

    # --- the monitoring report ------------------------------------------------------------

    async def report(self, batch_id: uuid.UUID, *, view: View) -> ReportOut:
        async with self.db.engine.connect() as conn:
            row = await self._batch(conn, batch_id, view)
            return await self.report_of(conn, row, view)

    async def report_of(self, conn: AsyncConnection, row: Any, view: View) -> ReportOut:
        """The report of the batch ``row`` (``repo.batch``), on the caller's connection."""
        released = row.status == "returned"
        held = (await repo.released_of(conn, row.id) if released
                else await repo.allocations_of(conn, row.id))
        batch = (await batches_out(conn, [row], self.base_url, view))[0]
        shares: dict[str, list[Any]] = {}
        for s in await self.behaviours.report_shares(conn, held):
            shares.setdefault(s.dimension, []).append(s)
        versions = await methodologies.by_ids(conn, await methodologies.ids_of(
            conn, row.methodology_code, row.methodology_versions))
        by_version = {int(s.key): s for s in shares.get("version", [])}
        percentiles = {v.version: rules.plausibility_percentile(v.document)
                       for v in versions.values()}
        thresholds = (await self.behaviours.grams_percentiles(
            conn, held, {v: p / 100 for v, p in percentiles.items()}) if held else {})
        above = await self.behaviours.above(conn, held, thresholds) if thresholds else []
        outliers = await self._outliers(conn, row.id, released, percentiles, thresholds,
                                        above)
        left_out = await self.behaviours.excluded(
            conn, row.methodology_code, sorted({v.behaviour for v in versions.values()}),
            row.vintage_from, row.vintage_to,
            (rules.day_bounds(row.vintage_from, self.tz)[0],
             rules.day_bounds(row.vintage_to, self.tz)[1]), row.created_at)
        previous = await repo.previous_batch(conn, row.methodology_code, row.created_at,
                                             row.id)
        partner_shares = shares.get("partner", [])
        names = await partners.names(conn, [s.key for s in partner_shares])

        def share_list(dimension: str) -> list[ShareOut]:
            return [ShareOut(s.key, s.n, s.grams) for s in shares.get(dimension, [])]

        return ReportOut(
            batch_id=row.id, status=row.status, methodology_code=row.methodology_code,
            vintage_from=row.vintage_from, vintage_to=row.vintage_to, quantity=row.quantity,
            serials=batch.serials, behaviours=row.behaviours, allocated_g=row.allocated_g,
            carry=CarryOut(previous, row.carry_in_g, row.carry_out_g),
            verification=VerificationOut(
                proposed_at=row.created_at, verification_body=batch.verification_body,
                verified_at=row.verified_at, statement=row.verification_statement,
                returned_at=row.returned_at, findings=list(row.findings),
                issued_at=row.issued_at),
            methodologies=[self._methodology(v, by_version.get(v.version))
                           for v in sorted(versions.values(), key=lambda v: v.version)],
            by_evidence=share_list("evidence"), by_type=share_list("type"),
            by_district=share_list("district"),
            by_day=sorted(share_list("day"), key=lambda s: s.key),
            partners=[PartnerShare(s.key, names.get(s.key, s.key), s.n, s.grams)
                      for s in partner_shares],
            outliers=OutliersOut(OUTLIERS, outliers),
            excluded=ExcludedOut(EXCLUDED, CountOut(left_out.rejected_n, left_out.rejected_g),
                                 CountOut(left_out.unreviewed_n, left_out.unreviewed_g)),
            report_url=batch_url(self.base_url, view, row.id, "/report"),
            pdf_url=batch_url(self.base_url, view, row.id, "/report/pdf"),
            behaviours_url=batch_url(self.base_url, view, row.id, "/behaviours"))

    async def _outliers(self, conn: AsyncConnection, batch_id: uuid.UUID, released: bool,
                        percentiles: dict[int, Decimal], thresholds: dict[int, Decimal],
                        above: Sequence[Any]) -> list[OutlierGroup]:
        largest = {}
        for v in thresholds:
            largest[v] = [a for a in above if a.version == v][:OUTLIERS_SHOWN]
        shown = [a for group in largest.values() for a in group]
        lines = await repo.lines_of(conn, batch_id, released=released,
                                    behaviour_ids=[a.behaviour_id for a in shown])
        items = {i.line: i for i in await self._lines_out(conn, batch_id, [
            _Line(lines[a.behaviour_id], a.behaviour_id, a.grams) for a in shown])}
        groups = []
        for v, threshold in sorted(thresholds.items()):
            mine = [a for a in above if a.version == v]
            groups.append(OutlierGroup(
                methodology_version=v, percentile=percentiles[v], threshold_g=threshold,
                behaviours=len(mine), grams=sum((a.grams for a in mine), Decimal(0)),
                largest=[items[lines[a.behaviour_id]] for a in largest[v]]))
        return groups

    def _methodology(self, v: Any, share: Any) -> ReportMethodology:
        d = v.document
        limits = (d.get("limits") or {}).get("per_day")
        monthly = (d.get("limits") or {}).get("per_month")
        rounding = d["reduction_g"]["rounding"]
        return ReportMethodology(
            code=v.code, version=v.version, title_zh=d["title"]["zh"], title_en=d["title"]["en"],
            behaviour=v.behaviour, sha256=v.sha256,
            document_url=f"{self.base_url}/v1/methodologies/{v.code}/versions/{v.version}",
            in_force_from=v.in_force_from, in_force_to=v.in_force_to,
            steps=[{k: str(x) for k, x in step.items()} for step in d.get("steps") or []],
            formula=d["reduction_g"]["formula"],
            rounding=f"{rounding['places']} decimal place(s), {rounding['mode']}",
            params=[ReportParam(name, _plain(p["value"]), p["unit"], p["source"],
                                p.get("note")) for name, p in (d.get("params") or {}).items()],
            evidence={k: dict(t) for k, t in d["evidence"].items()},
            daily_limits=dict(limits) if limits else None,
            plausibility_percentile=rules.plausibility_percentile(d),
            behaviours=share.n if share else 0,
            grams=share.grams if share else Decimal(0),
            monthly_limits=dict(monthly) if monthly else None,
            once_per=dict(d["once_per"]) if d.get("once_per") else None)

    def pdf(self, report: ReportOut) -> bytes:
        return report_pdf.render(report, tz=self.tz, operator=self.operator)


class _Line:
    __slots__ = ("behaviour_id", "grams", "line")

    def __init__(self, line: int, behaviour_id: uuid.UUID, grams: Decimal) -> None:
        self.line, self.behaviour_id, self.grams = line, behaviour_id, grams


def _plain(value: Any) -> str | dict[str, str]:
    if isinstance(value, dict):
        return {k: str(x) for k, x in value.items()}
    return str(value)
