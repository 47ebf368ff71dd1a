"""The service on the real broker and database: events in, read model, suggestions out."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer

from kith_devkit.events import community, event, join, post, reply
from kith_devkit.testing import eventually
from kith_recommend.domain.changes import Edge
from kith_recommend.rebuild import rebuild
from kith_shared.events import Event
from kith_shared.kafka import client_options
from kith_shared.topics import ACTIVITY, DEAD_LETTER, RAW

from .conftest import Running

pytestmark = pytest.mark.integration


def world(tenant: str = "acme") -> list[Event]:
    events: list[Event] = [
        community("c-climb", "Climbing Crew", ["climbing"], tenant=tenant),
        community("c-boulder", "Bouldering Berlin", ["climbing", "bouldering"], tenant=tenant),
        community("c-bake", "Sourdough Club", ["baking"], tenant=tenant),
        community("c-secret", "Secret Crag", ["climbing"], visibility="private", tenant=tenant),
        community("c-own", "Ann's Crag", ["climbing"], owner="ann", tenant=tenant),
        community("c-banned", "Banned Crag", ["climbing"], tenant=tenant),
    ]
    for m in ("bea", "cid", "dan"):
        for c in ("c-climb", "c-boulder", "c-secret", "c-banned"):
            events.append(join(m, c, tenant=tenant))
    events += [join("fay", "c-bake", tenant=tenant), join("gus", "c-bake", tenant=tenant)]
    events += [join("ann", "c-climb", tenant=tenant), reply("ann", "bea", "c-climb", tenant=tenant)]
    events += [post("ann", "c-climb", "#climbing again", ["climbing"], tenant=tenant)]
    events += [event("member.blocked", {"member_id": "ann", "community_id": "c-banned"}, tenant=tenant)]
    return events


async def suggestions(running: Running, member: str, tenant: str = "acme", **params: Any) -> dict[str, Any]:
    response = await running.client_for(tenant).get(f"/v1/members/{member}/suggestions", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def ids(body: dict[str, Any]) -> list[str]:
    return [s["community_id"] for s in body["suggestions"]]


async def test_events_to_suggestions_with_reasons_and_exclusions(running: Running) -> None:
    await running.publish(world())

    async def ready() -> bool:
        return "c-boulder" in ids(await suggestions(running, "ann"))

    await eventually(ready, 30, "c-boulder suggested to ann")
    body = await suggestions(running, "ann", limit=10)
    assert ids(body)[0] == "c-boulder"
    texts = [r["text"] for r in body["suggestions"][0]["reasons"]]
    assert "1 person you replied to is active here" in texts
    assert "members of Climbing Crew also joined this" in texts
    for never in ("c-climb", "c-own", "c-secret", "c-banned"):
        assert never not in ids(body)
    assert body["known_member"] is True

    # A dismissal travels as an event and removes the suggestion within seconds.
    response = await running.client_for().post("/v1/members/ann/suggestions/c-boulder/dismiss", json={"position": 0})
    assert response.status_code == 202
    await running.publish([event("recommendation.dismissed", {"member_id": "ann", "community_id": "c-boulder"})])

    async def dismissed() -> bool:
        return "c-boulder" not in ids(await suggestions(running, "ann"))

    await eventually(dismissed, 15, "c-boulder no longer suggested once dismissed")

    # The other tenant sees none of it.
    other = await suggestions(running, "ann", tenant="other")
    assert other["suggestions"] == []
    missing = await running.client_for("other").get("/v1/communities/c-climb/similar")
    assert missing.status_code == 404
    assert "c-climb" in missing.json()["error"]["message"]

    similar = await running.client_for().get("/v1/communities/c-climb/similar", params={"limit": 3})
    assert similar.status_code == 200
    top = [s["community_id"] for s in similar.json()["similar"][:2]]
    assert "c-boulder" in top
    assert "c-secret" not in top


async def test_cold_start_unknown_member_and_feedback_events(running: Running) -> None:
    await running.publish(world())

    async def loaded() -> bool:
        return len(ids(await suggestions(running, "nobody"))) >= 3

    await eventually(loaded, 30, "three suggestions for an unknown member")
    unknown = await suggestions(running, "nobody")
    assert unknown["known_member"] is False
    assert ids(unknown)[0] in {"c-climb", "c-boulder"}

    response = await running.client_for().put("/v1/members/zoe/interests", json={"interests": ["Baking"]})
    assert response.status_code == 202
    # The declaration was published on the raw topic for ingest; here it comes back normalized.
    raw = await _read_one(running, RAW.name)
    assert raw["type"] == "member.interests.declared"
    assert raw["data"] == {"member_id": "zoe", "interests": ["baking"]}
    await running.publish([event("member.interests.declared", {"member_id": "zoe", "interests": ["baking"]})])

    async def cold_start() -> bool:
        body = await suggestions(running, "zoe", limit=1)
        return ids(body) == ["c-bake"]

    await eventually(cold_start, 30, "c-bake suggested to zoe from her interests")
    body = await suggestions(running, "zoe", limit=1)
    assert body["suggestions"][0]["reasons"][0]["text"] == "matches your interest in #baking"

    for kind in ("shown", "clicked"):
        answer = await running.client_for().post(f"/v1/members/zoe/suggestions/c-bake/{kind}", json={"position": 0})
        assert answer.status_code == 202
        assert answer.json()["type"] == f"recommendation.{kind}"

    for bad in ("/v1/members/a.b/suggestions", "/v1/members/ann/suggestions?limit=0"):
        assert (await running.client_for().get(bad)).status_code == 422
    loved = await running.client_for().post("/v1/members/zoe/suggestions/c-bake/loved")
    assert loved.status_code == 422
    assert loved.json()["error"]["problems"][0]["field"] == "path.kind"


async def test_undecodable_records_are_dead_lettered_and_rebuild_restores(running: Running) -> None:
    topic = running.settings.kafka.topic(ACTIVITY)
    await (await running.producer()).send(topic, b"{not json", key=b"acme:x")
    await running.publish(world())

    async def loaded() -> bool:
        return "c-boulder" in ids(await suggestions(running, "ann"))

    await eventually(loaded, 30, "c-boulder suggested to ann")
    letter = await _read_one(running, DEAD_LETTER.name)
    assert letter["stage"] == "recommend"
    assert "not valid JSON" in letter["reason"]

    report = await rebuild(running.settings, write=False)
    assert report.dead_letters == 1, report
    assert report.tenants["acme"] == 6
    state = running.app.state.recommender.state("acme")
    assert set(state.edges[Edge.MEMBER]["ann"]) == {"c-climb"}


async def _read_one(running: Running, name: str) -> dict[str, Any]:
    kafka = running.settings.kafka
    consumer = AIOKafkaConsumer(
        f"{kafka.topic_prefix}{name}", auto_offset_reset="earliest", group_id=None, **client_options(kafka)
    )
    await consumer.start()
    try:
        batch = await consumer.getmany(timeout_ms=10_000, max_records=1)
        records = [r for rs in batch.values() for r in rs]
        assert records, f"nothing on {name}"
        value: dict[str, Any] = json.loads(records[0].value)
        return value
    finally:
        await consumer.stop()
