"""The fence of each partition's stored progress: replays skipped, a new incarnation of the topic noticed."""

from __future__ import annotations

import pytest

from kith_scoring.domain.documents import ProgressDoc
from kith_scoring.store.progress import FenceInDoubt, InRecord, fence

pytestmark = pytest.mark.unit


def records(*offsets: int, marker: str = "m") -> list[InRecord]:
    """Return records of partition 0 at these offsets, each marked ``{marker}{offset}``."""
    return [InRecord("activity", 0, offset, f"{marker}{offset}", None) for offset in offsets]


def progress(offset: int, marker: str) -> ProgressDoc:
    return {"_id": "activity|0", "topic": "activity", "partition": 0, "offset": offset, "marker": marker}


def test_a_partition_never_applied_lets_everything_through() -> None:
    fenced = fence(records(0, 1, 2), None)
    assert [r.offset for r in fenced.keep] == [0, 1, 2]
    assert (fenced.skipped, fenced.new_incarnation, fenced.advance) == (0, False, True)


def test_a_replay_skips_what_was_applied_and_advances_past_it() -> None:
    fenced = fence(records(3, 4, 5, 6), progress(4, "m4"))
    assert [r.offset for r in fenced.keep] == [5, 6]
    assert (fenced.skipped, fenced.new_incarnation, fenced.advance) == (2, False, True)
    whole_replay = fence(records(3, 4), progress(4, "m4"))
    assert (whole_replay.keep, whole_replay.skipped, whole_replay.advance) == ([], 2, False)


def test_another_record_at_the_stored_offset_is_a_new_incarnation_and_nothing_is_skipped() -> None:
    fenced = fence(records(3, 4, 5, marker="new"), progress(4, "m4"))
    assert [r.offset for r in fenced.keep] == [3, 4, 5]
    assert (fenced.skipped, fenced.new_incarnation, fenced.advance) == (0, True, True)


def test_a_chunk_below_the_stored_offset_is_in_doubt_until_the_broker_decides() -> None:
    with pytest.raises(FenceInDoubt) as doubt:
        fence(records(0, 1), progress(40, "m40"))
    assert doubt.value.partitions == [("activity", 0, 40, "m40")]
    new = fence(records(0, 1), progress(40, "m40"), same_incarnation=False)
    assert [r.offset for r in new.keep] == [0, 1]
    assert (new.new_incarnation, new.advance) == (True, True)


def test_a_re_read_below_the_fence_of_the_same_incarnation_applies_nothing_and_keeps_the_fence() -> None:
    fenced = fence(records(10, 11, 12), progress(40, "m40"), same_incarnation=True)
    assert (fenced.keep, fenced.skipped, fenced.new_incarnation, fenced.advance) == ([], 3, False, False)
    # Re-read across the fence while missing the record at it (dead-lettered this time): still the broker's call.
    with pytest.raises(FenceInDoubt):
        fence(records(38, 39, 41, 42), progress(40, "m40"))
    across = fence(records(38, 39, 41, 42), progress(40, "m40"), same_incarnation=True)
    assert [r.offset for r in across.keep] == [41, 42]
    assert (across.new_incarnation, across.advance) == (False, True)


def test_records_past_the_stored_offset_without_it_are_all_applied() -> None:
    fenced = fence(records(41, 42), progress(40, "m40"))
    assert [r.offset for r in fenced.keep] == [41, 42]
    assert (fenced.skipped, fenced.new_incarnation, fenced.advance) == (0, False, True)
