"""Log lines written while a consumer applies records name the event, the tenant and (tracing on) the trace."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from typing import Any

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from kith_devkit.testing import eventually
from kith_shared import tracing
from kith_shared.batching import Handler
from kith_shared.consumer import Consumer, ConsumerOptions
from kith_shared.events import DeadLetter, Event, decode_kafka_record, validate_event
from kith_shared.events.examples import example
from kith_shared.kafka import EventProducer
from kith_shared.logs import ContextFilter
from kith_shared.settings import KafkaSettings
from kith_shared.topics import ACTIVITY
from tests.tracing_support import spans  # noqa: F401  (the fixture)

pytestmark = pytest.mark.integration
log = logging.getLogger("tests.log_context")


class Logging(Handler[Event]):
    """Logs one line per apply call; an event whose id starts with ``bad`` fails every try."""

    stage = "scoring"

    async def prepare(self, records: Sequence[Any]) -> list[Event | DeadLetter]:
        return [decode_kafka_record(record.value, list(record.headers or ())) for record in records]

    async def apply(self, items: Sequence[Event]) -> None:
        log.info("applying", extra={"items": len(items)})
        if any(item.id.startswith("bad") for item in items):
            raise ValueError("refused")

    def identify(self, item: Event) -> tuple[str | None, str | None]:
        return item.id, item.tenant


def member_joined(event_id: str, tenant: str) -> Event:
    raw = example("member.joined")
    raw.update(id=event_id, tenant=tenant, receivedtime=raw["time"], schemaversion=1)
    return validate_event(raw)


@pytest.fixture
def caught(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Capture every log line at INFO and above, through the services' context filter."""
    caplog.handler.addFilter(ContextFilter("test"))
    caplog.set_level(logging.INFO)
    return caplog


async def consume(topics: KafkaSettings, events: list[Event], done: Any) -> None:
    """Publish ``events`` (in a batch, one partition) and run a consumer on them until ``done()`` holds."""
    producer = EventProducer(topics)
    await producer.start()
    options = ConsumerOptions(
        name="log-context", service=f"test-{uuid.uuid4().hex[:8]}", topics=(ACTIVITY,), group="log-context",
        poll_ms=100, session_timeout_ms=6_000, record_tries=2,
    )  # fmt: skip
    consumer = Consumer(options, topics, Logging(), producer)
    try:
        await producer.wait_connected(15)
        await producer.publish(ACTIVITY, events)
        await consumer.start()
        await eventually(done, 60, "the records applied")
    finally:
        await consumer.stop()
        await producer.stop()


async def test_a_lone_record_names_its_event_tenant_and_trace(
    topics: KafkaSettings,
    spans: InMemorySpanExporter,  # noqa: F811  (tracing on)
    caught: pytest.LogCaptureFixture,
) -> None:
    lines = caught.records
    with tracing.tracer().start_as_current_span("client") as client:
        traceparent = tracing.current_traceparent()
    event = member_joined("evt-lone", "acme").model_copy(update={"traceparent": traceparent})

    async def applied() -> logging.LogRecord | None:
        return next((line for line in lines if line.getMessage() == "applying"), None)

    await consume(topics, [event], applied)
    line = await applied()
    assert line is not None
    assert (line.__dict__["event_id"], line.__dict__["tenant"]) == ("evt-lone", "acme")
    assert line.__dict__["trace_id"] == format(client.get_span_context().trace_id, "032x")
    assert line.__dict__["span_id"] not in (None, format(client.get_span_context().span_id, "016x"))
    outside = logging.LogRecord("x", logging.INFO, __file__, 1, "after", None, None)
    ContextFilter("test").filter(outside)
    assert (outside.__dict__["event_id"], outside.__dict__["tenant"], outside.__dict__["trace_id"]) == (None,) * 3


async def test_a_failing_record_is_named_on_its_own_lines_and_a_chunk_names_its_tenant(
    topics: KafkaSettings, caught: pytest.LogCaptureFixture
) -> None:
    lines = caught.records
    events = [member_joined("evt-1", "acme"), member_joined("bad-2", "acme"), member_joined("evt-3", "acme")]

    async def lettered() -> bool:
        return any(line.getMessage() == "record dead-lettered" for line in lines)

    await consume(topics, events, lettered)
    chunk = next(line for line in lines if line.getMessage() == "applying" and line.__dict__["items"] == 3)
    assert (chunk.__dict__["event_id"], chunk.__dict__["tenant"]) == (None, "acme"), "a chunk names the shared tenant"
    failed = [line for line in lines if line.getMessage() == "record failed every try; dead-lettering it"]
    assert [(line.__dict__["event_id"], line.__dict__["tenant"]) for line in failed] == [("bad-2", "acme")]
    [letter] = [line for line in lines if line.getMessage() == "record dead-lettered"]
    assert (letter.__dict__["event_id"], letter.__dict__["tenant"]) == ("bad-2", "acme")
    alone = {
        line.__dict__["event_id"] for line in lines if line.getMessage() == "applying" and line.__dict__["items"] == 1
    }
    assert "bad-2" in alone, "the failing record's own tries name it"
    assert all(line.__dict__["trace_id"] is None for line in lines), "no trace ids while tracing is off"
