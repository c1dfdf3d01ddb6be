"""The wallet as served: balance, entries, the points that expire next."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

import msgspec


class ExpiryOut(msgspec.Struct):
    points: int
    expires_at: dt.datetime


class WalletOut(msgspec.Struct):
    balance: int
    lifetime_earned: Annotated[int, msgspec.Meta(description=(
        "Points ever credited (behaviours, badge and challenge bonuses), net of reversals; "
        "spending and expiry do not lower it."))]
    pending: int
    # The points that expire soonest and when; null when points do not expire.
    next_expiry: ExpiryOut | None = None


class EntryOut(msgspec.Struct):
    id: uuid.UUID
    kind: str
    points: int
    behaviour_id: uuid.UUID | None
    redemption_id: uuid.UUID | None
    reverses_id: uuid.UUID | None
    memo: str | None
    created_at: dt.datetime


class EntryPage(msgspec.Struct):
    items: list[EntryOut]
    next_cursor: str | None
