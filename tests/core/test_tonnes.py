"""Tonne and carry splitting of credit batches."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from carbon_inclusion.core.tonnes import GRAMS_PER_TONNE, split_tonnes

grams = st.decimals(min_value=0, max_value=10**12, places=3, allow_nan=False,
                    allow_infinity=False)
under_a_tonne = st.decimals(min_value=0, max_value=Decimal("999999.999"), places=3,
                            allow_nan=False, allow_infinity=False)


@pytest.mark.parametrize(("carry_in", "allocated", "quantity", "carry_out"), [
    ("0", "0", 0, "0"),
    ("0", "999999.999", 0, "999999.999"),
    ("0", "1000000", 1, "0"),
    ("400000", "600000", 1, "0"),
    ("400000.5", "2600000", 3, "0.5"),
    ("999999.999", "0.001", 1, "0.000"),
    ("0", "12345678.9", 12, "345678.9"),
])
def test_a_batch_issues_whole_tonnes_and_carries_the_rest(carry_in, allocated, quantity,
                                                          carry_out):
    split = split_tonnes(Decimal(carry_in), Decimal(allocated))
    assert (split.quantity_t, split.carry_out_g) == (quantity, Decimal(carry_out))


@pytest.mark.parametrize(("carry_in", "allocated"), [("-1", "0"), ("0", "-0.001"),
                                                     ("NaN", "0"), ("0", "Infinity")])
def test_negative_or_non_finite_grams_are_refused(carry_in, allocated):
    with pytest.raises(ValueError):
        split_tonnes(Decimal(carry_in), Decimal(allocated))


@given(under_a_tonne, grams)
def test_carry_in_plus_allocated_minus_carry_out_is_whole_tonnes(carry_in, allocated):
    split = split_tonnes(carry_in, allocated)
    assert carry_in + allocated - split.carry_out_g == split.quantity_t * GRAMS_PER_TONNE
    assert 0 <= split.carry_out_g < GRAMS_PER_TONNE
    assert split.total_g == carry_in + allocated


@given(st.lists(grams, min_size=1, max_size=8))
def test_carrying_through_batches_loses_no_gram(pools):
    carry, issued = Decimal(0), 0
    for allocated in pools:
        split = split_tonnes(carry, allocated)
        carry, issued = split.carry_out_g, issued + split.quantity_t
    assert issued * GRAMS_PER_TONNE + carry == sum(pools, Decimal(0))
