"""Read the dead-letter topic and replay ingest's dead letters onto the raw topic after a fix.

Each replayed record carries a replay count header; a letter replayed ``max_replays`` times is left
alone, so a record that is bad for good cannot loop forever. Replay progress is kept as the offsets
of a consumer group, so each letter is replayed once per run of the command.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Final

from aiokafka import AIOKafkaConsumer
from aiokafka.structs import TopicPartition
from pydantic import ValidationError

from kith_shared.events import DeadLetter
from kith_shared.kafka import make_consumer, make_producer
from kith_shared.reading import read_to_end
from kith_shared.settings import KafkaSettings
from kith_shared.topics import DEAD_LETTER, RAW

log = logging.getLogger(__name__)

#: Kafka header counting how many times a dead letter was replayed onto the raw topic.
REPLAY_HEADER: Final = "kith-replay-count"
#: Consumer group remembering which dead letters were already replayed (prefixed like every group).
REPLAY_GROUP = "ingest-dead-letter-replay"


@dataclass
class ReplayReport:
    """What a replay did."""

    replayed: int = 0
    exhausted: int = 0
    """Letters left alone: replayed ``max_replays`` times already."""
    other_stage: int = 0
    """Letters not ingest's to replay: unreadable, or from another stage or topic than the raw one."""
    redacted: int = 0
    """Letters left alone because their event names an erased member."""
    offsets: dict[int, int] = field(default_factory=dict)
    """Each dead-letter partition's next offset, committed: the next run starts there."""


def replay_count(headers: Iterable[tuple[str, bytes | None]]) -> int:
    """Return how many times a record was replayed from the dead-letter topic (0 when never)."""
    for name, raw in headers:
        if name.lower() == REPLAY_HEADER and raw is not None:
            try:
                return max(0, int(raw.decode("ascii")))
            except (UnicodeDecodeError, ValueError):
                return 0
    return 0


async def _assign_all(consumer: AIOKafkaConsumer, topic: str) -> list[TopicPartition]:
    await consumer.topics()
    partitions = consumer.partitions_for_topic(topic) or set()
    assigned = [TopicPartition(topic, partition) for partition in sorted(partitions)]
    if assigned:
        consumer.assign(assigned)
    return assigned


async def _read_letters(
    consumer: AIOKafkaConsumer, assigned: list[TopicPartition], within: float
) -> list[tuple[TopicPartition, int, DeadLetter | None]]:
    """Read the letters from the consumer's positions to the end of the topic (or for ``within`` seconds)."""
    found: list[tuple[TopicPartition, int, DeadLetter | None]] = []
    async for records in read_to_end(consumer, assigned, within=within):
        for record in records:
            try:
                letter: DeadLetter | None = DeadLetter.model_validate_json(record.value or b"")
            except ValidationError:
                log.warning("unreadable record on the dead-letter topic", extra={"offset": record.offset})
                letter = None
            found.append((TopicPartition(record.topic, record.partition), record.offset, letter))
    return found


async def _read_topic(kafka: KafkaSettings, within: float) -> list[tuple[TopicPartition, int, DeadLetter | None]]:
    """Read the whole dead-letter topic: each record's partition, offset and letter (None: unreadable)."""
    consumer = make_consumer(kafka, group=None, isolation_level="read_uncommitted")
    await consumer.start()
    try:
        assigned = await _assign_all(consumer, kafka.topic(DEAD_LETTER))
        if not assigned:
            return []
        await consumer.seek_to_beginning(*assigned)
        found = await _read_letters(consumer, assigned, within)
    finally:
        await consumer.stop()
    return found


async def read_dead_letters(kafka: KafkaSettings, limit: int = 100, *, within: float = 60.0) -> list[DeadLetter]:
    """Return the latest ``limit`` dead letters (every stage), in the order they were written."""
    found = await _read_topic(kafka, within)
    found.sort(key=lambda item: (item[0].partition, item[1]))
    letters = [letter for _tp, _offset, letter in found if letter is not None]
    return letters[-limit:] if limit > 0 else []


