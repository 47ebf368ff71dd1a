"""Scoring's collections, each typed by the documents it holds, their indexes, and counted bulk writes."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from pymongo import ASCENDING, DeleteOne, UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from kith_scoring import SERVICE
from kith_scoring.domain.documents import (
    COMMUNITIES,
    COMMUNITY_DAYS,
    ERASED_MEMBERS,
    MEMBER_COMMUNITIES,
    MEMBER_STATES,
    MEMBERS,
    OUTBOX,
    PARTITION_CLAIMS,
    PARTITION_PROGRESS,
    ROLES,
    SETTINGS,
    ClaimDoc,
    CommunityDayDoc,
    CommunityDoc,
    ErasedDoc,
    MemberCommunityDoc,
    MemberDoc,
    MemberStateDoc,
    OutboxDoc,
    ProgressDoc,
    RoleDoc,
    SettingsDoc,
)
from kith_shared.observability import STORE_LATENCY

Document = dict[str, Any]


class Collections:
    """Every collection of the scoring database, typed by its documents (see :mod:`~kith_scoring.domain.documents`)."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.db = db
        self.member_communities = cast("AsyncCollection[MemberCommunityDoc]", db[MEMBER_COMMUNITIES])
        self.members = cast("AsyncCollection[MemberDoc]", db[MEMBERS])
        self.communities = cast("AsyncCollection[CommunityDoc]", db[COMMUNITIES])
        self.community_days = cast("AsyncCollection[CommunityDayDoc]", db[COMMUNITY_DAYS])
        self.roles = cast("AsyncCollection[RoleDoc]", db[ROLES])
        self.member_states = cast("AsyncCollection[MemberStateDoc]", db[MEMBER_STATES])
        self.partition_progress = cast("AsyncCollection[ProgressDoc]", db[PARTITION_PROGRESS])
        self.partition_claims = cast("AsyncCollection[ClaimDoc]", db[PARTITION_CLAIMS])
        self.outbox = cast("AsyncCollection[OutboxDoc]", db[OUTBOX])
        self.settings = cast("AsyncCollection[SettingsDoc]", db[SETTINGS])
        self.erased_members = cast("AsyncCollection[ErasedDoc]", db[ERASED_MEMBERS])

    async def ensure_indexes(self) -> None:
        """Create the indexes the reads and erasures rely on."""
        await self.member_communities.create_index(
            [("tenant", ASCENDING), ("community_id", ASCENDING), ("member_id", ASCENDING)]
        )
        await self.member_communities.create_index([("tenant", ASCENDING), ("member_id", ASCENDING)])
        await self.community_days.create_index([("tenant", ASCENDING), ("community_id", ASCENDING), ("day", ASCENDING)])
        await self.roles.create_index([("tenant", ASCENDING), ("member_id", ASCENDING)])
        await self.member_states.create_index([("tenant", ASCENDING), ("member_id", ASCENDING)])


@dataclass
class WriteStats:
    """How much a store wrote: bulk write calls and documents, for the benchmark."""

    bulk_writes: int = 0
    documents: int = 0
    transactions: int = 0


class BulkWrites:
    """Unordered bulk writes, timed and counted."""

    def __init__(self) -> None:
        self.stats = WriteStats()

    async def bulk(
        self,
        collection: AsyncCollection[Any],
        ops: Sequence[UpdateOne | DeleteOne],
        session: AsyncClientSession | None,
    ) -> None:
        """Apply ``ops`` to ``collection`` in one unordered bulk write."""
        started = time.perf_counter()
        await collection.bulk_write(ops, ordered=False, session=session)
        STORE_LATENCY.labels(SERVICE, f"bulk_write:{collection.name}").observe(time.perf_counter() - started)
        self.stats.bulk_writes += 1
        self.stats.documents += len(ops)
