"""Erasure: a member's personal figures removed, their share of community figures kept under a stand-in id."""

from __future__ import annotations

from typing import Any

from pymongo import DeleteOne, UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession

from kith_scoring.domain.docops import DocUpdate, update_from_document
from kith_scoring.domain.documents import member_community_id, member_doc_id, role_doc_id
from kith_scoring.domain.effects import Erasure
from kith_scoring.domain.identity import anonymous_token
from kith_scoring.store.collections import BulkWrites, Collections
from kith_shared.erasure import tombstone

#: Fields of a member-in-community document that are not figures: not carried over to the stand-in.
_NOT_FIGURES = frozenset({"recent", "tenant", "community_id", "member_id", "anonymous"})


class Eraser:
    """Erases members inside a batch's transaction, and knows who was erased (tombstones)."""

    def __init__(self, collections: Collections, writes: BulkWrites, salt: str, secret: str) -> None:
        self.collections = collections
        self.writes = writes
        self.salt = salt
        self.secret = secret

    async def tombstones(
        self, members: set[tuple[str, str]], session: AsyncClientSession
    ) -> dict[tuple[str, str], str]:
        """Return the stand-in id of each erased (tenant, member) among ``members``."""
        if not members:
            return {}
        keys = {tombstone(self.secret, tenant, member): (tenant, member) for tenant, member in members}
        cursor = self.collections.erased_members.find({"_id": {"$in": sorted(keys)}}, session=session)
        return {keys[doc["_id"]]: doc["token"] async for doc in cursor}

    async def rekey_legacy(self) -> int:
        """Re-key tombstones written under the raw member id (before they were keyed hashes); return how many."""
        moved = 0
        async for old in self.collections.erased_members.find({"member_id": {"$exists": True}}):
            legacy: dict[str, Any] = dict(old)
            key = tombstone(self.secret, legacy["tenant"], legacy["member_id"])
            fields = {"tenant": legacy["tenant"], "token": legacy["token"]}
            await self.collections.erased_members.update_one(
                {"_id": key}, {"$setOnInsert": fields, "$min": {"at": legacy["at"]}}, upsert=True
            )
            await self.collections.erased_members.delete_one({"_id": legacy["_id"]})
            moved += 1
        return moved

    async def reinstate(self, erasure: Erasure, session: AsyncClientSession) -> None:
        """Forget a member's tombstone: their later events count under their own id again.

        What was erased stays erased: the figures kept under the stand-in id are not moved back.
        """
        key = tombstone(self.secret, erasure.tenant, erasure.member)
        await self.collections.erased_members.delete_one({"_id": key}, session=session)

    async def erase(self, erasure: Erasure, session: AsyncClientSession) -> list[str]:
        """Erase a member; return the communities whose figures of the member were moved to the stand-in."""
        tenant, member = erasure.tenant, erasure.member
        token = anonymous_token(self.salt, tenant, member)
        c = self.collections
        await c.erased_members.update_one(
            {"_id": tombstone(self.secret, tenant, member)},
            {"$setOnInsert": {"tenant": tenant, "token": token}, "$min": {"at": erasure.at}},
            upsert=True,
            session=session,
        )
        communities: list[str] = []
        figure_ops: list[UpdateOne | DeleteOne] = []
        async for doc in c.member_communities.find({"tenant": tenant, "member_id": member}, session=session):
            community = doc["community_id"]
            moved = update_from_document(doc, skip=_NOT_FIGURES)
            moved.set_on_insert(tenant=tenant, community_id=community, member_id=token, anonymous=True)
            figure_ops.append(
                UpdateOne({"_id": member_community_id(tenant, community, token)}, moved.to_mongo(), upsert=True)
            )
            figure_ops.append(DeleteOne({"_id": doc["_id"]}))
            communities.append(community)
        if figure_ops:
            await self.writes.bulk(c.member_communities, figure_ops, session)
        await c.members.delete_one({"_id": member_doc_id(tenant, member)}, session=session)
        role_ops: list[UpdateOne | DeleteOne] = []
        async for role in c.roles.find({"tenant": tenant, "member_id": member}, session=session):
            moved_role = DocUpdate()
            moved_role.set_on_insert(tenant=tenant, scope=role["scope"], member_id=token)
            moved_role.highest("latest", role["latest"])
            role_ops.append(
                UpdateOne({"_id": role_doc_id(tenant, role["scope"], token)}, moved_role.to_mongo(), upsert=True)
            )
            role_ops.append(DeleteOne({"_id": role["_id"]}))
        if role_ops:
            await self.writes.bulk(c.roles, role_ops, session)
        await c.member_states.delete_many({"tenant": tenant, "member_id": member}, session=session)
        return communities