@dataclass(frozen=True)
class PlacedLetter:
    """A dead letter and where it sits on the dead-letter topic."""

    partition: int
    offset: int
    letter: DeadLetter


async def read_placed_letters(kafka: KafkaSettings, *, within: float = 30.0) -> list[PlacedLetter]:
    """Return every readable dead letter (every stage) with its place on the dead-letter topic, oldest first."""
    found = await _read_topic(kafka, within)
    placed = [PlacedLetter(tp.partition, offset, letter) for tp, offset, letter in found if letter is not None]
    return sorted(placed, key=lambda item: (item.letter.failed_at, item.partition, item.offset))


def replayable(letter: DeadLetter, raw_topic: str, max_replays: int) -> str | None:
    """Return why a letter cannot be replayed onto ``raw_topic``, or None when it can."""
    if letter.redacted:
        return "it was redacted: the event names an erased member"
    if letter.stage != "ingest" or letter.source_topic != raw_topic:
        return f"it failed in {letter.stage}, not in ingest: replaying the raw event would not reach that stage again"
    if letter.replay_count >= max_replays:
        return f"it was replayed {letter.replay_count} times already (the most is {max_replays})"
    return None


def replay_record(letter: DeadLetter) -> tuple[bytes, bytes | None, list[tuple[str, bytes]]]:
    """Return the value, key and headers that put a letter back on the raw topic, its replay count raised."""
    headers = [(name, raw) for name, raw in letter.original_headers() if name.lower() != REPLAY_HEADER]
    headers.append((REPLAY_HEADER, str(letter.replay_count + 1).encode()))
    return letter.original_value(), letter.original_key(), headers


async def replay_dead_letters(
    kafka: KafkaSettings,
    *,
    max_replays: int = 3,
    group: str = REPLAY_GROUP,
    within: float = 60.0,
    redact: Callable[[DeadLetter], DeadLetter] | None = None,
) -> ReplayReport:
    """Send ingest's dead letters not yet replayed back to the raw topic; return what was done.

    Letters of other stages (scoring, recommend) are left alone, as are those replayed ``max_replays`` times
    and those redacted (by ``redact``, or when written: their event names an erased member).
    """
    raw_topic = kafka.topic(RAW)
    report = ReplayReport()
    consumer = make_consumer(kafka, group=kafka.group(group), isolation_level="read_uncommitted")
    producer = make_producer(kafka)
    await consumer.start()
    await producer.start()
    try:
        assigned = await _assign_all(consumer, kafka.topic(DEAD_LETTER))
        if not assigned:
            return report
        for tp in assigned:
            committed = await consumer.committed(tp)
            if committed is None:
                await consumer.seek_to_beginning(tp)
            else:
                consumer.seek(tp, committed)
        found = await _read_letters(consumer, assigned, within)
        pending = []
        for _tp, _offset, letter in found:
            if letter is None or letter.stage != "ingest" or letter.source_topic != raw_topic:
                report.other_stage += 1
                continue
            if redact is not None:
                letter = redact(letter)
            if letter.redacted:
                report.redacted += 1
                continue
            if letter.replay_count >= max_replays:
                report.exhausted += 1
                continue
            value, key, headers = replay_record(letter)
            pending.append(await producer.send(raw_topic, value, key=key, headers=headers))
        await asyncio.gather(*pending)
        report.replayed = len(pending)
        offsets: dict[TopicPartition, int] = {}
        for tp, offset, _letter in found:
            offsets[tp] = max(offsets.get(tp, 0), offset + 1)
        if offsets:
            await consumer.commit(offsets)
        report.offsets = {tp.partition: offset for tp, offset in offsets.items()}
    finally:
        await producer.stop()
        await consumer.stop()
    return report


def redact_all(letters: list[DeadLetter], redact: Callable[[DeadLetter], DeadLetter] | None) -> list[DeadLetter]:
    """Return the letters, each redacted when its event names an erased member (``redact`` decides)."""
    return letters if redact is None else [redact(letter) for letter in letters]
