"""Password hashing (argon2id) and the password policy."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

# RFC 9106 "second recommended" profile, sized for a 2-core API host (~20 ms per hash).
_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)

# Verified against when the phone is unknown, so both paths cost the same time.
_DUMMY_HASH = _hasher.hash("not-a-real-password-but-same-cost")

MIN_LENGTH = 8
MAX_LENGTH = 128
_COMMON = frozenset(
    {
        "password", "password1", "12345678", "123456789", "1234567890", "qwerty123",
        "11111111", "88888888", "abc12345", "a1234567", "iloveyou", "woaini1314",
        "qwertyui", "asdfghjk", "1qaz2wsx", "passw0rd", "admin123", "aa123456",
    }
)


def password_problems(password: str, *, phone_digits: str = "") -> str | None:
    """Why ``password`` is too weak, or None when it is acceptable."""
    if len(password) < MIN_LENGTH:
        return f"must be at least {MIN_LENGTH} characters"
    if len(password) > MAX_LENGTH:
        return f"must be at most {MAX_LENGTH} characters"
    if password.lower() in _COMMON:
        return "is too common"
    classes = sum(
        (
            any(c.isalpha() for c in password),
            any(c.isdigit() for c in password),
            any(not c.isalnum() for c in password),
        )
    )
    if classes < 2:
        return "must mix at least two of letters, digits and symbols"
    if len(set(password)) < 4:
        return "has too few different characters"
    if phone_digits and phone_digits[-8:] in password:
        return "must not contain the phone number"
    return None


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Constant-cost check; an absent hash still spends one verification."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)
