"""The micro-community service tests' world (bakers, climbers, a club) and asking the running service for groups."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaConsumer

from kith_devkit.events import community, event, join, post, reply
from kith_devkit.testing import eventually, topic_ends
from kith_recommend.store import Position
from kith_shared.events import Event
from kith_shared.kafka import client_options
from kith_shared.topics import ACTIVITY, ENGAGEMENT, MICROCOMMUNITIES

from .conftest import Running

BAKERS = [f"baker{i}" for i in range(6)]  # talk about sourdough, in no community together
CLIMBERS = [f"climber{i}" for i in range(6)]  # a close group inside the big climbing club
CLUB = [f"club{i}" for i in range(54)]  # the rest of the club (too large to tie its members): barely talking


def clique(members: list[str], cid: str, tenant: str = "acme") -> list[Event]:
    return [reply(a, b, cid, tenant=tenant) for a, b in itertools.combinations(members, 2)]


def world(tenant: str = "acme") -> list[Event]:
    """Bakers forming a group of their own, climbers close inside a club, a bot and staff tied to everyone."""
    events = [community("c-club", "Climbing Club", ["climbing"], tenant=tenant)]
    events += [community(f"c-home{i}", f"Home {i}", ["home"], tenant=tenant) for i in range(3)]
    events += [join(m, "c-club", tenant=tenant) for m in CLIMBERS + CLUB]
    events += [join(m, f"c-home{i % 3}", tenant=tenant) for i, m in enumerate(BAKERS)]
    events += clique(BAKERS, "c-home0", tenant) + clique(CLIMBERS, "c-club", tenant)
    events += [post(m, "c-home0", "#sourdough starter #rye", ["sourdough", "rye"], tenant=tenant) for m in BAKERS]
    events += [post(m, "c-club", "#climbing crag", ["climbing"], tenant=tenant) for m in CLIMBERS + CLUB[:4]]
    events += [reply(a, b, "c-club", tenant=tenant) for a, b in itertools.pairwise(CLUB)]
    roles = [{"member_id": "bot", "role": "bot"}, {"member_id": "boss", "community_id": "c-club", "role": "staff"}]
    events += [event("member.role.set", role, tenant=tenant) for role in roles]
    for helper in ("bot", "boss"):
        events += [reply(helper, m, "c-club", tenant=tenant) for m in BAKERS + CLIMBERS]
    return events


async def groups(running: Running, tenant: str = "acme", **params: Any) -> dict[str, Any]:
    answer = await running.client_for(tenant).get("/v1/micro-communities", params=params)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def caught_up(running: Running, within: float = 60) -> None:
    """Wait until the service applied every record published on its topics so far."""
    ends = await topic_ends(running.settings.kafka, ACTIVITY, ENGAGEMENT)
    positions = running.app.state.recommender.positions

    async def applied() -> bool:
        return all(
            end == 0 or positions.get((tp.topic, tp.partition), Position(0)).offset >= end for tp, end in ends.items()
        )

    await eventually(applied, within, "the service to apply every record")


async def detect_until(
    running: Running, done: Callable[[dict[str, Any]], bool], what: str, tenant: str = "acme", within: float = 60
) -> dict[str, Any]:
    """Wait for the consumer, then ask for detections until the list (with member ids) satisfies ``done``."""
    await caught_up(running)

    async def check() -> dict[str, Any] | None:
        answer = await running.client_for(tenant).post("/v1/micro-communities:detect")
        assert answer.status_code == 202, answer.text
        body = await groups(running, tenant, include="member_ids")
        return body if done(body) else None

    return await eventually(check, within, what, every=0.5)


def by_members(body: dict[str, Any]) -> dict[frozenset[str], dict[str, Any]]:
    return {frozenset(item["member_ids"]): item for item in body["items"]}


async def published(running: Running, count: int, within: float = 30) -> list[dict[str, Any]]:
    """Read the micro-community topic from its start until ``count`` records came."""
    kafka = running.settings.kafka
    consumer = AIOKafkaConsumer(
        kafka.topic(MICROCOMMUNITIES), auto_offset_reset="earliest", group_id=None, **client_options(kafka)
    )
    await consumer.start()
    found: list[dict[str, Any]] = []
    try:

        async def enough() -> bool:
            batch = await consumer.getmany(timeout_ms=500)
            found.extend(json.loads(r.value) for rs in batch.values() for r in rs)
            return len(found) >= count

        await eventually(enough, within, f"{count} records on {MICROCOMMUNITIES.name}")
        batch = await consumer.getmany(timeout_ms=1_000)  # and any more that came with them
        found.extend(json.loads(r.value) for rs in batch.values() for r in rs)
    finally:
        await consumer.stop()
    return found
