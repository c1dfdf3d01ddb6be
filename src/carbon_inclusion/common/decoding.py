"""msgspec's validation messages as (field, message) pairs, for problem+json ``errors[]``.

msgspec says ``Expected `int`, got `str` - at `$.data[0].x```; the API says field
``data[0].x``, message ``Expected `int`, got `str```. Unknown and missing fields name the
field itself.
"""

from __future__ import annotations

import re

_AT = re.compile(r"\s*-\s*at `\$([^`]*)`")
_NAMED = re.compile(r"(?:unknown|missing required) field `([^`]+)`")


def path_of(message: str) -> str:
    """The dotted path of ``$...`` in a msgspec message ('' when it names none)."""
    m = _AT.search(message)
    path = m.group(1).replace("[...]", "").lstrip(".") if m else ""
    named = _NAMED.search(message)
    if named:
        path = f"{path}.{named.group(1)}" if path else named.group(1)
    return path


def message_of(message: str) -> str:
    """The message without its ``- at `$...``` suffix."""
    return _AT.sub("", message).strip()


def field_of(error: Exception | str, prefix: str = "") -> tuple[str, str]:
    """``"Expected `int`, got `str` - at `$.a.b`"`` → ``("a.b", "Expected `int`, got `str`")``;
    ``prefix`` is prepended (dotted); a message naming no field is about ``body``."""
    text = str(error)
    full = ".".join(p for p in (prefix, path_of(text)) if p)
    return full or "body", message_of(text)
