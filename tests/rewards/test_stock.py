"""How a reward's stock is split over its shards."""

from __future__ import annotations

import pytest

from carbon_inclusion.rewards.stock import split


def test_the_shards_add_up_to_the_stock_and_cover_what_they_issued():
    assert split(None, [3, 0]) == [None, None]
    assert split(10, [0, 0, 0, 0]) == [3, 3, 2, 2]
    assert split(10, [4, 1, 0, 0]) == [6, 2, 1, 1]
    assert split(10, [4, 1, 0, 0], spread=False) == [9, 1, 0, 0]
    assert split(5, [4, 1, 0, 0]) == [4, 1, 0, 0]
    with pytest.raises(ValueError, match="below"):
        split(4, [4, 1, 0, 0])
