"""Slipping-away flags: members announced as slipping away in a community, until they are active again."""

from __future__ import annotations

from pymongo import DeleteOne, UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession

from kith_scoring.domain.documents import member_community_id
from kith_scoring.store.collections import BulkWrites, Collections


class SlippingFlags:
    """Who is flagged slipping away, by member-in-community id."""

    def __init__(self, collections: Collections, writes: BulkWrites) -> None:
        self.collection = collections.member_states
        self.writes = writes

    async def mark(
        self, tenant: str, community: str, members: list[str], session: AsyncClientSession | None = None
    ) -> list[str]:
        """Flag members as slipping away; return those newly flagged (in the sweep's transaction)."""
        if not members:
            return []
        ids = [member_community_id(tenant, community, m) for m in members]
        query = {"_id": {"$in": ids}, "slipping": True}
        known = {d["_id"] async for d in self.collection.find(query, {"_id": 1}, session=session)}
        new = [m for m, i in zip(members, ids, strict=True) if i not in known]
        if new:
            await self.collection.bulk_write(
                [
                    UpdateOne(
                        {"_id": member_community_id(tenant, community, m)},
                        {"$set": {"tenant": tenant, "community_id": community, "member_id": m, "slipping": True}},
                        upsert=True,
                    )
                    for m in new
                ],
                ordered=False,
                session=session,
            )
        return new

    async def flagged(self, ids: list[str], session: AsyncClientSession) -> set[str]:
        """Return which of these member-in-community ids are flagged (in a batch's transaction)."""
        return {
            d["_id"] async for d in self.collection.find({"_id": {"$in": ids}}, session=session) if d.get("slipping")
        }

    async def clear(self, ids: list[str], session: AsyncClientSession) -> None:
        """Remove the flags of members active again (in a batch's transaction)."""
        if ids:
            await self.writes.bulk(self.collection, [DeleteOne({"_id": i}) for i in ids], session)
