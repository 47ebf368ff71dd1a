"""Partitions: who owns them (claims), and how far each was applied (progress, the fence against replays).

Progress is stored per partition, in the transaction that stores a chunk's effects: the last applied
offset and the identity (``marker``) of the record found there. When a chunk holds that offset
with the same identity, the topic is the same incarnation and records at or below it are skipped;
when it holds another record there, the topic is a new incarnation (an embedded broker that forgot
its topics started offsets again at 0): the fence is reset and nothing is skipped by offset.

A chunk that starts at or below the fence without holding the fence's offset is in doubt: it may be
a re-read of the same topic (offsets not committed after a durable chunk, then read again, in
chunks cut differently) or a new incarnation. The fence never guesses: it raises
:class:`FenceInDoubt` and the consumer asks the broker (does the partition still hold that record
at that offset?), then applies the chunk again with the verdict. The read position is never moved
by the fence, so a new incarnation can never make the consumer skip new events.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping
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


class FenceInDoubt(Exception):
    """Chunks re-read below their partitions' fences: only the broker can tell whether the topics are the same.

    ``partitions`` holds, per partition in doubt, (topic, partition, fence offset, marker at the fence).
    """

    def __init__(self, partitions: list[tuple[str, int, int, str]]) -> None:
        super().__init__(f"{len(partitions)} partition(s) re-read below their fence")
        self.partitions = partitions


def fence(records: list[InRecord], stored: ProgressDoc | None, same_incarnation: bool | None = None) -> Fenced:
    """Decide what a partition's records of a chunk (sorted by offset) apply, given its stored progress.

    ``same_incarnation`` is the broker's verdict for a chunk in doubt (see the module's docstring);
    without it, a chunk in doubt raises :class:`FenceInDoubt`.
    """
    keep = records
    reset = False
    if stored is not None:
        at_fence = next((r for r in records if r.offset == stored["offset"]), None)
        if at_fence is not None:
            reset = at_fence.marker != stored["marker"]
            same = not reset
        elif records[0].offset > stored["offset"]:
            same = True  # past the fence: carrying on where the last chunk stopped
        elif same_incarnation is None:
            raise FenceInDoubt([(records[0].topic, records[0].partition, stored["offset"], stored["marker"])])
        else:
            same = same_incarnation
            reset = not same_incarnation
        if same:
            keep = [r for r in records if r.offset > stored["offset"]]
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

    async def admit(
        self,
        records: list[InRecord],
        session: AsyncClientSession,
        same_incarnation: Mapping[tuple[str, int], bool] | None = None,
    ) -> Admitted:
        """Return the events of ``records`` that the stored progress lets through, and the progress to store.

        Raise :class:`FenceInDoubt` naming every partition in doubt that ``same_incarnation`` has no verdict for.
        """
        by_partition: dict[tuple[str, int], list[InRecord]] = {}
        for record in records:
            by_partition.setdefault((record.topic, record.partition), []).append(record)
        ids = [partition_id(t, p) for t, p in by_partition]
        stored = {doc["_id"]: doc async for doc in self.collection.find({"_id": {"$in": ids}}, session=session)}
        admitted = Admitted()
        verdicts = same_incarnation or {}
        doubts: list[tuple[str, int, int, str]] = []
        fences: list[tuple[str, int, list[InRecord], Fenced]] = []
        for (topic, partition), slice_ in by_partition.items():
            slice_.sort(key=lambda r: r.offset)
            try:
                fences.append((topic, partition, slice_, fence(slice_, stored.get(partition_id(topic, partition)),
                                                               verdicts.get((topic, partition)))))  # fmt: skip
            except FenceInDoubt as doubt:
                doubts.extend(doubt.partitions)
        if doubts:
            raise FenceInDoubt(doubts)
        for topic, partition, slice_, fenced in fences:
            doc_id = partition_id(topic, partition)
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
