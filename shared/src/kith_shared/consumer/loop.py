"""The supervised consumer loop around a handler; :mod:`kith_shared.consumer` says what it does."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any, Generic

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import KafkaError
from opentelemetry.trace import Span

from kith_shared import tracing
from kith_shared.backoff import Backoff
from kith_shared.batching import ChunkSizer, HandBack, Handler, Record, Settler, T, plan_chunks
from kith_shared.consumer import polling
from kith_shared.consumer.options import ConsumerOptions
from kith_shared.kafka import BrokerUnavailable, EventProducer, ensure_topics, send_dead_letter
from kith_shared.observability import BATCH_SIZE, EVENTS_IN
from kith_shared.positions import Positions
from kith_shared.settings import KafkaSettings
from kith_shared.topics import DEAD_LETTER

log = logging.getLogger(__name__)


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
    """A supervised consumer loop around a handler (see :mod:`kith_shared.consumer`)."""

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
        consumer = polling.make(self.kafka, self.options, self.group)
        try:
            if self.options.ensure_topics:
                with contextlib.suppress(KafkaError, OSError):
                    await ensure_topics(self.kafka, (*self.options.topics, DEAD_LETTER))
            if self.group is not None:
                consumer.subscribe(self.topics, listener=_Rebalance(self, consumer))
            if not await polling.start(consumer, self._stopping):
                return
            if self.group is None:
                await self._assign_all(consumer)
            self.broker_error = None
            await self._consume(consumer, backoff)
        finally:
            await polling.close(consumer)
            self.positions.forget_all()

    async def _assign_all(self, consumer: AIOKafkaConsumer) -> None:
        partitions = polling.every_partition(consumer, self.topics)
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
            batch = await polling.gather(consumer, self.options, self.clock, self._stopping)
            backoff.reset()  # polling works: a later failure pauses briefly again
            if self.crash is not None:
                log.info("consumer running again after a crash", extra={"consumer": self.options.name})
                self.crash = None
            if batch:
                await self._process(consumer, batch)
            await self.positions.measure(consumer)
            if not batch:
                await self.handler.idle()

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
                    offsets = polling.next_offsets(chunk)
                    await self._commit(consumer, offsets)
                self.sizer.observe(settled.applied, settled.apply_seconds)
                self.applied += settled.applied
                self.positions.applied(offsets)
                polling.drop(remaining, offsets)
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
        polling.seek_back(consumer, remaining)

    async def _commit(self, consumer: AIOKafkaConsumer, offsets: dict[TopicPartition, int]) -> None:
        if self.group is not None:
            await polling.commit(consumer, offsets, self.options.name)

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
