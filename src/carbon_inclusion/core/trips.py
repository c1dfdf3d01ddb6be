"""Same-trip settlement: one trip recorded twice is paid once.

A trip may reach us from the citizen's app (a self-report) and from a partner (verified).
Two records of one citizen's behaviour type whose ``occurred_at`` lie within the same-trip
window of each other (``SAME_TRIP_WINDOW_S``, inclusive) are taken to be the same trip:

* a partner record supersedes the app's self-reports of the trip (they are reversed), unless
  one of them already backs issued credits: then the partner record is refused;
* a self-report of a trip a partner already sent is refused;
* two self-reports of one trip are both kept, flagged ``overlapping``, for review;
* a partner record of a trip another partner record (of any partner) already recorded is
  ``duplicate_trip``: kept, not paid, for review (one trip, one pay, across partners).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Protocol


class Record(Protocol):
    """An open (credited or waiting) behaviour already recorded."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def source(self) -> str: ...  # "app" | "partner"
    @property
    def occurred_at(self) -> dt.datetime: ...


@dataclass(frozen=True, slots=True)
class Settlement:
    """What becomes of a new record given the open records of the same trip.

    ``refused``: the reason it is refused (``recorded_by_partner``, ``issued_as_credits``)
    and ``because`` the record that causes it; ``duplicate_of``: the partner record of the
    same trip this one repeats (kept for review, not paid); else ``supersedes`` the ids it
    replaces and ``overlapping`` whether it needs review as a possible double self-report.
    """

    refused: str | None = None
    because: uuid.UUID | None = None
    supersedes: tuple[uuid.UUID, ...] = ()
    overlapping: bool = False
    duplicate_of: uuid.UUID | None = None


def same_trip(at: dt.datetime, others: Iterable[Record], window: dt.timedelta,
              ignore: Collection[uuid.UUID] = ()) -> list[Record]:
    """The records within ``window`` of ``at`` (inclusive), leaving out ``ignore``."""
    return [b for b in others if abs(b.occurred_at - at) <= window and b.id not in ignore]


def settle(source: str, trip: Iterable[Record],
           issued: Collection[uuid.UUID] = ()) -> Settlement:
    """Which of the records of one trip pays, for a new record from ``source``.

    ``trip``: the open records of the same trip (``same_trip``); ``issued``: the ids among
    them that back issued credits.
    """
    trip = list(trip)
    if source == "app":
        partner = next((b for b in trip if b.source == "partner"), None)
        if partner is not None:
            return Settlement(refused="recorded_by_partner", because=partner.id)
        return Settlement(overlapping=bool(trip))
    recorded = next((b for b in trip if b.source == "partner"), None)
    if recorded is not None:
        return Settlement(duplicate_of=recorded.id)
    backing = next((b for b in trip if b.id in issued), None)
    if backing is not None:
        return Settlement(refused="issued_as_credits", because=backing.id)
    return Settlement(supersedes=tuple(b.id for b in trip if b.source == "app"))
