"""The one consumer skeleton every Kith consumer runs on: poll, chunk, apply, commit, report.

A service writes a :class:`~kith_shared.batching.Handler` (prepare records, apply items all or
none) and runs it in a :class:`Consumer`, which does the rest:

- **start and stop**: :meth:`Consumer.start` runs the loop in a task; :meth:`Consumer.stop` lets the
  chunk in flight finish, commits it, and hands the rest of the batch back uncommitted (the next
  owner reads it again);
- **reconnect**: a lost broker is retried with jittered backoff (:class:`~kith_shared.backoff.Backoff`);
- **supervise**: an unexpected exception in the loop is logged with its traceback and the loop is
  started again (``restarts`` counts it; readiness fails until a poll works again);
- **assignment**: a consumer group (``group``), or every partition of the topics assigned by hand
  (``group=None``: a broadcast reader, or one that keeps its own positions); either way the handler's
  :meth:`~kith_shared.batching.Handler.assigned` may name where to start reading each partition;
- **bounded batches**: a backlog is gathered into one batch of at most ``max_records`` records and
  ``max_bytes`` bytes, for at most ``gather_seconds``; the batch is applied in chunks (whole
  partitions packed together, see :func:`~kith_shared.batching.plan_chunks`), each committed once
  applied, sized to take about ``chunk_seconds``; once a batch has worked ``batch_seconds`` the rest
  is read again at the next poll, so no batch outlives the group's poll interval;
- **per-record isolation**: see :class:`~kith_shared.batching.Settler` (bisection, bounded tries,
  dead letters with reason and origin); a dependency that is down pauses the consumer instead;
- **observability**: ``kith_consumer_lag{service,topic,partition}`` from the broker's end of each
  partition (the larger of the fetch high-water mark and a periodic ``end_offsets``, since the
  embedded broker answers the latter up to one record batch short), ``kith_batch_size``,
  ``kith_events_in_total``; :meth:`Consumer.check` (a readiness check) fails while the consumer is
  not connected, paused on a dependency, restarting after a crash, or stuck: records waiting and
  no progress for ``stuck_seconds``;
- **context**: each chunk is applied in a span that continues its first record's trace and links to
  every record's (see :mod:`kith_shared.tracing`), and log lines written while a record is applied
  name its event and tenant (the handler's :meth:`~kith_shared.batching.Handler.identify`; a chunk's
  lines name the tenant its records share).

Offsets are committed only after a chunk's effects are durable; a commit that fails (the group
rebalanced meanwhile) is logged and harmless to a handler that makes replays harmless, as every
Kith handler does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Generic

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import (
    CommitFailedError,
    IllegalStateError,
    KafkaConnectionError,
    KafkaError,
    UnknownTopicOrPartitionError,
)
from opentelemetry.trace import Span

from kith_shared import tracing
from kith_shared.backoff import Backoff
from kith_shared.batching import ChunkSizer, HandBack, Handler, Record, Settler, T, plan_chunks
from kith_shared.kafka import BrokerUnavailable, EventProducer, ensure_topics, make_consumer, send_dead_letter
from kith_shared.observability import BATCH_SIZE, EVENTS_IN
from kith_shared.positions import Positions
from kith_shared.settings import KafkaSettings
from kith_shared.topics import DEAD_LETTER, TopicSpec

log = logging.getLogger(__name__)

#: A JoinGroup request is answered only once the group settled (about 5 s on the embedded broker, up to
#: the rebalance timeout on Kafka): a shorter request timeout would abandon every join.
JOIN_TIMEOUT_MS = 30_000

#: How long starting a consumer (joining its group) may take before a new one is tried.
START_SECONDS = 60.0

#: Empty polls in a row after which gathering stops even though the broker reported more.
_GATHER_MISSES = 5


@dataclass(frozen=True, kw_only=True)
class ConsumerOptions:
    """How one consumer reads and applies; every service builds these from its own settings."""

    name: str
    """Readable name, in logs and readiness answers."""
    service: str
    """The ``service`` label of the metrics."""
    topics: tuple[TopicSpec, ...]
    group: str | None
    """Consumer group (prefixed by the Kafka settings); None assigns every partition, with no group and no commits."""
    max_records: int = 500
    max_bytes: int = 32 * 1024 * 1024
    poll_ms: int = 200
    """How long a poll waits for records."""
    gather_seconds: float = 2.0
    """How long a backlog keeps being gathered into one batch."""
    chunk_records: int | None = None
    """Most records per apply call (default: ``max_records``); chunks are cut smaller to fit ``chunk_seconds``,
    but one partition's records are split only beyond this."""
    chunk_first: int | None = None
    """Most records of the first apply call, before the rate is known (default: ``chunk_records``)."""
    chunk_seconds: float | None = None
    """How long an apply call should take: chunks shrink when applying is slow (None: always ``chunk_records``)."""
    batch_seconds: float = 60.0
    """Work per poll: after this, the rest of the batch is read again at the next poll."""
    record_tries: int = 3
    stuck_seconds: float = 120.0
    session_timeout_ms: int = 10_000
    max_poll_interval_ms: int = 300_000
    lag_refresh_seconds: float = 5.0
    retry_most_seconds: float = 5.0
    """Longest pause between retries while a dependency is down."""
    ensure_topics: bool = True
    """Create the topics (and the dead-letter topic) when missing, before subscribing."""
    client: Mapping[str, Any] = field(default_factory=dict)
    """Further aiokafka consumer options (fetch sizes, for instance)."""

    def __post_init__(self) -> None:
        if self.batch_seconds * 1000 >= self.max_poll_interval_ms:
            raise ValueError("batch_seconds must stay under the poll interval, or the group drops the consumer")
        if self.max_records < 1 or (self.chunk_records is not None and self.chunk_records < 1):
            raise ValueError("batches and chunks hold at least one record")


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    """Let the chunk in flight finish before partitions are handed over; tell the handler."""

    def __init__(self, owner: Consumer[Any], consumer: AIOKafkaConsumer) -> None:
        self.owner = owner
        self.consumer = consumer

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self.owner.revoke(set(revoked))

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        await self.owner.assign(self.consumer, set(assigned))


