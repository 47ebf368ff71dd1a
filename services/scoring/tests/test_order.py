"""The same events in any order, with duplicates and replays, give identical metrics."""

from __future__ import annotations

import random
import uuid
from typing import Any

import pytest

from kith_devkit.testing import publish
from kith_scoring.settings import ScoringSettings
from kith_shared.auth import Scope
from kith_shared.events import Event
from kith_shared.kafka import ensure_topics
from services.scoring.tests.helpers import Running, caught_up, event, stream, wait_for

pytestmark = pytest.mark.integration


def with_erasure(events: list[Event]) -> tuple[list[Event], str]:
    """Append the erasure of the most active member (so erasure is checked for order too)."""
    counts: dict[str, int] = {}
    for e in events:
        if e.member_id and e.community_id:
            counts[e.member_id] = counts.get(e.member_id, 0) + 1
    erased = max(sorted(counts), key=lambda m: counts[m])
    middle = events[len(events) // 2].time
    return [*events, event("member.erased", middle, member_id=erased)], erased


async def snapshot(running: Running, events: list[Event]) -> dict[str, Any]:
    """Read every kind of figure the API serves for the stream's communities and some members."""
    headers = await running.key("acme", Scope.METRICS_READ)
    as_of = max(e.time for e in events).isoformat()
    communities = sorted({e.community_id for e in events if e.community_id})[:12]
    members = sorted({e.member_id for e in events if e.member_id and e.community_id})[:25]
    members += [e.data.member_id for e in events if e.type == "member.erased"]
    client = running.client
    figures: dict[str, Any] = {}
    for community in communities:
        queries: tuple[tuple[str, dict[str, str | int]], ...] = (
            ("metrics", {"window": "7d", "as_of": as_of}),
            ("metrics", {"window": "30d", "as_of": as_of}),
            ("leaderboard", {"limit": 100, "as_of": as_of}),
            ("trending", {"window": "14d", "as_of": as_of}),
            ("slipping", {"quiet_days": 7, "as_of": as_of}),
        )
        for path, params in queries:
            reply = await client.get(f"/v1/communities/{community}/{path}", params=params, headers=headers)
            assert reply.status_code == 200, reply.text
            figures[f"{community}/{path}/{params.get('window')}"] = reply.json()
    for member in members:
        reply = await client.get(f"/v1/members/{member}/engagement", params={"as_of": as_of}, headers=headers)
        figures[f"member/{member}"] = (reply.status_code, reply.json())
        if reply.status_code == 200:
            for place in reply.json()["communities"]:
                detail = await client.get(
                    f"/v1/members/{member}/communities/{place['community_id']}/engagement",
                    params={"as_of": as_of},
                    headers=headers,
                )
                figures[f"member/{member}/{place['community_id']}"] = detail.json()
    return figures


async def run(settings: ScoringSettings, start_app: Any, events: list[Event], sent: list[Event]) -> dict[str, Any]:
    """Feed ``sent`` through a fresh app and read the figures of ``events``."""
    async with start_app(settings) as running:
        await publish(settings.kafka, sent)
        await wait_for(lambda: caught_up(settings), within=120)
        return await snapshot(running, events)


async def test_shuffled_duplicated_and_replayed_stream_gives_identical_metrics(
    scoring_settings: ScoringSettings, start_app: Any
) -> None:
    events, erased = with_erasure(stream(3_000))
    in_order = await run(scoring_settings, start_app, events, events)
    assert in_order[f"member/{erased}"][0] == 404

    rng = random.Random(11)
    shuffled = list(events)
    rng.shuffle(shuffled)
    duplicates = rng.sample(events, 300)
    replay = events[:500]
    sent = shuffled + duplicates + replay
    rng.shuffle(sent)
    other_kafka = scoring_settings.kafka.model_copy(update={"topic_prefix": f"t{uuid.uuid4().hex[:10]}."})
    await ensure_topics(other_kafka)
    other_mongo = scoring_settings.mongo.model_copy(update={"database": f"db_{uuid.uuid4().hex[:10]}"})
    other = scoring_settings.model_copy(update={"kafka": other_kafka, "mongo": other_mongo})
    out_of_order = await run(other, start_app, events, sent)

    assert in_order.keys() == out_of_order.keys()
    for key in in_order:
        assert in_order[key] == out_of_order[key], key
