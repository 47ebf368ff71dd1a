"""Read partitions up to where they end now: rebuilds, dead-letter listings and replays, consumer lag, fences.

Where a partition ends is taken from fetch responses (the high watermark each one carries), not from
a ListOffsets request (``AIOKafkaConsumer.end_offsets``): the embedded broker answers the latter with
the first offset of the last record batch, not the end, so it would stop a reader up to one batch
short. Fetch responses are right on every broker.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer
from aiokafka.structs import TopicPartition

log = logging.getLogger(__name__)


async def end_offsets(
    consumer: AIOKafkaConsumer, partitions: Sequence[TopicPartition], *, within: float = 10.0
) -> dict[TopicPartition, int]:
    """Return where each of the consumer's assigned ``partitions`` ends now; the consumer's positions are kept.

    Raise :class:`TimeoutError` when the broker did not answer for every partition within ``within`` seconds.
    """
    if not partitions:
        return {}
    positions = {tp: await consumer.position(tp) for tp in partitions}
    ends: dict[TopicPartition, int] = {}
    try:
        async with asyncio.timeout(within):
            while len(ends) < len(partitions):
                await consumer.getmany(*partitions, timeout_ms=200, max_records=1)
                for tp in partitions:
                    high = consumer.highwater(tp)
                    if high is not None:
                        ends[tp] = high
    finally:
        for tp, position in positions.items():
            consumer.seek(tp, position)
    return ends


async def read_to_end(
    consumer: AIOKafkaConsumer,
    partitions: Sequence[TopicPartition],
    *,
    max_records: int = 500,
    within: float | None = None,
) -> AsyncIterator[list[Any]]:
    """Yield batches of records from the consumer's current positions up to where ``partitions`` end now.

    Records written after the call started are left for later readers. With ``within``, reading stops
    after that many seconds, saying so in the log, and what was read so far has been yielded.
    """
    ends = await end_offsets(consumer, partitions)
    remaining = {tp for tp in partitions if await consumer.position(tp) < ends[tp]}
    loop = asyncio.get_running_loop()
    deadline = None if within is None else loop.time() + within
    while remaining:
        if deadline is not None and loop.time() >= deadline:
            log.warning(
                "stopped reading before the end", extra={"within": within, "partitions": sorted(map(str, remaining))}
            )
            return
        fetched = await consumer.getmany(*remaining, timeout_ms=1_000, max_records=max_records)
        batch: list[Any] = []
        for tp, records in fetched.items():
            batch.extend(record for record in records if record.offset < ends[tp])
            if records and records[-1].offset >= ends[tp] - 1:
                remaining.discard(tp)
        if batch:
            yield batch


@dataclass(frozen=True, slots=True)
class Found:
    """What a partition holds at an offset: where the partition ends now, and the record there if any."""

    end: int
    record: Any | None
    """The record at the offset; None when the partition ends at or before it, or no longer holds it (retention)."""


async def record_at(consumer: AIOKafkaConsumer, tp: TopicPartition, offset: int, *, within: float = 10.0) -> Found:
    """Return the record at ``offset`` of ``tp`` (assigned to ``consumer``; its position moves) and the end.

    Raise :class:`TimeoutError` when the broker did not answer within ``within`` seconds.
    """
    end = (await end_offsets(consumer, [tp], within=within))[tp]
    if end <= offset:
        return Found(end, None)
    consumer.seek(tp, offset)
    async with asyncio.timeout(within):
        while True:
            fetched = await consumer.getmany(tp, timeout_ms=500, max_records=1)
            for record in fetched.get(tp, ()):
                return Found(end, record if record.offset == offset else None)
