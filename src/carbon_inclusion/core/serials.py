"""Credit serial numbers and the splitting of serial blocks.

A serial is ``<PROGRAMME>-<METHOD>-<vintage year>-<number>``, e.g. ``CQTHT-TRANSIT-2026-
000001``: the methodology code without its ``CQ-`` prefix, upper case, and the number
zero-padded to ``DIGITS`` digits (more digits when it grows past them). A block is an
inclusive range ``(first, last)`` of serial numbers of one batch, all in one state.

Selling, reserving, retiring and cancelling never change a serial: they split a block
where the range they act on ends, so the pieces, joined, are the block again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

PROGRAMME = "CQTHT"
DIGITS = 6
MAX_NUMBER_DIGITS = 9

Range = tuple[int, int]  # (first, last), inclusive


def serial_prefix(methodology_code: str, year: int) -> str:
    """``("CQ-TRANSIT", 2026)`` → ``"CQTHT-TRANSIT-2026"``."""
    method = methodology_code.removeprefix("CQ-").upper()
    return f"{PROGRAMME}-{method}-{year}"


def format_serial(prefix: str, number: int) -> str:
    """``("CQTHT-TRANSIT-2026", 1)`` → ``"CQTHT-TRANSIT-2026-000001"``."""
    return f"{prefix}-{number:0{DIGITS}d}"


def range_text(first: str, last: str) -> str:
    """An inclusive range of serials as a person reads it: one serial alone
    (``CQTHT-TRANSIT-2026-000003``), else the first in full and the last by its number when
    both share a prefix (``CQTHT-TRANSIT-2026-000001 – 000005``), else both in full."""
    if first == last:
        return first
    head, _, _ = first.rpartition("-")
    tail_head, _, tail = last.rpartition("-")
    if head and head == tail_head:
        return f"{first} – {tail}"
    return f"{first} – {last}"


def parse_serial(value: str) -> tuple[str, int] | None:
    """``(prefix, number)`` of a serial of this programme (case and surrounding space do not
    matter), or None when it is not one."""
    prefix, _, number = value.strip().upper().rpartition("-")
    if (not prefix.startswith(PROGRAMME + "-") or not number.isdigit()
            or len(number) > MAX_NUMBER_DIGITS):
        return None
    return prefix, int(number)


def size(block: Range) -> int:
    """How many serials ``(first, last)`` holds."""
    return block[1] - block[0] + 1


@dataclass(frozen=True, slots=True)
class Narrowed:
    """A block split around ``kept``: the serials before and after it, if any."""

    before: Range | None
    kept: Range
    after: Range | None

    def pieces(self) -> list[Range]:
        return [r for r in (self.before, self.kept, self.after) if r is not None]


def narrow(block: Range, lo: int, hi: int) -> Narrowed:
    """Split ``block`` so that ``lo``–``hi`` is one piece; raises ``ValueError`` unless
    ``first <= lo <= hi <= last``."""
    first, last = block
    if not first <= lo <= hi <= last:
        raise ValueError(f"{lo}–{hi} is not within the block {first}–{last}")
    return Narrowed((first, lo - 1) if first < lo else None, (lo, hi),
                    (hi + 1, last) if hi < last else None)


def join(pieces: Sequence[Range]) -> Range:
    """The one block that adjacent ``pieces`` make; raises ``ValueError`` on a gap or an
    overlap."""
    ordered = sorted(pieces)
    if not ordered:
        raise ValueError("no pieces to join")
    for (_, last), (first, _) in pairwise(ordered):
        if first != last + 1:
            raise ValueError(f"pieces do not meet: {ordered}")
    return ordered[0][0], ordered[-1][1]


@dataclass(frozen=True, slots=True)
class Take:
    """What is taken of the ``index``-th block: ``taken``; ``split`` when the block is
    bigger and must be narrowed to it first."""

    index: int
    taken: Range
    split: bool


def take_first(blocks: Sequence[Range], quantity: int) -> list[Take]:
    """Take ``quantity`` serials from ``blocks`` in the order given (the registry orders them
    oldest vintage, then lowest serial first): whole blocks, then the low end of the block
    where the quantity ends. Raises ``ValueError`` when the blocks hold fewer."""
    if quantity <= 0:
        raise ValueError("take a positive number of serials")
    left, out = quantity, []
    for i, block in enumerate(blocks):
        n = min(size(block), left)
        out.append(Take(i, (block[0], block[0] + n - 1), n < size(block)))
        left -= n
        if left == 0:
            return out
    raise ValueError(f"the blocks hold {quantity - left} serials, {quantity} asked for")
