"""Checkpoints in MongoDB: every tenant's state as compressed chunks, and one manifest flipped in one write.

Writing a checkpoint (only the lease holder does):

1. take a new version number from the manifest (``next_version``, incremented only by the holder);
2. insert the chunks of every tenant that changed since the last checkpoint under that version
   (tenants that did not change keep the chunks the current manifest names);
3. flip the manifest: one update, conditional on still holding the lease, sets the version, the
   positions (offset and marker per partition) and the tenant entries together;
4. delete the chunks no longer named, of this version or older.

A kill -9 anywhere leaves the previous manifest current with all its chunks (step 4 never deletes a
chunk the manifest names, and versions handed out later are larger than any it deletes), so a restart
always finds one consistent pair of state and positions. An erased member is gone from the next
checkpoint, and the older chunks holding them are deleted right after it is flipped.

Readers (every replica, at start) read the manifest, then its chunks; when the writer deleted them in
between, they read the new manifest again.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from pymongo import ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from kith_recommend.documents import (
    CHECKPOINT,
    CHECKPOINT_CHUNKS,
    LEGACY_COLLECTIONS,
    MANIFEST_ID,
    ChunkDoc,
    ManifestDoc,
    PositionDoc,
    TenantEntryDoc,
    chunk_id,
)
from kith_recommend.snapshot import FORMAT, CorruptSnapshot, digest, split
from kith_shared.mongo import Document

log = logging.getLogger(__name__)

#: Chunks inserted per ``insert_many``: one request stays well under MongoDB's 48 MB message limit.
_CHUNKS_PER_INSERT: Final = 8
_NEVER: Final = datetime(1970, 1, 1, tzinfo=UTC)


class LeaseLost(RuntimeError):
    """Another replica holds the checkpoint lease now; this one must not write."""


class CheckpointUnreadable(RuntimeError):
    """The current checkpoint's chunks are missing or corrupt (and no newer checkpoint replaced it)."""


@dataclass(frozen=True)
class Position:
    """Where a state stops in one partition: the next offset to read, and the identity of the record before it."""

    offset: int
    marker: str = ""


Positions = dict[tuple[str, int], Position]


@dataclass
class LoadedCheckpoint:
    """A checkpoint read back: its version, positions, parts and each tenant's decoded blob."""

    version: int
    format: int
    parts: list[str]
    positions: Positions
    blobs: dict[str, bytes] = field(default_factory=dict)
    entries: dict[str, TenantEntryDoc] = field(default_factory=dict)
    bytes: int = 0


@dataclass
class WriteReport:
    """What one checkpoint wrote."""

    version: int
    tenants_written: int
    tenants_kept: int
    chunks: int
    bytes: int
    deleted_chunks: int
    entries: dict[str, TenantEntryDoc]


def _positions_out(positions: Positions) -> list[PositionDoc]:
    return [
        {"topic": topic, "partition": partition, "offset": p.offset, "marker": p.marker}
        for (topic, partition), p in sorted(positions.items())
    ]


def _positions_in(docs: Sequence[PositionDoc]) -> Positions:
    return {(d["topic"], int(d["partition"])): Position(int(d["offset"]), str(d["marker"])) for d in docs}


