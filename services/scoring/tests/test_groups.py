"""Two consumers in one group, and members slipping away and coming back."""

from __future__ import annotations

from functools import partial
from typing import Any

import pytest

from kith_devkit.testing import publish
from kith_scoring.settings import ScoringSettings
from services.scoring.tests.helpers import (
    assert_rebuild_identical,
    at,
    caught_up,
    engagement_events,
    event,
    stream,
    wait_for,
)

pytestmark = pytest.mark.integration


async def test_a_second_consumer_joining_mid_stream_counts_nothing_twice(
    scoring_settings: ScoringSettings, start_app: Any
) -> None:
    events = stream(6_000)
    settings = scoring_settings.model_copy(update={"batch_max_records": 300, "session_timeout_ms": 6_000})
    async with start_app(settings) as first:
        await publish(settings.kafka, events[:3_000])
        await first.wait_applied(300)
        async with start_app(settings) as second:
            await publish(settings.kafka, events[3_000:])
            await wait_for(lambda: caught_up(settings), within=120)
            assert second.app.state.consumer.applied > 0  # the group shared the partitions
    await assert_rebuild_identical(settings, len(events))


async def test_a_backlog_is_applied_in_full_batches(scoring_settings: ScoringSettings, start_app: Any) -> None:
    events = stream(2_500)
    await publish(scoring_settings.kafka, events, chunk=250)  # many small record batches on the broker
    for limit, transactions in ((2_500, 1), (1_000, 3)):
        settings = scoring_settings.model_copy(
            update={
                "batch_max_records": limit,
                "fetch_max_bytes": 64 * 1024,  # a fetch returns a few hundred records: batches are gathered
                "gather_seconds": 60.0,  # bounded by count here, not by time
                "consumer_group": f"scoring-{limit}",
                "mongo": scoring_settings.mongo.model_copy(
                    update={"database": f"{scoring_settings.mongo.database}_{limit}"}
                ),
            }
        )
        async with start_app(settings) as running:
            await wait_for(partial(caught_up, settings), within=120)
            # Without gathering this takes 15 or more; a slow fetch on a loaded machine may cut one batch short.
            assert running.app.state.consumer.store.stats.transactions in (transactions, transactions + 1)


async def test_members_slipping_away_and_back_are_announced(scoring_settings: ScoringSettings, start_app: Any) -> None:
    early = [event("member.joined", at(0, 1), community_id="c1", member_id=f"m{i}") for i in range(8)]
    early.append(event("event.hosted", at(0, 2), community_id="c1", member_id="m0", event_id="e1"))
    later = [event("post.viewed", at(20, 1), community_id="c1", member_id=f"m{i}", post_id="p1") for i in range(1, 8)]
    async with start_app(scoring_settings) as running:
        await publish(scoring_settings.kafka, early + later)
        await wait_for(lambda: caught_up(scoring_settings))
        assert await running.app.state.sweep.sweep() == 1
        assert await running.app.state.sweep.sweep() == 0  # announced once
        await publish(
            scoring_settings.kafka, [event("post.viewed", at(21), community_id="c1", member_id="m0", post_id="p1")]
        )
        await wait_for(lambda: caught_up(scoring_settings))
    states = [(e.data.member_id, e.data.state) for e in await engagement_events(scoring_settings)]
    assert ("m0", "slipping") in states
    assert ("m0", "back") in states
    assert states.index(("m0", "slipping")) < states.index(("m0", "back"))
