"""What a consumer does with a polled batch, apart from Kafka: chunks, per-record isolation, chunk sizes.

:func:`plan_chunks` cuts a batch into chunks applied (and committed) one after another, each
partition's records staying in offset order and together where they fit. :class:`Settler` applies a
chunk through a handler whose ``apply`` is all or nothing: when a call fails for a reason that is not
a dependency being down, the chunk is bisected and each half applied as its own atomic unit, down
to the one record that fails; that record is tried ``tries`` times and then dead-lettered, while every
other record of the chunk is applied exactly once (a failed call applied none of its records, so
applying them again in halves applies each of them once). A dependency that is down (the handler's
``transient`` exceptions) is no record's fault: the same call is retried with backoff until it
works, or until the consumer must hand the batch back (stopping, or its partitions revoked).
:class:`ChunkSizer` adapts a chunk's size to how long applying took, so that a slow store gets
smaller chunks and no chunk outlives its time budget.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeAlias, TypeVar

from kith_shared import logs
from kith_shared.backoff import Backoff
from kith_shared.events import DeadLetter

log = logging.getLogger(__name__)

#: aiokafka ships no type information: a consumed record (topic, partition, offset, key, value, headers).
Record: TypeAlias = Any
#: A handler's prepared form of a record (a decoded event, for instance).
T = TypeVar("T")
Stage: TypeAlias = Literal["ingest", "scoring", "recommend"]


class HandBack(Exception):
    """The rest of the batch goes back uncommitted: the consumer is stopping or lost its partitions."""


class Handler(Generic[T]):
    """What a consumer does with its records; subclass it and override :meth:`apply` (and what else you need).

    The contract: :meth:`apply` applies *all* of the items it is given, or *none* of them (it raises).
    Exceptions listed in :attr:`transient` mean a dependency is unreachable: the same call is retried
    later. Any other exception is blamed on the records of the call and isolated by bisection.
    """

    #: Which service's dead letters these are.
    stage: Stage
    #: Exceptions that mean "a dependency is down, try again later", never "this record is bad".
    transient: tuple[type[BaseException], ...] = ()

    async def prepare(self, records: Sequence[Record]) -> list[T | DeadLetter]:
        """Turn records into items to apply, or into dead letters for those that can never be applied.

        Called once per chunk, before anything is applied; may raise a :attr:`transient` exception.
        """
        raise NotImplementedError

    async def apply(self, items: Sequence[T]) -> None:
        """Apply every item, or none of them (raise)."""
        raise NotImplementedError

    def failed(self, record: Record, item: T, error: BaseException, tries: int) -> DeadLetter:
        """Return the dead letter of a record whose item failed ``tries`` times."""
        return DeadLetter.from_record(
            record,
            reason=f"processing failed {tries} times: {type(error).__name__}: {error}"[:1_000],
            error=type(error).__name__,
            stage=self.stage,
        )

    def identify(self, item: T) -> tuple[str | None, str | None]:
        """Return the event id and tenant of an item, which log lines name while it is applied (None: unknown)."""
        return None, None

    def letter(self, letter: DeadLetter) -> DeadLetter:
        """Return a dead letter as it is written (a handler that knows erased members redacts theirs)."""
        return letter

    async def idle(self) -> None:
        """Do housekeeping when a poll found nothing new (an exception here restarts the consumer)."""

    async def assigned(self, partitions: set[Any]) -> Mapping[Any, int]:
        """Take partitions over; return where to start reading any of them.

        Partitions not named start at the group's committed offset, or at the beginning.
        """
        return {}

    async def revoked(self, partitions: set[Any]) -> None:
        """Give partitions up (called once the chunk in flight is done)."""

    async def progressed(self, offsets: Mapping[Any, int]) -> None:
        """Note that every record below ``offsets[partition]`` is applied or dead-lettered (after the commit)."""

    async def close(self) -> None:
        """Release what the handler holds, once the consumer stopped."""


def plan_chunks(batch: Mapping[Any, Sequence[Record]], limit: int, *, most: int | None = None) -> list[list[Record]]:
    """Cut a batch into chunks, applied in the order returned, each partition's records in offset order.

    Partitions are packed whole into chunks of at most ``limit`` records (first fit, in the order
    given), so that the effects of a partition's records fold together. A partition with more than
    ``limit`` records gets chunks of its own, cut only where it exceeds ``most`` (default ``limit``):
    a handler sized for ``limit`` may see up to ``most`` records of one partition at once. A later run
    of a partition never lands in an earlier chunk than the run before it.
    """
    most = limit if most is None else max(most, limit)
    if limit < 1:
        raise ValueError("a chunk holds at least one record")
    chunks: list[list[Record]] = []
    for records in batch.values():
        ordered = list(records)
        floor = 0  # this partition's next run goes into this chunk or a later one
        cut = limit if len(ordered) <= limit else most
        for start in range(0, len(ordered), cut):
            run = ordered[start : start + cut]
            fits = (i for i in range(floor, len(chunks)) if len(chunks[i]) + len(run) <= limit)
            home = next(fits, None) if len(run) <= limit else None
            if home is None:
                chunks.append(run)
                home = len(chunks) - 1
            else:
                chunks[home].extend(run)
            floor = home
    return chunks


@dataclass
class ChunkSizer:
    """The number of records to apply in one call: ``most`` at best, fewer when applying is slow.

    After each call it learns the rate (records per second, smoothed) and sizes the next chunk to
    take about ``seconds``; the first chunk, before any rate is known, holds ``first`` (default
    ``most``). Without ``seconds`` the size is always ``most``.
    """

    most: int
    seconds: float | None = None
    first: int | None = None
    least: int = 100
    rate: float | None = None
    smoothing: float = 0.5

    @property
    def limit(self) -> int:
        """Return how many records the next chunk may hold."""
        if self.seconds is None:
            return self.most
        if self.rate is None:
            return max(1, min(self.most, self.first or self.most))
        return max(min(self.least, self.most), min(self.most, int(self.rate * self.seconds)))

    def observe(self, records: int, seconds: float) -> None:
        """Learn from a call that applied ``records`` in ``seconds``."""
        if records < 1 or seconds <= 0:
            return
        rate = records / seconds
        self.rate = rate if self.rate is None else self.smoothing * rate + (1 - self.smoothing) * self.rate


@dataclass
class Settled:
    """What became of a chunk's records."""

    applied: int = 0
    """Records applied (each exactly once)."""
    dead_lettered: int = 0
    """Records dead-lettered: refused by ``prepare``, or failed every try."""
    calls: int = 0
    """Calls to the handler's ``apply``, failed ones included (one retried while a dependency was down counts once)."""
    failures: int = 0
    """Calls that failed for a reason blamed on their records (a dependency being down is none)."""
    apply_seconds: float = 0.0
    """Time spent in the calls that succeeded, waits while a dependency was down included."""
    letters: list[DeadLetter] = field(default_factory=list)
    """The dead letters written, as written (after the handler's :meth:`Handler.letter`)."""


