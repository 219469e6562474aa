"""The start block of a catch-up from the cursors: pure, no devnet and no database."""

from __future__ import annotations

import pytest

from polygon_pipeline.sync.start_block import start_block

HEAD, FRESH, OVERLAP = 1_000, 50, 20


def test_starts_from_the_cursor_however_far_back():
    # A watcher killed 62 blocks ago (or 10,000): everything after the cursor is read again.
    assert start_block([HEAD - 62], HEAD, FRESH, OVERLAP) == HEAD - 62 - OVERLAP
    assert start_block([10_000], 20_000, FRESH, OVERLAP) == 10_000 - OVERLAP


def test_a_cursor_closer_than_the_fresh_window_still_wins():
    assert start_block([HEAD - 5], HEAD, FRESH, OVERLAP) == HEAD - 5 - OVERLAP


def test_without_a_cursor_the_last_fresh_blocks():
    assert start_block([None], HEAD, FRESH, OVERLAP) == HEAD - FRESH + 1


def test_the_lowest_exchange_decides():
    assert start_block([HEAD - 3, HEAD - 400, HEAD - 7], HEAD, FRESH, OVERLAP) == HEAD - 420
    # an exchange not reconciled yet pulls the start down to its fresh window
    assert start_block([HEAD - 3, None], HEAD, FRESH, OVERLAP) == HEAD - FRESH + 1
    # and a cursor further back than that window still wins over it
    assert start_block([HEAD - 200, None], HEAD, FRESH, OVERLAP) == HEAD - 220


@pytest.mark.parametrize(("cursors", "head"), [([5], 100), ([None], 10), ([0], 0), ([None, 3], 2)])
def test_never_below_block_zero(cursors, head):
    assert start_block(cursors, head, FRESH, OVERLAP) == 0


def test_no_exchange_is_an_error():
    with pytest.raises(ValueError, match="at least one"):
        start_block([], HEAD, FRESH, OVERLAP)
