"""A broker that forgot its topics: offsets start again at 0, and new events are still applied."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from kith_devkit.servers import ServerProcess, free_port
from kith_devkit.testing import publish
from kith_scoring.settings import ScoringSettings
from kith_shared.auth import Scope
from kith_shared.kafka import ensure_topics
from services.scoring.tests.helpers import at, caught_up, event, wait_for

pytestmark = pytest.mark.integration


async def test_a_fresh_broker_does_not_make_the_consumer_skip_new_events(
    scoring_settings: ScoringSettings, start_app: Any, make_broker: Callable[..., ServerProcess]
) -> None:
    port = free_port()
    broker = make_broker(port)
    kafka = scoring_settings.kafka.model_copy(update={"bootstrap_servers": broker.address})
    settings = scoring_settings.model_copy(update={"kafka": kafka})
    await ensure_topics(kafka)
    first = [event("post.viewed", at(0, h), community_id="c1", member_id="old", post_id="p") for h in range(40)]
    async with start_app(settings) as running:
        await publish(kafka, first)
        await wait_for(lambda: caught_up(settings), within=60)
        broker.stop()
        make_broker(port)  # same address, no topics, no groups: a new incarnation
        await ensure_topics(kafka)
        second = [event("post.viewed", at(1, h), community_id="c1", member_id="new", post_id="p") for h in range(5)]
        await publish(kafka, second)
        await wait_for(lambda: caught_up(settings), within=90)
        key = await running.key("acme", Scope.METRICS_READ)
        reply = await running.client.get("/v1/members/new/engagement", headers=key)
        assert reply.status_code == 200, reply.text
        assert reply.json()["counts"] == {"post.viewed": 5}
        old = (await running.client.get("/v1/members/old/engagement", headers=key)).json()
        assert old["counts"] == {"post.viewed": 40}
