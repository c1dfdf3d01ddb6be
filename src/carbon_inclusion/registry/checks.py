"""What ``registry verify`` checks of the behaviours behind batches, beyond the registry's
own tables (``repository.problems``).

For every behaviour a batch holds:

* **only eligible evidence**: credited (not rejected, superseded or waiting for review), and
  a partner's record or a self-report a person approved on review;
* **credited as allocated**, **no more than computed** (less only when a daily cap was
  reached), **of the batch's methodology and vintage** (``behaviours.repository``'s SQL);
* **grams recompute**: its grams are worked out again from its stored inputs (only the
  version's declared inputs) and evidence with the published methodology version it names,
  by the rules evaluator, and must equal what was computed when it was credited. The version
  must be published (or retired), be the code and version the behaviour states, score the
  behaviour's type, and its stored document must still hash to its ``sha256`` (a factor
  changed behind the registry's back shows here).

Equal inputs give equal grams, so each distinct (version, type, evidence, inputs, computed
grams) is evaluated once, however many behaviours share it.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from carbon_inclusion import rules
from carbon_inclusion.methodologies import repository as methodologies
from carbon_inclusion.methodologies.repository import PUBLIC_STATUSES
from carbon_inclusion.registry import repository as repo

RECOMPUTED = "grams recompute from inputs and the published version"


async def behaviour_problems(conn: AsyncConnection, behaviours: Any
                             ) -> tuple[list[tuple[str, str]], int, int]:
    """``(check, detail)`` problems of the allocated behaviours, how many behaviours were
    checked and how many distinct inputs were evaluated. ``behaviours``: the registry's
    ``BehaviourReads``."""
    allocations = await repo.allocations_for_check(conn)
    found = list(await behaviours.allocation_faults(conn, allocations))
    groups = await behaviours.recomputable(conn, [(a.behaviour_id, a.grams)
                                                  for a in allocations])
    versions = await methodologies.by_ids(conn, {g.methodology_id for g in groups
                                                 if g.methodology_id is not None})
    compiled: dict[uuid.UUID, rules.CompiledMethodology | str] = {}
    for g in groups:
        problem = _recompute(g, versions, compiled)
        if problem is not None:
            more = f" (and {g.n - 1} more with the same inputs)" if g.n > 1 else ""
            found.append((RECOMPUTED, f"behaviour {g.sample}{more}: {problem}"))
    return found, len(allocations), len(groups)


def _compiled(version: Any) -> rules.CompiledMethodology | str:
    """The version compiled from its stored document, or why it cannot be trusted."""
    name = f"{version.code} v{version.version}"
    if version.status not in PUBLIC_STATUSES:
        return f"{name} is {version.status}, not published"
    try:
        methodology = rules.load_document(version.document)
    except rules.DocumentError as exc:
        return f"the stored document of {name} no longer checks: {exc}"
    if methodology.sha256 != version.sha256:
        return (f"the stored document of {name} hashes to {methodology.sha256}, not the "
                f"{version.sha256} it was published with")
    return rules.compile_methodology(methodology)


def _recompute(group: Any, versions: dict[uuid.UUID, Any],
               compiled: dict[uuid.UUID, rules.CompiledMethodology | str]) -> str | None:
    if group.methodology_id is None:
        return "it names no methodology version"
    version = versions.get(group.methodology_id)
    if version is None:
        return f"its methodology version {group.methodology_id} does not exist"
    if (version.code, version.version) != (group.methodology_code, group.methodology_version):
        return (f"it states {group.methodology_code} v{group.methodology_version} but was "
                f"scored by {version.code} v{version.version}")
    if version.behaviour != group.type:
        return f"{version.code} v{version.version} scores {version.behaviour}, not {group.type}"
    if group.methodology_id not in compiled:
        compiled[group.methodology_id] = _compiled(version)
    methodology = compiled[group.methodology_id]
    if isinstance(methodology, str):
        return methodology
    data = group.data or {}
    inputs = {k: v for k, v in data.items() if k in methodology.input_specs}
    try:
        evaluation = methodology.evaluate(inputs, group.evidence)
    except rules.InputError as exc:
        return f"its stored inputs no longer score: {exc}"
    if evaluation.reduction_g != group.computed_reduction_g:
        return (f"{version.code} v{version.version} computes {evaluation.reduction_g} g from "
                f"its inputs {inputs} ({group.evidence}), not the "
                f"{group.computed_reduction_g} g stored")
    return None
