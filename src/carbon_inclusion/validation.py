"""Turning msgspec's validation messages into (field, message) pairs for problem+json."""

from __future__ import annotations

import re

_UNKNOWN_FIELD = re.compile(r"unknown field `([^`]+)`")
_MISSING_FIELD = re.compile(r"missing required field `([^`]+)`")


def field_of(error: Exception | str, prefix: str = "") -> tuple[str, str]:
    """``"Expected `int`, got `str` - at `$.a.b`"`` → ``("a.b", "Expected `int`, got `str`")``.

    Unknown and missing fields name the field itself; ``prefix`` is prepended (dotted).
    """
    message, _, where = str(error).partition(" - at `$")
    path = where.rstrip("`").replace("[...]", "").lstrip(".")
    named = _UNKNOWN_FIELD.search(message) or _MISSING_FIELD.search(message)
    if named:
        path = f"{path}.{named.group(1)}" if path else named.group(1)
    full = ".".join(p for p in (prefix, path) if p)
    return full or "body", message
