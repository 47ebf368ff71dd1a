"""The outbox: engagement changes committed with a batch, kept until the broker acknowledged them."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from pymongo.asynchronous.client_session import AsyncClientSession

from kith_scoring.store.collections import BulkWrites, Collections
from kith_shared.events.types import EngagementChangedEvent


class Outbox:
    """Engagement changes waiting to be published, oldest first."""

    def __init__(self, collections: Collections, writes: BulkWrites) -> None:
        self.collection = collections.outbox
        self.writes = writes
        self.publishing = asyncio.Lock()
        """Held while pending changes are published and cleared: one publisher at a time in a process, so the
        consumer and the sweep never publish the same entry twice."""

    async def add(self, events: list[EngagementChangedEvent], session: AsyncClientSession) -> str:
        """Record changes in a batch's transaction; return the id to clear them by once published."""
        outbox_id = f"{time.time_ns()}-{uuid.uuid4().hex[:8]}"
        await self.collection.insert_one(
            {"_id": outbox_id, "events": [e.model_dump(mode="json") for e in events]}, session=session
        )
        self.writes.stats.documents += 1
        return outbox_id

    async def pending(self, limit: int = 100) -> list[tuple[str, list[EngagementChangedEvent]]]:
        """Return engagement changes committed but not yet published, oldest first."""
        return [
            (doc["_id"], [EngagementChangedEvent.model_validate(e) for e in doc["events"]])
            async for doc in self.collection.find({}).sort("_id", 1).limit(limit)
        ]

    async def clear(self, outbox_id: str) -> None:
        """Forget published engagement changes."""
        await self.collection.delete_one({"_id": outbox_id})

    async def publish_pending(
        self, publish: Callable[[list[EngagementChangedEvent]], Awaitable[Any]], limit: int = 100
    ) -> int:
        """Publish committed changes oldest first, clearing each entry once acknowledged; return how many.

        Raises what ``publish`` raises (the broker down: the entry stays, for the next call) and
        :class:`~pymongo.errors.PyMongoError` (an entry published but not cleared is published again).
        """
        published = 0
        async with self.publishing:
            for outbox_id, events in await self.pending(limit):
                await publish(events)
                published += len(events)
                await self.clear(outbox_id)
        return published
