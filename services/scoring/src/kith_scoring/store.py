"""Scoring's collections: batches applied in one transaction with their partition progress, and reads.

Every document carries its ``tenant`` and every read filters by it. A batch is applied in one
multi-document transaction that also stores, per partition, the last applied offset and the
identity of the record found there; see :meth:`ScoringStore.apply` for how replays, duplicates and
a new incarnation of the topic (an embedded broker that forgot its topics) are handled.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from pymongo import ASCENDING, DeleteOne, UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.asynchronous.mongo_client import AsyncMongoClient
from pymongo.errors import ConnectionFailure, OperationFailure, PyMongoError

from kith_scoring.domain.config import ScoringConfig, TenantConfig
from kith_scoring.domain.decay import day_key, level, score
from kith_scoring.domain.docops import DocUpdate, apply_update, update_from_document
from kith_scoring.domain.effects import (
    COMMUNITIES,
    FIGURE_COLLECTIONS,
    MEMBER_COMMUNITY,
    MEMBERS,
    ROLES,
    TOPICS,
    BatchEffects,
    EffectContext,
    Erasure,
    actor_key,
    already_applied,
    anonymous_token,
    build_effects,
    identity_hash,
    is_stand_in,
    member_id,
    moment,
    referenced_members,
)
from kith_shared.events import Event
from kith_shared.events.data import EngagementChanged
from kith_shared.events.types import EngagementChangedEvent
from kith_shared.observability import STORE_LATENCY

log = logging.getLogger(__name__)
Document = dict[str, Any]

SETTINGS: Final = "settings"
ERASED: Final = "erased_members"
PROGRESS: Final = "partition_progress"
STATES: Final = "member_states"
OUTBOX: Final = "outbox"
CLAIMS: Final = "partition_claims"
SERVICE: Final = "scoring"
ENGAGEMENT_SOURCE: Final = "kith://scoring"


class StoreUnavailable(RuntimeError):
    """The database could not be reached; the batch was not applied."""


@dataclass(frozen=True, slots=True)
class InRecord:
    """A consumed record: where it came from and the event it carries (None when it was dead-lettered)."""

    topic: str
    partition: int
    offset: int
    marker: str
    event: Event | None


@dataclass
class WriteStats:
    """How much a store wrote: bulk write calls and documents, for the benchmark."""

    bulk_writes: int = 0
    documents: int = 0
    transactions: int = 0


@dataclass
class Outcome:
    """What a batch did."""

    applied: int = 0
    skipped_fenced: int = 0
    skipped_duplicates: int = 0
    new_incarnations: list[tuple[str, int]] = field(default_factory=list)
    engagement: list[EngagementChangedEvent] = field(default_factory=list)
    outbox_id: str | None = None


class ScoringStore:
    """Reads and writes of the scoring database."""

    def __init__(
        self,
        client: AsyncMongoClient[Document],
        db: AsyncDatabase[Document],
        *,
        erasure_salt: str,
        recent_events: int = 20,
    ) -> None:
        self.client = client
        self.db = db
        self.salt = erasure_salt
        self.recent_events = recent_events
        self.stats = WriteStats()
        self._session: AsyncClientSession | None = None

    async def ensure_indexes(self) -> None:
        """Create the indexes the reads rely on."""
        mc = self.db[MEMBER_COMMUNITY]
        await mc.create_index([("tenant", ASCENDING), ("community_id", ASCENDING), ("member_id", ASCENDING)])
        await mc.create_index([("tenant", ASCENDING), ("member_id", ASCENDING)])
        await self.db[TOPICS].create_index([("tenant", ASCENDING), ("community_id", ASCENDING), ("day", ASCENDING)])
        await self.db[ROLES].create_index([("tenant", ASCENDING), ("member_id", ASCENDING)])
        await self.db[STATES].create_index([("tenant", ASCENDING), ("member_id", ASCENDING)])

    # --- configuration -------------------------------------------------------------------------

    async def tenant_configs(
        self, tenants: set[str], session: AsyncClientSession | None = None
    ) -> dict[str, TenantConfig]:
        """Return the configuration history of each tenant (defaults when none is stored)."""
        found = {
            doc["_id"]: TenantConfig.model_validate({"versions": doc["versions"]})
            async for doc in self.db[SETTINGS].find({"_id": {"$in": sorted(tenants)}}, session=session)
        }
        return {tenant: found.get(tenant) or TenantConfig() for tenant in tenants}

    async def tenant_config(self, tenant: str) -> TenantConfig:
        """Return one tenant's configuration history."""
        return (await self.tenant_configs({tenant}))[tenant]

    async def update_config(self, tenant: str, config: ScoringConfig, changed_by: str | None) -> TenantConfig:
        """Record a new configuration that applies to events received from now on."""
        for _ in range(5):
            current = await self.tenant_config(tenant)
            updated = current.with_update(config, datetime.now(UTC), changed_by)
            result = await self.db[SETTINGS].update_one(
                {"_id": tenant, "count": len(current.versions)} if len(current.versions) > 1 else {"_id": tenant},
                {
                    "$set": {
                        "tenant": tenant,
                        "count": len(updated.versions),
                        "versions": [v.model_dump(mode="python") for v in updated.versions],
                    }
                },
                upsert=len(current.versions) == 1,
            )
            if result.matched_count or result.upserted_id is not None:
                return updated
        raise RuntimeError("configuration changed concurrently; retry")

    # --- partition ownership ------------------------------------------------------------------

    async def claim_partitions(self, partitions: list[tuple[str, int]]) -> int:
        """Take over partitions: end the session of their previous owner; return how many were ended.

        A consumer killed in the middle of a transaction leaves it open on the server, holding its
        writes, until the server reaps it (60 s on MongoDB and SecantusDB); the next owner's batches
        would meet write conflicts until then. Each consumer applies its batches in one session whose
        id it records per partition, so the next owner can end the dead owner's session at once
        (``killSessions``), which aborts its transaction. Ending a live consumer's session is harmless:
        its transaction aborts and is retried.
        """
        if self._session is None:
            self._session = self.client.start_session()
        mine = self._session.session_id
        ids = [f"{topic}|{partition}" for topic, partition in partitions]
        previous = [doc["lsid"] async for doc in self.db[CLAIMS].find({"_id": {"$in": ids}}) if doc["lsid"] != mine]
        distinct = list({bytes(lsid["id"]): lsid for lsid in previous}.values())
        if distinct:
            await self.client.admin.command("killSessions", distinct)
        if ids:
            await self.db[CLAIMS].bulk_write(
                [UpdateOne({"_id": i}, {"$set": {"lsid": mine}}, upsert=True) for i in ids], ordered=False
            )
        return len(distinct)

    async def close(self) -> None:
        """End the consumer's session."""
        if self._session is not None:
            session, self._session = self._session, None
            with contextlib.suppress(PyMongoError):
                await session.end_session()

    # --- applying batches ----------------------------------------------------------------------

    async def apply(self, records: list[InRecord]) -> Outcome:
        """Apply a batch in one transaction, with each partition's progress; retry on write conflicts.

        Replays: a partition's progress holds the last applied offset and the identity of the
        record at that offset. When the batch contains that offset with the same identity, the
        topic is the same incarnation and records at or below it are skipped. When the identity
        differs, the topic is a new incarnation (offsets started again at 0): the fence is reset
        and nothing is skipped by offset. Either way the read position is never moved by the fence,
        so a new incarnation can never make the consumer skip new events.

        Duplicates at other offsets (a producer's retries, a replay into a new incarnation): each
        member-in-community document keeps the identities of the events it applied, by day, and an
        event already carried is skipped. Both checks read inside the transaction that writes.
        """
        delay = 0.05
        while True:
            try:
                started = time.perf_counter()
                if self._session is not None:
                    async with await self._session.start_transaction():
                        outcome = await self._apply(records, self._session)
                else:
                    async with self.client.start_session() as session, await session.start_transaction():
                        outcome = await self._apply(records, session)
                STORE_LATENCY.labels(SERVICE, "apply_batch").observe(time.perf_counter() - started)
                self.stats.transactions += 1
                return outcome
            except OperationFailure as exc:
                if exc.has_error_label("TransientTransactionError") or exc.code == 112:
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 1.0)
                    continue
                raise
            except ConnectionFailure as exc:
                raise StoreUnavailable(f"database unreachable: {type(exc).__name__}") from exc
            except PyMongoError as exc:
                if isinstance(exc, OperationFailure):
                    raise
                raise StoreUnavailable(f"database error: {type(exc).__name__}: {exc}") from exc

    async def _apply(self, records: list[InRecord], session: AsyncClientSession) -> Outcome:
        outcome = Outcome()
        by_partition: dict[tuple[str, int], list[InRecord]] = {}
        for record in records:
            by_partition.setdefault((record.topic, record.partition), []).append(record)
        progress_ids = [f"{t}|{p}" for t, p in by_partition]
        fences = {
            doc["_id"]: doc async for doc in self.db[PROGRESS].find({"_id": {"$in": progress_ids}}, session=session)
        }

        candidates: list[Event] = []
        progress_ops: list[UpdateOne] = []
        for (topic, partition), slice_ in by_partition.items():
            slice_.sort(key=lambda r: r.offset)
            fence = fences.get(f"{topic}|{partition}")
            keep = slice_
            reset = False
            if fence is not None:
                at_fence = next((r for r in slice_ if r.offset == fence["offset"]), None)
                if at_fence is not None and at_fence.marker == fence["marker"]:
                    keep = [r for r in slice_ if r.offset > fence["offset"]]
                    outcome.skipped_fenced += len(slice_) - len(keep)
                elif at_fence is not None or slice_[-1].offset < fence["offset"]:
                    reset = True
                    outcome.new_incarnations.append((topic, partition))
                    log.warning(
                        "new incarnation of a topic partition: offsets started again; fence reset",
                        extra={"topic": topic, "partition": partition, "fence": fence["offset"]},
                    )
            candidates.extend(r.event for r in keep if r.event is not None)
            last = slice_[-1]
            if fence is None or reset or last.offset > fence["offset"]:
                update: Document = {
                    "$set": {"topic": topic, "partition": partition, "offset": last.offset, "marker": last.marker}
                }
                if reset:
                    update["$inc"] = {"incarnation": 1}
                progress_ops.append(UpdateOne({"_id": f"{topic}|{partition}"}, update, upsert=True))

        # Distinct events of this batch (the same (source, id) twice in one batch counts once).
        distinct: dict[tuple[str, str], Event] = {}
        for event in candidates:
            distinct.setdefault((event.tenant, identity_hash(event.source, event.id)), event)
        events = list(distinct.values())
        outcome.skipped_duplicates += len(candidates) - len(events)

        context = await self._context(events, session)
        actor_ids = sorted({key for e in events if (key := actor_key(e, context)) is not None})
        days = sorted({day_key(moment(e.time)) for e in events})
        projection = dict.fromkeys(("f", "lt", "last", "left_last", *(f"s.{d}" for d in days)), 1)
        cursor = self.db[MEMBER_COMMUNITY].find({"_id": {"$in": actor_ids}}, projection, session=session)
        before = {d["_id"]: d async for d in cursor}
        fresh = [e for e in events if not already_applied(before.get(actor_key(e, context) or ""), e)]
        outcome.skipped_duplicates += len(events) - len(fresh)

        effects = build_effects(fresh, context)
        await self._drop_needless(effects, before, session)
        await self._write(effects, session)
        if progress_ops:
            await self._bulk(PROGRESS, progress_ops, session)
        outcome.applied = effects.applied
        outcome.engagement = await self._engagement(effects, before, context, session)
        for erasure in effects.erasures:
            outcome.engagement.extend(await self._erase(erasure, session))
        if outcome.engagement:
            outbox_id = f"{time.time_ns()}-{id(outcome)}"
            await self.db[OUTBOX].insert_one(
                {"_id": outbox_id, "events": [e.model_dump(mode="json") for e in outcome.engagement]}, session=session
            )
            self.stats.documents += 1
            outcome.outbox_id = outbox_id
        return outcome

    async def _context(self, events: list[Event], session: AsyncClientSession | None) -> EffectContext:
        tenants = {e.tenant for e in events}
        configs = await self.tenant_configs(tenants, session) if tenants else {}
        names = sorted({f"{e.tenant}|{m}" for e in events for m in referenced_members(e)})
        erased: dict[tuple[str, str], str] = {}
        if names:
            async for doc in self.db[ERASED].find({"_id": {"$in": names}}, session=session):
                erased[(doc["tenant"], doc["member_id"])] = doc["token"]
        return EffectContext(configs=configs, erased=erased, recent_cap=self.recent_events, salt=self.salt)

    async def _bulk(self, collection: str, ops: list[Any], session: AsyncClientSession | None) -> None:
        started = time.perf_counter()
        await self.db[collection].bulk_write(ops, ordered=False, session=session)
        STORE_LATENCY.labels(SERVICE, f"bulk_write:{collection}").observe(time.perf_counter() - started)
        self.stats.bulk_writes += 1
        self.stats.documents += len(ops)

    async def _drop_needless(
        self, effects: BatchEffects, before: Mapping[str, Document], session: AsyncClientSession
    ) -> None:
        """Leave out writes that would change nothing: roll-ups of known pairs, community marks already there."""
        members = effects.updates[MEMBERS]
        # A document made only by replies received is not the member's own presence in the community yet.
        known = {key for key, doc in before.items() if "last" in doc or "left_last" in doc}
        new_pairs = {f"{t}|{m}" for key, (t, _, m) in effects.touched.items() if key not in known}
        for doc_id in [i for i in members if i not in new_pairs]:
            del members[doc_id]
        places = effects.updates[COMMUNITIES]
        if not places:
            return
        cursor = self.db[COMMUNITIES].find({"_id": {"$in": sorted(places)}}, {"last_event": 1}, session=session)
        stored = {d["_id"]: d.get("last_event") async for d in cursor}
        for doc_id, update in list(places.items()):
            mark = stored.get(doc_id)
            only_mark = set(update.max) == {"last_event"} and not update.min and not update.inc
            if only_mark and mark is not None and update.max["last_event"] <= mark:
                del places[doc_id]

    async def _write(self, effects: BatchEffects, session: AsyncClientSession | None) -> None:
        for collection in FIGURE_COLLECTIONS:
            docs = effects.updates[collection]
            ops = [UpdateOne({"_id": doc_id}, update.to_mongo(), upsert=True) for doc_id, update in docs.items()]
            if ops:
                await self._bulk(collection, ops, session)

    async def _engagement(
        self, effects: BatchEffects, before: Mapping[str, Document], context: EffectContext, session: AsyncClientSession
    ) -> list[EngagementChangedEvent]:
        touched = effects.touched
        if not touched:
            return []
        states = {d["_id"]: d async for d in self.db[STATES].find({"_id": {"$in": sorted(touched)}}, session=session)}
        changes: list[EngagementChangedEvent] = []
        state_ops: list[Any] = []
        for key, (tenant, community, member) in sorted(touched.items()):
            update = effects.updates[MEMBER_COMMUNITY].get(key)
            if update is None:
                continue
            old = before.get(key)
            config = context.config(tenant)
            as_of = max(
                (t for t in (update.max.get("last"), update.max.get("left_last"), (old or {}).get("last")) if t),
                default=datetime.now(UTC),
            )
            previous_score = round(score(old.get("f", {}), config, as_of), 6) if old else None
            previous_level = level(old, config, as_of) if old else None
            new = apply_update(old, update, copy=False)
            now_score = round(score(new.get("f", {}), config, as_of), 6)
            now_level = level(new, config, as_of)
            state = "active"
            if states.get(key, {}).get("slipping"):
                state = "back"
                state_ops.append(DeleteOne({"_id": key}))
            if previous_score == now_score and previous_level == now_level and state == "active":
                continue
            changes.append(
                engagement_change(
                    tenant, community, member, now_score, previous_score, now_level, previous_level, state, as_of
                )
            )
        if state_ops:
            await self._bulk(STATES, state_ops, session)
        return changes

    async def _erase(self, erasure: Erasure, session: AsyncClientSession) -> list[EngagementChangedEvent]:
        """Remove a member's personal figures; keep their share of community figures under a stand-in id."""
        tenant, member = erasure.tenant, erasure.member
        token = anonymous_token(self.salt, tenant, member)
        db = self.db
        await db[ERASED].update_one(
            {"_id": f"{tenant}|{member}"},
            {"$setOnInsert": {"tenant": tenant, "member_id": member, "token": token}, "$min": {"at": erasure.at}},
            upsert=True,
            session=session,
        )
        changes: list[EngagementChangedEvent] = []
        mc_ops: list[Any] = []
        async for doc in db[MEMBER_COMMUNITY].find({"tenant": tenant, "member_id": member}, session=session):
            moved = update_from_document(
                doc, skip=frozenset({"recent", "tenant", "community_id", "member_id", "anonymous"})
            )
            moved.set_on_insert(tenant=tenant, community_id=doc["community_id"], member_id=token, anonymous=True)
            mc_ops.append(UpdateOne({"_id": f"{tenant}|{doc['community_id']}|{token}"}, moved.to_mongo(), upsert=True))
            mc_ops.append(DeleteOne({"_id": doc["_id"]}))
            changes.append(
                engagement_change(tenant, doc["community_id"], member, 0.0, None, 0, None, "erased", erasure.at)
            )
        if mc_ops:
            await self._bulk(MEMBER_COMMUNITY, mc_ops, session)
        await db[MEMBERS].delete_one({"_id": member_id(tenant, member)}, session=session)
        role_ops: list[Any] = []
        async for role in db[ROLES].find({"tenant": tenant, "member_id": member}, session=session):
            moved_role = DocUpdate()
            moved_role.set_on_insert(tenant=tenant, scope=role["scope"], member_id=token)
            moved_role.highest("latest", role["latest"])
            role_ops.append(UpdateOne({"_id": f"{tenant}|{role['scope']}|{token}"}, moved_role.to_mongo(), upsert=True))
            role_ops.append(DeleteOne({"_id": role["_id"]}))
        if role_ops:
            await self._bulk(ROLES, role_ops, session)
        await db[STATES].delete_many({"tenant": tenant, "member_id": member}, session=session)
        return changes

    # --- outbox ---------------------------------------------------------------------------------

    async def pending_outbox(self, limit: int = 100) -> list[tuple[str, list[EngagementChangedEvent]]]:
        """Return engagement changes committed but not yet published, oldest first."""
        result = []
        async for doc in self.db[OUTBOX].find({}).sort("_id", 1).limit(limit):
            result.append((doc["_id"], [EngagementChangedEvent.model_validate(e) for e in doc["events"]]))
        return result

    async def clear_outbox(self, outbox_id: str) -> None:
        """Forget published engagement changes."""
        await self.db[OUTBOX].delete_one({"_id": outbox_id})

    # --- slipping away --------------------------------------------------------------------------

    async def mark_slipping(self, tenant: str, community: str, members: list[str]) -> list[str]:
        """Flag members as slipping away; return those newly flagged."""
        if not members:
            return []
        ids = [f"{tenant}|{community}|{m}" for m in members]
        known = {d["_id"] async for d in self.db[STATES].find({"_id": {"$in": ids}, "slipping": True}, {"_id": 1})}
        new = [m for m, i in zip(members, ids, strict=True) if i not in known]
        if new:
            await self.db[STATES].bulk_write(
                [
                    UpdateOne(
                        {"_id": f"{tenant}|{community}|{m}"},
                        {"$set": {"tenant": tenant, "community_id": community, "member_id": m, "slipping": True}},
                        upsert=True,
                    )
                    for m in new
                ],
                ordered=False,
            )
        return new

    # --- reads ----------------------------------------------------------------------------------

    async def community_exists(self, tenant: str, community: str) -> bool:
        """Tell whether anything is known about a community."""
        return (
            await self.db[COMMUNITIES].find_one({"_id": f"{tenant}|{community}", "tenant": tenant}, {"_id": 1})
            is not None
        )

    async def community(self, tenant: str, community: str) -> Document | None:
        """Return a community's document."""
        return await self.db[COMMUNITIES].find_one({"_id": f"{tenant}|{community}", "tenant": tenant})

    async def community_members(self, tenant: str, community: str, *, with_recent: bool = False) -> list[Document]:
        """Return every member-in-community document of a community."""
        projection = None if with_recent else {"recent": 0, "s": 0}
        cursor = self.db[MEMBER_COMMUNITY].find({"tenant": tenant, "community_id": community}, projection)
        return [doc async for doc in cursor]

    async def member_docs(self, tenant: str, member: str) -> list[Document]:
        """Return a member's documents in every community."""
        cursor = self.db[MEMBER_COMMUNITY].find({"tenant": tenant, "member_id": member}, {"recent": 0, "s": 0})
        return [doc async for doc in cursor]

    async def member_in_community(self, tenant: str, community: str, member: str) -> Document | None:
        """Return one member-in-community document."""
        return await self.db[MEMBER_COMMUNITY].find_one(
            {"_id": f"{tenant}|{community}|{member}", "tenant": tenant, "anonymous": False}, {"s": 0}
        )

    async def roles(self, tenant: str, community: str) -> list[Document]:
        """Return role documents relevant to a community (platform-wide and its own)."""
        cursor = self.db[ROLES].find({"tenant": tenant, "scope": {"$in": ["*", community]}})
        return [doc async for doc in cursor]

    def pseudonym(self, tenant: str) -> Callable[[str], str]:
        """Return the map from a tenant's member ids to the stand-in ids posts are recorded under."""
        return lambda member: member if is_stand_in(member) else anonymous_token(self.salt, tenant, member)

    async def topic_days(self, tenant: str, community: str, days: list[str]) -> list[Document]:
        """Return a community's hashtag and keyword tallies for some days."""
        cursor = self.db[TOPICS].find({"tenant": tenant, "community_id": community, "day": {"$in": days}})
        return [doc async for doc in cursor]

    async def communities(self) -> list[Document]:
        """Return every community document (for sweeps)."""
        return [doc async for doc in self.db[COMMUNITIES].find({})]

    async def member_exists(self, tenant: str, member: str) -> bool:
        """Tell whether a (not erased) member is known."""
        return (
            await self.db[MEMBERS].find_one({"_id": member_id(tenant, member), "tenant": tenant}, {"_id": 1})
            is not None
        )


def engagement_change(
    tenant: str,
    community: str,
    member: str,
    score: float,
    previous_score: float | None,
    level_now: int,
    previous_level: int | None,
    state: str,
    as_of: datetime,
) -> EngagementChangedEvent:
    """Return the engagement-changed event of one member in one community."""
    data = EngagementChanged.model_validate(
        {
            "member_id": member,
            "community_id": community,
            "score": score,
            "previous_score": previous_score,
            "level": level_now,
            "previous_level": previous_level,
            "state": state,
            "as_of": moment(as_of),
        }
    )
    ident = identity_hash(f"{tenant}|{community}|{member}", f"{state}|{moment(as_of).isoformat()}|{score}")
    return EngagementChangedEvent(
        id=f"eng-{ident}",
        source=ENGAGEMENT_SOURCE,
        time=moment(as_of),
        tenant=tenant,
        subject=member,
        data=data,
    )
