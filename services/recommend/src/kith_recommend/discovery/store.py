"""Micro-community results in recommend's database: groups, paths, ties for drawing, seeds and the outbox.

A detection is committed in one transaction: every current group of the tenant (its summary and
record), the removal of the groups that faded, the tenant's document (when, ties between groups), and
the outbox document holding the events it announces. The events are thus stored if and only if the
groups they describe are; the relay publishes them and then deletes them. The members' paths (the
warm start) and each group's internal ties (for drawing) are written after the transaction: losing
them costs a colder start or an empty drawing, never an event.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any, Final

from pymongo import DeleteMany, ReplaceOne
from pymongo.asynchronous.database import AsyncDatabase

from kith_recommend.discovery.job import Tie
from kith_recommend.discovery.state import Seed
from kith_recommend.domain.microcommunities import Detection, GroupRecord, GroupSummary
from kith_recommend.domain.microcommunities.codec import (
    record_from_plain,
    record_to_plain,
    summary_from_plain,
    summary_to_plain,
)
from kith_shared.events import EVENT_ADAPTER, Event
from kith_shared.mongo import Document

GROUPS: Final = "microcommunity_groups"
TENANTS: Final = "microcommunity_tenants"
PATHS: Final = "microcommunity_paths"
TIES: Final = "microcommunity_ties"
SEEDS: Final = "microcommunity_seeds"
OUTBOX: Final = "microcommunity_outbox"
REQUESTS: Final = "microcommunity_requests"
#: Members' paths per document (a path is a few small integers).
PATHS_PER_DOCUMENT: Final = 20_000


@dataclass
class StoredTenant:
    """What the database holds of one tenant's micro-communities."""

    tenant: str
    detection: Detection | None = None
    records: dict[str, GroupRecord] = field(default_factory=dict)
    seeds: dict[str, Seed] = field(default_factory=dict)
    ran_at: float = 0.0  # wall time the detection was stored


def _group_id(tenant: str, group_id: str) -> str:
    return f"{tenant}|{group_id}"


