"""Erased members at ingest's door: their tombstones in ingest's database, and the refusal of their events.

A ``member.erased`` event writes the member's tombstone (a keyed one-way hash, :mod:`kith_shared.erasure`)
before it is published; from then on an event whose acting member (``data.member_id``) was erased is
refused at either door, with a field error on ``data.member_id``. Events that only name an erased member
as whom they follow or reply to are let through: scoring keeps them under the stand-in id and
recommend drops the tie. ``POST /v1/admin/members/{member_id}/reinstate`` removes the tombstone and
publishes ``member.reinstated``, which removes it in every service.

Every replica keeps the tombstones in memory, read again from the database every
``erasure_refresh_seconds``: an erasure taken by another replica is refused here within that time
(and whatever slips through is dropped or re-keyed by the services downstream).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Final

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError

from kith_shared.erasure import Tombstones
from kith_shared.events import DeadLetter, Event, Problem
from kith_shared.mongo import Document
from kith_shared.tombstone_store import TombstoneStore

log = logging.getLogger(__name__)

#: Types that may name an erased member as their actor: the erasure itself (again) and the reinstatement.
_ALWAYS_ADMITTED: Final = frozenset({"member.erased", "member.reinstated"})


class ErasedMembers:
    """Ingest's tombstones: stored in its database, held in memory, refreshed now and then."""

    def __init__(self, db: AsyncDatabase[Document], secret: str, refresh_seconds: float = 5.0) -> None:
        self.store = TombstoneStore(db)
        self.tombstones = Tombstones(secret)
        self.refresh_seconds = refresh_seconds
        self.loaded = False
        self._changed: dict[str, bool] = {}
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start refreshing the tombstones from the database (the first read happens at once)."""
        self._task = asyncio.create_task(self._refresh_forever(), name="ingest-tombstones")

    async def stop(self) -> None:
        """Stop refreshing."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def refresh(self) -> None:
        """Read every tombstone again (changes made here meanwhile are kept)."""
        self._changed = {}
        stored = set(await self.store.load())
        stored |= {key for key, erased in self._changed.items() if erased}
        stored -= {key for key, erased in self._changed.items() if not erased}
        self.tombstones.replace(stored)
        self.loaded = True

    async def ready(self) -> None:
        """Read the tombstones when they were never read (raises :class:`PyMongoError` when unreachable)."""
        if not self.loaded:
            await self.refresh()

    async def _refresh_forever(self) -> None:
        while True:
            try:
                await self.refresh()
            except PyMongoError as exc:
                log.warning("tombstones not refreshed; database unreachable", extra={"error": repr(exc)})
            await asyncio.sleep(self.refresh_seconds)

    def refusal(self, event: Event) -> Problem | None:
        """Return why an event is refused because its acting member was erased, or None."""
        member = event.member_id
        if event.type in _ALWAYS_ADMITTED or member is None or not self.tombstones.erased(event.tenant, member):
            return None
        return Problem(
            "data.member_id",
            "this member was erased (right to erasure): events about them are refused; the platform may "
            "register the id again with POST /v1/admin/members/{member_id}/reinstate",
        )

    async def erase(self, members: list[tuple[str, str]]) -> None:
        """Write the tombstones of erased members, then hold them."""
        await self._write([(self.tombstones.key(tenant, member), True) for tenant, member in members])

    async def reinstate(self, tenant: str, member: str) -> None:
        """Remove a member's tombstone here (``member.reinstated`` removes it in the other services)."""
        await self._write([(self.tombstones.key(tenant, member), False)])

    async def _write(self, writes: list[tuple[str, bool]]) -> None:
        if not writes:
            return
        await self.store.write(writes)
        known = set(self.tombstones)
        for key, erased in writes:
            self._changed[key] = erased
            if erased:
                known.add(key)
            else:
                known.discard(key)
        self.tombstones.replace(known)

    def redacted(self, letter: DeadLetter) -> DeadLetter:
        """Return a dead letter redacted when the event it holds names an erased member."""
        if letter.redacted or not self.tombstones:
            return letter
        tenant, members = letter.named_members()
        if self.tombstones.any_erased(tenant, members):
            return letter.redact("the event names an erased member")
        return letter
