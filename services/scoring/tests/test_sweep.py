"""The slipping-away sweep as a task of its own: it runs beside the consumer and stops with the app."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from kith_devkit.servers import free_port
from kith_devkit.testing import publish
from kith_scoring.settings import ScoringSettings
from kith_scoring.store import ScoringStore
from kith_scoring.sweep import SlippingSweep
from kith_shared.kafka import EventProducer
from kith_shared.mongo import make_mongo_client
from services.scoring.tests.helpers import at, caught_up, engagement_events, event, wait_for

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


def quiet_world() -> list[Any]:
    """c1 goes silent after day 0 while c2 goes on; in c1, m0 and the staff member s0 were the most active."""
    early = [event("member.joined", at(0, 1), community_id="c1", member_id=f"m{i}") for i in range(8)]
    early.append(event("member.joined", at(0, 1), community_id="c1", member_id="s0"))
    early.append(event("member.role.set", at(0, 1), member_id="s0", role="staff"))
    early.append(event("event.hosted", at(0, 2), community_id="c1", member_id="m0", event_id="e1"))
    early.append(event("event.hosted", at(0, 2), community_id="c1", member_id="s0", event_id="e2"))
    early.append(event("event.hosted", at(0, 3), community_id="c1", member_id="s0", event_id="e3"))
    elsewhere = [event("member.joined", at(20, 1), community_id="c2", member_id=f"n{i}") for i in range(3)]
    return early + elsewhere


async def test_a_quiet_community_announces_who_slipped_away_never_staff_and_back_again_once(
    scoring_settings: ScoringSettings, start_app: Any
) -> None:
    settings = scoring_settings.model_copy(update={"slipping_sweep_seconds": 0.5})

    async def states() -> list[tuple[str, str, str]]:
        return [(e.data.member_id, e.data.community_id, e.data.state) for e in await engagement_events(settings)]

    async def announced(*wanted: tuple[str, str, str]) -> bool:
        seen = await states()
        return all(w in seen for w in wanted)

    async with start_app(settings):
        # Nothing happens in c1 after day 0: only the tenant's clock (c2, day 20) moves.
        await publish(settings.kafka, quiet_world())
        await wait_for(lambda: caught_up(settings))
        await wait_for(lambda: announced(("m0", "c1", "slipping")), within=60)
        await publish(settings.kafka, [event("post.created", at(21), community_id="c1", member_id="m0",
                                             post_id="p-back", text="I am back")])  # fmt: skip
        await wait_for(lambda: announced(("m0", "c1", "back")), within=60)
        await wait_for(lambda: caught_up(settings))
    seen = await states()
    assert seen.count(("m0", "c1", "slipping")) == 1
    assert seen.count(("m0", "c1", "back")) == 1
    assert not [s for s in seen if s[0] == "s0" and s[2] in ("slipping", "back")]


async def test_a_broker_outage_during_the_sweep_delays_announcements_and_loses_none(
    scoring_settings: ScoringSettings, start_app: Any
) -> None:
    async with start_app(scoring_settings):
        await publish(scoring_settings.kafka, quiet_world())
        await wait_for(lambda: caught_up(scoring_settings))
    before = len(await engagement_events(scoring_settings))

    mongo = make_mongo_client(scoring_settings.mongo, app_name="sweep-test")
    down = EventProducer(scoring_settings.kafka.model_copy(update={"bootstrap_servers": f"127.0.0.1:{free_port()}"}))
    up = EventProducer(scoring_settings.kafka)
    await down.start()
    await up.start()
    try:
        store = ScoringStore(mongo, mongo[scoring_settings.mongo.database], erasure_salt="test")
        sweep = SlippingSweep(store=store, producer=down, quiet_days=14, interval=0, lock=asyncio.Lock())
        flagged = await sweep.sweep()  # flagged, in the outbox with their flags; the broker is down
        assert flagged == 2  # the top quartile of c1's 8 regular members: m0 (who hosted) and m1
        assert len(await store.outbox.pending()) == 1
        sweep._swept.clear()
        assert await sweep.sweep() == 0  # flagged already: nothing new, still waiting
        assert len(await engagement_events(scoring_settings)) == before

        await up.wait_connected(30)
        sweep.producer = up  # the broker is back
        assert await sweep.sweep() == 0
        assert await store.outbox.pending() == []
        sweep._swept.clear()
        assert await sweep.sweep() == 0
    finally:
        await up.stop()
        await down.stop()
        await mongo.close()
    published = await engagement_events(scoring_settings)
    slipping = [(e.data.member_id, e.data.community_id) for e in published if e.data.state == "slipping"]
    assert sorted(slipping) == [("m0", "c1"), ("m1", "c1")]  # each once
    assert len(published) == before + 2
