"""A batch applied in one transaction: its effects, its partitions' progress, its erasures and its outbox.

Duplicates at other offsets than the fence's (a producer's retries, a replay into a new incarnation):
each member-in-community document keeps the identities of the events it applied, by day, and an
event already carried is skipped. Both this check and the fence read inside the transaction that
writes, so a crash at any point neither loses an event nor counts one twice.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pymongo import UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.mongo_client import AsyncMongoClient
from pymongo.errors import ConnectionFailure, OperationFailure

from kith_scoring import SERVICE
from kith_scoring.domain.decay import day_key
from kith_scoring.domain.documents import COMMUNITIES, FIGURE_COLLECTIONS, MEMBER_COMMUNITIES, MemberCommunityDoc
from kith_scoring.domain.effects import (
    BatchEffects,
    EffectContext,
    actor_key,
    already_applied,
    build_effects,
    referenced_members,
)
from kith_scoring.domain.engagement import batch_change, erased_change
from kith_scoring.domain.identity import identity_hash, moment
from kith_scoring.store.collections import BulkWrites, Collections
from kith_scoring.store.erasure import Eraser
from kith_scoring.store.outbox import Outbox
from kith_scoring.store.progress import InRecord, PartitionClaims, PartitionProgress
from kith_scoring.store.slipping import SlippingFlags
from kith_scoring.store.tenants import TenantConfigs
from kith_shared.events import Event
from kith_shared.events.types import EngagementChangedEvent
from kith_shared.observability import STORE_LATENCY

#: A write conflict (code 112) or a transient transaction error is retried after this pause, doubled each time.
_CONFLICT_PAUSE = 0.05
_CONFLICT_PAUSE_MAX = 1.0


class StoreUnavailable(RuntimeError):
    """The database could not be reached; the chunk was not applied (try again later)."""


@dataclass
class Outcome:
    """What a batch did."""

    applied: int = 0
    skipped_fenced: int = 0
    """Records at or below their partition's fence: applied by an earlier transaction."""
    skipped_duplicates: int = 0
    """Events seen before: twice in the batch, or already carried by their member-in-community document."""
    new_incarnations: list[tuple[str, int]] = field(default_factory=list)
    """Partitions whose offsets started again (a new incarnation of the topic): their fence was reset."""
    engagement: list[EngagementChangedEvent] = field(default_factory=list)
    outbox_id: str | None = None
    """The outbox entry holding ``engagement``, written in the same transaction (None: nothing to announce)."""


def distinct_events(events: list[Event]) -> list[Event]:
    """Return a batch's events with the same (source, id) kept once (the first)."""
    distinct: dict[tuple[str, str], Event] = {}
    for event in events:
        distinct.setdefault((event.tenant, identity_hash(event.source, event.id)), event)
    return list(distinct.values())


