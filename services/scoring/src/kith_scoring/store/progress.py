"""Partitions: who owns them (claims), and how far each was applied (progress, the fence against replays).

Progress is stored per partition, in the transaction that stores a batch's effects: the last applied
offset and the identity (``marker``) of the record found there. When a batch holds that offset
with the same identity, the topic is the same incarnation and records at or below it are skipped.
When the identity differs (or the batch ends below the stored offset), the topic is a new
incarnation (an embedded broker that forgot its topics started offsets again at 0): the fence is
reset and nothing is skipped by offset. The read position is never moved by the fence, so a new
incarnation can never make the consumer skip new events.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any

from pymongo import UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.mongo_client import AsyncMongoClient
from pymongo.errors import PyMongoError

from kith_scoring.domain.documents import ProgressDoc, partition_id
from kith_scoring.store.collections import BulkWrites, Collections
from kith_shared.events import Event

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class InRecord:
    """A consumed record: where it came from and the event it carries (None when it was dead-lettered)."""

    topic: str
    partition: int
    offset: int
    marker: str
    event: Event | None


@dataclass(frozen=True, slots=True)
class Fenced:
    """What one partition's stored progress lets through of a batch."""

    keep: list[InRecord]
    skipped: int
    new_incarnation: bool
    advance: bool


def fence(records: list[InRecord], stored: ProgressDoc | None) -> Fenced:
    """Decide what a partition's records of a batch (sorted by offset) apply, given its stored progress."""
    keep = records
    reset = False
    if stored is not None:
        at_fence = next((r for r in records if r.offset == stored["offset"]), None)
        if at_fence is not None and at_fence.marker == stored["marker"]:
            keep = [r for r in records if r.offset > stored["offset"]]
        elif at_fence is not None or records[-1].offset < stored["offset"]:
            reset = True
    advance = stored is None or reset or records[-1].offset > stored["offset"]
    return Fenced(keep, len(records) - len(keep), reset, advance)


@dataclass
class Admitted:
    """What a batch applies after the fence, and the progress to store with it."""

    events: list[Event] = field(default_factory=list)
    skipped: int = 0
    new_incarnations: list[tuple[str, int]] = field(default_factory=list)
    advances: list[UpdateOne] = field(default_factory=list)


class PartitionProgress:
    """Each partition's progress, read and advanced inside a batch's transaction."""

    def __init__(self, collections: Collections, writes: BulkWrites) -> None:
        self.collection = collections.partition_progress
        self.writes = writes

    async def admit(self, records: list[InRecord], session: AsyncClientSession) -> Admitted:
        """Return the events of ``records`` that the stored progress lets through, and the progress to store."""
        by_partition: dict[tuple[str, int], list[InRecord]] = {}
        for record in records:
            by_partition.setdefault((record.topic, record.partition), []).append(record)
        ids = [partition_id(t, p) for t, p in by_partition]
        stored = {doc["_id"]: doc async for doc in self.collection.find({"_id": {"$in": ids}}, session=session)}
        admitted = Admitted()
        for (topic, partition), slice_ in by_partition.items():
            slice_.sort(key=lambda r: r.offset)
            doc_id = partition_id(topic, partition)
            fenced = fence(slice_, stored.get(doc_id))
            admitted.skipped += fenced.skipped
            if fenced.new_incarnation:
                admitted.new_incarnations.append((topic, partition))
                log.warning(
                    "new incarnation of a topic partition: offsets started again; fence reset",
                    extra={"topic": topic, "partition": partition, "fence": stored[doc_id]["offset"]},
                )
            admitted.events.extend(r.event for r in fenced.keep if r.event is not None)
            if fenced.advance:
                last = slice_[-1]
                update: dict[str, Any] = {
                    "$set": {"topic": topic, "partition": partition, "offset": last.offset, "marker": last.marker}
                }
                if fenced.new_incarnation:
                    update["$inc"] = {"incarnation": 1}
                admitted.advances.append(UpdateOne({"_id": doc_id}, update, upsert=True))
        return admitted

    async def advance(self, admitted: Admitted, session: AsyncClientSession) -> None:
        """Store the progress of an admitted batch (in its transaction)."""
        if admitted.advances:
            await self.writes.bulk(self.collection, admitted.advances, session)


class PartitionClaims:
    """The consumer's database session, recorded against the partitions it owns.

    A consumer killed in the middle of a transaction leaves it open on the server, holding its
    writes, until the server reaps it (60 s on MongoDB and SecantusDB); the next owner's batches
    would meet write conflicts until then. Each consumer applies its batches in one session whose
    id it records per partition, so the next owner can end the dead owner's session at once
    (``killSessions``), which aborts its transaction. Ending a live consumer's session is harmless:
    its transaction aborts and is retried.
    """

    def __init__(self, client: AsyncMongoClient[Any], collections: Collections) -> None:
        self.client = client
        self.collection = collections.partition_claims
        self.session: AsyncClientSession | None = None

    async def claim(self, partitions: list[tuple[str, int]]) -> int:
        """Take over partitions: end the session of their previous owner; return how many were ended."""
        if self.session is None:
            self.session = self.client.start_session()
        mine = self.session.session_id
        ids = [partition_id(topic, partition) for topic, partition in partitions]
        previous = [doc["lsid"] async for doc in self.collection.find({"_id": {"$in": ids}}) if doc["lsid"] != mine]
        distinct = list({bytes(lsid["id"]): lsid for lsid in previous}.values())
        if distinct:
            await self.client.admin.command("killSessions", distinct)
        if ids:
            await self.collection.bulk_write(
                [UpdateOne({"_id": i}, {"$set": {"lsid": mine}}, upsert=True) for i in ids], ordered=False
            )
        return len(distinct)

    async def close(self) -> None:
        """End the consumer's session."""
        if self.session is not None:
            session, self.session = self.session, None
            with contextlib.suppress(PyMongoError):
                await session.end_session()
