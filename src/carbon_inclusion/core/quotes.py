"""How much of the registry one organisation may hold in unpaid quotes.

Units: credits as ``int`` tonnes, the share as an exact ``Decimal`` fraction in ``(0, 1]``.

The market is the credits an order could take now or that open quotes hold for a while:
``available + reserved`` (every organisation's open quotes). Placing an order moves credits
from available to reserved and an expiry moves them back, so neither changes the market;
only issuance, payment and cancellation do. An organisation's unpaid quotes together may
reserve at most ``floor(share * market)`` tonnes (rounded down, ``ROUND_FLOOR``), but never
less than one tonne while the market holds one, so the last credit can still be sold.
Paid credits are the organisation's holding and count for nothing here.
"""

from __future__ import annotations

from decimal import ROUND_FLOOR, Decimal


def reservation_limit(market_t: int, share: Decimal) -> int:
    """The most tonnes one organisation may hold reserved in unpaid quotes.

    ``market_t``: available plus reserved credits (tonnes, >= 0); ``share`` in ``(0, 1]``.
    Raises ``ValueError`` outside those ranges.
    """
    if market_t < 0:
        raise ValueError("the market cannot hold fewer than 0 t")
    if not share.is_finite() or not 0 < share <= 1:
        raise ValueError("the share is a fraction above 0 and at most 1")
    if market_t == 0:
        return 0
    return max(1, int((share * market_t).to_integral_value(ROUND_FLOOR)))


def may_reserve(reserved_t: int, requested_t: int, market_t: int, share: Decimal) -> bool:
    """Whether an organisation holding ``reserved_t`` in open quotes may reserve
    ``requested_t`` more (tonnes) of ``market_t``."""
    return reserved_t + requested_t <= reservation_limit(market_t, share)
