"""The broker's side of a consumer: make and start the Kafka consumer, gather a batch, seek back, commit."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import (
    CommitFailedError,
    IllegalStateError,
    KafkaConnectionError,
    KafkaError,
    UnknownTopicOrPartitionError,
)

from kith_shared.batching import Record
from kith_shared.consumer.options import ConsumerOptions
from kith_shared.kafka import make_consumer
from kith_shared.settings import KafkaSettings

log = logging.getLogger(__name__)

#: A JoinGroup request is answered only once the group settled (about 5 s on the embedded broker, up to
#: the rebalance timeout on Kafka): a shorter request timeout would abandon every join.
JOIN_TIMEOUT_MS = 30_000

#: How long starting a consumer (joining its group) may take before a new one is tried.
START_SECONDS = 60.0

#: Empty polls in a row after which gathering stops even though the broker reported more.
_GATHER_MISSES = 5


def make(kafka: KafkaSettings, options: ConsumerOptions, group: str | None) -> AIOKafkaConsumer:
    """Return an unstarted Kafka consumer sized by ``options`` (in ``group``, or with no group)."""
    overrides: dict[str, Any] = {
        "max_poll_records": options.max_records,
        "fetch_max_bytes": min(options.max_bytes, 64 * 1024 * 1024),
    }
    if group is not None:
        overrides.update(
            request_timeout_ms=max(kafka.request_timeout_ms, JOIN_TIMEOUT_MS),
            session_timeout_ms=options.session_timeout_ms,
            heartbeat_interval_ms=max(1_000, options.session_timeout_ms // 4),
            max_poll_interval_ms=options.max_poll_interval_ms,
        )
    overrides.update(options.client)
    return make_consumer(kafka, group=group, **overrides)


async def start(consumer: AIOKafkaConsumer, stopping: asyncio.Event) -> bool:
    """Start ``consumer`` (a group consumer waits for its first assignment); False when ``stopping`` came first.

    Raise :class:`KafkaConnectionError` when it did not start within ``START_SECONDS`` (a broker lost
    while joining can leave the join waiting for ever): the supervisor then starts a new one.
    """
    starting = asyncio.ensure_future(consumer.start())
    stopped = asyncio.ensure_future(stopping.wait())
    try:
        done, _ = await asyncio.wait({starting, stopped}, timeout=START_SECONDS, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopped.cancel()
    if starting in done:
        starting.result()
        return True
    starting.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await starting
    if stopping.is_set():
        return False
    raise KafkaConnectionError(f"the consumer did not start within {START_SECONDS:g}s")


async def close(consumer: AIOKafkaConsumer) -> None:
    """Stop ``consumer``, whatever state its connection is in; never raise unless this task is being cancelled.

    aiokafka's ``stop`` awaits the fetch tasks it cancels, so a fetch waiting out its retry pause (the
    broker gone) can surface as a ``CancelledError`` of the caller (aio-libs/aiokafka#647). Let through,
    it would end the supervisor's task, and with it every reconnection.
    """
    try:
        await consumer.stop()
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise
        log.debug("the Kafka consumer's own tasks were cancelled while it stopped")
    except Exception:
        log.debug("the Kafka consumer failed to stop cleanly", exc_info=True)


def every_partition(consumer: AIOKafkaConsumer, topics: Iterable[str]) -> set[TopicPartition]:
    """Return every partition of ``topics``; raise when a topic is not found."""
    partitions: set[TopicPartition] = set()
    for topic in topics:
        ids = consumer.partitions_for_topic(topic)
        if not ids:
            raise UnknownTopicOrPartitionError(f"topic {topic} not found")
        partitions.update(TopicPartition(topic, p) for p in ids)
    return partitions


async def gather(
    consumer: AIOKafkaConsumer, options: ConsumerOptions, clock: Callable[[], float], stopping: asyncio.Event
) -> dict[TopicPartition, list[Record]]:
    """Return the next batch: what is waiting, gathered while a backlog lasts, within the bounds of ``options``."""
    fetched = await consumer.getmany(timeout_ms=options.poll_ms, max_records=options.max_records)
    batch = {tp: list(records) for tp, records in fetched.items() if records}
    count = sum(len(records) for records in batch.values())
    size = sum(_size(record) for records in batch.values() for record in records)
    started = clock()
    misses = 0
    while (
        count
        and count < options.max_records
        and size < options.max_bytes
        and misses < _GATHER_MISSES
        and clock() - started < options.gather_seconds
        and not stopping.is_set()
        and await _backlog(consumer)
    ):
        more = await consumer.getmany(timeout_ms=options.poll_ms, max_records=options.max_records - count)
        misses = 0 if more else misses + 1
        for tp, records in more.items():
            batch.setdefault(tp, []).extend(records)
            count += len(records)
            size += sum(_size(record) for record in records)
    return batch


async def _backlog(consumer: AIOKafkaConsumer) -> bool:
    """Tell whether the broker holds records behind the ones polled (as of the last fetches)."""
    for tp in consumer.assignment():
        highwater = consumer.highwater(tp)
        if highwater is None or highwater > await consumer.position(tp):
            return True
    return False


def _size(record: Record) -> int:
    return len(record.value or b"") + len(record.key or b"")


def seek_back(consumer: AIOKafkaConsumer, remaining: Mapping[TopicPartition, Sequence[Record]]) -> None:
    """Make the next poll read ``remaining`` again, on the partitions still assigned."""
    assigned = consumer.assignment()
    for tp, records in remaining.items():
        if tp in assigned:
            consumer.seek(tp, records[0].offset)


async def commit(consumer: AIOKafkaConsumer, offsets: Mapping[TopicPartition, int], name: str) -> None:
    """Commit ``offsets`` of the partitions still assigned; log a commit that fails (``name``: the consumer's)."""
    assigned = consumer.assignment()
    mine = {tp: offset for tp, offset in offsets.items() if tp in assigned}
    if not mine:
        return
    try:
        await consumer.commit(mine)
    except (CommitFailedError, IllegalStateError, KafkaError) as exc:
        # The effects are durable and replays are harmless: the next owner reads these records again.
        log.warning("offsets not committed after a durable chunk", extra={"consumer": name, "error": repr(exc)})


def next_offsets(chunk: Sequence[Record]) -> dict[TopicPartition, int]:
    """Return, per partition of a chunk, the offset after its last record."""
    offsets: dict[TopicPartition, int] = {}
    for record in chunk:
        tp = TopicPartition(record.topic, record.partition)
        offsets[tp] = max(offsets.get(tp, 0), record.offset + 1)
    return offsets


def drop(remaining: dict[TopicPartition, list[Record]], offsets: Mapping[TopicPartition, int]) -> None:
    """Remove the records below ``offsets`` from ``remaining`` (and partitions left empty)."""
    for tp, offset in offsets.items():
        records = [record for record in remaining.get(tp, ()) if record.offset >= offset]
        if records:
            remaining[tp] = records
        else:
            remaining.pop(tp, None)
