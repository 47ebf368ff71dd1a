"""Dead letters over HTTP (scope admin): each tenant lists and replays its own; the consumer lag route."""

from __future__ import annotations

import json
from typing import Any

import pytest
from confluent_kafka import Producer

from kith_devkit.testing import eventually
from kith_ingest.settings import IngestSettings
from kith_shared.auth import Scope
from kith_shared.events import decode_kafka_record
from kith_shared.topics import ACTIVITY, RAW

pytestmark = pytest.mark.integration


def raw_event(event_id: str, tenant: str, event_type: str = "post.created") -> bytes:
    data = {"community_id": "c-1", "member_id": "m-1", "post_id": f"p-{event_id}", "text": "hello"}
    body = {"id": event_id, "source": "app://tests", "type": event_type, "time": "2026-11-02T17:00:00Z"}
    return json.dumps({**body, "tenant": tenant, "data": data}).encode()


async def test_each_tenant_lists_and_replays_its_own_dead_letters(
    ingest_settings: IngestSettings, run_ingest: Any, read_topic: Any
) -> None:
    settings = ingest_settings.model_copy(update={"consume_raw": True, "max_replays": 1})
    kafka = settings.kafka
    producer = Producer({"bootstrap.servers": kafka.bootstrap_servers, "acks": "all"})
    producer.produce(kafka.topic(RAW), value=raw_event("e-ghost", "ghost"), key=b"ghost:c-1")
    producer.produce(kafka.topic(RAW), value=raw_event("e-shout", "demo", "post.shouted"), key=b"demo:c-1")
    assert producer.flush(10) == 0

    async with run_ingest(settings) as ingest:
        demo = ingest.auth(await ingest.add_key("demo", [Scope.ADMIN], "console"))
        writer = ingest.auth(await ingest.add_key("demo-writer", [Scope.EVENTS_WRITE]))
        client = ingest.client

        async def listed() -> list[dict[str, Any]] | None:
            reply = await client.get("/v1/dead-letters", headers=demo)
            assert reply.status_code == 200, reply.text
            items: list[dict[str, Any]] = reply.json()["items"]
            return items or None

        (shout,) = await eventually(listed, 40, "demo's dead letter")
        assert (shout["event_id"], shout["event_type"], shout["field"]) == ("e-shout", "post.shouted", "type")
        assert "unknown event type" in shout["reason"]
        assert (shout["stage"], shout["replay_count"], shout["replayable"]) == ("ingest", 0, True)
        assert (await client.get("/v1/dead-letters", headers=writer)).status_code == 403

        # The fix for the ghost tenant's letter: the tenant exists once it has a key.
        ghost = ingest.auth(await ingest.add_key("ghost", [Scope.ADMIN]))
        (lost,) = (await client.get("/v1/dead-letters", headers=ghost)).json()["items"]
        assert lost["error"] == "UnknownTenant"
        place = {"partition": lost["partition"], "offset": lost["offset"]}
        refused = (await client.post("/v1/dead-letters:replay", json={"letters": [place]}, headers=demo)).json()
        assert refused == {"replayed": [], "refused": [{**place, "reason": "no such dead letter here"}]}
        done = await client.post("/v1/dead-letters:replay", json={"letters": [place]}, headers=ghost)
        assert done.status_code == 200, done.text
        assert done.json() == {"replayed": [place], "refused": []}
        published = await read_topic(kafka, ACTIVITY, 1, within=30)
        assert [decode_kafka_record(r.value, r.headers).id for r in published] == ["e-ghost"]

        # Still unknown after a replay: back as a letter replayed once, then left alone.
        shout_place = {"partition": shout["partition"], "offset": shout["offset"]}
        await client.post("/v1/dead-letters:replay", json={"letters": [shout_place]}, headers=demo)

        async def replayed_once() -> dict[str, Any] | None:
            items = await listed() or []
            return next((item for item in items if item["replay_count"] == 1), None)

        again = await eventually(replayed_once, 40, "the replayed letter back")
        assert again["replayable"] is False
        assert "replayed 1 times" in again["not_replayable_because"]
        again_place = {"partition": again["partition"], "offset": again["offset"]}
        answer = await client.post("/v1/dead-letters:replay", json={"letters": [again_place]}, headers=demo)
        assert answer.json()["refused"][0]["reason"] == again["not_replayable_because"]
        assert (await client.post("/v1/dead-letters:replay", json={"letters": []}, headers=demo)).status_code == 422

        lag = await client.get("/v1/operations/lag", headers=demo)
        assert lag.status_code == 200, lag.text
        body = lag.json()
        assert (body["service"], body["consumer_group"]) == ("ingest", kafka.group(settings.consumer_group))
        assert kafka.topic(RAW) in {p["topic"] for p in body["partitions"]}
        assert body["total"] == sum(p["lag"] for p in body["partitions"]) >= 0
        assert (await client.get("/v1/operations/lag", headers=writer)).status_code == 403
