"""The slipping-away sweep as a task of its own: it runs beside the consumer and stops with the app."""

from __future__ import annotations

from typing import Any

import pytest

from kith_scoring.settings import ScoringSettings
from services.scoring.tests.helpers import at, caught_up, engagement_events, event, publish, wait_for

pytestmark = pytest.mark.integration


async def test_the_sweep_announces_members_slipping_away_once_and_stops_with_the_app(
    scoring_settings: ScoringSettings, start_app: Any
) -> None:
    settings = scoring_settings.model_copy(update={"slipping_sweep_seconds": 0.5})
    early = [event("member.joined", at(0, 1), community_id="c1", member_id=f"m{i}") for i in range(8)]
    early.append(event("event.hosted", at(0, 2), community_id="c1", member_id="m0", event_id="e1"))
    later = [event("post.viewed", at(20, 1), community_id="c1", member_id=f"m{i}", post_id="p1") for i in range(1, 8)]

    async def states() -> list[tuple[str, str]]:
        return [(e.data.member_id, e.data.state) for e in await engagement_events(settings)]

    async def announced() -> bool:
        return ("m0", "slipping") in await states()

    async with start_app(settings) as running:
        sweep = running.app.state.sweep
        assert sweep.running
        await publish(settings.kafka, early + later)
        await wait_for(lambda: caught_up(settings))
        await wait_for(announced, within=60)
    assert not sweep.running
    assert (await states()).count(("m0", "slipping")) == 1
