"""The consumer skeleton on the real broker: a poison record dead-lettered while the rest is applied once,
a crashed loop restarted, readiness failing while stuck with records waiting, partitions assigned by hand."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from aiokafka import TopicPartition
from fastapi import FastAPI
from prometheus_client import REGISTRY

from kith_devkit.testing import eventually
from kith_shared import observability
from kith_shared.batching import Handler
from kith_shared.consumer import Consumer, ConsumerOptions
from kith_shared.events import DeadLetter
from kith_shared.kafka import EventProducer, make_consumer, make_producer
from kith_shared.reading import read_to_end
from kith_shared.settings import KafkaSettings
from kith_shared.topics import ACTIVITY, DEAD_LETTER

pytestmark = pytest.mark.integration


@dataclass
class Numbers(Handler[int]):
    """Applies the integers the records carry, all or none; ``poison`` ones raise; ``gate`` holds every call."""

    poison: set[int] = field(default_factory=set)
    applied: list[int] = field(default_factory=list)
    tried: dict[int, int] = field(default_factory=dict)
    gate: asyncio.Event | None = None
    idle_failures: int = 0
    starts: dict[TopicPartition, int] = field(default_factory=dict)
    stage = "scoring"

    async def prepare(self, records: Sequence[Any]) -> list[int | DeadLetter]:
        return [int(record.value) for record in records]

    async def apply(self, items: Sequence[int]) -> None:
        if self.gate is not None:
            await self.gate.wait()
        for item in items:
            self.tried[item] = self.tried.get(item, 0) + 1
        bad = self.poison.intersection(items)
        if bad:
            raise ValueError(f"no number {sorted(bad)} here")
        self.applied.extend(items)

    async def idle(self) -> None:
        if self.idle_failures:
            self.idle_failures -= 1
            raise RuntimeError("housekeeping broke")

    async def assigned(self, partitions: set[Any]) -> dict[TopicPartition, int]:
        return {tp: offset for tp, offset in self.starts.items() if tp in partitions}


async def send_numbers(kafka: KafkaSettings, numbers: range, key: bytes = b"one-partition") -> set[int]:
    """Write the numbers on the activity topic under one key; return the partitions they went to."""
    producer = make_producer(kafka)
    await producer.start()
    try:
        futures = [await producer.send(kafka.topic(ACTIVITY), str(number).encode(), key=key) for number in numbers]
        return {(await future).partition for future in futures}
    finally:
        await producer.stop()


def options(**overrides: Any) -> ConsumerOptions:
    values: dict[str, Any] = {
        "name": "numbers",
        "service": f"test-{uuid.uuid4().hex[:8]}",
        "topics": (ACTIVITY,),
        "group": "numbers",
        "poll_ms": 100,
        "session_timeout_ms": 6_000,
        "lag_refresh_seconds": 0.5,
    }
    values.update(overrides)
    return ConsumerOptions(**values)


@asynccontextmanager
async def consuming(kafka: KafkaSettings, handler: Numbers, opts: ConsumerOptions) -> AsyncIterator[Consumer[int]]:
    producer = EventProducer(kafka)
    await producer.start()
    consumer = Consumer(opts, kafka, handler, producer)
    await consumer.start()
    try:
        yield consumer
    finally:
        await consumer.stop()
        await producer.stop()


async def dead_letters(kafka: KafkaSettings) -> list[DeadLetter]:
    reader = make_consumer(kafka, group=None)
    await reader.start()
    try:
        tp = TopicPartition(kafka.topic(DEAD_LETTER), 0)
        reader.assign([tp])
        await reader.seek_to_beginning(tp)
        return [DeadLetter.model_validate_json(r.value) async for batch in read_to_end(reader, [tp]) for r in batch]
    finally:
        await reader.stop()


def lag_of(service: str, kafka: KafkaSettings) -> float:
    topic = kafka.topic(ACTIVITY)
    values = [REGISTRY.get_sample_value("kith_consumer_lag", {"service": service, "topic": topic, "partition": str(p)})
              for p in range(ACTIVITY.partitions)]  # fmt: skip
    return sum(value for value in values if value is not None)


async def test_a_poison_record_mid_batch_is_dead_lettered_after_its_tries_and_the_rest_applied_once(
    topics: KafkaSettings,
) -> None:
    await send_numbers(topics, range(60))
    handler = Numbers(poison={31})
    opts = options(record_tries=3)
    async with consuming(topics, handler, opts) as consumer:

        async def settled() -> bool:
            return len(handler.applied) == 59 and consumer.dead_lettered == 1 and consumer.waiting == 0

        await eventually(settled, within=60, what="59 numbers applied and one dead-lettered")
        assert consumer.batches == 1  # the poison record was in the middle of one batch
    assert sorted(handler.applied) == [n for n in range(60) if n != 31]
    assert len(handler.applied) == len(set(handler.applied))
    assert handler.tried[31] >= 3
    letters = await dead_letters(topics)
    assert len(letters) == 1
    letter = letters[0]
    assert (letter.source_topic, letter.offset, letter.original_value()) == (topics.topic(ACTIVITY), 31, b"31")
    assert "3 times" in letter.reason
    assert "no number [31] here" in letter.reason
    assert lag_of(opts.service, topics) == 0

    # The offsets were committed past the poison record: the group's next member reads nothing again.
    again = Numbers()
    async with consuming(topics, again, options(record_tries=3)) as consumer:
        await send_numbers(topics, range(60, 63))
        await eventually(lambda: _at_least(again, 3), within=60, what="the three new numbers")
    assert again.applied == [60, 61, 62]


async def _at_least(handler: Numbers, count: int) -> bool:
    return len(handler.applied) >= count


async def test_a_crashed_loop_is_logged_and_restarted(topics: KafkaSettings, caplog: pytest.LogCaptureFixture) -> None:
    handler = Numbers(idle_failures=1)
    async with consuming(topics, handler, options()) as consumer:

        async def restarted() -> bool:
            return consumer.restarts == 1

        await eventually(restarted, within=60, what="a restart")
        assert "consumer loop crashed; restarting it" in caplog.text
        await send_numbers(topics, range(5))
        await eventually(lambda: _at_least(handler, 5), within=60, what="records applied after the restart")
        await consumer.check()
    assert sorted(handler.applied) == list(range(5))


async def test_readiness_fails_naming_the_consumer_while_stuck_with_records_waiting(topics: KafkaSettings) -> None:
    gate = asyncio.Event()
    handler = Numbers(gate=gate)
    opts = options(stuck_seconds=1.5)
    async with consuming(topics, handler, opts) as consumer:
        readiness = observability.Readiness()
        readiness.add("consumer", consumer.check)
        app = FastAPI()
        observability.install(app, service=opts.service, readiness=readiness)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:

            async def connected() -> bool:
                return consumer.broker_error is None and (await client.get("/readyz")).status_code == 200

            await eventually(connected, within=60, what="ready while nothing waits")
            await send_numbers(topics, range(20))

            async def stuck() -> dict[str, Any] | None:
                reply = await client.get("/readyz")
                return reply.json() if reply.status_code == 503 else None

            body = await eventually(stuck, within=60, what="503 while stuck")
            assert body["failing"] == ["consumer"]
            assert "numbers consumer stuck" in body["checks"]["consumer"]
            assert "20 records waiting" in body["checks"]["consumer"]
            assert lag_of(opts.service, topics) == 20

            gate.set()

            async def ready() -> bool:
                return (await client.get("/readyz")).status_code == 200

            await eventually(ready, within=60, what="ready again once the records were applied")
            assert lag_of(opts.service, topics) == 0
    assert sorted(handler.applied) == list(range(20))


async def test_without_a_group_every_partition_is_read_from_where_the_handler_says(topics: KafkaSettings) -> None:
    (partition,) = await send_numbers(topics, range(10), key=b"a")
    holding = TopicPartition(topics.topic(ACTIVITY), partition)
    handler = Numbers(starts={holding: 6})
    async with consuming(topics, handler, options(group=None)) as consumer:
        await eventually(lambda: _at_least(handler, 4), within=60, what="the numbers from offset 6")
        await send_numbers(topics, range(10, 12), key=b"b")
        await eventually(lambda: _at_least(handler, 6), within=60, what="numbers on any partition")
        assert consumer.group is None
    assert sorted(handler.applied) == [6, 7, 8, 9, 10, 11]
