"""Consume normalized activity and engagement changes into the in-memory state, on the shared consumer skeleton.

Every replica reads every partition of both topics (no consumer group: each holds the whole model,
to answer any member) from its own positions: the checkpoint's at start, checked against the broker
(:mod:`kith_recommend.resume`), then the positions of what it applied. Nothing is committed to the
broker and nothing is written per record: :class:`~kith_recommend.checkpoints.Checkpointer` saves the
state with its positions now and then.

A chunk is prepared (decoded, turned into changes: a record that cannot be becomes a dead letter)
and applied in memory under the model's lock, positions included, so a checkpoint never sees a
half-applied chunk. Applying validated changes to dictionaries does not fail; should it (a defect),
the state can no longer be trusted: the consumer restarts, the last checkpoint is loaded again and
replayed, and the record that failed is dead-lettered on the way.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiokafka import TopicPartition
from pymongo.errors import PyMongoError

from kith_recommend import SERVICE
from kith_recommend.domain.changes import Change, changes_for
from kith_recommend.engine import Recommender
from kith_recommend.erasure import tombstone_writes
from kith_recommend.resume import marker, resume_positions
from kith_recommend.settings import RecommendSettings
from kith_shared import logs
from kith_shared.batching import Handler
from kith_shared.consumer import Consumer, ConsumerOptions
from kith_shared.events import DeadLetter, DecodeError, decode_kafka_record
from kith_shared.kafka import EventProducer
from kith_shared.settings import KafkaSettings
from kith_shared.tombstone_store import TombstoneStore
from kith_shared.topics import ACTIVITY, ENGAGEMENT

log = logging.getLogger(__name__)


class ModelBroken(RuntimeError):
    """Applying a chunk failed halfway: the state must be loaded again from the last checkpoint."""


@dataclass(frozen=True, slots=True)
class Planned:
    """A record ready to apply: where it was, its identity, and the changes it makes."""

    topic: str
    partition: int
    offset: int
    marker: str
    changes: list[Change]
    event_id: str | None = None
    tenant: str | None = None


def plan(record: Any) -> Planned | DeadLetter:
    """Decode a record into changes, or into a dead letter saying why it cannot be applied."""
    try:
        event = decode_kafka_record(record.value, list(record.headers or []))
        changes = changes_for(event)
    except DecodeError as exc:
        field = exc.problems[0].field if exc.problems else None
        return DeadLetter.from_record(record, reason=str(exc), error="DecodeError", stage="recommend", field=field)
    except Exception as exc:  # anything unprocessable is dead-lettered, never silently dropped
        return DeadLetter.from_record(
            record, reason=f"could not apply the event: {exc!r}", error=type(exc).__name__, stage="recommend"
        )
    return Planned(record.topic, record.partition, record.offset, marker(record), changes, event.id, event.tenant)


@dataclass(eq=False)
class ModelHandler(Handler[Planned]):
    """Applies records to the recommender's in-memory state, positions included."""

    stage = "recommend"
    #: The database unreachable while tombstones are written: the chunk waits, nothing is blamed on a record.
    transient = (PyMongoError,)

    recommender: Recommender
    kafka: KafkaSettings
    #: Loads the last checkpoint again once applying a record failed (none: the state is not reloaded).
    reload: Callable[[], Awaitable[None]] | None = None
    #: Where erasures are made durable before they are applied (none: they are not written).
    tombstones: TombstoneStore | None = None
    #: Records whose changes failed to apply: dead-lettered when they are read again, after the reload.
    poison: set[tuple[str, int, int]] = field(default_factory=set, init=False)
    _markers: dict[tuple[str, int, int], str] = field(default_factory=dict, init=False)

    async def prepare(self, records: Sequence[Any]) -> list[Planned | DeadLetter]:
        """Decode each record (dead letters for those that cannot be applied)."""
        self._check()
        out: list[Planned | DeadLetter] = []
        self._markers = {}
        for record in records:
            where = (record.topic, record.partition, record.offset)
            self._markers[where] = marker(record)
            if where in self.poison:
                self.poison.discard(where)
                reason = "applying its changes failed; the state was reloaded from the last checkpoint"
                out.append(DeadLetter.from_record(record, reason=reason, error="ModelBroken", stage="recommend"))
            else:
                out.append(plan(record))
        if self.tombstones is not None:
            # Durable before the erasure is applied: a restart or a rebuild drops the member's later records.
            changes = (c for item in out if isinstance(item, Planned) for c in item.changes)
            await self.tombstones.write(tombstone_writes(self.recommender.tombstones, changes))
        return out

    async def apply(self, items: Sequence[Planned]) -> None:
        """Apply every item to the state and move the positions past them, under the model's lock."""
        self._check()
        recommender = self.recommender
        async with recommender.lock:
            for item in items:
                try:
                    recommender.apply(item.changes)
                except Exception as exc:  # the state is half-changed now: reload it (see the module's docstring)
                    recommender.broken = f"applying {item.topic}[{item.partition}]@{item.offset} failed: {exc!r}"
                    self.poison.add((item.topic, item.partition, item.offset))
                    recommender.stale_reasons["model"] = "reloading from the last checkpoint after a failure"
                    with logs.bound(event=item.event_id, tenant_id=item.tenant):
                        log.exception("applying a record failed; the state will be reloaded",
                                      extra={"offset": item.offset})  # fmt: skip
                    return
                recommender.advance(item.topic, item.partition, item.offset, item.marker)
                recommender.records += 1

    def identify(self, item: Planned) -> tuple[str | None, str | None]:
        """Return the item's event id and tenant, for log lines."""
        return item.event_id, item.tenant

    async def progressed(self, offsets: Mapping[Any, int]) -> None:
        """Move positions past dead-lettered records too (they change nothing, but are read)."""
        self._check()
        async with self.recommender.lock:
            for tp, offset in offsets.items():
                current = self.recommender.positions.get((tp.topic, tp.partition))
                if current is None or current.offset < offset:
                    where = (tp.topic, tp.partition, offset - 1)
                    self.recommender.advance(tp.topic, tp.partition, offset - 1, self._markers.get(where, ""))

    def letter(self, letter: DeadLetter) -> DeadLetter:
        """Return a dead letter redacted when its event names an erased member."""
        tenant, members = letter.named_members()
        if self.recommender.tombstones.any_erased(tenant, members):
            return letter.redact("the event names an erased member")
        return letter

    async def idle(self) -> None:
        """Restart the consumer when the state must be reloaded."""
        self._check()

    async def assigned(self, partitions: set[Any]) -> Mapping[Any, int]:
        """Resume each partition at the state's position, checked against the broker (new incarnations)."""
        recommender = self.recommender
        if recommender.broken is not None and self.reload is not None:
            log.warning("reloading the last checkpoint", extra={"reason": recommender.broken})
            await self.reload()
            recommender.broken = None
            recommender.stale_reasons.pop("model", None)
        async with recommender.lock:
            known = {
                TopicPartition(tp.topic, tp.partition): recommender.positions[(tp.topic, tp.partition)]
                for tp in partitions
                if (tp.topic, tp.partition) in recommender.positions
            }
        resumed = await resume_positions(self.kafka, known)
        async with recommender.lock:
            for tp, position in resumed.items():
                if position != known[tp]:
                    recommender.positions[(tp.topic, tp.partition)] = position
        return {tp: position.offset for tp, position in resumed.items()}

    def _check(self) -> None:
        if self.recommender.broken is not None:
            raise ModelBroken(self.recommender.broken)


def consumer_options(settings: RecommendSettings) -> ConsumerOptions:
    """Return the skeleton's options for recommend's consumer: every partition of both topics, no group."""
    return ConsumerOptions(
        name="recommend",
        service=SERVICE,
        topics=(ACTIVITY, ENGAGEMENT),
        group=None,
        max_records=settings.batch_max_records,
        poll_ms=settings.batch_timeout_ms,
        stuck_seconds=settings.stuck_seconds,
        client={"max_partition_fetch_bytes": 4 * 1024 * 1024},
    )


def make_consumer(
    settings: RecommendSettings,
    recommender: Recommender,
    producer: EventProducer,
    reload: Callable[[], Awaitable[None]] | None = None,
    tombstones: TombstoneStore | None = None,
) -> Consumer[Planned]:
    """Build recommend's consumer (not started)."""
    handler = ModelHandler(recommender, settings.kafka, reload, tombstones)
    return Consumer(consumer_options(settings), settings.kafka, handler, producer)
