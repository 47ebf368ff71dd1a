"""A short soak: live activity through the three services while each is killed (SIGKILL) and the database restarted.

The same run as ``python -m bench soak``, shorter: afterwards every event ingest accepted is on the
activity topic, no consumer is stuck, scoring's figures equal a rebuild from the topic and
recommend's last checkpoint equals a replay of the topics.
"""

from __future__ import annotations

import pytest

from bench.soak import SERVICES, parse, passed, run

pytestmark = [pytest.mark.integration, pytest.mark.slow]


async def test_a_short_soak_survives_every_kill_and_counts_every_accepted_event_once() -> None:
    result = await run(parse(["--rate", "40", "--warmup", "8", "--between", "10", "--settle", "5", "--within", "240"]))
    assert [kill["target"] for kill in result["kills_survived"]] == [*SERVICES, "database"]
    assert result["events_accepted"] > 0
    assert result["accepted_missing_from_topic"] == 0
    assert result["lag_after"] == {"scoring": 0, "recommend": 0}
    assert all(seconds is not None for seconds in result["ready_after_s"].values())
    assert result["scoring_equals_rebuild"], (result["scoring_differences"], result["scoring_first_differences"])
    assert result["recommend_equals_replay"]["equal"], result["recommend_equals_replay"]
    assert result["scoring_events_rebuilt"] >= result["events_accepted"]
    for outage in result["outages"].values():
        assert outage["polls"] > 0
    assert passed(result)
