"""Mainland China mobile numbers: normalisation and masking (pure)."""

from __future__ import annotations

import re

_MOBILE = re.compile(r"1[3-9]\d{9}")
_SEPARATORS = re.compile(r"[\s\-()]")


def normalise_phone(raw: str) -> str | None:
    """``"+86 138-0013-8000"`` → ``"+8613800138000"``; None when not a mainland mobile."""
    digits = _SEPARATORS.sub("", raw)
    if digits.startswith("+86"):
        digits = digits[3:]
    elif digits.startswith("0086"):
        digits = digits[4:]
    elif digits.startswith("86") and len(digits) == 13:
        digits = digits[2:]
    if not _MOBILE.fullmatch(digits):
        return None
    return "+86" + digits


def mask_phone(phone: str) -> str:
    """``"+8613800138000"`` → ``"138****8000"``: what anyone but the owner may see."""
    digits = phone.removeprefix("+86")
    return f"{digits[:3]}****{digits[-4:]}"
