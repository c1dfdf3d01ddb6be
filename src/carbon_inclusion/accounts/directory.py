"""The administrators' directory: every organisation and every account, paged newest first.

Phones are never shown whole here, and never searched by their text (the database holds
only ciphertext and a blind index): ``q`` that is a mobile number finds that number exactly
through its index; any other ``q`` is part of a nickname.
"""

from __future__ import annotations

import uuid

from cryptography.exceptions import InvalidTag

from carbon_inclusion.accounts import repository as repo
from carbon_inclusion.accounts.phones import mask_phone, normalise_phone
from carbon_inclusion.accounts.schemas import (
    AdminOrganisationOut,
    AdminOrganisationPage,
    AdminUserOut,
    AdminUserPage,
)
from carbon_inclusion.common.pagination import decode_one, page
from carbon_inclusion.db import Database
from carbon_inclusion.security.phone_crypto import PhoneCipher


class Directory:
    def __init__(self, db: Database, phones: PhoneCipher) -> None:
        self.db = db
        self.phones = phones

    async def organisations(self, *, kind: str | None, limit: int,
                            cursor: str | None) -> AdminOrganisationPage:
        after = decode_one(cursor, uuid.UUID)
        async with self.db.engine.connect() as conn:
            rows = await repo.organisation_page(conn, kind=kind, after=after, limit=limit + 1)
        shown, next_cursor = page(rows, limit, lambda r: (r.id,))
        return AdminOrganisationPage([AdminOrganisationOut(
            id=r.id, name=r.name, kind=r.kind, created_at=r.created_at, users=r.users)
            for r in shown], next_cursor)

    async def users(self, *, role: str | None, status: str | None, q: str | None,
                    limit: int, cursor: str | None) -> AdminUserPage:
        """``q``: part of a nickname (any case), or a mobile number (that number exactly)."""
        phone = normalise_phone(q) if q is not None else None
        after = decode_one(cursor, uuid.UUID)
        async with self.db.engine.connect() as conn:
            rows = await repo.user_page(
                conn, role=role, status=status, nickname=q,
                phone_index=self.phones.index(phone) if phone else None,
                after=after, limit=limit + 1)
        shown, next_cursor = page(rows, limit, lambda r: (r.id,))
        return AdminUserPage([AdminUserOut(
            id=r.id, role=r.role, nickname=r.nickname,
            phone_masked=self._masked(r.phone_ciphertext),
            organisation_id=r.organisation_id, district=r.district_code, status=r.status,
            phone_verified=r.phone_verified_at is not None, created_at=r.created_at)
            for r in shown], next_cursor)

    def _masked(self, ciphertext: bytes) -> str | None:
        if not ciphertext:  # a deleted account's number is erased
            return None
        try:
            return mask_phone(self.phones.decrypt(ciphertext))
        except (InvalidTag, ValueError):  # under another key, or not a ciphertext: unknown
            return None
