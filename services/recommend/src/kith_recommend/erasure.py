"""Erased members' tombstones in recommend's own database, outside the checkpoints.

The consumer writes a tombstone (a keyed one-way hash, :mod:`kith_shared.erasure`) before it applies
the erasure, and removes it before it applies a reinstatement; the service and the rebuild read them
all before they apply any record. So a late event of an erased member (from another partition, a
replay from an older checkpoint, or a rebuild from the topics) finds the tombstone and is dropped.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from pymongo import DeleteOne, ReplaceOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from kith_recommend.domain.changes import Change, ErasureChange, ReinstatementChange
from kith_shared.erasure import Tombstones
from kith_shared.mongo import Document

TOMBSTONES: Final = "erased_members"


def tombstone_writes(tombstones: Tombstones, changes: Iterable[Change]) -> list[tuple[str, bool]]:
    """Return, in order, each (tombstone, erased) that ``changes`` set: True erased, False reinstated."""
    return [
        (tombstones.key(change.tenant, change.member_id), isinstance(change, ErasureChange))
        for change in changes
        if isinstance(change, ErasureChange | ReinstatementChange)
    ]


class TombstoneStore:
    """The ``erased_members`` collection: one document per erased member, its id the tombstone."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.collection: AsyncCollection[Document] = db[TOMBSTONES]

    async def load(self) -> list[str]:
        """Return every tombstone."""
        return [doc["_id"] async for doc in self.collection.find({}, {"_id": 1})]

    async def write(self, writes: list[tuple[str, bool]]) -> None:
        """Write tombstones and remove reinstated ones, in order (idempotent: a replay writes the same)."""
        if not writes:
            return
        ops: list[ReplaceOne[Document] | DeleteOne] = [
            ReplaceOne({"_id": key}, {"_id": key}, upsert=True) if erased else DeleteOne({"_id": key})
            for key, erased in writes
        ]
        await self.collection.bulk_write(ops, ordered=True)

    async def replace(self, keys: Iterable[str]) -> None:
        """Make the stored tombstones exactly ``keys`` (what a rebuild ends with)."""
        known = sorted(set(keys))
        await self.collection.delete_many({"_id": {"$nin": known}})
        await self.write([(key, True) for key in known])
