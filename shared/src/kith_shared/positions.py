"""Where a consumer stands on each of its partitions: what it applied, where the partition ends, the lag.

The end of a partition is the larger of the fetch high-water mark (right on every broker, but only
as fresh as the last fetch from that partition) and a periodic ``end_offsets`` answer (fresh, but
up to one record batch short on the embedded broker). The lag is that end minus the next offset to
apply: records fetched but not yet applied still count as waiting. Progress is an applied chunk, or
a moment with nothing waiting; a consumer with records waiting and no progress for a while is stuck.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable, Mapping

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import IllegalStateError, KafkaError

from kith_shared.observability import CONSUMER_LAG

log = logging.getLogger(__name__)


class Positions:
    """Applied offsets, partition ends and lag (exported as ``kith_consumer_lag``) of one consumer."""

    def __init__(self, service: str, clock: Callable[[], float], *, refresh_seconds: float = 5.0) -> None:
        self.service = service
        self.clock = clock
        self.refresh_seconds = refresh_seconds
        self.lag: dict[TopicPartition, int] = {}
        self.done: dict[TopicPartition, int] = {}
        self.in_batch = False
        self.last_progress = clock()
        self._listed: dict[TopicPartition, int] = {}
        self._listed_at = float("-inf")

    @property
    def waiting(self) -> int:
        """Return how many records wait to be applied (as last measured)."""
        return sum(self.lag.values())

    def start_at(self, tp: TopicPartition, offset: int) -> None:
        """Note that reading ``tp`` starts at ``offset``."""
        self.done[tp] = offset

    def applied(self, offsets: Mapping[TopicPartition, int]) -> None:
        """Note that every record below ``offsets[tp]`` is done: progress."""
        self.done.update(offsets)
        self.last_progress = self.clock()

    def forget(self, partitions: Iterable[TopicPartition]) -> None:
        """Forget partitions given up (their lag is another consumer's to report now)."""
        for tp in list(partitions):
            self.done.pop(tp, None)
            self._listed.pop(tp, None)
            if self.lag.pop(tp, None) is not None:
                with contextlib.suppress(KeyError):
                    CONSUMER_LAG.remove(self.service, tp.topic, str(tp.partition))

    def forget_all(self) -> None:
        """Forget every partition (the consumer disconnected)."""
        self.forget(set(self.done) | set(self.lag) | set(self._listed))

    async def measure(self, consumer: AIOKafkaConsumer) -> None:
        """Ask the broker where partitions end (now and then) and update the lag."""
        assigned = consumer.assignment()
        if not assigned:
            return
        now = self.clock()
        if now - self._listed_at >= self.refresh_seconds:
            self._listed_at = now
            try:
                async with asyncio.timeout(5.0):
                    self._listed = dict(await consumer.end_offsets(sorted(assigned)))
            except (KafkaError, TimeoutError, OSError) as exc:
                log.debug("end offsets unavailable", extra={"error": repr(exc)})
        for tp in assigned:
            if tp not in self.done:
                with contextlib.suppress(KafkaError, TimeoutError, IllegalStateError):
                    async with asyncio.timeout(1.0):
                        self.done[tp] = await consumer.position(tp)
        self.update(consumer)

    def update(self, consumer: AIOKafkaConsumer) -> None:
        """Update the lag from what the consumer knows now (no request to the broker)."""
        for tp in consumer.assignment():
            done = self.done.get(tp)
            if done is None:
                continue
            end = max(consumer.highwater(tp) or 0, self._listed.get(tp, 0))
            self.lag[tp] = max(0, end - done)
            CONSUMER_LAG.labels(self.service, tp.topic, str(tp.partition)).set(self.lag[tp])
        if not self.waiting:
            self.last_progress = self.clock()

    def stuck_for(self, limit: float) -> float | None:
        """Return for how long nothing progressed with records waiting, once that is ``limit`` seconds or more."""
        if not self.waiting and not self.in_batch:
            return None
        idle = self.clock() - self.last_progress
        return idle if idle >= limit else None
