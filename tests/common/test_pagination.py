import datetime as dt
import uuid
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from carbon_inclusion.common.pagination import (
    MAX_LIMIT,
    check_limit,
    decode_cursor,
    decode_one,
    encode_cursor,
    page,
)
from carbon_inclusion.errors import InvalidInput

aware = st.datetimes(timezones=st.sampled_from([dt.UTC, dt.timezone(dt.timedelta(hours=8))]))


@given(at=aware, ident=st.uuids(),
       code=st.text(st.characters(blacklist_characters="\x00"), max_size=40), n=st.integers())
def test_a_cursor_decodes_to_the_values_it_was_made_of(at, ident, code, n):
    cursor = encode_cursor(at, ident, code, n)
    assert decode_cursor(cursor, dt.datetime, uuid.UUID, str, int) == (at, ident, code, n)


@pytest.mark.parametrize(("values", "kinds"), [
    (["x", "y"], (dt.datetime, uuid.UUID)),
    ([1, 2], (dt.datetime, uuid.UUID)),
    ([None, None], (dt.datetime, uuid.UUID)),
    (["2026-01-01T00:00:00", str(uuid.uuid4())], (dt.datetime, uuid.UUID)),  # naive
    (["a"], (dt.datetime, uuid.UUID)),  # arity
    ([True], (int,)),  # a bool is not an int
    (["1"], (int,)),
    (["NaN"], (Decimal,)),
    (["a\x00b"], (str,)),
    ([1], (str,)),
])
def test_a_cursor_of_the_wrong_shape_is_refused_naming_cursor(values, kinds):
    with pytest.raises(InvalidInput) as e:
        decode_cursor(encode_cursor(*values), *kinds)
    assert [f.field for f in e.value.errors] == ["cursor"]


@pytest.mark.parametrize("cursor", ["%%%", "A" * 1100, "!!", "e30"])  # e30 = "{}"
def test_garbage_is_refused_naming_cursor(cursor):
    with pytest.raises(InvalidInput):
        decode_cursor(cursor, str)


def test_no_cursor_is_the_first_page():
    assert decode_cursor(None, str) is None
    assert decode_cursor("", str) is None
    assert decode_one(None, uuid.UUID) is None


@given(n=st.integers(0, 30), limit=st.integers(1, 10))
def test_a_page_holds_at_most_limit_and_a_cursor_only_when_more_follow(n, limit):
    rows = list(range(min(n, limit + 1)))  # what a LIMIT limit + 1 query returns
    items, cursor = page(rows, limit, lambda r: (r,))
    assert items == rows[:limit]
    assert (cursor is not None) == (n > limit)
    if cursor:
        assert decode_one(cursor, int) == items[-1]


@pytest.mark.parametrize("limit", [0, -1, MAX_LIMIT + 1])
def test_a_limit_out_of_range_names_limit(limit):
    with pytest.raises(InvalidInput) as e:
        check_limit(limit)
    assert e.value.errors[0].field == "limit"
