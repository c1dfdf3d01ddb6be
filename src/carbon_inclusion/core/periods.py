"""Period behaviours: at most one open behaviour of a type per citizen per period.

A methodology may declare ``once_per: {period, later}`` (``day`` or ``month`` in programme
time). The open (credited or waiting) behaviour of a citizen's period is its *holder*; a new
record of the same period:

* from a partner, where the holder is an app self-report: supersedes it (verified evidence
  replaces a self-report, as for one trip recorded twice);
* from the app, where the holder is a partner's record: is refused ``recorded_by_partner``;
* otherwise as ``later`` says: ``supersede`` replaces the holder; ``supersede_if_greater``
  replaces it only when the new record computes more grams, and is refused
  ``period_taken`` otherwise; ``refuse`` refuses it ``period_taken``;
* a holder that backs credits (in a proposed, verified or issued batch) is never
  superseded: the new record is refused ``issued_as_credits``.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol


class Holder(Protocol):
    """The open behaviour that holds a citizen's period."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def source(self) -> str: ...  # "app" | "partner"
    @property
    def computed_reduction_g(self) -> Decimal: ...


@dataclass(frozen=True, slots=True)
class PeriodSettlement:
    """``refused``: why the new record is refused, ``because`` the holder that causes it;
    else ``supersedes``: the holder it replaces (None: the period was free)."""

    refused: str | None = None
    because: uuid.UUID | None = None
    supersedes: uuid.UUID | None = None


def settle_period(later: str, source: str, computed_g: Decimal, holder: Holder | None,
                  issued: Collection[uuid.UUID] = ()) -> PeriodSettlement:
    """What becomes of a new record from ``source`` computing ``computed_g`` grams, given
    its period's ``holder`` (None: none) and the ids among holders that back credits."""
    if holder is None:
        return PeriodSettlement()
    if source == "app" and holder.source == "partner":
        return PeriodSettlement(refused="recorded_by_partner", because=holder.id)
    verified_over_self_report = source == "partner" and holder.source == "app"
    if not verified_over_self_report and (
            later == "refuse" or (later == "supersede_if_greater"
                                  and computed_g <= holder.computed_reduction_g)):
        return PeriodSettlement(refused="period_taken", because=holder.id)
    if holder.id in issued:
        return PeriodSettlement(refused="issued_as_credits", because=holder.id)
    return PeriodSettlement(supersedes=holder.id)
