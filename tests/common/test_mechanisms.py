"""The clock, idempotency, lock keys, msgspec and integrity-error translation."""

import datetime as dt
import hashlib
import uuid

import msgspec
import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from carbon_inclusion.common import idempotency, locks
from carbon_inclusion.common.clock import SYSTEM_CLOCK, FixedClock
from carbon_inclusion.common.decoding import field_of
from carbon_inclusion.common.integrity import constraint_of, domain_error, integrity_errors
from carbon_inclusion.errors import Conflict, IdempotencyKeyReused, InvalidInput


def test_a_fixed_clock_stands_still_until_moved():
    clock = FixedClock(dt.datetime(2026, 12, 31, 23, 59, tzinfo=dt.timezone(dt.timedelta(hours=8))))
    assert clock.now() == clock.now() == dt.datetime(2026, 12, 31, 15, 59, tzinfo=dt.UTC)
    clock.advance(dt.timedelta(minutes=2))
    assert clock.now().isoformat() == "2026-12-31T16:01:00+00:00"
    with pytest.raises(ValueError, match="aware"):
        FixedClock(dt.datetime(2026, 1, 1))


def test_the_system_clock_is_aware():
    assert SYSTEM_CLOCK.now().tzinfo is not None


@pytest.mark.parametrize("key", [None, "", "short", "x" * 129, "has space in it", "ключ-ключ-ключ"])
def test_a_bad_idempotency_key_names_the_header(key):
    with pytest.raises(InvalidInput) as e:
        idempotency.require_key(key, "claim")
    assert e.value.code == "idempotency_key_required"
    assert e.value.errors[0].field == "Idempotency-Key"


def test_the_request_hash_ignores_key_order_but_not_values():
    a = idempotency.request_hash({"type": "transit_trip", "data": {"km": "5", "mode": "metro"}})
    b = idempotency.request_hash({"data": {"mode": "metro", "km": "5"}, "type": "transit_trip"})
    c = idempotency.request_hash({"data": {"mode": "metro", "km": "6"}, "type": "transit_trip"})
    assert a == b != c
    # The stored hashes of earlier requests stay valid: the same bytes as before.
    assert a == hashlib.sha256(b'{"data":{"km":"5","mode":"metro"},"type":"transit_trip"}').digest()


def test_a_replay_with_another_body_is_refused():
    digest = idempotency.request_hash({"a": 1})
    idempotency.check_replay(digest, digest, "claim")
    idempotency.check_replay(None, digest, "claim")
    with pytest.raises(IdempotencyKeyReused):
        idempotency.check_replay(idempotency.request_hash({"a": 2}), digest, "claim")
    assert idempotency.in_use("claim").code == "idempotency_key_in_use"


def test_lock_keys_are_signed_64_bit_and_keep_their_values():
    citizen = uuid.UUID("0190c6a6-0000-7000-8000-000000000001")
    key = locks.lock_key("behaviours", citizen, "transit_trip")
    raw = f"behaviours:{citizen}:transit_trip".encode()
    assert key == int.from_bytes(hashlib.blake2b(raw, digest_size=8).digest(), "big", signed=True)
    assert -(2**63) <= key < 2**63
    assert locks.lock_key("behaviours", citizen, "waste_sorting") != key
    assert idempotency.lock_key("claim", citizen, "k" * 8) != idempotency.lock_key(
        "redemption", citizen, "k" * 8)


class Inner(msgspec.Struct, forbid_unknown_fields=True):
    x: int


class Outer(msgspec.Struct):
    items: list[Inner]


@pytest.mark.parametrize(("raw", "field"), [
    (b'{"items": [{"x": "1"}]}', "items[0].x"),
    (b'{"items": [{"x": 1, "y": 2}]}', "items[0].y"),
    (b'{"items": [{}]}', "items[0].x"),
    (b'{}', "items"),
    (b'[]', "body"),
])
def test_msgspec_errors_name_the_field(raw, field):
    with pytest.raises(msgspec.ValidationError) as e:
        msgspec.json.decode(raw, type=Outer)
    name, message = field_of(e.value)
    assert name == field
    assert " - at " not in message


def test_a_prefix_is_prepended():
    assert field_of("Expected `int`, got `str` - at `$.a`", "data") == (
        "data.a", "Expected `int`, got `str`")


async def test_integrity_errors_are_translated_by_constraint_name(app):
    db = app.state.db
    phone = uuid.uuid4().bytes * 2  # a blind index (users keep no phone in clear)
    insert = text("INSERT INTO users (id, role, phone_index, phone_ciphertext, password_hash, "
                  "nickname, status) VALUES (:id, 'admin', :p, '\\x00', 'x', 'n', 'active')")
    async with db.connect() as conn:
        await conn.execute(insert, {"id": uuid.uuid4(), "p": phone})
    with pytest.raises(IntegrityError) as raw:
        async with db.connect() as conn:
            await conn.execute(insert, {"id": uuid.uuid4(), "p": phone})
    assert constraint_of(raw.value) == "uq_users_phone"
    assert domain_error(raw.value).code == "phone_taken"
    with pytest.raises(Conflict) as translated, integrity_errors():
        raise raw.value
    assert translated.value.errors[0].field == "phone"
