"""Scoring's database: one part per job, wired together by :class:`ScoringStore`.

- :mod:`.collections`: the collections, typed by their documents, their indexes, counted bulk writes;
- :mod:`.progress`: partition claims (the consumer's session) and progress (the fence against replays);
- :mod:`.apply`: a batch applied in one transaction;
- :mod:`.erasure`, :mod:`.outbox`, :mod:`.slipping`, :mod:`.tenants`: erasures, engagement changes
  waiting to be published, slipping-away flags, tenants' configuration histories;
- :mod:`.reads`: the read queries of the API and the sweep.

Every document carries its ``tenant`` and every read filters by it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.asynchronous.mongo_client import AsyncMongoClient

from kith_scoring.store.apply import BatchApplier, Outcome, StoreUnavailable
from kith_scoring.store.collections import BulkWrites, Collections, WriteStats
from kith_scoring.store.erasure import Eraser
from kith_scoring.store.outbox import Outbox
from kith_scoring.store.progress import FenceInDoubt, InRecord, PartitionClaims, PartitionProgress
from kith_scoring.store.reads import ScoringReads
from kith_scoring.store.slipping import SlippingFlags
from kith_scoring.store.tenants import ConfigConflict, TenantConfigs
from kith_shared.erasure import PLACEHOLDER_ERASURE_SECRET

T = TypeVar("T")

__all__ = [
    "ConfigConflict",
    "FenceInDoubt",
    "InRecord",
    "Outcome",
    "ScoringReads",
    "ScoringStore",
    "StoreUnavailable",
    "TenantConfigs",
    "WriteStats",
]


class ScoringStore:
    """The scoring database's parts, built on one client and database."""

    def __init__(
        self,
        client: AsyncMongoClient[Any],
        db: AsyncDatabase[dict[str, Any]],
        *,
        erasure_salt: str,
        erasure_secret: str = PLACEHOLDER_ERASURE_SECRET,
        recent_events: int = 20,
    ) -> None:
        self.client = client
        self.collections = Collections(db)
        self.writes = BulkWrites()
        self.claims = PartitionClaims(client, self.collections)
        self.tenants = TenantConfigs(self.collections)
        self.outbox = Outbox(self.collections, self.writes)
        self.flags = SlippingFlags(self.collections, self.writes)
        self.reads = ScoringReads(self.collections, erasure_salt)
        self.applier = BatchApplier(
            client=client,
            collections=self.collections,
            writes=self.writes,
            claims=self.claims,
            progress=PartitionProgress(self.collections, self.writes),
            tenants=self.tenants,
            flags=self.flags,
            eraser=Eraser(self.collections, self.writes, erasure_salt, erasure_secret),
            outbox=self.outbox,
            salt=erasure_salt,
            recent_events=recent_events,
        )

    @property
    def stats(self) -> WriteStats:
        """Return how much this store wrote (for the benchmark)."""
        return self.writes.stats

    async def ensure_indexes(self) -> None:
        """Create the indexes the reads and erasures rely on; re-key tombstones stored under raw member ids."""
        await self.collections.ensure_indexes()
        await self.applier.eraser.rekey_legacy()

    async def apply(
        self, records: list[InRecord], same_incarnation: Mapping[tuple[str, int], bool] | None = None
    ) -> Outcome:
        """Apply a chunk of consumed records effectively once (see :class:`~kith_scoring.store.apply.BatchApplier`)."""
        return await self.applier.apply(records, same_incarnation)

    async def transaction(self, work: Callable[[AsyncClientSession], Awaitable[T]]) -> T:
        """Run ``work`` in a transaction of a session of its own; return what it returns."""
        async with self.client.start_session() as session, await session.start_transaction():
            return await work(session)

    async def close(self) -> None:
        """End the consumer's session."""
        await self.claims.close()
