"""HTTP door: content types, batch statuses, auth, limits, deduplication across restarts and replicas."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from pymongo import AsyncMongoClient

from kith_ingest.settings import IngestSettings
from kith_ingest.store import CLAIMS
from kith_shared.auth import Scope
from kith_shared.events import decode_kafka_record
from kith_shared.events.examples import example
from kith_shared.events.types import CommunityCreatedEvent, PostCreatedEvent, ReactionAddedEvent
from kith_shared.topics import ACTIVITY

pytestmark = pytest.mark.integration


def event(event_id: str, event_type: str = "post.created", **changes: Any) -> dict[str, Any]:
    body = example(event_type)
    body["id"] = event_id
    body.update(changes)
    return body


async def test_one_event_in_every_content_type_and_binary_mode(
    ingest_settings: IngestSettings, run_ingest: Any, read_topic: Any
) -> None:
    async with run_ingest(ingest_settings) as ingest:
        structured = await ingest.client.post(
            "/v1/events",
            content=json.dumps(event("e-structured")),
            headers={**ingest.auth(), "Content-Type": "application/cloudevents+json; charset=utf-8"},
        )
        assert structured.status_code == 202, structured.text
        assert structured.json()["status"] == "accepted"
        plain = {k: v for k, v in event("e-plain").items() if k not in ("specversion", "tenant")}
        response = await ingest.client.post("/v1/events", json=plain, headers=ingest.auth())
        assert response.status_code == 202, response.text
        sample = event("e-binary")
        ce_headers = {f"ce-{name}": str(sample[name]) for name in ("specversion", "id", "source", "type", "time")}
        binary = await ingest.client.post(
            "/v1/events",
            content=json.dumps(sample["data"]),
            headers={**ingest.auth(), **ce_headers, "ce-tenant": "demo", "Content-Type": "application/json"},
        )
        assert binary.status_code == 202, binary.text
        wrong_binary = await ingest.client.post(
            "/v1/events",
            content=b"<xml/>",
            headers={**ingest.auth(), **ce_headers, "Content-Type": "application/xml"},
        )
        assert wrong_binary.status_code == 415
    records = await read_topic(ingest_settings.kafka, ACTIVITY, 3)
    events = {e.id: e for e in (decode_kafka_record(r.value, r.headers) for r in records)}
    assert set(events) == {"e-structured", "e-plain", "e-binary"}
    for published in events.values():
        assert isinstance(published, PostCreatedEvent)
        assert published.is_normalized
        assert published.tenant == "demo"
        assert published.data.text.startswith("Who is up for Ostbloc")
        assert published.data.text_features is not None
        assert published.data.text_features.hashtags == ["bouldering"]
    assert records[0].key == b"demo:bouldering-berlin"


async def test_batch_answers_each_event_and_one_bad_event_sinks_nothing(
    ingest_settings: IngestSettings, run_ingest: Any, read_topic: Any
) -> None:
    batch = [
        event("b-1"),
        event("b-2", data={"community_id": "c-1"}),
        event("b-3", tenant="someone-else"),
        event("b-1"),
        event("b-4", "reaction.added", type="like"),
        event("b-5", time="2026-11-02T18:04:05"),
        "not an event",
    ]
    async with run_ingest(ingest_settings) as ingest:
        first = await ingest.client.post(
            "/v1/events:batch",
            content=json.dumps(batch),
            headers={**ingest.auth(), "Content-Type": "application/cloudevents-batch+json"},
        )
        assert first.status_code == 202, first.text
        body = first.json()
        statuses = [result["status"] for result in body["results"]]
        assert statuses == ["accepted", "rejected", "rejected", "duplicate", "accepted", "rejected", "rejected"]
        assert (body["accepted"], body["duplicate"], body["rejected"]) == (2, 1, 4)
        problems = {result["index"]: result["problems"][0] for result in body["results"] if result["problems"]}
        assert problems[1]["field"] == "data.member_id"
        assert problems[2]["field"] == "tenant"
        assert "someone-else" in problems[2]["reason"]
        assert problems[5]["field"] == "time"
        assert problems[6]["field"] == "event"
        again = await ingest.client.post("/v1/events:batch", json=batch[:1] + batch[4:5], headers=ingest.auth())
        assert again.status_code == 200
        assert [r["status"] for r in again.json()["results"]] == ["duplicate", "duplicate"]
    records = await read_topic(ingest_settings.kafka, ACTIVITY, 2)
    published = [decode_kafka_record(r.value, r.headers) for r in records]
    assert sorted(e.id for e in published) == ["b-1", "b-4"]
    assert any(isinstance(e, ReactionAddedEvent) for e in published)


async def _chunks(total: int) -> AsyncIterator[bytes]:
    sent = 0
    while sent < total:
        yield b" " * 1024
        sent += 1024


async def test_auth_content_types_and_limits(ingest_settings: IngestSettings, run_ingest: Any) -> None:
    settings = ingest_settings.model_copy(update={"max_body_bytes": 20_000, "max_batch_events": 3})
    async with run_ingest(settings) as ingest:
        client = ingest.client
        body = event("l-1")
        missing = await client.post("/v1/events", json=body)
        assert missing.status_code == 401
        assert missing.json()["error"]["code"] == "unauthorized"
        assert (await client.post("/v1/events", json=body, headers=ingest.auth("kith_x_y"))).status_code == 401
        reader = await ingest.keys.create_key("demo", [Scope.METRICS_READ])
        forbidden = await client.post("/v1/events", json=body, headers=ingest.auth(reader.key))
        assert forbidden.status_code == 403
        text = await client.post("/v1/events", content=b"hi", headers={**ingest.auth(), "Content-Type": "text/plain"})
        assert text.status_code == 415
        assert "application/json" in text.json()["error"]["message"]
        batch_type = {**ingest.auth(), "Content-Type": "application/cloudevents-batch+json"}
        assert (await client.post("/v1/events", content=b"[]", headers=batch_type)).status_code == 415
        single_type = {**ingest.auth(), "Content-Type": "application/cloudevents+json"}
        assert (await client.post("/v1/events:batch", content=b"[]", headers=single_type)).status_code == 415
        declared = await client.post(
            "/v1/events",
            content=b"{}",
            headers={**ingest.auth(), "Content-Type": "application/json", "Content-Length": "999999"},
        )
        assert declared.status_code == 413
        streamed = await client.post(
            "/v1/events", content=_chunks(40_000), headers={**ingest.auth(), "Content-Type": "application/json"}
        )
        assert streamed.status_code == 413
        assert "20000" in streamed.json()["error"]["message"]
        too_many = await client.post(
            "/v1/events:batch", json=[event(f"m-{i}") for i in range(4)], headers=ingest.auth()
        )
        assert too_many.status_code == 422
        assert too_many.json()["error"]["code"] == "batch_too_large"
        broken = await client.post(
            "/v1/events", content=b"{not json", headers={**ingest.auth(), "Content-Type": "application/json"}
        )
        assert broken.status_code == 422
        assert broken.json()["error"]["problems"][0]["field"] == "event"
        long_text = event("l-2", data={**body["data"], "text": "x" * 10_001})
        refused = await client.post("/v1/events", json=long_text, headers=ingest.auth())
        assert refused.status_code == 422
        assert refused.json()["error"]["problems"] == [
            {
                "field": "data.text",
                "reason": "10001 characters after cleaning; the limit is 10000 (text is refused, never cut)",
            }
        ]
        other_tenant = await client.post("/v1/events", json=event("l-3", tenant="acme"), headers=ingest.auth())
        assert other_tenant.status_code == 422
        assert other_tenant.json()["error"]["problems"][0]["field"] == "tenant"
        assert (await client.get("/readyz")).status_code == 200


async def test_duplicates_are_answered_after_a_restart_and_across_replicas(
    ingest_settings: IngestSettings, run_ingest: Any, read_topic: Any
) -> None:
    async with run_ingest(ingest_settings) as ingest:
        first = await ingest.client.post("/v1/events", json=event("d-1"), headers=ingest.auth())
        assert first.status_code == 202
    async with run_ingest(ingest_settings) as restarted:
        again = await restarted.client.post("/v1/events", json=event("d-1"), headers=restarted.auth())
        assert again.status_code == 200
        assert again.json()["status"] == "duplicate"
        async with run_ingest(ingest_settings) as replica:
            racing = [
                client.post("/v1/events:batch", json=[event(f"r-{i}") for i in range(20)], headers=auth)
                for client, auth in ((restarted.client, restarted.auth()), (replica.client, replica.auth()))
            ]
            answers: list[httpx.Response] = await asyncio.gather(*racing)
    statuses = [[r["status"] for r in answer.json()["results"]] for answer in answers]
    for left, right in zip(*statuses, strict=True):
        assert sorted([left, right]) == ["accepted", "duplicate"]
    records = await read_topic(ingest_settings.kafka, ACTIVITY, 21)
    assert len(records) == 21
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(ingest_settings.mongo.uri.get_secret_value())
    try:
        claims = mongo[ingest_settings.mongo.database][CLAIMS]
        assert sum([len(doc["keys"]) - 1 async for doc in claims.find()]) == 21
        indexes = await claims.index_information()
        assert any(index.get("expireAfterSeconds") == 7 * 24 * 3600 for index in indexes.values())
    finally:
        await mongo.close()


async def test_bad_places_are_refused_with_the_field_and_good_ones_published(
    ingest_settings: IngestSettings, run_ingest: Any, read_topic: Any
) -> None:
    def community(event_id: str, **location: Any) -> dict[str, Any]:
        body = event(event_id, "community.created")
        body["data"] = {**body["data"], "mode": "local", "location": location}
        return body

    profile = event("p-1", "member.profile.updated")
    batch = [
        community("pl-1", name="Seattle", country="us", latitude=47.6062, longitude=-122.3321),
        community("pl-2", name="Nowhere", country="XZ", latitude=10.0, longitude=10.0),
        community("pl-3", name="Off the map", latitude=123.0, longitude=10.0),
        community("pl-4", name="Half a place", latitude=12.0),
        profile,
    ]
    async with run_ingest(ingest_settings) as ingest:
        answer = await ingest.client.post("/v1/events:batch", json=batch, headers=ingest.auth())
        assert answer.status_code == 202, answer.text
        results = answer.json()["results"]
        assert [r["status"] for r in results] == ["accepted", "rejected", "rejected", "rejected", "accepted"]
        assert results[1]["problems"][0]["field"] == "data.location.country"
        assert "ISO 3166-1" in results[1]["problems"][0]["reason"]
        assert results[2]["problems"][0]["field"] == "data.location.latitude"
        assert "latitude and longitude" in results[3]["problems"][0]["reason"]
    records = await read_topic(ingest_settings.kafka, ACTIVITY, 2)
    published = {e.id: e for e in (decode_kafka_record(r.value, r.headers) for r in records)}
    created = published["pl-1"]
    assert isinstance(created, CommunityCreatedEvent)
    assert created.data.location is not None
    assert created.data.location.country == "US"
    assert published["p-1"].type == "member.profile.updated"
