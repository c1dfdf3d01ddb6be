"""Point lots: which lots a debit is taken from.

A citizen's points sit in lots by earning year (``lot``, an ``int`` year in programme time);
a lot expires as a whole, so a debit spends the soonest-expiring (oldest) lot first. Amounts
are ``int`` points; a debit's parts are negative, ready for a journal entry's ``lots``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

Parts = tuple[tuple[int, int], ...]


def held(lots: Iterable[tuple[int, int]]) -> int:
    """The points the lots ``(lot, balance)`` hold (non-positive balances hold nothing)."""
    return sum(max(balance, 0) for _, balance in lots)


def allocate(lots: Iterable[tuple[int, int]], points: int) -> Parts:
    """Up to ``points`` taken from ``lots`` ``(lot, balance)``, oldest lot first.

    Returns ``(lot, -taken)`` parts, oldest first, with no zero part; they sum to
    ``-min(points, held(lots))``: exactly the debit when the lots hold enough, everything
    they hold when they do not (the caller decides whether a short debit is allowed).
    """
    taken: list[tuple[int, int]] = []
    rest = max(points, 0)
    for lot, balance in sorted(lots):
        if rest == 0:
            break
        take = min(balance, rest)
        if take > 0:
            taken.append((lot, -take))
            rest -= take
    return tuple(taken)


def split(parts: Sequence[tuple[int, int]], points: int) -> tuple[Parts, Parts]:
    """Cut the first ``points`` off an allocation (negative ``parts``, in spending order).

    Returns ``(taken, left)``: ``taken`` sums to ``-min(points, -sum(parts))``, ``left`` is
    the rest in the same order; a lot cut in two appears in both. Used to share one
    citizen's allocation among several debits (each behaviour's reversal).
    """
    taken: list[tuple[int, int]] = []
    left = list(parts)
    rest = max(points, 0)
    while left and rest:
        lot, amount = left[0]
        take = min(-amount, rest)
        taken.append((lot, -take))
        rest -= take
        if take == -amount:
            left.pop(0)
        else:
            left[0] = (lot, amount + take)
    return tuple(taken), tuple(left)