class CheckpointStore:
    """Reads and writes checkpoints, and holds the writer's lease."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.db = db
        self.manifests: AsyncCollection[Document] = db[CHECKPOINT]
        self.chunks: AsyncCollection[Document] = db[CHECKPOINT_CHUNKS]

    async def ensure(self) -> None:
        """Create the chunks' index, and drop the per-event read model of earlier versions if it is there."""
        await self.chunks.create_index([("tenant", 1), ("version", 1)])
        existing = set(await self.db.list_collection_names())
        for name in LEGACY_COLLECTIONS:
            if name in existing:
                await self.db.drop_collection(name)
                log.info("dropped the per-event read model of an earlier version", extra={"collection": name})

    # --- the lease --------------------------------------------------------------------------------

    async def acquire(self, holder: str, ttl: float, *, now: datetime | None = None) -> bool:
        """Take or renew the writer's lease for ``ttl`` seconds; return False while another live holder has it."""
        now = now or datetime.now(UTC)
        lease = {"holder": holder, "expires": now + timedelta(seconds=ttl)}
        free = {"$or": [{"lease.holder": holder}, {"lease.expires": {"$lt": now}}, {"lease": {"$exists": False}}]}
        try:
            await self.manifests.update_one({"_id": MANIFEST_ID, **free}, {"$set": {"lease": lease}}, upsert=True)
        except DuplicateKeyError:  # the manifest exists and another holder's lease is live
            return False
        return True

    async def release(self, holder: str) -> None:
        """Give the lease up (at shutdown), so another replica takes over without waiting for it to expire."""
        await self.manifests.update_one(
            {"_id": MANIFEST_ID, "lease.holder": holder}, {"$set": {"lease.expires": _NEVER}}
        )

    async def lease(self) -> dict[str, Any] | None:
        """Return the lease as stored (holder and expiry), or None."""
        doc = await self.manifests.find_one({"_id": MANIFEST_ID}, {"lease": 1})
        lease: dict[str, Any] | None = (doc or {}).get("lease")
        return lease

    # --- reading ----------------------------------------------------------------------------------

    async def manifest(self) -> ManifestDoc | None:
        """Return the manifest document (None before any checkpoint or lease)."""
        doc = await self.manifests.find_one({"_id": MANIFEST_ID})
        return ManifestDoc(**doc) if doc is not None else None  # type: ignore[typeddict-item]

    async def load(self, attempts: int = 5) -> LoadedCheckpoint | None:
        """Return the current checkpoint with every tenant's blob, or None when none was written.

        Raise :class:`CheckpointUnreadable` when the manifest names chunks that are missing or
        corrupt and no newer checkpoint replaced it meanwhile.
        """
        problem = ""
        for _ in range(attempts):
            manifest = await self.manifest()
            if manifest is None or not manifest.get("version"):
                return None
            try:
                return await self._read(manifest)
            except CorruptSnapshot as exc:
                problem = str(exc)
                again = await self.manifest()
                if again is not None and again.get("version") == manifest.get("version"):
                    raise CheckpointUnreadable(f"checkpoint {manifest.get('version')}: {problem}") from exc
                log.info("the checkpoint changed while it was read; reading the new one")
        raise CheckpointUnreadable(f"the checkpoint kept changing while it was read: {problem}")

    async def _read(self, manifest: ManifestDoc) -> LoadedCheckpoint:
        entries = {e["tenant"]: e for e in manifest.get("tenants", [])}
        loaded = LoadedCheckpoint(
            version=int(manifest["version"]),
            format=int(manifest.get("format", 0)),
            parts=list(manifest.get("parts", [])),
            positions=_positions_in(manifest.get("positions", [])),
            entries=entries,
        )
        for tenant, entry in entries.items():
            docs = [
                doc
                async for doc in self.chunks.find(
                    {"tenant": tenant, "version": entry["version"]}, {"seq": 1, "data": 1}
                ).sort("seq", 1)
            ]
            if [d["seq"] for d in docs] != list(range(entry["chunks"])):
                raise CorruptSnapshot(f"tenant {tenant!r}: {len(docs)} of {entry['chunks']} chunks found")
            blob = b"".join(bytes(d["data"]) for d in docs)
            if digest(blob) != entry["digest"]:
                raise CorruptSnapshot(f"tenant {tenant!r}: the chunks do not match the manifest's digest")
            loaded.blobs[tenant] = blob
            loaded.bytes += len(blob)
        return loaded

    # --- writing ----------------------------------------------------------------------------------

    async def write(
        self,
        holder: str,
        blobs: Mapping[str, bytes],
        keep: Mapping[str, TenantEntryDoc],
        positions: Positions,
        parts: list[str],
        *,
        records: int = 0,
        chunk_bytes: int | None = None,
    ) -> WriteReport:
        """Write a checkpoint: ``blobs`` (compressed, by tenant) as new chunks, ``keep`` as they are; flip; clean.

        ``keep`` names tenants whose chunks in the current manifest hold their state still; an entry
        that is no longer in the current manifest is not trusted, and the caller must pass its blob
        instead (raise ValueError). Raise :class:`LeaseLost` when another replica took the lease (the
        new chunks are then deleted and nothing else changed).
        """
        version = await self._next_version(holder)
        current = await self.manifest() or ManifestDoc()
        current_entries = {e["tenant"]: e for e in current.get("tenants", [])}
        for tenant, entry in keep.items():
            if current_entries.get(tenant) != entry:
                raise ValueError(f"tenant {tenant!r}: the entry to keep is not the current manifest's")
        entries: dict[str, TenantEntryDoc] = dict(keep)
        docs: list[ChunkDoc] = []
        written = 0
        for tenant, blob in blobs.items():
            pieces = split(blob, chunk_bytes) if chunk_bytes else split(blob)
            entries[tenant] = {
                "tenant": tenant,
                "version": version,
                "chunks": len(pieces),
                "bytes": len(blob),
                "digest": digest(blob),
            }
            written += len(blob)
            for seq, piece in enumerate(pieces):
                docs.append({"_id": chunk_id(tenant, version, seq), "tenant": tenant, "version": version,
                             "seq": seq, "data": piece})  # fmt: skip
                if len(docs) >= _CHUNKS_PER_INSERT:
                    await self.chunks.insert_many(docs, ordered=False)  # type: ignore[arg-type]
                    docs = []
        if docs:
            await self.chunks.insert_many(docs, ordered=False)  # type: ignore[arg-type]
        flip: ManifestDoc = {
            "version": version,
            "format": FORMAT,
            "parts": parts,
            "positions": _positions_out(positions),
            "tenants": [entries[t] for t in sorted(entries)],
            "records": records,
            "written_at": datetime.now(UTC),
            "writer": holder,
        }
        result = await self.manifests.update_one({"_id": MANIFEST_ID, "lease.holder": holder}, {"$set": flip})
        if result.matched_count != 1:
            await self.chunks.delete_many({"version": version})
            raise LeaseLost(f"{holder} lost the checkpoint lease before checkpoint {version} was flipped")
        deleted = await self.collect(version, entries)
        return WriteReport(
            version=version,
            tenants_written=len(blobs),
            tenants_kept=len(keep),
            chunks=sum(e["chunks"] for e in entries.values() if e["version"] == version),
            bytes=written,
            deleted_chunks=deleted,
            entries=entries,
        )

    async def _next_version(self, holder: str) -> int:
        doc = await self.manifests.find_one_and_update(
            {"_id": MANIFEST_ID, "lease.holder": holder},
            {"$inc": {"next_version": 1}},
            projection={"next_version": 1},
            return_document=ReturnDocument.AFTER,
        )
        if doc is None:
            raise LeaseLost(f"{holder} does not hold the checkpoint lease")
        return int(doc["next_version"])

    async def collect(self, version: int, entries: Mapping[str, TenantEntryDoc]) -> int:
        """Delete chunks of ``version`` or older that ``entries`` (the flipped manifest's) do not name."""
        named = {(e["tenant"], e["version"]) for e in entries.values()}
        garbage = [
            doc["_id"]
            async for doc in self.chunks.find({"version": {"$lte": version}}, {"tenant": 1, "version": 1})
            if (doc["tenant"], doc["version"]) not in named
        ]
        for start in range(0, len(garbage), 1_000):
            await self.chunks.delete_many({"_id": {"$in": garbage[start : start + 1_000]}})
        return len(garbage)

    async def drop(self) -> None:
        """Delete every checkpoint (the lease included)."""
        await self.chunks.delete_many({})
        await self.manifests.delete_many({})
