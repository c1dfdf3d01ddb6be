"""How much of the market one organisation may hold in unpaid quotes."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from carbon_inclusion.core.quotes import may_reserve, reservation_limit

shares = st.decimals(min_value=Decimal("0.001"), max_value=1, places=3, allow_nan=False,
                     allow_infinity=False)
markets = st.integers(min_value=0, max_value=10**9)


@pytest.mark.parametrize(("market", "share", "limit"), [
    (0, "0.5", 0),
    (1, "0.5", 1),      # at least one tonne: the last credit can be sold
    (2, "0.5", 1),
    (3, "0.5", 1),      # rounded down
    (10, "0.5", 5),
    (101, "0.5", 50),
    (100, "0.333", 33),
    (7, "1", 7),
    (1000, "0.001", 1),
    (999, "0.001", 1),
])
def test_the_limit_is_the_share_of_the_market_rounded_down_but_at_least_one(market, share,
                                                                            limit):
    assert reservation_limit(market, Decimal(share)) == limit


@pytest.mark.parametrize(("reserved", "requested", "market", "ok"), [
    (0, 5, 10, True), (0, 6, 10, False), (5, 0, 10, True), (5, 1, 10, False),
    (3, 2, 10, True), (0, 1, 1, True), (1, 1, 2, False),
])
def test_may_reserve(reserved, requested, market, ok):
    assert may_reserve(reserved, requested, market, Decimal("0.5")) is ok


@pytest.mark.parametrize(("market", "share"), [(-1, "0.5"), (10, "0"), (10, "1.01"),
                                               (10, "-0.5"), (10, "NaN"), (10, "Infinity")])
def test_out_of_range_inputs_are_refused(market, share):
    with pytest.raises(ValueError):
        reservation_limit(market, Decimal(share))


@given(markets, shares)
def test_the_limit_never_exceeds_the_market_nor_the_share_beyond_one_tonne(market, share):
    limit = reservation_limit(market, share)
    assert 0 <= limit <= market
    assert limit <= max(1, share * market)
    assert (limit >= 1) == (market >= 1)


@given(markets, shares, shares)
def test_a_larger_share_never_allows_less(market, a, b):
    low, high = sorted((a, b))
    assert reservation_limit(market, low) <= reservation_limit(market, high)


@given(st.integers(min_value=0, max_value=10**6), shares)
def test_a_larger_market_never_allows_less(market, share):
    assert reservation_limit(market, share) <= reservation_limit(market + 1, share)
