"""Kafka door: the raw topic in every mode, poison records dead-lettered while good ones flow, replay."""

from __future__ import annotations

import asyncio
import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cloudevents.core.bindings.kafka import to_binary_event, to_structured_event
from cloudevents.core.v1.event import CloudEvent
from confluent_kafka import Producer
from typer.testing import CliRunner

from kith_ingest.cli import app as cli
from kith_ingest.deadletters import read_dead_letters, replay_dead_letters
from kith_ingest.settings import IngestSettings
from kith_ingest.store import claim_key
from kith_shared.events import DeadLetter, decode_kafka_record
from kith_shared.events.types import CommentCreatedEvent, PostCreatedEvent
from kith_shared.topics import ACTIVITY, DEAD_LETTER, RAW

pytestmark = pytest.mark.integration

TIME = datetime(2026, 11, 2, 17, 0, tzinfo=UTC)
SOURCE = "app://third-party"


def sdk_event(event_type: str, event_id: str, data: dict[str, Any], tenant: str = "demo") -> CloudEvent:
    attributes = {
        "type": event_type,
        "source": SOURCE,
        "id": event_id,
        "time": TIME,
        "tenant": tenant,
        "datacontenttype": "application/json",
    }
    return CloudEvent(attributes=attributes, data=data)


POST = {
    "community_id": "c-1",
    "member_id": "m-1",
    "post_id": "p-1",
    "text": "<p>Sunday <b>session</b> at the crag?</p> #climbing @m-2",
}
COMMENT = {
    "community_id": "c-1",
    "member_id": "m-2",
    "comment_id": "k-1",
    "post_id": "p-1",
    "replied_to_member_id": "m-1",
    "text": "Count me   in &amp; bring the rope! https://crag.example/topo",
}
LIKE = {"community_id": "c-1", "member_id": "m-3", "target_id": "p-1"}


