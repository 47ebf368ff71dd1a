"""Events built with the CloudEvents SDK and sent by a third-party Kafka client decode into our models."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from aiokafka.structs import ConsumerRecord
from cloudevents.core.bindings.kafka import to_binary_event, to_structured_event
from cloudevents.core.v1.event import CloudEvent
from confluent_kafka import Producer

from kith_shared.events import Event, decode_kafka_record
from kith_shared.events.types import CommentCreatedEvent, MemberJoinedEvent
from kith_shared.kafka import EventProducer, make_consumer
from kith_shared.settings import KafkaSettings
from kith_shared.topics import ACTIVITY, RAW

pytestmark = pytest.mark.integration


def _sdk_event(event_type: str, data: dict[str, object], event_id: str) -> CloudEvent:
    attributes = {
        "type": event_type,
        "source": "app://third-party",
        "id": event_id,
        "time": datetime(2026, 11, 2, 17, 0, tzinfo=UTC),
        "tenant": "demo",
        "datacontenttype": "application/json",
    }
    return CloudEvent(attributes=attributes, data=data)


async def test_sdk_events_in_both_modes_from_confluent_kafka_decode(topics: KafkaSettings) -> None:
    topic = topics.topic(RAW)
    joined = _sdk_event("member.joined", {"community_id": "c-1", "member_id": "m-1"}, "sdk-1")
    comment = _sdk_event(
        "comment.created",
        {"community_id": "c-1", "member_id": "m-2", "comment_id": "k-1", "post_id": "p-1", "text": "hi"},
        "sdk-2",
    )
    producer = Producer({"bootstrap.servers": topics.bootstrap_servers, "acks": "all"})
    for message in (to_structured_event(joined), to_binary_event(comment)):
        producer.produce(topic, value=message.value, key=b"demo:c-1", headers=list(message.headers.items()))
    assert producer.flush(10) == 0

    consumer = make_consumer(topics, topic, group=None)
    await consumer.start()
    try:
        decoded: list[Event] = []
        async with asyncio.timeout(20):
            while len(decoded) < 2:
                for records in (await consumer.getmany(timeout_ms=500)).values():
                    decoded.extend(decode_kafka_record(r.value, r.headers) for r in records)
    finally:
        await consumer.stop()
    assert isinstance(decoded[0], MemberJoinedEvent)
    assert decoded[0].identity == ("app://third-party", "sdk-1")
    assert isinstance(decoded[1], CommentCreatedEvent)
    assert decoded[1].data.text == "hi"


async def test_event_producer_waits_for_acknowledgement_and_reports_outage(
    kafka_settings: KafkaSettings, make_broker: object
) -> None:
    from kith_shared.events import validate_event
    from kith_shared.events.examples import example
    from kith_shared.kafka import BrokerUnavailable, ensure_topics

    broker = make_broker()  # type: ignore[operator]
    settings = kafka_settings.model_copy(update={"bootstrap_servers": broker.address})
    await ensure_topics(settings)
    producer = EventProducer(settings, send_timeout=3.0)
    await producer.start()
    try:
        await producer.wait_connected(15)
        [meta] = await producer.publish(ACTIVITY, [validate_event(example("post.created"))])
        assert meta.offset == 0
        broker.stop()
        with pytest.raises(BrokerUnavailable):
            await producer.publish(ACTIVITY, [validate_event(example("post.created"))])
        with pytest.raises(BrokerUnavailable):
            await producer.check()
    finally:
        await producer.stop()


async def test_dead_letters_are_counted_and_logged_with_the_event_id(
    topics: KafkaSettings, caplog: pytest.LogCaptureFixture
) -> None:
    from kith_shared.events import DeadLetter
    from kith_shared.kafka import send_dead_letter
    from kith_shared.logs import ContextFilter
    from kith_shared.observability import DEAD_LETTERS

    record = ConsumerRecord(
        topic="t", partition=0, offset=7, timestamp=0, timestamp_type=0, key=b"acme:c-1",
        value=b'{"id": "evt-42", "type": "post.created"}', checksum=None, serialized_key_size=8,
        serialized_value_size=41, headers=(),
    )  # fmt: skip
    letter = DeadLetter.from_record(record, reason="data.text: Field required", error="invalid_event", stage="scoring")
    before = DEAD_LETTERS.labels("scoring", "invalid_event")._value.get()
    caplog.handler.addFilter(ContextFilter("scoring"))
    producer = EventProducer(topics)
    await producer.start()
    try:
        await producer.wait_connected(15)
        with caplog.at_level("WARNING", logger="kith_shared.kafka"):
            await send_dead_letter(producer, topics, letter)
    finally:
        await producer.stop()
    assert DEAD_LETTERS.labels("scoring", "invalid_event")._value.get() == before + 1
    [record] = [r for r in caplog.records if r.getMessage() == "record dead-lettered"]
    assert record.__dict__["event_id"] == "evt-42"
    assert record.__dict__["offset"] == 7
