"""Deduplication claim designs, each timed on the same database in the same run: the database's CPU per key.

1. today's: :class:`~kith_ingest.store.DedupeStore` (one document per batch, its keys under a unique
   multikey index), through its real code path;
2. one document per key, its ``_id`` the key (the primary index arbitrates);
3. keys bucketed by a hash prefix into 64 documents, claimed with conditional updates
   (``{"k.<hash>": {"$exists": false}}`` then ``$set``; one bulk write per batch);
4. the floor of any design that writes one compact document per batch with no index on its keys (what a
   per-replica in-memory filter would write), and reads it back once, as every replica would have to.

Design 4 does not arbitrate by itself: replicas would still need a way to agree on who won a key
(for instance a transaction that also updates a counter per hash bucket, so concurrent claims of the
same bucket conflict), so it is a floor, not a design.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import UpdateOne
from pymongo.asynchronous.database import AsyncDatabase

from bench.measure import markdown_table, process_cpu_seconds
from kith_ingest.store import DedupeStore, claim_key

Document = dict[str, Any]


def _keys(batches: int, size: int) -> list[list[str]]:
    run = uuid.uuid4().hex[:8]
    return [[claim_key("demo", "app://kith-generator", f"{run}-{b}-{i}") for i in range(size)] for b in range(batches)]


async def _timed(pid: int, keys: list[list[str]], claim: Callable[[list[str]], Awaitable[None]]) -> dict[str, float]:
    count = sum(len(batch) for batch in keys)
    cpu, wall = process_cpu_seconds(pid), time.perf_counter()
    for batch in keys:
        await claim(batch)
    cpu, wall = process_cpu_seconds(pid) - cpu, time.perf_counter() - wall
    return {"keys": count, "db_cpu_us_per_key": cpu / count * 1e6, "wall_us_per_key": wall / count * 1e6}


async def claim_designs(db: AsyncDatabase[Document], pid: int, batches: int = 40, size: int = 500) -> dict[str, Any]:
    """Time each design on fresh collections of ``db`` (served by the database process ``pid``)."""
    results: dict[str, Any] = {}
    store = DedupeStore(db, window=timedelta(days=7), claim_timeout=timedelta(seconds=30))
    await store.ensure_indexes()
    await store.claim(["warm-up"], datetime.now(UTC))

    async def today(batch: list[str]) -> None:
        claimed = await store.claim(batch, datetime.now(UTC))
        await store.confirm(claimed, datetime.now(UTC))

    results["today: a document per batch, keys under a unique multikey index"] = await _timed(
        pid, _keys(batches, size), today
    )

    per_key = db["claims_per_key"]
    await per_key.insert_one({"_id": "warm-up"})

    async def one_per_key(batch: list[str]) -> None:
        now = datetime.now(UTC)
        await per_key.insert_many([{"_id": key, "claimed_at": now} for key in batch], ordered=False)

    results["a document per key, the key as _id"] = await _timed(pid, _keys(batches, size), one_per_key)

    buckets = db["claims_buckets"]

    async def bucketed(batch: list[str]) -> None:
        token = uuid.uuid4().hex[:12]
        by_bucket: dict[int, list[str]] = {}
        for key in batch:
            digest = hashlib.blake2b(key.encode(), digest_size=10).hexdigest()
            by_bucket.setdefault(int(digest[:4], 16) % 64, []).append(digest)
        ops = [
            UpdateOne(
                {"_id": bucket, **{f"k.{h}": {"$exists": False} for h in hashes}},
                {"$set": {f"k.{h}": token for h in hashes}},
                upsert=True,
            )
            for bucket, hashes in by_bucket.items()
        ]
        await buckets.bulk_write(ops, ordered=False)

    results["keys bucketed in 64 documents, conditional $set"] = await _timed(pid, _keys(batches, size), bucketed)

    compact = db["claims_compact"]

    async def compact_write(batch: list[str]) -> None:
        blob = b"".join(hashlib.blake2b(key.encode(), digest_size=10).digest() for key in batch)
        token = uuid.uuid4().hex
        await compact.insert_one({"_id": token, "keys": blob, "claimed_at": datetime.now(UTC)})
        await compact.find_one({"_id": token})

    results["floor: one compact document per batch, no key index, read back once"] = await _timed(
        pid, _keys(batches, size), compact_write
    )
    return results


def claim_lines(designs: dict[str, dict[str, float]]) -> list[str]:
    """Render the designs as Markdown table lines."""
    today = next(iter(designs.values()))["db_cpu_us_per_key"]
    header = ["claim design (same database, same run)", "database CPU per key", "wall per key", "CPU vs today"]
    rows = [
        [
            name,
            f"{f['db_cpu_us_per_key']:.1f} us",
            f"{f['wall_us_per_key']:.1f} us",
            f"{f['db_cpu_us_per_key'] / today:.2f}",
        ]
        for name, f in designs.items()
    ]
    return markdown_table(header, rows, "lrrr")
