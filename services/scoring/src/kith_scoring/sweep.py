"""The slipping-away sweep: a lifespan task that flags and announces members slipping away.

Every ``slipping_sweep_seconds`` it looks at each community whose latest activity moved since it
last looked, and announces (``engagement.changed``, state ``slipping``) the members newly found
slipping away, evaluated as of that activity. Flags are stored, so a member is announced once,
until their next activity announces them ``back``. The flags of a community are set while no batch
of this process is being applied (they share a lock), so a batch never misses a flag set from
figures it has already moved.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from datetime import datetime

from pymongo.errors import PyMongoError

from kith_scoring.domain.engagement import slipping_change
from kith_scoring.domain.slipping import slipping_away
from kith_scoring.store import ScoringStore
from kith_shared.events.types import EngagementChangedEvent
from kith_shared.kafka import BrokerUnavailable, EventProducer
from kith_shared.topics import ENGAGEMENT

log = logging.getLogger(__name__)

#: How long a stop waits for a sweep in progress to finish its community before cancelling it.
STOP_TIMEOUT_SECONDS = 30.0


@dataclass(kw_only=True)
class SlippingSweep:
    """Looks for members slipping away, periodically, in the background."""

    store: ScoringStore
    producer: EventProducer
    quiet_days: int
    #: Seconds between sweeps (0: never).
    interval: float
    #: Held while a community's flags are set: the lock of the consumer's batches.
    lock: asyncio.Lock
    _swept: dict[str, datetime] = field(default_factory=dict, init=False)
    _stopping: asyncio.Event = field(default_factory=asyncio.Event, init=False)
    _task: asyncio.Task[None] | None = field(default=None, init=False)

    @property
    def running(self) -> bool:
        """Tell whether the background sweeping is on."""
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        """Start sweeping in the background (unless the interval is 0: never)."""
        if self.interval <= 0:
            return
        self._stopping.clear()
        self._task = asyncio.create_task(self._run(), name="scoring-slipping-sweep")

    async def stop(self) -> None:
        """Stop sweeping: let the community in progress finish, then end."""
        self._stopping.set()
        if self._task is None:
            return
        task, self._task = self._task, None
        try:
            async with asyncio.timeout(STOP_TIMEOUT_SECONDS):
                await task
        except TimeoutError:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                await self.sweep()
            except (PyMongoError, BrokerUnavailable) as exc:
                log.warning("slipping-away sweep interrupted; retried at the next one", extra={"error": str(exc)})
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.interval):
                    await self._stopping.wait()

    async def sweep(self) -> int:
        """Flag and announce members slipping away in communities that moved since the last sweep; return how many."""
        announced = 0
        for place in await self.store.reads.communities():
            if self._stopping.is_set():
                break
            last = place.get("last_event")
            if last is None or self._swept.get(place["_id"]) == last:
                continue
            async with self.lock:
                events = await self._flag(place["tenant"], place["community_id"], last)
            if events:
                await self.producer.publish(ENGAGEMENT, list(events))
                announced += len(events)
            self._swept[place["_id"]] = last
        return announced

    async def _flag(self, tenant: str, community: str, last: datetime) -> list[EngagementChangedEvent]:
        """Flag the members of a community newly slipping away as of ``last``; return their announcements."""
        config = await self.store.tenants.config(tenant)
        docs = await self.store.reads.community_members(tenant, community)
        slipping = slipping_away(docs, config, last, self.quiet_days)
        new = set(await self.store.flags.mark(tenant, community, [s.member_id for s in slipping]))
        by_member = {d["member_id"]: d for d in docs}
        return [
            slipping_change(tenant, community, s, by_member[s.member_id], config, last)
            for s in slipping
            if s.member_id in new
        ]
