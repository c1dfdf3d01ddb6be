"""Every statement on accounts' tables: ``users``, ``refresh_tokens``, ``districts``,
``organisations``. ORM throughout (none of these is a hot path); other domains call the
functions at the end instead of reading these tables themselves."""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from typing import Any

from sqlalchemy import any_, bindparam, exists, func, or_, select, update
from sqlalchemy.dialects.postgresql import ARRAY, UUID, insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from carbon_inclusion.accounts.models import (
    District,
    Organisation,
    PrivacyConsent,
    RefreshToken,
    SmsOutbox,
    User,
)

# --- users ------------------------------------------------------------------------------


def add(session: AsyncSession,
        row: User | Organisation | RefreshToken | PrivacyConsent) -> None:
    session.add(row)


async def profile_row(session: AsyncSession, user_id: uuid.UUID
                      ) -> tuple[User, District | None, Organisation | None] | None:
    row = (await session.execute(
        select(User, District, Organisation)
        .outerjoin(District, District.code == User.district_code)
        .outerjoin(Organisation, Organisation.id == User.organisation_id)
        .where(User.id == user_id))).first()
    return None if row is None else (row[0], row[1], row[2])


async def user_by_phone(session: AsyncSession, phone_index: bytes) -> User | None:
    """The user whose phone has this blind index (``PhoneCipher.index``)."""
    return (await session.scalars(select(User).where(User.phone_index == phone_index))).first()


async def user(session: AsyncSession, user_id: uuid.UUID) -> User | None:
    return await session.get(User, user_id)


async def set_status(session: AsyncSession, user_id: uuid.UUID, status: str) -> bool:
    """False when there is no such user (a deleted account is no longer one)."""
    result = await session.execute(update(User).where(
        User.id == user_id, User.status != "deleted").values(status=status))
    return bool(result.rowcount)


async def set_password_hash(session: AsyncSession, user_id: uuid.UUID, hashed: str) -> None:
    await session.execute(update(User).where(User.id == user_id).values(password_hash=hashed))


async def principal_row(conn: AsyncConnection, user_id: uuid.UUID) -> Any:
    """``(role, status, organisation_id, district_code, phone_verified_at)`` of a user, or
    None."""
    return (await conn.execute(
        select(User.role, User.status, User.organisation_id, User.district_code,
               User.phone_verified_at)
        .where(User.id == user_id))).first()


# --- phone verification -----------------------------------------------------------------


async def set_phone_code(session: AsyncSession, user_id: uuid.UUID, code_hash: bytes,
                         expires_at: dt.datetime) -> None:
    """The user's one pending code (a new one replaces the last)."""
    await session.execute(update(User).where(User.id == user_id).values(
        phone_code_hash=code_hash, phone_code_expires_at=expires_at))


async def spend_phone_code(session: AsyncSession, user_id: uuid.UUID, code_hash: bytes,
                           now: dt.datetime) -> bool:
    """Verify the phone with the pending code if it matches and has not expired; the code is
    spent in the same statement, so two concurrent uses cannot both succeed."""
    result = await session.execute(
        update(User)
        .where(User.id == user_id, User.phone_code_hash == code_hash,
               User.phone_code_expires_at > now)
        .values(phone_verified_at=now, phone_code_hash=None, phone_code_expires_at=None))
    return bool(result.rowcount)


def add_sms(session: AsyncSession, *, phone: str, body: str, code: str | None,
            sent_at: dt.datetime) -> None:
    session.add(SmsOutbox(phone=phone, body=body, code=code, sent_at=sent_at))


async def outbox_codes(conn: AsyncConnection, phone: str) -> list[str]:
    """The codes sent to a phone through the development outbox, newest first."""
    return list((await conn.execute(
        select(SmsOutbox.code).where(SmsOutbox.phone == phone, SmsOutbox.code.is_not(None))
        .order_by(SmsOutbox.sent_at.desc(), SmsOutbox.id.desc()))).scalars())


# --- refresh tokens ---------------------------------------------------------------------


async def refresh_token_for_update(session: AsyncSession, token_id: uuid.UUID
                                   ) -> RefreshToken | None:
    return (await session.scalars(
        select(RefreshToken).where(RefreshToken.id == token_id).with_for_update())).first()


async def family_of(session: AsyncSession, token_id: uuid.UUID, user_id: uuid.UUID
                    ) -> uuid.UUID | None:
    return (await session.scalars(select(RefreshToken.family_id).where(
        RefreshToken.id == token_id, RefreshToken.user_id == user_id))).first()


