"""Rebuild the interaction graphs from the activity topic when the service starts.

The graphs live in memory. At start, every record of the activity topic the service's consumer group
has already consumed (below its committed offset, partition by partition) is read again and its graph
changes applied; the consumer then goes on from those offsets, so no record is applied twice or
missed. What the topic no longer holds (older than its retention, 30 days) is not replayed: those ties
had decayed to a fraction anyway at the default 30-day half-life.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka import TopicPartition

from kith_recommend.discovery.scheduler import Discovery
from kith_recommend.domain.changes import GRAPH_CHANGES, Change, ErasureChange, changes_for
from kith_recommend.settings import RecommendSettings
from kith_shared.events import DecodeError, decode_kafka_record
from kith_shared.kafka import make_consumer
from kith_shared.reading import read_to_end
from kith_shared.topics import ACTIVITY

log = logging.getLogger(__name__)


@dataclass
class ReplayReport:
    """What the replay read and applied."""

    records: int = 0
    changes: int = 0
    seconds: float = 0.0


def graph_changes(records: Sequence[Any]) -> list[Change]:
    """Decode records into their graph changes and erasures (undecodable ones were dead-lettered when consumed)."""
    out: list[Change] = []
    for record in records:
        try:
            event = decode_kafka_record(record.value, list(record.headers or []))
        except DecodeError:
            continue
        out.extend(c for c in changes_for(event) if isinstance(c, (*GRAPH_CHANGES, ErasureChange)))
    return out


async def replay(settings: RecommendSettings, discovery: Discovery, batch: int = 5_000) -> ReplayReport:
    """Apply the graph changes of every record the consumer group committed, then let the scheduler start."""
    started = time.perf_counter()
    report = ReplayReport()
    kafka = settings.kafka
    consumer = make_consumer(
        kafka, group=kafka.group(settings.consumer_group), max_poll_records=batch, max_partition_fetch_bytes=8 << 20
    )
    try:
        await consumer.start()
        topic = kafka.topic(ACTIVITY)
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])]
        consumer.assign(partitions)
        committed = {tp: (await consumer.committed(tp)) or 0 for tp in partitions}
        wanted = [tp for tp in partitions if committed[tp] > 0]
        if wanted:
            await consumer.seek_to_beginning(*wanted)
            async for records in read_to_end(consumer, wanted, max_records=batch):
                mine = [r for r in records if r.offset < committed[TopicPartition(r.topic, r.partition)]]
                changes = await asyncio.to_thread(graph_changes, mine)
                async with discovery.recommender.lock:
                    discovery.apply(changes)
                report.records += len(mine)
                report.changes += len(changes)
    finally:
        await consumer.stop()
    report.seconds = time.perf_counter() - started
    log.info(
        "interaction graphs rebuilt from the activity topic",
        extra={"records": report.records, "changes": report.changes, "seconds": round(report.seconds, 2)},
    )
    return report
