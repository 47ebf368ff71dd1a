"""Reading to the end on the real broker: exact ends from fetches, every record once, nothing written later."""

from __future__ import annotations

from typing import Any

import pytest
from aiokafka.structs import TopicPartition

from kith_shared.kafka import make_consumer, make_producer
from kith_shared.reading import Found, end_offsets, read_to_end, record_at
from kith_shared.settings import KafkaSettings
from kith_shared.topics import RAW

pytestmark = pytest.mark.integration


async def _produce(kafka: KafkaSettings, batches: list[list[tuple[int, bytes]]]) -> None:
    """Write each batch (partition, value) with its own acknowledged flush, so the log holds several record batches."""
    producer = make_producer(kafka)
    await producer.start()
    try:
        for batch in batches:
            futures = [await producer.send(kafka.topic(RAW), value, partition=p) for p, value in batch]
            for future in futures:
                await future
    finally:
        await producer.stop()


async def test_reads_every_record_up_to_the_end_and_not_what_comes_after(topics: KafkaSettings) -> None:
    # Partition 0 gets three record batches, partition 1 one, partition 2 none.
    await _produce(topics, [[(0, b"a0"), (0, b"a1"), (1, b"b0")], [(0, b"a2")], [(0, b"a3"), (0, b"a4")]])
    consumer = make_consumer(topics, group=None)
    await consumer.start()
    try:
        partitions = [TopicPartition(topics.topic(RAW), p) for p in range(3)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await end_offsets(consumer, partitions)
        assert [ends[tp] for tp in partitions] == [5, 1, 0]
        assert [await consumer.position(tp) for tp in partitions] == [0, 0, 0], "positions are kept"

        await _produce(topics, [[(0, b"late"), (2, b"late")]])
        read: list[Any] = []
        async for batch in read_to_end(consumer, partitions, max_records=2):
            assert 0 < len(batch) <= 4
            read.extend(batch)
        assert sorted((r.partition, r.offset, r.value) for r in read) == [
            (0, 0, b"a0"), (0, 1, b"a1"), (0, 2, b"a2"), (0, 3, b"a3"), (0, 4, b"a4"), (1, 0, b"b0"),
        ]  # fmt: skip

        # From a later position, only what lies between it and the (new) end.
        consumer.seek(partitions[0], 4)
        rest = [r.value async for batch in read_to_end(consumer, partitions[:1]) for r in batch]
        assert rest == [b"a4", b"late"]
        assert [r async for r in read_to_end(consumer, partitions[1:2])] == []
    finally:
        await consumer.stop()


async def test_the_record_at_an_offset_and_where_its_partition_ends(topics: KafkaSettings) -> None:
    await _produce(topics, [[(0, b"a0"), (0, b"a1")], [(0, b"a2"), (0, b"a3")]])
    consumer = make_consumer(topics, group=None)
    await consumer.start()
    try:
        tp = TopicPartition(topics.topic(RAW), 0)
        consumer.assign([tp])
        found = await record_at(consumer, tp, 2)
        assert found.record is not None
        assert (found.end, found.record.offset, found.record.value) == (4, 2, b"a2")
        past = await record_at(consumer, tp, 4)
        assert (past.end, past.record) == (4, None)
        empty = TopicPartition(topics.topic(RAW), 1)
        consumer.assign([empty])
        assert await record_at(consumer, empty, 0) == Found(0, None)
    finally:
        await consumer.stop()
