"""Kafka in tests: publish events, read every partition of topics from their start, find where topics end."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterable
from itertools import islice
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from kith_shared.events import Event
from kith_shared.kafka import EventProducer, make_consumer
from kith_shared.reading import end_offsets
from kith_shared.settings import KafkaSettings
from kith_shared.topics import ACTIVITY, TopicSpec


async def publish(
    kafka: KafkaSettings, events: Iterable[Event], spec: TopicSpec = ACTIVITY, *, chunk: int = 2_000, **producer: Any
) -> int:
    """Publish events on a topic (the activity topic by default), ``chunk`` at a time; return how many.

    The events go through a connected :class:`~kith_shared.kafka.EventProducer` given the options
    ``producer`` (larger batches for a backlog, for instance).
    """
    sender = EventProducer(kafka, **producer)
    await sender.start()
    count = 0
    try:
        await sender.wait_connected(30)
        stream = iter(events)
        while batch := list(islice(stream, chunk)):
            await sender.publish(spec, batch)
            count += len(batch)
    finally:
        await sender.stop()
    return count


@contextlib.asynccontextmanager
async def from_start(
    kafka: KafkaSettings, *specs: TopicSpec, **options: Any
) -> AsyncIterator[tuple[AIOKafkaConsumer, list[TopicPartition]]]:
    """Yield a consumer of no group assigned every partition of the topics, at their start, and those partitions.

    ``options`` go to the consumer (``max_poll_records=5_000``); it is stopped after the block.
    """
    consumer = make_consumer(kafka, group=None, **options)
    await consumer.start()
    try:
        await consumer.topics()  # fresh metadata: the topics may have been created after the client started
        topics = [kafka.topic(spec) for spec in specs]
        partitions = [TopicPartition(t, p) for t in topics for p in sorted(consumer.partitions_for_topic(t) or ())]
        consumer.assign(partitions)
        if partitions:
            await consumer.seek_to_beginning(*partitions)
        yield consumer, partitions
    finally:
        await consumer.stop()


async def topic_ends(kafka: KafkaSettings, *specs: TopicSpec) -> dict[TopicPartition, int]:
    """Return where each partition of the topics ends now."""
    async with from_start(kafka, *specs) as (consumer, partitions):
        return await end_offsets(consumer, partitions)