class Consumer(Generic[T]):
    """A supervised consumer loop around a handler (see the module's docstring)."""

    def __init__(
        self,
        options: ConsumerOptions,
        kafka: KafkaSettings,
        handler: Handler[T],
        producer: EventProducer,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.options = options
        self.kafka = kafka
        self.handler = handler
        self.producer = producer
        self.clock = clock
        self.topics = [kafka.topic(spec) for spec in options.topics]
        self.group = kafka.group(options.group) if options.group is not None else None
        #: Held while a chunk is applied: a task that must not run beside one (a sweep) takes it too.
        self.lock = asyncio.Lock()
        most = options.chunk_records or options.max_records
        self.sizer = ChunkSizer(most, options.chunk_seconds, first=options.chunk_first)
        self.applied = 0
        self.dead_lettered = 0
        self.restarts = 0
        self.batches = 0
        self.positions = Positions(options.service, clock, refresh_seconds=options.lag_refresh_seconds)
        self.paused: str | None = None
        self.broker_error: str | None = "not connected yet"
        self.crash: str | None = None
        self._revoking = False
        self._generation = 0
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._settler = Settler(
            handler,
            self._send_letter,
            tries=options.record_tries,
            hand_back=self._must_hand_back,
            paused=self._set_paused,
            transient=(BrokerUnavailable,),
            retry=(min(0.2, options.retry_most_seconds), options.retry_most_seconds),
        )
        self._batch_generation = 0

    # -- lifetime -----------------------------------------------------------------------------------

    async def start(self) -> None:
        """Start consuming in the background."""
        self._stopping.clear()
        self._task = asyncio.create_task(self._supervise(), name=f"{self.options.name}-consumer")

    async def stop(self, within: float = 30.0) -> None:
        """Finish the chunk in flight, hand the rest back, leave the group; cancel after ``within`` seconds."""
        self._stopping.set()
        task, self._task = self._task, None
        if task is not None:
            try:
                async with asyncio.timeout(within):
                    await task
            except TimeoutError:
                log.warning("consumer did not stop in time; cancelling it", extra={"consumer": self.options.name})
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        with contextlib.suppress(Exception):
            await self.handler.close()

    @property
    def running(self) -> bool:
        """Tell whether the loop's task is alive."""
        return self._task is not None and not self._task.done()

    async def _supervise(self) -> None:
        backoff = Backoff(0.5, 10.0, stop=self._stopping)
        async for _ in backoff:
            try:
                await self._connect_and_consume(backoff)
            except (KafkaError, OSError) as exc:
                self.broker_error = f"broker unreachable: {exc!r}"
                log.warning("consumer lost the broker; reconnecting", extra={"consumer": self.options.name,
                                                                             "error": repr(exc)})  # fmt: skip
            except Exception as exc:  # the supervisor: whatever killed the loop, say so and start it again
                self.restarts += 1
                self.crash = f"restarting after a crash ({type(exc).__name__}: {exc})"
                log.exception("consumer loop crashed; restarting it", extra={"consumer": self.options.name})

    async def _connect_and_consume(self, backoff: Backoff) -> None:
        consumer = self._make()
        try:
            if self.options.ensure_topics:
                with contextlib.suppress(KafkaError, OSError):
                    await ensure_topics(self.kafka, (*self.options.topics, DEAD_LETTER))
            if self.group is not None:
                consumer.subscribe(self.topics, listener=_Rebalance(self, consumer))
            if not await self._start(consumer):
                return
            if self.group is None:
                await self._assign_all(consumer)
            self.broker_error = None
            await self._consume(consumer, backoff)
        finally:
            with contextlib.suppress(Exception):
                await consumer.stop()
            self.positions.forget_all()

    async def _start(self, consumer: AIOKafkaConsumer) -> bool:
        """Start ``consumer`` (a group consumer waits for its first assignment); False when stopping first.

        Raise :class:`KafkaConnectionError` when it did not start within ``START_SECONDS`` (a broker lost
        while joining can leave the join waiting for ever): the supervisor then starts a new one.
        """
        starting = asyncio.ensure_future(consumer.start())
        stopping = asyncio.ensure_future(self._stopping.wait())
        try:
            done, _ = await asyncio.wait(
                {starting, stopping}, timeout=START_SECONDS, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            stopping.cancel()
        if starting in done:
            starting.result()
            return True
        starting.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await starting
        if self._stopping.is_set():
            return False
        raise KafkaConnectionError(f"the consumer did not start within {START_SECONDS:g}s")

    def _make(self) -> AIOKafkaConsumer:
        options = self.options
        overrides: dict[str, Any] = {
            "max_poll_records": options.max_records,
            "fetch_max_bytes": min(options.max_bytes, 64 * 1024 * 1024),
        }
        if self.group is not None:
            overrides.update(
                request_timeout_ms=max(self.kafka.request_timeout_ms, JOIN_TIMEOUT_MS),
                session_timeout_ms=options.session_timeout_ms,
                heartbeat_interval_ms=max(1_000, options.session_timeout_ms // 4),
                max_poll_interval_ms=options.max_poll_interval_ms,
            )
        overrides.update(options.client)
        return make_consumer(self.kafka, group=self.group, **overrides)

    async def _assign_all(self, consumer: AIOKafkaConsumer) -> None:
        partitions: set[TopicPartition] = set()
        for topic in self.topics:
            ids = consumer.partitions_for_topic(topic)
            if not ids:
                raise UnknownTopicOrPartitionError(f"topic {topic} not found")
            partitions.update(TopicPartition(topic, p) for p in ids)
        consumer.assign(sorted(partitions))
        await self.assign(consumer, partitions)

    # -- partitions ---------------------------------------------------------------------------------

    async def assign(self, consumer: AIOKafkaConsumer, partitions: set[TopicPartition]) -> None:
        """Take partitions over: ask the handler where to start (called on assignment)."""
        log.info("partitions assigned", extra={"consumer": self.options.name,
                                               "partitions": sorted(map(str, partitions))})  # fmt: skip
        starts = await self.handler.assigned(partitions)
        for tp, offset in starts.items():
            consumer.seek(tp, offset)
            self.positions.start_at(tp, offset)

    async def revoke(self, partitions: set[TopicPartition]) -> None:
        """Give partitions up once the chunk in flight is done (called on revocation)."""
        self._revoking = True
        try:
            async with self.lock:
                self._generation += 1
                log.info("partitions revoked", extra={"consumer": self.options.name,
                                                      "partitions": sorted(map(str, partitions))})  # fmt: skip
                try:
                    await self.handler.revoked(partitions)
                finally:
                    self.positions.forget(partitions)
        finally:
            self._revoking = False

    # -- the loop -----------------------------------------------------------------------------------

    async def _consume(self, consumer: AIOKafkaConsumer, backoff: Backoff) -> None:
        while not self._stopping.is_set():
            batch = await self._gather(consumer)
            backoff.reset()  # polling works: a later failure pauses briefly again
            if self.crash is not None:
                log.info("consumer running again after a crash", extra={"consumer": self.options.name})
                self.crash = None
            if batch:
                await self._process(consumer, batch)
            await self.positions.measure(consumer)
            if not batch:
                await self.handler.idle()

    async def _gather(self, consumer: AIOKafkaConsumer) -> dict[TopicPartition, list[Record]]:
        """Return the next batch: what is waiting, gathered while a backlog lasts, within the bounds."""
        options = self.options
        fetched = await consumer.getmany(timeout_ms=options.poll_ms, max_records=options.max_records)
        batch = {tp: list(records) for tp, records in fetched.items() if records}
        count = sum(len(records) for records in batch.values())
        size = sum(_size(record) for records in batch.values() for record in records)
        started = self.clock()
        misses = 0
        while (
            count
            and count < options.max_records
            and size < options.max_bytes
            and misses < _GATHER_MISSES
            and self.clock() - started < options.gather_seconds
            and not self._stopping.is_set()
            and await self._backlog(consumer)
        ):
            more = await consumer.getmany(timeout_ms=options.poll_ms, max_records=options.max_records - count)
            misses = 0 if more else misses + 1
            for tp, records in more.items():
                batch.setdefault(tp, []).extend(records)
                count += len(records)
                size += sum(_size(record) for record in records)
        return batch

    @staticmethod
    async def _backlog(consumer: AIOKafkaConsumer) -> bool:
        """Tell whether the broker holds records behind the ones polled (as of the last fetches)."""
        for tp in consumer.assignment():
            highwater = consumer.highwater(tp)
            if highwater is None or highwater > await consumer.position(tp):
                return True
        return False

    def _must_hand_back(self) -> bool:
        return self._stopping.is_set() or self._revoking or self._generation != self._batch_generation

    def _set_paused(self, reason: str | None) -> None:
        self.paused = reason

    async def _send_letter(self, letter: Any) -> None:
        await send_dead_letter(self.producer, self.kafka, letter)
        self.dead_lettered += 1

    async def _process(self, consumer: AIOKafkaConsumer, batch: dict[TopicPartition, list[Record]]) -> None:
        """Apply a batch chunk by chunk, committing each; hand the rest back when stopping, revoked or out of time."""
        count = sum(len(records) for records in batch.values())
        BATCH_SIZE.labels(self.options.service).observe(count)
        EVENTS_IN.labels(self.options.service, "kafka").inc(count)
        self.batches += 1
        self._batch_generation = self._generation
        for tp, records in batch.items():
            self.positions.done.setdefault(tp, records[0].offset)
        remaining = {tp: list(records) for tp, records in batch.items()}
        started = self.clock()
        self.positions.in_batch = True
        try:
            while remaining:
                if self._must_hand_back():
                    return
                if self.clock() - started >= self.options.batch_seconds:
                    self._read_again(consumer, remaining, started)
                    return
                chunk = plan_chunks(remaining, self.sizer.limit, most=self.sizer.most)[0]
                async with self.lock:
                    if self._must_hand_back():
                        return
                    try:
                        with self._span(chunk):
                            settled = await self._settler.settle(chunk)
                    except HandBack as exc:
                        log.info("batch handed back", extra={"consumer": self.options.name, "reason": str(exc)})
                        return
                    offsets = _next_offsets(chunk)
                    await self._commit(consumer, offsets)
                self.sizer.observe(settled.applied, settled.apply_seconds)
                self.applied += settled.applied
                self.positions.applied(offsets)
                _drop(remaining, offsets)
                self.positions.update(consumer)
                await self.handler.progressed(offsets)
        finally:
            self.positions.in_batch = False

    def _span(self, chunk: Sequence[Record]) -> AbstractContextManager[Span | None]:
        """Return the chunk's processing span (a no-op while tracing is off; see :mod:`kith_shared.tracing`)."""
        if not tracing.enabled():
            return tracing.batch_span("", ())
        topics = sorted({record.topic for record in chunk})
        return tracing.batch_span(
            f"{', '.join(topics)} process",
            (tracing.record_context(record) for record in chunk),
            {"messaging.system": "kafka", "messaging.operation.type": "process",
             "messaging.destination.name": topics[0] if len(topics) == 1 else ", ".join(topics),
             "messaging.consumer.group.name": self.group or "", "kith.consumer": self.options.name,
             "kith.service": self.options.service},
        )  # fmt: skip

    def _read_again(
        self, consumer: AIOKafkaConsumer, remaining: dict[TopicPartition, list[Record]], started: float
    ) -> None:
        left = sum(len(records) for records in remaining.values())
        log.info(
            "batch reached its time budget; the rest is read again",
            extra={"consumer": self.options.name, "seconds": round(self.clock() - started, 1), "left": left},
        )
        assigned = consumer.assignment()
        for tp, records in remaining.items():
            if tp in assigned:
                consumer.seek(tp, records[0].offset)

    async def _commit(self, consumer: AIOKafkaConsumer, offsets: dict[TopicPartition, int]) -> None:
        if self.group is None:
            return
        assigned = consumer.assignment()
        mine = {tp: offset for tp, offset in offsets.items() if tp in assigned}
        if not mine:
            return
        try:
            await consumer.commit(mine)
        except (CommitFailedError, IllegalStateError, KafkaError) as exc:
            # The effects are durable and replays are harmless: the next owner reads these records again.
            log.warning(
                "offsets not committed after a durable chunk", extra={"consumer": self.options.name, "error": repr(exc)}
            )

    # -- readiness ----------------------------------------------------------------------------------

    @property
    def lag(self) -> dict[TopicPartition, int]:
        """Return the records waiting on each partition (as last measured)."""
        return self.positions.lag

    @property
    def waiting(self) -> int:
        """Return how many records wait to be applied on this consumer's partitions (as last measured)."""
        return self.positions.waiting

    async def check(self) -> None:
        """Raise, naming the consumer, unless it is connected, unpaused and making progress (a readiness check)."""
        name = self.options.name
        if self._task is None or self._task.done():
            raise RuntimeError(f"{name} consumer is not running")
        if self.crash is not None:
            raise RuntimeError(f"{name} consumer {self.crash}")
        if self.broker_error is not None:
            raise ConnectionError(f"{name} consumer not connected: {self.broker_error}")
        if self.paused is not None:
            raise ConnectionError(f"{name} consumption paused: {self.paused}")
        stuck = self.positions.stuck_for(self.options.stuck_seconds)
        if stuck is not None:
            waiting = self.waiting
            raise RuntimeError(f"{name} consumer stuck: no progress for {stuck:.0f}s with {waiting} records waiting")


def _size(record: Record) -> int:
    return len(record.value or b"") + len(record.key or b"")


def _next_offsets(chunk: Sequence[Record]) -> dict[TopicPartition, int]:
    """Return, per partition of a chunk, the offset after its last record."""
    offsets: dict[TopicPartition, int] = {}
    for record in chunk:
        tp = TopicPartition(record.topic, record.partition)
        offsets[tp] = max(offsets.get(tp, 0), record.offset + 1)
    return offsets


def _drop(remaining: dict[TopicPartition, list[Record]], offsets: Mapping[TopicPartition, int]) -> None:
    """Remove the records below ``offsets`` from ``remaining`` (and partitions left empty)."""
    for tp, offset in offsets.items():
        records = [record for record in remaining.get(tp, ()) if record.offset >= offset]
        if records:
            remaining[tp] = records
        else:
            remaining.pop(tp, None)
