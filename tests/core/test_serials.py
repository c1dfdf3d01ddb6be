"""Serial formatting and the splitting of serial blocks."""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from carbon_inclusion.core.serials import (
    Narrowed,
    format_serial,
    join,
    narrow,
    parse_serial,
    range_text,
    serial_prefix,
    size,
    take_first,
)


@pytest.mark.parametrize(("code", "year", "number", "serial"), [
    ("CQ-TRANSIT", 2026, 1, "CQTHT-TRANSIT-2026-000001"),
    ("CQ-waste", 2025, 123456, "CQTHT-WASTE-2025-123456"),
    ("CQ-TAB12", 2024, 1234567, "CQTHT-TAB12-2024-1234567"),
    ("OTHER", 2026, 42, "CQTHT-OTHER-2026-000042"),
])
def test_serials_are_formatted_and_parsed_back(code, year, number, serial):
    prefix = serial_prefix(code, year)
    assert format_serial(prefix, number) == serial
    assert parse_serial(serial) == (prefix, number)


@pytest.mark.parametrize("value", ["", "CQTHT", "XX-TRANSIT-2026-000001",
                                   "CQTHT-TRANSIT-2026-", "CQTHT-TRANSIT-2026-00x001",
                                   "CQTHT-TRANSIT-2026-1234567890", "000001"])
def test_what_is_not_a_serial_of_this_programme_parses_to_none(value):
    assert parse_serial(value) is None


def test_a_serial_is_read_whatever_its_case_and_surrounding_space():
    assert parse_serial("  cqtht-transit-2026-000007 ") == ("CQTHT-TRANSIT-2026", 7)


@pytest.mark.parametrize(("block", "lo", "hi", "expected"), [
    ((1, 10), 1, 10, Narrowed(None, (1, 10), None)),
    ((1, 10), 1, 3, Narrowed(None, (1, 3), (4, 10))),
    ((1, 10), 8, 10, Narrowed((1, 7), (8, 10), None)),
    ((1, 10), 4, 6, Narrowed((1, 3), (4, 6), (7, 10))),
    ((5, 5), 5, 5, Narrowed(None, (5, 5), None)),
])
def test_narrowing_a_block_leaves_the_serials_on_either_side(block, lo, hi, expected):
    assert narrow(block, lo, hi) == expected


@pytest.mark.parametrize(("lo", "hi"), [(0, 3), (3, 11), (6, 4)])
def test_narrowing_outside_the_block_is_refused(lo, hi):
    with pytest.raises(ValueError):
        narrow((1, 10), lo, hi)


@pytest.mark.parametrize(("blocks", "quantity", "taken"), [
    ([(1, 10)], 10, [((1, 10), False)]),
    ([(1, 10)], 3, [((1, 3), True)]),
    ([(1, 2), (5, 9)], 4, [((1, 2), False), ((5, 6), True)]),
    ([(1, 2), (5, 9), (20, 30)], 7, [((1, 2), False), ((5, 9), False)]),
])
def test_taking_takes_whole_blocks_then_the_low_end_of_the_last(blocks, quantity, taken):
    assert [(t.taken, t.split) for t in take_first(blocks, quantity)] == taken


def test_taking_more_than_the_blocks_hold_is_refused():
    with pytest.raises(ValueError):
        take_first([(1, 2), (5, 6)], 5)


def test_pieces_with_a_gap_do_not_join():
    with pytest.raises(ValueError):
        join([(1, 3), (5, 9)])


numbers = st.integers(min_value=1, max_value=10**9)


@st.composite
def blocks_and_ranges(draw):
    first = draw(numbers)
    last = draw(st.integers(min_value=first, max_value=first + 10**6))
    lo = draw(st.integers(min_value=first, max_value=last))
    hi = draw(st.integers(min_value=lo, max_value=last))
    return (first, last), lo, hi


@given(blocks_and_ranges())
def test_splitting_a_block_and_joining_the_pieces_gives_the_block_back(case):
    block, lo, hi = case
    pieces = narrow(block, lo, hi).pieces()
    assert join(pieces) == block
    assert sum(map(size, pieces)) == size(block)
    assert (lo, hi) in pieces


@given(st.lists(st.integers(min_value=1, max_value=50), min_size=1, max_size=6),
       st.integers(min_value=1, max_value=300))
def test_taking_takes_exactly_the_quantity_in_order_without_overlap(sizes, quantity):
    blocks, start = [], 1
    for n in sizes:
        blocks.append((start, start + n - 1))
        start += n + 3  # blocks of a batch need not be adjacent
    assume(quantity <= sum(sizes))
    takes = take_first(blocks, quantity)
    assert sum(size(t.taken) for t in takes) == quantity
    assert [t.index for t in takes] == list(range(len(takes)))
    for t in takes:
        block = blocks[t.index]
        assert narrow(block, *t.taken).before is None  # the low end of its block
        assert t.split == (t.taken != block)
    assert all(not t.split for t in takes[:-1])


@given(st.integers(min_value=0, max_value=10**9 - 1), st.integers(min_value=2000,
                                                                  max_value=2100))
def test_every_formatted_serial_of_up_to_nine_digits_parses_back(number, year):
    prefix = serial_prefix("CQ-TRANSIT", year)
    assert parse_serial(format_serial(prefix, number)) == (prefix, number)


@pytest.mark.parametrize(("first", "last", "shown"), [
    ("CQTHT-TRANSIT-2026-000003", "CQTHT-TRANSIT-2026-000003", "CQTHT-TRANSIT-2026-000003"),
    ("CQTHT-TRANSIT-2026-000001", "CQTHT-TRANSIT-2026-000005",
     "CQTHT-TRANSIT-2026-000001 – 000005"),
    ("CQTHT-TRANSIT-2026-999999", "CQTHT-TRANSIT-2026-1000000",
     "CQTHT-TRANSIT-2026-999999 – 1000000"),
    ("CQTHT-TRANSIT-2025-000009", "CQTHT-TRANSIT-2026-000001",
     "CQTHT-TRANSIT-2025-000009 – CQTHT-TRANSIT-2026-000001"),
])
def test_a_range_is_written_as_a_person_reads_it(first, last, shown):
    assert range_text(first, last) == shown
