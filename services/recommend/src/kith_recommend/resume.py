"""Where to resume reading each partition: the state's positions, checked against what the broker holds now.

A position says "every record below ``offset`` is in the state, and the record at ``offset - 1`` had
identity ``marker``". Before resuming there, the record at ``offset - 1`` is read again:

- the same record (same marker): the same topic, resume at ``offset``;
- another record, or none (the partition now ends before ``offset``): the topic was recreated and its
  offsets started again at 0 (the local stack's broker forgets its topics while the database keeps
  the checkpoint): a *new incarnation*, read from its beginning, so no new event is skipped;
- the record was deleted by retention (the partition now starts after it): the same topic; resume at
  ``offset``, or at the partition's first record when retention deleted unread records too (said in
  the log: they are lost to this state).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Mapping
from typing import Any

from aiokafka import TopicPartition
from aiokafka.errors import OffsetOutOfRangeError

from kith_recommend.store import Position
from kith_shared.kafka import make_consumer
from kith_shared.settings import KafkaSettings

log = logging.getLogger(__name__)


def marker(record: Any) -> str:
    """Return a record's identity: a short hash of its key and value."""
    digest = hashlib.blake2b(record.key or b"", digest_size=10)
    digest.update(b"\0")
    digest.update(record.value or b"")
    return digest.hexdigest()


async def resume_positions(
    kafka: KafkaSettings, positions: Mapping[TopicPartition, Position], *, within: float = 20.0
) -> dict[TopicPartition, Position]:
    """Return where to resume each partition of ``positions``: the same, or ``Position(0)`` for a new incarnation.

    Raise :class:`TimeoutError` when the broker did not answer for every partition within ``within`` seconds.
    """
    checked = {tp: p for tp, p in positions.items() if p.offset > 0}
    out = {tp: p for tp, p in positions.items() if p.offset <= 0}
    if not checked:
        return out
    consumer = make_consumer(kafka, group=None, auto_offset_reset="none", max_poll_records=len(checked))
    await consumer.start()
    try:
        consumer.assign(sorted(checked))
        for tp, position in checked.items():
            consumer.seek(tp, position.offset - 1)
        found: dict[TopicPartition, Any] = {}
        gone: set[TopicPartition] = set()
        async with asyncio.timeout(within):
            while pending := [tp for tp in checked if tp not in found and tp not in gone]:
                try:
                    fetched = await consumer.getmany(*pending, timeout_ms=500, max_records=len(pending))
                except OffsetOutOfRangeError as exc:
                    gone.update(tp for tp in exc.args[0] if tp in checked)
                    continue
                for tp, records in fetched.items():
                    if records:
                        found[tp] = records[0]
                for tp in pending:
                    high = consumer.highwater(tp)
                    if tp not in found and high is not None and high < checked[tp].offset:
                        gone.add(tp)  # the partition ends before the record that should be there
            starts = await consumer.beginning_offsets(sorted(gone)) if gone else {}
    finally:
        await consumer.stop()
    for tp, position in checked.items():
        out[tp] = _decide(tp, position, found.get(tp), starts.get(tp))
    return out


def _decide(tp: TopicPartition, position: Position, record: Any, start: int | None) -> Position:
    if record is not None and record.offset == position.offset - 1:
        if marker(record) == position.marker:
            return position
        return _new_incarnation(tp, position, "another record is at the last offset read")
    if record is not None:  # the record read last is gone (deleted by retention or compaction), later ones remain
        return position
    if start is not None and start > position.offset - 1:
        if start > position.offset:
            log.warning(
                "retention deleted records before they were read; resuming at the partition's first record",
                extra={"topic": tp.topic, "partition": tp.partition, "from": position.offset, "to": start},
            )
            return Position(start)
        return position
    return _new_incarnation(tp, position, "the partition ends before the last offset read")


def _new_incarnation(tp: TopicPartition, position: Position, why: str) -> Position:
    log.warning(
        "new incarnation of a topic partition: offsets started again; reading it from its beginning",
        extra={"topic": tp.topic, "partition": tp.partition, "position": position.offset, "why": why},
    )
    return Position(0)
