"""The pipeline benchmark's pure parts: the YouTube import's events, when lag reached 0 for good, the table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bench.pipeline import markdown
from bench.pipeline_load import youtube_events
from bench.pipeline_stack import CaughtUp, wait_caught_up
from kith_shared.events import validate_event

pytestmark = pytest.mark.unit


def test_memberships_become_joins_and_friendships_follows_both_ways(tmp_path: Path) -> None:
    (tmp_path / "release-youtube-groupmemberships.txt").write_text("1\t10\n2\t10\n")
    (tmp_path / "decoded_friend_subgraph_mislove_ids.tsv").write_text("1\t2\n")
    events = youtube_events(tmp_path, None)
    assert [(e["type"], e["data"]) for e in events] == [
        ("member.joined", {"member_id": "u1", "community_id": "g10"}),
        ("member.joined", {"member_id": "u2", "community_id": "g10"}),
        ("member.followed", {"member_id": "u1", "followed_member_id": "u2"}),
        ("member.followed", {"member_id": "u2", "followed_member_id": "u1"}),
    ]
    assert len({(e["source"], e["id"]) for e in events}) == 4
    for event in events:
        validate_event(event)
    assert len(youtube_events(tmp_path, 3)) == 3


class Lags:
    """A stack whose lags follow a script."""

    def __init__(self, script: list[dict[str, int | None]]) -> None:
        self.script = script

    async def lags(self, services: Any) -> dict[str, int | None]:
        return self.script.pop(0)

    def resident_mb(self) -> dict[str, float]:
        return {}


async def test_lag_zero_counts_from_when_it_stayed_zero(monkeypatch: pytest.MonkeyPatch) -> None:
    ticks = iter(range(100))
    monkeypatch.setattr("bench.pipeline_stack.time.monotonic", lambda: float(next(ticks)))

    async def no_sleep(_: float) -> None:
        return None

    monkeypatch.setattr("bench.pipeline_stack.asyncio.sleep", no_sleep)
    script: list[dict[str, int | None]] = [
        {"scoring": 5, "recommend": None},
        {"scoring": 0, "recommend": 9},
        {"scoring": 3, "recommend": 0},
        {"scoring": 0, "recommend": 4},
        {"scoring": 0, "recommend": 0},
    ]
    stack: Any = Lags(script)
    done = await wait_caught_up(stack, ("scoring", "recommend"), 0.0, within=1_000)
    assert isinstance(done, CaughtUp)
    first = done.samples[0]["t"]
    assert done.seconds["both"] == done.samples[-1]["t"]
    assert done.seconds["scoring"] == done.samples[3]["t"] > first
    assert done.seconds["recommend"] == done.samples[4]["t"]


def test_the_table_names_targets_met_or_not() -> None:
    result = {
        "store": "s", "broker": "b", "cores": 2, "load_average_at_start": (1.0, 1.0, 1.0),
        "backlog": {
            "events": 150_000, "read_only_ceiling": {"events_per_s": 30_000.0},
            "to_lag_zero_s": {"scoring": 60.0, "recommend": None, "both": None},
            "events_per_s_through_both": None, "peak_memory_mb": {"scoring": 300.0},
        },
    }  # fmt: skip
    table = markdown(result)
    assert "not reached" in table
    assert "target < 90 s" in table
    assert "scoring 300 MB" in table