class Settler(Generic[T]):
    """Applies a chunk's items through a handler, isolating the records that fail (see the module's docstring).

    ``send`` writes a dead letter (it may raise one of ``transient``, retried like the handler's own);
    ``hand_back`` tells whether the consumer must give the batch back now; ``paused`` is called with
    the reason while a dependency is down, and with None once it works again.
    """

    def __init__(
        self,
        handler: Handler[T],
        send: Callable[[DeadLetter], Awaitable[None]],
        *,
        tries: int = 3,
        hand_back: Callable[[], bool] = lambda: False,
        paused: Callable[[str | None], None] = lambda _: None,
        transient: tuple[type[BaseException], ...] = (),
        retry: tuple[float, float] = (0.2, 5.0),
        record_pause: float = 0.05,
    ) -> None:
        if tries < 1:
            raise ValueError("a record is tried at least once")
        self.handler = handler
        self.send = send
        self.transient = (*handler.transient, *transient)
        self.tries = tries
        self.hand_back = hand_back
        self.paused = paused
        self.retry = retry
        self.record_pause = record_pause

    async def settle(self, records: Sequence[Record]) -> Settled:
        """Prepare and apply a chunk; dead-letter what cannot be applied; raise :class:`HandBack` to stop early.

        On return every record of the chunk is applied or dead-lettered (the letters acknowledged).
        """
        outcome = Settled()
        prepared = await self._until_done(lambda: self.handler.prepare(records))
        if len(prepared) != len(records):
            raise RuntimeError("a handler's prepare must answer once per record")
        pairs: list[tuple[Record, T]] = []
        for record, item in zip(records, prepared, strict=True):
            if isinstance(item, DeadLetter):
                await self._dead_letter(item, outcome)
            else:
                pairs.append((record, item))
        if pairs:
            await self._settle(pairs, outcome)
        return outcome

    async def _settle(self, pairs: list[tuple[Record, T]], outcome: Settled) -> None:
        try:
            await self._apply(pairs, outcome)
            return
        except HandBack:
            raise
        except Exception as exc:  # the handler's contract: a failed call applied none of its records
            outcome.failures += 1
            if len(pairs) == 1:
                await self._one(pairs[0], exc, outcome)
                return
            log.info("a chunk failed; applying its halves apart", extra={"records": len(pairs), "error": repr(exc)})
        middle = len(pairs) // 2
        await self._settle(pairs[:middle], outcome)
        await self._settle(pairs[middle:], outcome)

    async def _one(self, pair: tuple[Record, T], error: Exception, outcome: Settled) -> None:
        """Try a failing record alone until ``tries`` attempts failed, then dead-letter it."""
        backoff = Backoff(self.record_pause, self.record_pause * 8, tries=self.tries)
        backoff.attempts = 1  # the call that just failed
        async for _ in backoff:
            if self.hand_back():
                raise HandBack("handed back while a failing record was retried")
            try:
                await self._apply([pair], outcome)
                return
            except HandBack:
                raise
            except Exception as exc:  # isolated to this one record: count it and try again
                outcome.failures += 1
                error = exc
        record, item = pair
        with self._bound([item]):
            log.warning(
                "record failed every try; dead-lettering it",
                extra={"topic": record.topic, "partition": record.partition, "offset": record.offset,
                       "tries": backoff.attempts, "error": repr(error)},
            )  # fmt: skip
            await self._dead_letter(self.handler.failed(record, item, error, backoff.attempts), outcome)

    def _bound(self, items: Sequence[T]) -> AbstractContextManager[None]:
        """Bind, for log lines, the event and tenant of a lone item, or the tenant every item shares."""
        if len(items) == 1:
            event, tenant = self.handler.identify(items[0])
            return logs.bound(event=event, tenant_id=tenant)
        tenants = {self.handler.identify(item)[1] for item in items}
        return logs.bound(event=None, tenant_id=tenants.pop() if len(tenants) == 1 else None)

    async def _apply(self, pairs: list[tuple[Record, T]], outcome: Settled) -> None:
        items = [item for _, item in pairs]
        started = time.perf_counter()
        outcome.calls += 1
        with self._bound(items):
            await self._until_done(lambda: self.handler.apply(items))
        outcome.apply_seconds += time.perf_counter() - started
        outcome.applied += len(items)

    async def _dead_letter(self, letter: DeadLetter, outcome: Settled) -> None:
        letter = self.handler.letter(letter)
        await self._until_done(lambda: self.send(letter))
        outcome.dead_lettered += 1
        outcome.letters.append(letter)

    async def _until_done(self, call: Callable[[], Awaitable[Any]]) -> Any:
        """Run ``call``, retrying with backoff while it raises a transient exception; hand back if asked meanwhile."""
        transient = self.transient
        backoff = Backoff(*self.retry)
        failing = False
        async for _ in backoff:
            try:
                result = await call()
            except transient as exc:
                if not failing:
                    log.warning("a dependency is unreachable; pausing", extra={"error": repr(exc)})
                failing = True
                self.paused(str(exc) or type(exc).__name__)
                if self.hand_back():
                    raise HandBack(f"handed back while a dependency was down: {exc!r}") from exc
                continue
            if failing:
                log.info("the dependency is reachable again; resuming")
                self.paused(None)
            return result
        raise AssertionError("unreachable: Backoff without tries or stop never ends")  # pragma: no cover