async def test_raw_topic_in_every_mode_with_poison_records_dead_lettered_and_replayed(
    ingest_settings: IngestSettings, run_ingest: Any, read_topic: Any
) -> None:
    settings = ingest_settings.model_copy(update={"consume_raw": True})
    kafka = settings.kafka
    raw_topic = kafka.topic(RAW)
    producer = Producer({"bootstrap.servers": kafka.bootstrap_servers, "acks": "all"})

    def produce(value: bytes | None, headers: list[tuple[str, bytes]] | None = None) -> None:
        wire: list[tuple[str, str | bytes | None]] = list(headers or [])
        producer.produce(raw_topic, value=value, key=b"demo:c-1", headers=wire)

    structured = to_structured_event(sdk_event("post.created", "k-structured", POST))
    binary = to_binary_event(sdk_event("comment.created", "k-binary", COMMENT))
    produce(b"\xffnot json at all")
    produce(structured.value, list(structured.headers.items()))
    produce(binary.value, list(binary.headers.items()))
    plain = {
        "id": "k-plain",
        "source": SOURCE,
        "type": "like",
        "time": TIME.isoformat(),
        "tenant": "demo",
        "data": LIKE,
    }
    produce(json.dumps(plain).encode())
    ghost = to_structured_event(sdk_event("post.created", "k-ghost", POST, tenant="ghost"))
    produce(ghost.value, list(ghost.headers.items()))
    produce(json.dumps({**plain, "id": "k-unknown", "type": "post.shouted"}).encode())
    produce(None)
    produce(json.dumps({**plain, "id": "k-last"}).encode())
    produce(structured.value, list(structured.headers.items()))
    assert producer.flush(10) == 0

    async with run_ingest(settings) as ingest:
        published = await read_topic(kafka, ACTIVITY, 4, within=40)
        events = {e.id: e for e in (decode_kafka_record(r.value, r.headers) for r in published)}
        assert sorted(events) == ["k-binary", "k-last", "k-plain", "k-structured"]
        assert len(published) == 4
        assert events["k-plain"].type == "reaction.added"
        post, comment = events["k-structured"], events["k-binary"]
        assert isinstance(post, PostCreatedEvent)
        assert post.data.text == "Sunday session at the crag? #climbing @m-2"
        assert isinstance(comment, CommentCreatedEvent)
        assert comment.data.text_features is not None
        assert comment.data.text_features.links == ["https://crag.example/topo"]

        letters = [DeadLetter.model_validate_json(r.value) for r in await read_topic(kafka, DEAD_LETTER, 4)]
        assert len(letters) == 4
        by_offset = {letter.offset: letter for letter in letters}
        assert sorted(by_offset) == [0, 4, 5, 6]
        assert by_offset[0].original_value() == b"\xffnot json at all"
        assert by_offset[0].field == "event"
        assert "not valid JSON" in by_offset[0].reason
        assert by_offset[4].error == "UnknownTenant"
        assert by_offset[4].tenant == "ghost"
        assert "ghost" in by_offset[4].reason
        assert by_offset[4].original_headers() == list(ghost.headers.items())
        assert by_offset[5].field == "type"
        assert "tombstone" in by_offset[6].reason
        for letter in letters:
            assert letter.source_topic == raw_topic
            assert letter.stage == "ingest"
            assert letter.original_key() == b"demo:c-1"
        listed = await read_dead_letters(kafka, limit=10)
        assert [letter.offset for letter in listed] == [letter.offset for letter in letters]
        env = {
            "INGEST_KAFKA__BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
            "INGEST_KAFKA__TOPIC_PREFIX": kafka.topic_prefix,
            # The commands read ingest's tombstones: letters naming an erased member are redacted.
            "INGEST_MONGO__URI": settings.mongo.uri.get_secret_value(),
            "INGEST_MONGO__DATABASE": settings.mongo.database,
        }
        shown = await asyncio.to_thread(CliRunner().invoke, cli, ["list", "--limit", "2"], env=env)
        assert shown.exit_code == 0, shown.output
        assert "UnknownTenant" not in shown.output
        assert "type: unknown event type 'post.shouted'" in shown.output
        assert "tombstone" in shown.output

        # After a fix (the tenant is registered), replaying lets the ghost's event through.
        await ingest.keys.create_tenant("ghost")
        report = await replay_dead_letters(kafka, max_replays=1)
        assert (report.replayed, report.exhausted) == (4, 0)
        published = await read_topic(kafka, ACTIVITY, 5, within=30)
        assert sorted(decode_kafka_record(r.value, r.headers).id for r in published)[1] == "k-ghost"
        again = [DeadLetter.model_validate_json(r.value) for r in await read_topic(kafka, DEAD_LETTER, 7)]
        assert [letter.replay_count for letter in again] == [0, 0, 0, 0, 1, 1, 1]
        # Replayed as often as allowed: left alone, so a record bad for good never loops.
        report = await replay_dead_letters(kafka, max_replays=1)
        assert (report.replayed, report.exhausted) == (0, 3)

        # The HTTP door gives the same normalized event for the same input (once the claim is past the window).
        claims = ingest.app.state.store.claims
        past = datetime.now(UTC) - timedelta(days=8)
        await claims.update_one({"keys": claim_key("demo", SOURCE, "k-binary")}, {"$set": {"claimed_at": past}})
        body = {
            "specversion": "1.0",
            "id": "k-binary",
            "source": SOURCE,
            "type": "comment.created",
            "time": TIME.isoformat(),
            "tenant": "demo",
            "datacontenttype": "application/json",
            "data": COMMENT,
        }
        answer = await ingest.client.post("/v1/events", json=body, headers=ingest.auth())
        assert answer.status_code == 202, answer.text
        published = await read_topic(kafka, ACTIVITY, 6, within=20)
        both = [e for e in (decode_kafka_record(r.value, r.headers) for r in published) if e.id == "k-binary"]
        assert len(both) == 2
        via_kafka, via_http = (e.model_dump(exclude={"receivedtime"}) for e in both)
        assert via_kafka == via_http
        consumer = ingest.app.state.consumer
        assert consumer.applied + consumer.dead_lettered >= 13
    assert base64.b64decode(letters[0].value_b64) == b"\xffnot json at all"