async def revoke_tokens(session: AsyncSession, at: dt.datetime, *,
                        user_id: uuid.UUID | None = None,
                        family_id: uuid.UUID | None = None) -> None:
    """Revoke the live refresh tokens of a user, of one rotation family, or both filters."""
    stmt = update(RefreshToken).where(RefreshToken.revoked_at.is_(None))
    if user_id is not None:
        stmt = stmt.where(RefreshToken.user_id == user_id)
    if family_id is not None:
        stmt = stmt.where(RefreshToken.family_id == family_id)
    await session.execute(stmt.values(revoked_at=at))


# --- districts and organisations --------------------------------------------------------


async def district(session: AsyncSession, code: str) -> District | None:
    return await session.get(District, code)


async def districts(session: AsyncSession) -> list[District]:
    return list((await session.scalars(select(District).order_by(District.adcode))).all())


async def organisation(session: AsyncSession, organisation_id: uuid.UUID) -> Organisation | None:
    return await session.get(Organisation, organisation_id)


# --- used by gamification ---------------------------------------------------------------


def _any_of(ids: list[uuid.UUID]) -> Any:
    # One array parameter, however many ids (an IN list would bind one parameter each).
    return any_(bindparam("ids", list(ids), type_=ARRAY(UUID(as_uuid=True))))


async def district_codes(conn: AsyncConnection) -> list[str]:
    """Every district code, sorted."""
    return list((await conn.execute(select(District.code).order_by(District.code))).scalars())


async def nicknames(conn: AsyncConnection, ids: list[uuid.UUID]) -> dict[uuid.UUID, str]:
    rows = await conn.execute(select(User.id, User.nickname).where(User.id == _any_of(ids)))
    return {r[0]: r[1] for r in rows}


async def districts_of(conn: AsyncConnection, ids: list[uuid.UUID]
                       ) -> dict[uuid.UUID, str | None]:
    """Each existing user's district code (None when not set); unknown ids are left out."""
    rows = await conn.execute(select(User.id, User.district_code).where(User.id == _any_of(ids)))
    return {r[0]: r[1] for r in rows}


async def citizens_in_district(conn: AsyncConnection, district_code: str) -> list[uuid.UUID]:
    return list((await conn.execute(
        select(User.id).where(User.district_code == district_code))).scalars())


# --- used by events ---------------------------------------------------------------------


async def organisation_name(conn: AsyncConnection, organisation_id: uuid.UUID) -> str | None:
    return await conn.scalar(select(Organisation.name).where(Organisation.id == organisation_id))


# --- used by behaviours -----------------------------------------------------------------


async def district_of(conn: AsyncConnection, citizen_id: uuid.UUID) -> str | None:
    """The district a citizen's behaviours are counted in."""
    return await conn.scalar(select(User.district_code).where(User.id == citizen_id))


