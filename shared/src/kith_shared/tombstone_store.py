"""Erased members' tombstones in a service's own database: one document each, its id the tombstone.

The tombstones themselves (keyed one-way hashes) are :mod:`kith_shared.erasure`'s; this is where ingest
and recommend keep them so that they outlive a restart.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from pymongo import DeleteOne, ReplaceOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from kith_shared.mongo import Document

TOMBSTONES: Final = "erased_members"


class TombstoneStore:
    """The ``erased_members`` collection: one document per erased member, its id the tombstone."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.collection: AsyncCollection[Document] = db[TOMBSTONES]

    async def load(self) -> list[str]:
        """Return every tombstone."""
        return [doc["_id"] async for doc in self.collection.find({}, {"_id": 1})]

    async def write(self, writes: list[tuple[str, bool]]) -> None:
        """Write tombstones (True) and remove reinstated ones (False), in order (a replay writes the same)."""
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
