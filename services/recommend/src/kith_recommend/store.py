"""The read model in MongoDB: one collection of weighted edges, one of profiles, all tenant-scoped.

Documents are keyed ``tenant|kind|a|b`` so that every change is an idempotent upsert, set or
delete, batched in one ``bulk_write`` per consumed batch. Loading streams one tenant's documents
back into a :class:`TenantState`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any, Final

from pymongo import DeleteMany, DeleteOne, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase

from kith_recommend.domain.changes import (
    GRAPH_CHANGES,
    Change,
    Edge,
    EdgeChange,
    ErasureChange,
    Profile,
    ProfileChange,
)
from kith_recommend.domain.model import TenantState
from kith_shared.mongo import Document

log = logging.getLogger(__name__)

EDGES: Final = "edges"
PROFILES: Final = "profiles"
_MEMBER_TO_MEMBER: Final = (Edge.FOLLOWS.value, Edge.INTERACTS.value)

WriteOp = UpdateOne | DeleteOne | DeleteMany


def _edge_id(tenant: str, kind: str, a: str, b: str) -> str:
    return f"{tenant}|{kind}|{a}|{b}"


def operations(changes: Iterable[Change]) -> list[WriteOp]:
    """Translate read-model changes into bulk-write operations (graph changes live in memory only)."""
    ops: list[WriteOp] = []
    for change in changes:
        if isinstance(change, GRAPH_CHANGES):
            continue
        if isinstance(change, EdgeChange):
            key = {"_id": _edge_id(change.tenant, change.kind.value, change.a, change.b)}
            doc = {"tenant": change.tenant, "kind": change.kind.value, "a": change.a, "b": change.b}
            if change.action == "unset":
                ops.append(DeleteOne(key))
            elif change.action == "set":
                ops.append(UpdateOne(key, {"$set": {**doc, "w": change.value}}, upsert=True))
            else:
                ops.append(UpdateOne(key, {"$set": doc, "$inc": {"w": change.value}}, upsert=True))
        elif isinstance(change, ProfileChange):
            key = {"_id": f"{change.tenant}|{change.kind.value}|{change.id}"}
            base = {"tenant": change.tenant, "kind": change.kind.value, "id": change.id}
            values = {f"f.{name}": value for name, value in change.fields.items()}
            update: dict[str, Any] = (
                {"$set": base, "$max": values} if change.mode == "max" else {"$set": {**base, **values}}
            )
            ops.append(UpdateOne(key, update, upsert=True))
        else:
            ops.extend(_erasure(change))
    return ops


def _erasure(change: ErasureChange) -> list[WriteOp]:
    return [
        DeleteMany({"tenant": change.tenant, "a": change.member_id}),
        DeleteMany({"tenant": change.tenant, "kind": {"$in": list(_MEMBER_TO_MEMBER)}, "b": change.member_id}),
        DeleteOne({"_id": f"{change.tenant}|{Profile.INTERESTS.value}|{change.member_id}"}),
        DeleteOne({"_id": f"{change.tenant}|{Profile.ROLE.value}|{change.member_id}"}),
    ]


class Store:
    """Reads and writes the recommend read model."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.db = db

    async def ensure_indexes(self) -> None:
        """Create the indexes loading and erasure rely on."""
        await self.db[EDGES].create_index([("tenant", 1), ("kind", 1), ("a", 1)])
        await self.db[EDGES].create_index([("tenant", 1), ("b", 1)])
        await self.db[PROFILES].create_index([("tenant", 1), ("kind", 1)])

    async def write(self, changes: list[Change]) -> int:
        """Write changes in one unordered-safe bulk per collection; return the operations sent."""
        edge_ops: list[WriteOp] = []
        profile_ops: list[WriteOp] = []
        for change in changes:
            if isinstance(change, GRAPH_CHANGES):
                continue
            target = edge_ops if isinstance(change, EdgeChange) else profile_ops
            if isinstance(change, ErasureChange):
                ops = _erasure(change)
                edge_ops.extend(ops[:2])
                profile_ops.extend(ops[2:])
            else:
                target.extend(operations([change]))
        # Order matters within a batch (a join then a leave), so each bulk is ordered.
        if edge_ops:
            await self.db[EDGES].bulk_write(edge_ops, ordered=True)
        if profile_ops:
            await self.db[PROFILES].bulk_write(profile_ops, ordered=True)
        return len(edge_ops) + len(profile_ops)

    async def tenants(self) -> list[str]:
        """List the tenants with a read model."""
        found = await self.db[PROFILES].distinct("tenant") + await self.db[EDGES].distinct("tenant")
        return sorted(set(found))

    async def load(self, tenant: str) -> TenantState:
        """Load one tenant's read model into memory."""
        state = TenantState(tenant)
        edges = state.edges
        async for doc in self.db[EDGES].find({"tenant": tenant}, {"_id": 0, "kind": 1, "a": 1, "b": 1, "w": 1}):
            try:
                kind = Edge(doc["kind"])
            except ValueError:
                log.warning("unknown edge kind in the read model", extra={"kind": doc.get("kind")})
                continue
            edges[kind].setdefault(doc["a"], {})[doc["b"]] = float(doc.get("w", 1.0))
        async for doc in self.db[PROFILES].find({"tenant": tenant}):
            fields = doc.get("f", {})
            profile_kind = doc.get("kind")
            if profile_kind == Profile.CLOCK.value:
                state.now = float(fields.get("now", 0.0))
            elif profile_kind == Profile.INTERESTS.value:
                state.interests[doc["id"]] = list(fields.get("interests", []))
            elif profile_kind == Profile.ROLE.value:
                state.roles[doc["id"]] = {str(scope): str(role) for scope, role in fields.items()}
            elif profile_kind == Profile.COMMUNITY.value:
                state.communities[doc["id"]] = dict(fields)
        return state

    async def replace(self, state: TenantState, chunk: int = 10_000) -> int:
        """Replace a tenant's read model with ``state``, in large unordered inserts; return documents written.

        A rebuild folds every event in memory first, so each edge is written once, as an insert
        (cheaper than an upsert), instead of once per event.
        """
        tenant = state.tenant
        await self.drop(tenant)
        written = 0
        batch: list[Document] = []

        async def flush(collection: str) -> None:
            nonlocal written, batch
            if batch:
                await self.db[collection].insert_many(batch, ordered=False)
                written += len(batch)
                batch = []

        for kind, by_a in state.edges.items():
            for a, targets in by_a.items():
                for b, w in targets.items():
                    doc = {"_id": _edge_id(tenant, kind.value, a, b), "tenant": tenant, "kind": kind.value}
                    batch.append({**doc, "a": a, "b": b, "w": w})
                    if len(batch) >= chunk:
                        await flush(EDGES)
        await flush(EDGES)
        profiles: list[tuple[Profile, str, dict[str, Any]]] = [(Profile.CLOCK, "", {"now": state.now})]
        profiles += [(Profile.INTERESTS, m, {"interests": i}) for m, i in state.interests.items()]
        profiles += [(Profile.COMMUNITY, c, fields) for c, fields in state.communities.items()]
        profiles += [(Profile.ROLE, m, dict(roles)) for m, roles in state.roles.items()]
        for profile, pid, fields in profiles:
            key = f"{tenant}|{profile.value}|{pid}"
            batch.append({"_id": key, "tenant": tenant, "kind": profile.value, "id": pid, "f": fields})
            if len(batch) >= chunk:
                await flush(PROFILES)
        await flush(PROFILES)
        return written

    async def drop(self, tenant: str | None = None) -> None:
        """Delete the read model, of one tenant or all."""
        query: dict[str, Any] = {} if tenant is None else {"tenant": tenant}
        await self.db[EDGES].delete_many(query)
        await self.db[PROFILES].delete_many(query)