async def latest_consents(conn: AsyncConnection, ids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
    """The highest notice version each user accepted (users who accepted none are left out)."""
    rows = await conn.execute(
        select(PrivacyConsent.user_id, func.max(PrivacyConsent.version))
        .where(PrivacyConsent.user_id == _any_of(ids)).group_by(PrivacyConsent.user_id))
    return {r[0]: r[1] for r in rows}


# --- used by admin (the console's lists) -------------------------------------------------


async def organisation_names(conn: AsyncConnection, ids: list[uuid.UUID]
                             ) -> dict[uuid.UUID, str]:
    if not ids:
        return {}
    rows = await conn.execute(select(Organisation.id, Organisation.name)
                              .where(Organisation.id == _any_of(list(set(ids)))))
    return {r[0]: r[1] for r in rows}


async def district_rows(conn: AsyncConnection) -> list[Any]:
    """``(code, name_zh, name_en)`` of every district, in administrative-code order."""
    return list((await conn.execute(select(District.code, District.name_zh, District.name_en)
                                    .order_by(District.adcode))).all())


async def organisation_page(conn: AsyncConnection, *, kind: str | None,
                            after: uuid.UUID | None, limit: int) -> list[Any]:
    """Organisations (of ``kind``, when given) newest first, each with how many users it
    has (``users``)."""
    members = (select(func.count()).select_from(User)
               .where(User.organisation_id == Organisation.id).scalar_subquery())
    stmt = select(Organisation.id, Organisation.name, Organisation.kind,
                  Organisation.created_at, members.label("users"))
    if kind is not None:
        stmt = stmt.where(Organisation.kind == kind)
    if after is not None:
        stmt = stmt.where(Organisation.id < after)
    return list((await conn.execute(stmt.order_by(Organisation.id.desc()).limit(limit))).all())


def _like(text_: str) -> str:
    """A LIKE pattern matching ``text_`` anywhere, its own wildcards taken literally."""
    escaped = text_.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def user_page(conn: AsyncConnection, *, role: str | None, status: str | None,
                    nickname: str | None, phone_index: bytes | None,
                    after: uuid.UUID | None, limit: int) -> list[Any]:
    """Users newest first, filtered by role and status, and by ``nickname`` (anywhere in
    it, case-insensitive) or ``phone_index`` (the blind index of one number: phones are
    never searched by their text, which the database does not hold), either matching."""
    stmt = select(User.id, User.role, User.nickname, User.phone_ciphertext,
                  User.organisation_id, User.district_code, User.status, User.created_at,
                  User.phone_verified_at)
    if role is not None:
        stmt = stmt.where(User.role == role)
    if status is not None:
        stmt = stmt.where(User.status == status)
    matches = []
    if nickname is not None:
        matches.append(User.nickname.ilike(_like(nickname), escape="\\"))
    if phone_index is not None:
        matches.append(User.phone_index == phone_index)
    if matches:
        stmt = stmt.where(or_(*matches))
    if after is not None:
        stmt = stmt.where(User.id < after)
    return list((await conn.execute(stmt.order_by(User.id.desc()).limit(limit))).all())


# --- used by cli/seeding ----------------------------------------------------------------


async def upsert_districts(conn: AsyncConnection, rows: list[dict[str, Any]]) -> int:
    """Insert the districts of ``seed/districts.json``, updating those already there by code."""
    stmt = insert(District).values(rows)
    stmt = stmt.on_conflict_do_update(
        index_elements=[District.code],
        set_={c: stmt.excluded[c] for c in ("adcode", "name_zh", "name_en", "kind")},
    )
    await conn.execute(stmt)
    return len(rows)


async def any_citizen(conn: AsyncConnection) -> bool:
    return bool(await conn.scalar(select(exists().where(User.role == "citizen"))))


# --- consents and erasure (privacy) -----------------------------------------------------


async def latest_consent(session: AsyncSession, user_id: uuid.UUID) -> int | None:
    """The highest notice version the user accepted, or None."""
    return await session.scalar(select(func.max(PrivacyConsent.version))
                                .where(PrivacyConsent.user_id == user_id))


async def user_for_update(session: AsyncSession, user_id: uuid.UUID) -> User | None:
    return (await session.scalars(
        select(User).where(User.id == user_id).with_for_update())).first()


# Not an argon2 hash: no password verifies against it.
ERASED_PASSWORD_HASH = "!erased"  # noqa: S105


def tombstone_phone(user_id: uuid.UUID) -> bytes:
    """A unique value for a deleted account's phone index (NOT NULL, unique) that no phone's
    blind index can equal (an index is a keyed HMAC; this is a hash of another domain), so it
    never matches a sign-in or a registration and the number can register again."""
    return hashlib.sha256(b"deleted-account:" + user_id.bytes).digest()


async def erase_personal_data(session: AsyncSession, user_id: uuid.UUID, *,
                              pseudonym: str, at: dt.datetime) -> None:
    """Erase a user's personal fields in place: nickname → ``pseudonym``, phone → a unique
    tombstone, password hash → a value no password verifies against, status ``deleted``;
    every refresh token revoked. The row stays (ledger, batches and certificates keep their
    owner id). The one place that knows how phones are stored: adapt it with the storage."""
    await session.execute(update(User).where(User.id == user_id).values(
        nickname=pseudonym, phone_index=tombstone_phone(user_id), phone_ciphertext=b"",
        phone_code_hash=None, phone_code_expires_at=None,
        password_hash=ERASED_PASSWORD_HASH, status="deleted"))
    await revoke_tokens(session, at, user_id=user_id)


# --- used by privacy --------------------------------------------------------------------


async def export_profile(conn: AsyncConnection, user_id: uuid.UUID) -> dict[str, Any] | None:
    """The user's own row, without the password hash (the phone as stored: encrypted)."""
    row = (await conn.execute(select(
        User.id, User.role, User.phone_ciphertext, User.nickname, User.district_code,
        User.organisation_id, User.status, User.created_at).where(User.id == user_id))).first()
    return None if row is None else dict(row._mapping)


async def export_consents(conn: AsyncConnection, user_id: uuid.UUID) -> list[dict[str, Any]]:
    rows = await conn.execute(select(PrivacyConsent.version, PrivacyConsent.accepted_at)
                              .where(PrivacyConsent.user_id == user_id)
                              .order_by(PrivacyConsent.accepted_at, PrivacyConsent.id))
    return [dict(r._mapping) for r in rows]


async def export_refresh_tokens(conn: AsyncConnection, user_id: uuid.UUID
                                ) -> list[dict[str, Any]]:
    """The user's sign-ins (never the secrets)."""
    rows = await conn.execute(select(
        RefreshToken.family_id, RefreshToken.created_at, RefreshToken.expires_at,
        RefreshToken.used_at, RefreshToken.revoked_at)
        .where(RefreshToken.user_id == user_id).order_by(RefreshToken.created_at))
    return [dict(r._mapping) for r in rows]
