"""The slipping-away sweep: a lifespan task that flags and announces members slipping away.

Every ``slipping_sweep_seconds`` it looks at every community, quiet ones included, as of its
tenant's latest activity (the hour of the latest event in any of the tenant's communities), so a
community that fell silent while the rest of the tenant goes on still announces who drifted away. A
community is looked at again when its own latest activity or its tenant's moved since the last look.
Staff and bots are never announced (nor counted in the top quartile).

Members newly slipping away are flagged and their announcements (``engagement.changed``, state
``slipping``) written to the outbox in one transaction, then published from the outbox: a broker
outage delays them, never loses them, and a member is announced once, until their next activity
announces them ``back``. The flags of a community are set while no batch of this process is being
applied (they share a lock), so a batch never misses a flag set from figures it has already moved.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from datetime import datetime

from opentelemetry.trace import SpanKind
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import PyMongoError

from kith_scoring import SERVICE
from kith_scoring.consumer import publish_outbox
from kith_scoring.domain.community import regular_members
from kith_scoring.domain.engagement import slipping_change
from kith_scoring.domain.slipping import slipping_away, sweep_instants
from kith_scoring.store import ScoringStore
from kith_shared import tracing
from kith_shared.kafka import BrokerUnavailable, EventProducer

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
    _swept: dict[str, tuple[datetime, datetime]] = field(default_factory=dict, init=False)
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
        """Flag members slipping away in every community that moved (or whose tenant did); return how many.

        Their announcements go to the outbox with the flags, and are published from it at the end.
        """
        announced = 0
        places = await self.store.reads.communities()
        for place, at in sweep_instants(places):
            if self._stopping.is_set():
                break
            seen = (place["last_event"], at)
            if self._swept.get(place["_id"]) == seen:
                continue
            attributes = {
                "kith.service": SERVICE,
                "kith.tenant": place["tenant"],
                "kith.community": place["community_id"],
            }
            async with self.lock:
                with tracing.batch_span("scoring slipping sweep", [], attributes, kind=SpanKind.INTERNAL):
                    announced += await self._flag(place["tenant"], place["community_id"], at)
            self._swept[place["_id"]] = seen
        await publish_outbox(self.store, self.producer)
        return announced

    async def _flag(self, tenant: str, community: str, at: datetime) -> int:
        """Flag the members of a community newly slipping away as of ``at``, their announcements in the outbox."""
        config = await self.store.tenants.config(tenant)
        docs = regular_members(
            await self.store.reads.community_members(tenant, community),
            await self.store.reads.roles(tenant, community),
            community,
        )
        slipping = slipping_away(docs, config, at, self.quiet_days)
        if not slipping:
            return 0
        by_member = {d["member_id"]: d for d in docs}

        async def flag(session: AsyncClientSession) -> int:
            new = set(await self.store.flags.mark(tenant, community, [s.member_id for s in slipping], session))
            events = tracing.stamped(  # the announcements carry the sweep's trace, however late they are published
                [
                    slipping_change(tenant, community, s, by_member[s.member_id], config, at)
                    for s in slipping
                    if s.member_id in new
                ]
            )
            if events:
                await self.store.outbox.add(events, session)
            return len(events)

        return await self.store.transaction(flag)