class DiscoveryStore:
    """Reads and writes micro-community results."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.db = db
        self.client = db.client

    async def ensure_indexes(self) -> None:
        """Create the indexes loading relies on."""
        await self.db[GROUPS].create_index([("tenant", 1)])
        await self.db[PATHS].create_index([("tenant", 1)])
        await self.db[TIES].create_index([("tenant", 1)])
        await self.db[SEEDS].create_index([("tenant", 1)])

    async def commit(
        self,
        detection: Detection,
        records: Mapping[str, GroupRecord],
        events: list[Event],
        ties: Mapping[str, list[Tie]],
        *,
        ran_at: float,
    ) -> None:
        """Store a detection, its groups' records and the events it announces (one transaction), then the rest."""
        tenant = detection.tenant
        keep = [_group_id(tenant, s.id) for s in detection.groups]
        writes = [
            ReplaceOne(
                {"_id": _group_id(tenant, s.id)},
                {
                    "tenant": tenant,
                    "group": s.id,
                    "summary": summary_to_plain(s),
                    "record": record_to_plain(records[s.id]),
                },
                upsert=True,
            )
            for s in detection.groups
        ]
        tenant_doc = {
            "detected_at": detection.detected_at,
            "ran_at": ran_at,
            "between": [[a, b, n] for (a, b), n in sorted(detection.between.items())],
        }
        async with self.client.start_session() as session, await session.start_transaction():
            if writes:
                await self.db[GROUPS].bulk_write(writes, ordered=False, session=session)
            await self.db[GROUPS].delete_many({"tenant": tenant, "_id": {"$nin": keep}}, session=session)
            await self.db[TENANTS].replace_one({"_id": tenant}, tenant_doc, upsert=True, session=session)
            if events:
                outbox = {
                    "_id": f"{time.time_ns():020d}-{uuid.uuid4().hex[:8]}",
                    "tenant": tenant,
                    "events": [e.model_dump(mode="json") for e in events],
                }
                await self.db[OUTBOX].insert_one(outbox, session=session)
        await self._write_paths(tenant, detection)
        await self._write_ties(tenant, ties, keep)

    async def _write_paths(self, tenant: str, detection: Detection) -> None:
        items = [[m, list(p)] for m, p in detection.paths.items()]
        chunks = [items[i : i + PATHS_PER_DOCUMENT] for i in range(0, len(items), PATHS_PER_DOCUMENT)]
        writes: list[ReplaceOne[Document] | DeleteMany] = [
            ReplaceOne({"_id": f"{tenant}|{n}"}, {"tenant": tenant, "n": n, "paths": chunk}, upsert=True)
            for n, chunk in enumerate(chunks)
        ]
        writes.append(DeleteMany({"tenant": tenant, "n": {"$gte": len(chunks)}}))
        await self.db[PATHS].bulk_write(writes, ordered=True)

    async def _write_ties(self, tenant: str, ties: Mapping[str, list[Tie]], keep: list[str]) -> None:
        writes: list[ReplaceOne[Document] | DeleteMany] = [
            ReplaceOne(
                {"_id": _group_id(tenant, group_id)},
                {"tenant": tenant, "ties": [list(t) for t in group_ties]},
                upsert=True,
            )
            for group_id, group_ties in ties.items()
        ]
        writes.append(DeleteMany({"tenant": tenant, "_id": {"$nin": keep}}))
        await self.db[TIES].bulk_write(writes, ordered=True)

    async def ties(self, tenant: str, group_id: str) -> list[Tie]:
        """Return a group's internal ties for drawing (heaviest first)."""
        doc = await self.db[TIES].find_one({"_id": _group_id(tenant, group_id)})
        return [(str(a), str(b), float(w)) for a, b, w in (doc or {}).get("ties", [])]

    async def save_seeds(self, tenant: str, seeds: Iterable[Seed]) -> None:
        """Store communities created for groups, with the group's members at the time."""
        writes = [
            ReplaceOne(
                {"_id": f"{tenant}|{s.community_id}"},
                {"tenant": tenant, "community": s.community_id, "group": s.group_id, "members": sorted(s.members),
                 "at": s.at},
                upsert=True,
            )
            for s in seeds
        ]  # fmt: skip
        if writes:
            await self.db[SEEDS].bulk_write(writes, ordered=False)

    async def erase(self, tenant: str, member: str) -> None:
        """Take an erased member out of the stored seeds (groups, paths and ties are rewritten by the next detection).

        Until then ties are only ever shown between a group's current members, which no longer include them.
        """
        await self.db[SEEDS].update_many({"tenant": tenant, "members": member}, {"$pull": {"members": member}})

    async def ask(self, tenant: str) -> None:
        """Record that a tenant's detection was asked for (for the replica that detects)."""
        await self.db[REQUESTS].replace_one({"_id": tenant}, {"at": time.time()}, upsert=True)

    async def take_requests(self) -> list[str]:
        """Return and forget the tenants whose detection was asked of other replicas."""
        tenants = [str(doc["_id"]) async for doc in self.db[REQUESTS].find({})]
        if tenants:
            await self.db[REQUESTS].delete_many({"_id": {"$in": tenants}})
        return tenants

    async def tenants(self) -> list[str]:
        """List the tenants with stored results or seeds."""
        found = await self.db[TENANTS].distinct("_id") + await self.db[SEEDS].distinct("tenant")
        return sorted(set(found))

    async def load(self, tenant: str) -> StoredTenant:
        """Load a tenant's last detection, group records and seeds."""
        stored = StoredTenant(tenant)
        async for doc in self.db[SEEDS].find({"tenant": tenant}):
            stored.seeds[doc["community"]] = Seed(
                doc["community"], doc["group"], frozenset(doc.get("members", [])), float(doc.get("at", 0.0))
            )
        meta = await self.db[TENANTS].find_one({"_id": tenant})
        if meta is None:
            return stored
        summaries: list[GroupSummary] = []
        async for doc in self.db[GROUPS].find({"tenant": tenant}):
            summaries.append(summary_from_plain(doc["summary"]))
            stored.records[doc["group"]] = record_from_plain(doc["record"])
        summaries.sort(key=lambda s: min(s.members) if s.members else s.id)
        paths: dict[str, tuple[int, ...]] = {}
        async for doc in self.db[PATHS].find({"tenant": tenant}).sort("n", 1):
            paths.update((m, tuple(int(x) for x in p)) for m, p in doc["paths"])
        detected_at = meta["detected_at"]
        if detected_at.tzinfo is None:
            detected_at = detected_at.replace(tzinfo=UTC)
        between = {(str(a), str(b)): int(n) for a, b, n in meta.get("between", [])}
        stored.detection = Detection(tenant, detected_at, tuple(summaries), between, paths)
        stored.ran_at = float(meta.get("ran_at", 0.0))
        return stored

    async def pending(self, limit: int = 50) -> list[tuple[str, list[Event]]]:
        """Return outbox documents (oldest first) with their events, not yet published."""
        found = []
        async for doc in self.db[OUTBOX].find({}).sort("_id", 1).limit(limit):
            found.append((str(doc["_id"]), [EVENT_ADAPTER.validate_python(e) for e in doc["events"]]))
        return found

    async def pending_count(self) -> int:
        """Return how many outbox documents wait to be published."""
        return await self.db[OUTBOX].count_documents({})

    async def clear(self, outbox_id: str) -> None:
        """Forget published events."""
        await self.db[OUTBOX].delete_one({"_id": outbox_id})

    async def drop(self, tenant: str | None = None) -> None:
        """Delete stored results, of one tenant or all (the outbox is left to publish)."""
        query: dict[str, Any] = {} if tenant is None else {"tenant": tenant}
        for name in (GROUPS, PATHS, TIES, SEEDS):
            await self.db[name].delete_many(query)
        await self.db[TENANTS].delete_many({} if tenant is None else {"_id": tenant})
