"""Tenant-wide reads for figures over time: four queries, run together, each filtered by tenant."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from kith_scoring import SERVICE
from kith_scoring.domain.documents import CommunityDayDoc, CommunityDoc, MemberCommunityDoc, RoleDoc
from kith_scoring.store.collections import Collections
from kith_shared.observability import STORE_LATENCY

#: What figures over time need of a member-in-community document (not the decay sums, recent events, seen ids).
_MEMBERSHIP_FIELDS = {
    "_id": 0,
    "community_id": 1,
    "member_id": 1,
    "anonymous": 1,
    "c": 1,
    "joined_first": 1,
    "joined_last": 1,
    "left_last": 1,
}
_COMMUNITY_FIELDS = {"_id": 0, "community_id": 1, "profile": 1, "created": 1}
_DAY_FIELDS = {"_id": 0, "community_id": 1, "day": 1, "h": 1, "k": 1, "pc": 1, "pa": 1, "fc": 1, "pd": 1}


@dataclass(frozen=True)
class TenantDocuments:
    """What a tenant's figures over time are computed from."""

    memberships: list[MemberCommunityDoc]
    communities: list[CommunityDoc]
    roles: list[RoleDoc]
    days: list[CommunityDayDoc]


class TenantReads:
    """Every document of a tenant that figures over time need, in one round of parallel queries."""

    def __init__(self, collections: Collections) -> None:
        self.collections = collections

    async def documents(self, tenant: str, first_day: str, last_day: str) -> TenantDocuments:
        """Return a tenant's memberships, communities, roles, and community days from ``first_day`` to ``last_day``."""
        started = time.perf_counter()
        c = self.collections
        memberships, communities, roles, days = await asyncio.gather(
            c.member_communities.find({"tenant": tenant}, _MEMBERSHIP_FIELDS).to_list(None),
            c.communities.find({"tenant": tenant}, _COMMUNITY_FIELDS).to_list(None),
            c.roles.find({"tenant": tenant}).to_list(None),
            c.community_days.find(
                {"tenant": tenant, "day": {"$gte": first_day, "$lte": last_day}}, _DAY_FIELDS
            ).to_list(None),
        )
        STORE_LATENCY.labels(SERVICE, "tenant_documents").observe(time.perf_counter() - started)
        return TenantDocuments(memberships, communities, roles, days)
