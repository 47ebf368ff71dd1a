"""The read queries the API and the slipping-away sweep make; each filters by tenant."""

from __future__ import annotations

from collections.abc import Callable

from kith_scoring.domain.documents import (
    CommunityDayDoc,
    CommunityDoc,
    MemberCommunityDoc,
    RoleDoc,
    community_doc_id,
    member_community_id,
)
from kith_scoring.domain.identity import anonymous_token, is_stand_in
from kith_scoring.domain.roles import PLATFORM_SCOPE
from kith_scoring.store.collections import Collections

#: Fields of member-in-community documents that views of many members never need.
_BULKY = {"recent": 0, "s": 0}


class ScoringReads:
    """Figures as the API shows them."""

    def __init__(self, collections: Collections, salt: str) -> None:
        self.collections = collections
        self.salt = salt

    async def community_exists(self, tenant: str, community: str) -> bool:
        """Tell whether anything is known about a community."""
        found = await self.collections.communities.find_one(
            {"_id": community_doc_id(tenant, community), "tenant": tenant}, {"_id": 1}
        )
        return found is not None

    async def community(self, tenant: str, community: str) -> CommunityDoc | None:
        """Return a community's document."""
        return await self.collections.communities.find_one(
            {"_id": community_doc_id(tenant, community), "tenant": tenant}
        )

    async def communities(self) -> list[CommunityDoc]:
        """Return every community document (for sweeps)."""
        return [doc async for doc in self.collections.communities.find({})]

    async def community_members(self, tenant: str, community: str) -> list[MemberCommunityDoc]:
        """Return every member-in-community document of a community (without recent events and seen ids)."""
        cursor = self.collections.member_communities.find({"tenant": tenant, "community_id": community}, _BULKY)
        return [doc async for doc in cursor]

    async def member_docs(self, tenant: str, member: str) -> list[MemberCommunityDoc]:
        """Return a member's documents in every community (without recent events and seen ids)."""
        cursor = self.collections.member_communities.find({"tenant": tenant, "member_id": member}, _BULKY)
        return [doc async for doc in cursor]

    async def member_in_community(self, tenant: str, community: str, member: str) -> MemberCommunityDoc | None:
        """Return one named member's document in a community (without seen ids)."""
        return await self.collections.member_communities.find_one(
            {"_id": member_community_id(tenant, community, member), "tenant": tenant, "anonymous": False}, {"s": 0}
        )

    async def roles(self, tenant: str, community: str) -> list[RoleDoc]:
        """Return role documents relevant to a community (platform-wide and its own)."""
        cursor = self.collections.roles.find({"tenant": tenant, "scope": {"$in": [PLATFORM_SCOPE, community]}})
        return [doc async for doc in cursor]

    async def topic_days(self, tenant: str, community: str, days: list[str]) -> list[CommunityDayDoc]:
        """Return a community's day documents (topics, posts, first responses) of some days."""
        cursor = self.collections.community_days.find(
            {"tenant": tenant, "community_id": community, "day": {"$in": days}}
        )
        return [doc async for doc in cursor]

    def pseudonym(self, tenant: str) -> Callable[[str], str]:
        """Return the map from a tenant's member ids to the stand-in ids posts are recorded under."""
        return lambda member: member if is_stand_in(member) else anonymous_token(self.salt, tenant, member)
