"""The SMS gateway interface, and the development sender that writes to ``sms_outbox``.

A real provider is one more class with ``send`` and one more name for ``SMS_SENDER``;
``Settings.validate`` refuses a name that is not implemented, so a misconfigured deployment
does not start (rather than silently not sending).
"""

from __future__ import annotations

import logging
from typing import Protocol, runtime_checkable

from carbon_inclusion.accounts import repository as repo
from carbon_inclusion.accounts.phones import mask_phone
from carbon_inclusion.common.clock import SYSTEM_CLOCK, Clock
from carbon_inclusion.db import Database

log = logging.getLogger("carbon_inclusion.sms")

SENDERS = ("outbox",)


@runtime_checkable
class SmsSender(Protocol):
    async def send(self, phone: str, body: str, *, code: str | None = None) -> None:
        """Send ``body`` to the normalised ``phone``; ``code`` is the one-time code it carries
        (for senders that keep it, like the outbox)."""


class OutboxSender:
    """Development and tests: each message becomes a row of ``sms_outbox`` and a log line
    (with the phone masked)."""

    def __init__(self, db: Database, clock: Clock = SYSTEM_CLOCK) -> None:
        self.db = db
        self.clock = clock

    async def send(self, phone: str, body: str, *, code: str | None = None) -> None:
        async with self.db.transaction() as session:
            repo.add_sms(session, phone=phone, body=body, code=code, sent_at=self.clock.now())
        log.info("sms to %s: %s", mask_phone(phone), body if code is None else
                 body.replace(code, "******"))


def sms_sender(name: str, db: Database, clock: Clock = SYSTEM_CLOCK) -> SmsSender:
    if name == "outbox":
        return OutboxSender(db, clock)
    raise ValueError(f"SMS_SENDER {name!r} is not implemented (one of: {', '.join(SENDERS)})")
