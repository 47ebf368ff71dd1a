"""Deduplication claims in MongoDB: the same (tenant, source, id) is published once per window.

Each event is *claimed* by inserting a document with a unique ``_id`` before it is published. The
insert that wins publishes; every other copy (another request, another replica, a redelivered
record) is a duplicate. A claim starts ``pending``; it is released (deleted) when the publish
fails, so a retry is not wrongly called a duplicate, and confirmed (``done``) once the broker has
acknowledged. A pending claim older than the claim timeout belongs to a publisher that died
mid-way and may be retaken. A TTL index forgets claims after the dedupe window.

Claims from concurrent requests are written together (group commit): while one bulk insert is in
flight, the next requests queue up and share the following one, so the database sees one round
trip per burst instead of one per event.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from pymongo import UpdateMany
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError, OperationFailure, PyMongoError

from kith_shared.mongo import Document
from kith_shared.observability import STORE_LATENCY

log = logging.getLogger(__name__)

COLLECTION: Final = "dedupe_claims"
_TTL_INDEX: Final = "claimed_at_ttl"
_DUPLICATE_KEY: Final = 11000
_PENDING: Final = "pending"
_DONE: Final = "done"


def claim_key(tenant: str, source: str, event_id: str) -> str:
    """Return the unambiguous claim key of an event identity."""
    return json.dumps([tenant, source, event_id], separators=(",", ":"))


@dataclass(frozen=True, slots=True)
class Claim:
    """Keys this caller won (and must publish, then confirm or release), under one token."""

    token: str
    keys: tuple[str, ...]


@dataclass(slots=True)
class _Request:
    keys: list[str]
    token: str
    now: datetime
    future: asyncio.Future[set[str]]


class DedupeStore:
    """Claims on event identities, shared by every replica through MongoDB."""

    def __init__(self, db: AsyncDatabase[Document], *, window: timedelta, claim_timeout: timedelta) -> None:
        self.collection: AsyncCollection[Document] = db[COLLECTION]
        self.window = window
        self.claim_timeout = claim_timeout
        self._queue: list[_Request] = []
        self._flusher: asyncio.Task[None] | None = None
        self._confirm: list[Claim] = []
        self._confirm_wake = asyncio.Event()
        self._confirmer: asyncio.Task[None] | None = None
        self._indexes: asyncio.Task[None] | None = None
        self.indexes_ready = False

    async def ensure_indexes(self) -> None:
        """Create the TTL index that forgets claims after the window (updating its expiry if it changed)."""
        seconds = int(self.window.total_seconds())
        try:
            await self.collection.create_index("claimed_at", name=_TTL_INDEX, expireAfterSeconds=seconds)
        except OperationFailure:
            await self.collection.database.command(
                {"collMod": COLLECTION, "index": {"name": _TTL_INDEX, "expireAfterSeconds": seconds}}
            )
        self.indexes_ready = True

    async def _ensure_indexes_forever(self) -> None:
        delay = 0.5
        while not self.indexes_ready:
            try:
                await self.ensure_indexes()
            except PyMongoError as exc:
                log.warning("dedupe indexes not ensured yet; retrying", extra={"error": str(exc)})
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)

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
        """Claim event identities (unique keys); return the ones this caller won and must publish.

        Raises :class:`pymongo.errors.PyMongoError` when the database cannot be reached.
        """
        if not keys:
            return Claim(uuid.uuid4().hex, ())
        request = _Request(list(keys), uuid.uuid4().hex, now, asyncio.get_running_loop().create_future())
        self._queue.append(request)
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_forever(), name="dedupe-claims")
        won = await request.future
        return Claim(request.token, tuple(key for key in keys if key in won))

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

    async def _insert_claims(self, batch: list[_Request]) -> list[set[str]]:
        documents: list[Document] = []
        owner: list[int] = []
        for index, request in enumerate(batch):
            for key in request.keys:
                documents.append({"_id": key, "state": _PENDING, "token": request.token, "claimed_at": request.now})
                owner.append(index)
        lost: set[int] = set()
        started = time.perf_counter()
        try:
            await self.collection.insert_many(documents, ordered=False)
        except BulkWriteError as exc:
            errors: list[dict[str, Any]] = exc.details.get("writeErrors", [])
            others = [error for error in errors if error.get("code") != _DUPLICATE_KEY]
            if others:
                raise
            lost = {int(error["index"]) for error in errors}
        finally:
            STORE_LATENCY.labels("ingest", "claim").observe(time.perf_counter() - started)
        won: list[set[str]] = [set() for _ in batch]
        retake: list[int] = []
        for position, document in enumerate(documents):
            if position in lost:
                retake.append(position)
            else:
                won[owner[position]].add(document["_id"])
        if retake:
            for position in await self._retake([documents[p] for p in retake]):
                won[owner[retake[position]]].add(documents[retake[position]]["_id"])
        return won

    async def _retake(self, documents: list[Document]) -> list[int]:
        """Take over claims that expired (past the window) or were abandoned (pending past the timeout)."""
        keys = [document["_id"] for document in documents]
        existing = {doc["_id"]: doc async for doc in self.collection.find({"_id": {"$in": keys}})}
        taken: list[int] = []
        seen: set[str] = set()
        for position, document in enumerate(documents):
            key = document["_id"]
            if key in seen:
                continue  # the same identity twice in one bulk: the first copy decides
            seen.add(key)
            current = existing.get(key)
            if current is None:
                with contextlib.suppress(DuplicateKeyError):
                    await self.collection.insert_one(document)
                    taken.append(position)
                continue
            claimed_at: datetime = current["claimed_at"]
            now: datetime = document["claimed_at"]
            expired = now - claimed_at >= self.window
            abandoned = current.get("state") == _PENDING and now - claimed_at >= self.claim_timeout
            if not (expired or abandoned):
                continue
            result = await self.collection.update_one(
                {"_id": key, "token": current.get("token"), "claimed_at": claimed_at},
                {"$set": {"state": _PENDING, "token": document["token"], "claimed_at": now}},
            )
            if result.modified_count == 1:
                taken.append(position)
        return taken

    async def release(self, claim: Claim) -> None:
        """Give claims back after a failed publish, so that a retry is accepted, not called a duplicate."""
        if claim.keys:
            await self.collection.delete_many({"_id": {"$in": list(claim.keys)}, "token": claim.token})

    def confirm_later(self, claim: Claim) -> None:
        """Mark claims as published, in the background (a crash before that only leaves them retakeable)."""
        if claim.keys:
            self._confirm.append(claim)
            self._confirm_wake.set()

    async def confirm(self, claim: Claim) -> None:
        """Mark claims as published now."""
        if claim.keys:
            await self.collection.update_many(
                {"_id": {"$in": list(claim.keys)}, "token": claim.token}, {"$set": {"state": _DONE}}
            )

    async def _write_confirmations(self) -> None:
        claims, self._confirm = self._confirm, []
        if not claims:
            return
        operations = [
            UpdateMany({"_id": {"$in": list(claim.keys)}, "token": claim.token}, {"$set": {"state": _DONE}})
            for claim in claims
        ]
        try:
            await self.collection.bulk_write(operations, ordered=False)
        except PyMongoError:
            self._confirm[:0] = claims
            raise

    async def _confirm_forever(self) -> None:
        while True:
            await self._confirm_wake.wait()
            self._confirm_wake.clear()
            try:
                await self._write_confirmations()
            except PyMongoError as exc:
                log.warning("dedupe confirmations not written yet; retrying", extra={"error": str(exc)})
                await asyncio.sleep(1.0)
                self._confirm_wake.set()
