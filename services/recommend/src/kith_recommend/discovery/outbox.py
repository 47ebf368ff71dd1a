"""The outbox relay: the announcements each detection stored, published in order.

A detection stores its announcements with its groups (:meth:`DiscoveryStore.commit
<kith_recommend.discovery.store.DiscoveryStore.commit>`); the relay publishes them, oldest first, and
clears each outbox document once the broker acknowledged it. Only the detecting replica relays (one
relay keeps the announcements in order); a broker or database error only delays them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from pymongo.errors import PyMongoError

from kith_recommend import SERVICE
from kith_recommend.discovery.metrics import OUTBOX_PENDING
from kith_recommend.discovery.store import DiscoveryStore
from kith_shared.backoff import Backoff
from kith_shared.kafka import BrokerUnavailable, EventProducer
from kith_shared.observability import EVENTS_OUT
from kith_shared.topics import MICROCOMMUNITIES

log = logging.getLogger(__name__)


@dataclass(eq=False)
class Relay:
    """Publishes the stored announcements while ``active`` says this replica detects."""

    store: DiscoveryStore
    producer: EventProducer
    active: Callable[[], bool]
    poll_seconds: float = 1.0
    #: Set when a detection stored announcements, so that they go out at once.
    wake: asyncio.Event = field(default_factory=asyncio.Event, init=False)

    async def run(self) -> None:
        """Publish stored announcements in order while this replica detects; an error only delays them."""
        backoff = Backoff(0.5, 30.0)
        while True:
            if not self.active():
                await asyncio.sleep(self.poll_seconds)
                continue
            try:
                published = await self.publish_pending()
                backoff.reset()
                if published:
                    continue
                self.wake.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(30.0):
                        await self.wake.wait()
            except (BrokerUnavailable, PyMongoError) as exc:
                log.warning("micro-community announcements not published yet", extra={"error": repr(exc)})
                await asyncio.sleep(backoff.next_pause())

    async def publish_pending(self) -> int:
        """Publish what the outbox holds (oldest first), clearing each document once acknowledged; return how many."""
        pending = await self.store.pending()
        OUTBOX_PENDING.labels(SERVICE).set(len(pending))
        published = 0
        for outbox_id, events in pending:
            await self.producer.publish(MICROCOMMUNITIES, events)
            await self.store.clear(outbox_id)
            EVENTS_OUT.labels(SERVICE, MICROCOMMUNITIES.name).inc(len(events))
            published += len(events)
        if pending:
            OUTBOX_PENDING.labels(SERVICE).set(await self.store.pending_count())
        return published