@dataclass(kw_only=True)
class BatchApplier:
    """Applies batches of consumed records, each in one multi-document transaction."""

    client: AsyncMongoClient[Any]
    collections: Collections
    writes: BulkWrites
    claims: PartitionClaims
    progress: PartitionProgress
    tenants: TenantConfigs
    flags: SlippingFlags
    eraser: Eraser
    outbox: Outbox
    salt: str
    recent_events: int

    async def apply(
        self, records: list[InRecord], same_incarnation: Mapping[tuple[str, int], bool] | None = None
    ) -> Outcome:
        """Apply a chunk in one transaction, with each partition's progress; retry on write conflicts.

        Runs in the consumer's session when it claimed partitions (see :class:`PartitionClaims`),
        in a session of its own otherwise (a rebuild). Raises :class:`StoreUnavailable` when the
        database cannot be reached, :class:`~kith_scoring.store.progress.FenceInDoubt` when a
        partition is re-read below its fence with no verdict in ``same_incarnation``, and any other
        error as it comes (the chunk was not applied).
        """
        pause = _CONFLICT_PAUSE
        while True:
            try:
                started = time.perf_counter()
                session = self.claims.session
                if session is not None:
                    async with await session.start_transaction():
                        outcome = await self._apply(records, session, same_incarnation)
                else:
                    async with self.client.start_session() as own, await own.start_transaction():
                        outcome = await self._apply(records, own, same_incarnation)
                STORE_LATENCY.labels(SERVICE, "apply_batch").observe(time.perf_counter() - started)
                self.writes.stats.transactions += 1
                return outcome
            except OperationFailure as exc:
                if exc.has_error_label("TransientTransactionError") or exc.code == 112:
                    await asyncio.sleep(pause)
                    pause = min(pause * 2, _CONFLICT_PAUSE_MAX)
                    continue
                raise
            except ConnectionFailure as exc:
                raise StoreUnavailable(f"database unreachable: {type(exc).__name__}") from exc

    async def _apply(
        self,
        records: list[InRecord],
        session: AsyncClientSession,
        same_incarnation: Mapping[tuple[str, int], bool] | None,
    ) -> Outcome:
        admitted = await self.progress.admit(records, session, same_incarnation)
        outcome = Outcome(skipped_fenced=admitted.skipped, new_incarnations=admitted.new_incarnations)
        events = distinct_events(admitted.events)
        outcome.skipped_duplicates += len(admitted.events) - len(events)

        context = await self._context(events, session)
        before = await self._before(events, context, session)
        fresh = [e for e in events if not already_applied(before.get(actor_key(e, context) or ""), e)]
        outcome.skipped_duplicates += len(events) - len(fresh)

        effects = build_effects(fresh, context)
        effects.drop_known_roll_ups(before)
        effects.drop_stale_marks(await self._marks(effects, session))
        await self._write(effects, session)
        await self.progress.advance(admitted, session)
        outcome.applied = effects.applied
        outcome.engagement = await self._announce(effects, before, context, session)
        for erasure in effects.erasures:  # in the batch's order: an erasure, then a reinstatement, or the reverse
            if erasure.reinstate:
                await self.eraser.reinstate(erasure, session)
                continue
            communities = await self.eraser.erase(erasure, session)
            outcome.engagement.extend(erased_change(erasure.tenant, c, erasure.member, erasure.at) for c in communities)
        if outcome.engagement:
            outcome.outbox_id = await self.outbox.add(outcome.engagement, session)
        return outcome

    async def _context(self, events: list[Event], session: AsyncClientSession) -> EffectContext:
        tenants = {e.tenant for e in events}
        configs = await self.tenants.configs(tenants, session) if tenants else {}
        erased = await self.eraser.tombstones({(e.tenant, m) for e in events for m in referenced_members(e)}, session)
        return EffectContext(configs=configs, erased=erased, recent_cap=self.recent_events, salt=self.salt)

    async def _before(
        self, events: list[Event], context: EffectContext, session: AsyncClientSession
    ) -> dict[str, MemberCommunityDoc]:
        """Return the stored documents of the batch's actors: what the duplicate check and the announcements need."""
        actor_ids = sorted({key for e in events if (key := actor_key(e, context)) is not None})
        days = sorted({day_key(moment(e.time)) for e in events})
        projection = dict.fromkeys(("f", "lt", "last", "left_last", *(f"s.{d}" for d in days)), 1)
        cursor = self.collections.member_communities.find({"_id": {"$in": actor_ids}}, projection, session=session)
        return {d["_id"]: d async for d in cursor}

    async def _marks(self, effects: BatchEffects, session: AsyncClientSession) -> dict[str, datetime | None]:
        """Return the stored ``last_event`` of each community the batch updates."""
        places = sorted(effects.updates[COMMUNITIES])
        if not places:
            return {}
        cursor = self.collections.communities.find({"_id": {"$in": places}}, {"last_event": 1}, session=session)
        return {d["_id"]: d.get("last_event") async for d in cursor}

    async def _write(self, effects: BatchEffects, session: AsyncClientSession) -> None:
        for name in FIGURE_COLLECTIONS:
            docs = effects.updates[name]
            ops = [UpdateOne({"_id": doc_id}, update.to_mongo(), upsert=True) for doc_id, update in docs.items()]
            if ops:
                await self.writes.bulk(self.collections.db[name], ops, session)

    async def _announce(
        self,
        effects: BatchEffects,
        before: dict[str, MemberCommunityDoc],
        context: EffectContext,
        session: AsyncClientSession,
    ) -> list[EngagementChangedEvent]:
        """Return the engagement changes of the members the batch updated; clear the flags of those back."""
        updates = effects.updates[MEMBER_COMMUNITIES]
        keys = [key for key in sorted(effects.touched) if key in updates]
        if not keys:
            return []
        flagged = await self.flags.flagged(keys, session)
        now = datetime.now(UTC)
        changes: list[EngagementChangedEvent] = []
        for key in keys:
            tenant, community, member = effects.touched[key]
            change = batch_change(
                tenant,
                community,
                member,
                before.get(key),
                updates[key],
                context.config(tenant),
                was_slipping=key in flagged,
                now=now,
            )
            if change is not None:
                changes.append(change)
        await self.flags.clear([key for key in keys if key in flagged], session)
        return changes
