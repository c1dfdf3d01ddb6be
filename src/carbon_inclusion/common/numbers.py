"""Decimal quantities from outside, in one form only.

Python's ``Decimal("…")`` (which msgspec uses for ``Decimal`` fields) reads far more than a
number: ``"5_0"`` is 50, ``"٥"`` (an Arabic-Indic five) is 5, ``" 5 "``, ``"NaN"``,
``"Infinity"`` and ``"1e400"`` are all decimals to it. A body field typed :class:`Amount`
takes a JSON number or a string of plain ASCII decimal digits (``"12.5"``, ``"-3"``), finite,
with at most ``SIGNIFICANT_DIGITS`` significant digits and a magnitude within
``10**±MAX_EXPONENT``; anything else is a 422 naming the field.

The framework's own decoder still reads the field (exactly: msgspec decodes JSON numbers
into ``Decimal`` from their text); the edge check runs first, reads the raw JSON value of
every field so marked, and refuses every other form.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Any

import msgspec
import msgspec.inspect

SIGNIFICANT_DIGITS = 15
MAX_EXPONENT = 15
PLAIN_PATTERN = r"^-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?$"
_PLAIN = re.compile(PLAIN_PATTERN, re.ASCII)


# What marks a field as an amount: the edge (web/decoding.py) checks the raw JSON of every
# field so marked, and the OpenAPI document describes it as a number or a digit string.
AMOUNT_MARK = "plain-decimal"
Amount = Annotated[Decimal, msgspec.Meta(extra={"format": AMOUNT_MARK})]


def is_amount(meta: Any) -> bool:
    """Whether ``meta`` (a ``msgspec.Meta``, or its ``msgspec.inspect.Metadata`` form) marks
    an :data:`Amount`."""
    return (isinstance(meta, msgspec.Meta | msgspec.inspect.Metadata)
            and (meta.extra or {}).get("format") == AMOUNT_MARK)


def to_amount(value: Any) -> Decimal:
    """``value`` as decoded from JSON (int, Decimal for a JSON number, or str) → ``Decimal``;
    ``ValueError`` for anything else."""
    if isinstance(value, bool):
        raise ValueError("must be a number, not true or false")
    if isinstance(value, str):
        if not _PLAIN.match(value) or value.endswith("\n"):
            raise ValueError('must be a decimal number in ASCII digits, like 12.5 or "12.5"')
        text = value
    elif isinstance(value, int | Decimal):
        text = str(value)
    elif isinstance(value, float):
        text = repr(value)
    else:
        raise ValueError("must be a number")
    amount = Decimal(text)
    if not amount.is_finite():
        raise ValueError("must be a finite number")
    if amount and (len(amount.as_tuple().digits) > SIGNIFICANT_DIGITS
                   or abs(amount.adjusted()) > MAX_EXPONENT):
        raise ValueError(f"must have at most {SIGNIFICANT_DIGITS} significant digits and "
                         f"lie within 1e±{MAX_EXPONENT}")
    return amount
