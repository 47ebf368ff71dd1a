"""Deduplication claims in MongoDB: the same (tenant, source, id) is published once per window.

Before events are published they are *claimed*: one document per request (or consumed batch) holds
the claim keys of its events in ``keys``, under a unique multikey index, so no key can sit in two
claim documents. The insert that wins publishes; every other copy (another request, another replica,
a redelivered record) is a duplicate. One document per batch rather than per event keeps the write
cheap: one insert whatever the batch size.

A claim is pending until its token is written to the ``published`` collection, after the broker
acknowledged. When the publish fails the claim document is deleted, so a retry is accepted rather
than called a duplicate. A pending claim older than the claim timeout belongs to a publisher that
died mid-way, and its keys may be taken over. TTL indexes forget claims after the dedupe window
(keys past the window are also taken over before the TTL monitor runs).

Claims of concurrent requests are written together (group commit): while one insert is in flight,
the next requests queue up and share the following one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError, OperationFailure, PyMongoError

from kith_ingest import SERVICE
from kith_shared.backoff import Backoff
from kith_shared.mongo import Document
from kith_shared.observability import STORE_LATENCY

log = logging.getLogger(__name__)

CLAIMS: Final = "dedupe_claims"
PUBLISHED: Final = "dedupe_published"
_DUPLICATE_KEY: Final = 11000
_MAX_ATTEMPTS: Final = 5
_CONFIRM_GATHER_SECONDS: Final = 0.05


class ClaimContention(PyMongoError):
    """Claims kept colliding with concurrent writers; the caller should retry shortly."""


def claim_key(tenant: str, source: str, event_id: str) -> str:
    """Return the unambiguous claim key of an event identity: ``tenant|len(source)|source|id``.

    Tenants never contain ``|``, and the length of the source says where it ends.
    """
    return f"{tenant}|{len(source)}|{source}|{event_id}"


@dataclass(frozen=True, slots=True)
class Claim:
    """Keys this caller won (and must publish, then confirm or release), under one token."""

    token: str
    keys: tuple[str, ...]


@dataclass(slots=True)
class _Request:
    token: str
    keys: list[str]
    now: datetime
    future: asyncio.Future[list[str]]

    def document(self, keys: list[str] | None = None) -> Document:
        return claim_document(self.token, self.keys if keys is None else keys, self.now)


def claim_document(token: str, keys: list[str], now: datetime) -> Document:
    """Return the claim document of ``keys`` under ``token``.

    It also holds a key of its own (``#<token>``, never an event's key), so that pulling event keys out of
    it never leaves an empty array: empty arrays would collide with each other under the unique index.
    """
    return {"_id": token, "keys": [*keys, f"#{token}"], "claimed_at": now}


class DedupeStore:
    """Claims on event identities, shared by every replica through MongoDB."""

    def __init__(self, db: AsyncDatabase[Document], *, window: timedelta, claim_timeout: timedelta) -> None:
        self.claims: AsyncCollection[Document] = db[CLAIMS]
        self.published: AsyncCollection[Document] = db[PUBLISHED]
        self.window = window
        self.claim_timeout = claim_timeout
        self._queue: list[_Request] = []
        self._flusher: asyncio.Task[None] | None = None
        self._confirm: list[Document] = []
        self._confirm_wake = asyncio.Event()
        self._confirmer: asyncio.Task[None] | None = None
        self._indexes: asyncio.Task[None] | None = None

    async def _ttl_index(self, collection: AsyncCollection[Document], field: str, seconds: int) -> None:
        name = f"{field}_ttl"
        try:
            await collection.create_index(field, name=name, expireAfterSeconds=seconds)
        except OperationFailure:  # the window changed since the index was made: update its expiry
            await collection.database.command(
                {"collMod": collection.name, "index": {"name": name, "expireAfterSeconds": seconds}}
            )

    async def ensure_indexes(self) -> None:
        """Create the unique index on claim keys and the TTL indexes that forget claims after the window."""
        await self.claims.create_index("keys", name="keys_unique", unique=True)
        window = int(self.window.total_seconds())
        await self._ttl_index(self.claims, "claimed_at", window)
        await self._ttl_index(self.published, "published_at", window + int(self.claim_timeout.total_seconds()))

    async def _ensure_indexes_forever(self) -> None:
        async for _ in Backoff(0.5, 10.0):
            try:
                await self.ensure_indexes()
                return
            except PyMongoError as exc:
                log.warning("dedupe indexes not ensured yet; retrying", extra={"error": str(exc)})

    async def start(self) -> None:
        """Ensure indexes in the background (the database may be down) and start confirming claims."""
        self._indexes = asyncio.create_task(self._ensure_indexes_forever(), name="dedupe-indexes")
        self._confirmer = asyncio.create_task(self._confirm_forever(), name="dedupe-confirm")

    async def stop(self) -> None:
        """Write the remaining confirmations and stop the background tasks."""
        for task in (self._indexes, self._confirmer):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        with contextlib.suppress(PyMongoError):
            await self._write_confirmations()
        if self._flusher is not None:
            with contextlib.suppress(Exception):
                await self._flusher

    async def claim(self, keys: Sequence[str], now: datetime) -> Claim:
        """Claim distinct event identities; return the ones this caller won and must publish.

        Raises :class:`pymongo.errors.PyMongoError` when the database cannot be reached.
        """
        token = uuid.uuid4().hex
        if not keys:
            return Claim(token, ())
        request = _Request(token, list(keys), now, asyncio.get_running_loop().create_future())
        self._queue.append(request)
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_forever(), name="dedupe-claims")
        return Claim(token, tuple(await request.future))

    async def _flush_forever(self) -> None:
        while self._queue:
            batch, self._queue = self._queue, []
            try:
                won = await self._insert_claims(batch)
            except Exception as exc:  # handed to every waiting caller, whatever it is
                for request in batch:
                    if not request.future.done():
                        request.future.set_exception(exc)
                continue
            for request, keys in zip(batch, won, strict=True):
                if not request.future.done():
                    request.future.set_result(keys)

    async def _insert_claims(self, batch: list[_Request]) -> list[list[str]]:
        started = time.perf_counter()
        failed: set[int] = set()
        try:
            await self.claims.insert_many([request.document() for request in batch], ordered=False)
        except BulkWriteError as exc:
            errors: list[dict[str, Any]] = exc.details.get("writeErrors", [])
            if any(error.get("code") != _DUPLICATE_KEY for error in errors):
                raise
            failed = {int(error["index"]) for error in errors}
        finally:
            STORE_LATENCY.labels(SERVICE, "claim").observe(time.perf_counter() - started)
        won = [request.keys for request in batch]
        for index in sorted(failed):
            won[index] = await self._claim_contended(batch[index])
        return won

    async def _claim_contended(self, request: _Request) -> list[str]:
        """Claim what is free of a request whose keys collided: drop duplicates, take over stale claims."""
        remaining = list(request.keys)
        for _ in range(_MAX_ATTEMPTS):
            taken = await self._sort_out_conflicts(remaining, request.now)
            remaining = [key for key in remaining if key not in taken]
            if not remaining:
                return []
            try:
                await self.claims.insert_one(request.document(remaining))
            except DuplicateKeyError:
                continue  # a concurrent writer claimed one of them meanwhile: sort out again
            return remaining
        raise ClaimContention("claims kept colliding with concurrent writers")

    async def _sort_out_conflicts(self, keys: list[str], now: datetime) -> set[str]:
        """Return the keys held by live claims (duplicates); free those held by expired or abandoned ones."""
        holders = await self.claims.find({"keys": {"$in": keys}}).to_list()
        if not holders:
            return set()
        tokens = [holder["_id"] for holder in holders]
        published = {doc["_id"] async for doc in self.published.find({"_id": {"$in": tokens}}, {"_id": 1})}
        wanted = set(keys)
        live: set[str] = set()
        for holder in holders:
            held = [key for key in holder["keys"] if key in wanted]
            age = now - holder["claimed_at"]
            expired = age >= self.window
            abandoned = holder["_id"] not in published and age >= self.claim_timeout
            if expired or abandoned:
                # Free the keys only if the holder is still the claim we judged (not renewed meanwhile).
                await self.claims.update_one(
                    {"_id": holder["_id"], "claimed_at": holder["claimed_at"]}, {"$pull": {"keys": {"$in": held}}}
                )
            else:
                live.update(held)
        return live

    async def release(self, claim: Claim) -> None:
        """Give claims back after a failed publish, so that a retry is accepted, not called a duplicate."""
        if claim.keys:
            await self.claims.delete_one({"_id": claim.token})

    async def confirm(self, claim: Claim, now: datetime) -> None:
        """Mark a claim as published now (when the caller is about to commit on it, as the consumer is)."""
        if claim.keys:
            with contextlib.suppress(DuplicateKeyError):
                await self.published.insert_one({"_id": claim.token, "published_at": now})

    def confirm_later(self, claim: Claim, now: datetime) -> None:
        """Mark a claim as published, in the background (a crash before that only leaves it retakeable)."""
        if claim.keys:
            self._confirm.append({"_id": claim.token, "published_at": now})
            self._confirm_wake.set()

    async def _write_confirmations(self) -> None:
        documents, self._confirm = self._confirm, []
        if not documents:
            return
        try:
            await self.published.insert_many(documents, ordered=False)
        except BulkWriteError as exc:
            errors: list[dict[str, Any]] = exc.details.get("writeErrors", [])
            if any(error.get("code") != _DUPLICATE_KEY for error in errors):
                self._confirm[:0] = documents
                raise
        except PyMongoError:
            self._confirm[:0] = documents
            raise

    async def _confirm_forever(self) -> None:
        while True:
            await self._confirm_wake.wait()
            # Let confirmations of concurrent requests gather: one insert for all of them.
            await asyncio.sleep(_CONFIRM_GATHER_SECONDS)
            self._confirm_wake.clear()
            try:
                await self._write_confirmations()
            except PyMongoError as exc:
                log.warning("dedupe confirmations not written yet; retrying", extra={"error": str(exc)})
                await asyncio.sleep(1.0)
                self._confirm_wake.set()
