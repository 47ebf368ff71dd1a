"""Closing the loop: the communities created for detected groups, kept, served, and put first in suggestions.

When a community is created for a group, the consumer records a seed in the tenant's graph
(:class:`~kith_recommend.discovery.state.TenantGraph`). :class:`Seeding` serves the seeds with the
tenant's groups, has the detecting replica store them, says which of a group's members joined its
community, and puts those communities first in the suggestions of the group's members.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from kith_recommend.discovery.state import Seed, Served, TenantGraph
from kith_recommend.discovery.store import DiscoveryStore
from kith_recommend.domain.changes import Edge
from kith_recommend.domain.microcommunities import SeededCommunity
from kith_recommend.domain.microcommunities.seeding import SeedOffer, put_first
from kith_recommend.domain.model import MemberProfile, TenantState
from kith_recommend.domain.ranking import Suggestion
from kith_recommend.engine import Recommender


@dataclass(eq=False)
class Seeding:
    """The communities created for every tenant's groups (``served``: what is served of each tenant)."""

    recommender: Recommender
    store: DiscoveryStore
    served: dict[str, Served]
    graph: Callable[[str], TenantGraph | None]
    _unstored: list[tuple[str, Seed]] = field(default_factory=list, init=False)  # taken from the graphs, not stored yet
    _by_member: dict[str, tuple[int, dict[str, list[str]]]] = field(default_factory=dict, init=False)

    def take(self, tenant: str, graph: TenantGraph, leading: bool) -> None:
        """Serve the seeds the consumer added to a tenant's graph; the detecting replica stores them too."""
        for seed in graph.pending_seeds:
            self.served.setdefault(tenant, Served()).seeds[seed.community_id] = seed
            if leading:
                self._unstored.append((tenant, seed))
        graph.pending_seeds.clear()

    async def store_taken(self) -> None:
        """Store the seeds taken, oldest first (a database error leaves the rest for the next time)."""
        while self._unstored:
            tenant, seed = self._unstored[0]
            await self.store.save_seeds(tenant, [seed])
            self._unstored.pop(0)

    def seeds(self, tenant: str) -> dict[str, Seed]:
        """Return the communities created for a tenant's groups: as the consumer saw them, else as stored."""
        graph = self.graph(tenant)
        if graph is not None and graph.seeds:
            return graph.seeds
        served = self.served.get(tenant)
        return served.seeds if served is not None else {}

    def seeded_community(self, tenant: str, group_id: str, state: TenantState) -> dict[str, SeededCommunity]:
        """Return the community created for a group (by group id), with which of the group's members joined it."""
        served = self.served.get(tenant)
        current = served.detection.by_id.get(group_id) if served is not None and served.detection else None
        members = state.edges[Edge.MEMBER]
        found: dict[str, SeededCommunity] = {}
        for seed in self.seeds(tenant).values():
            if seed.group_id != group_id:
                continue
            group = current.members if current is not None else seed.members
            name = str(state.communities.get(seed.community_id, {}).get("name") or seed.community_id)
            joined = frozenset(m for m in group if seed.community_id in members.get(m, {}))
            found[group_id] = SeededCommunity(seed.community_id, name, joined)
        return found

    def _seeds_by_member(self, tenant: str) -> dict[str, list[str]]:
        seeds = self.seeds(tenant)
        if not seeds:
            return {}
        key = hash(tuple(sorted((c, len(s.members)) for c, s in seeds.items())))
        cached = self._by_member.get(tenant)
        if cached is not None and cached[0] == key:
            return cached[1]
        index: dict[str, list[str]] = {}
        for community_id, seed in sorted(seeds.items()):
            for member in seed.members:
                index.setdefault(member, []).append(community_id)
        self._by_member[tenant] = (key, index)
        return index

    def put_seeded_first(
        self, tenant: str, profile: MemberProfile, found: list[Suggestion], limit: int, explain: bool
    ) -> list[Suggestion]:
        """Put the communities created for the member's groups first in their suggestions."""
        communities = self._seeds_by_member(tenant).get(profile.member_id)
        if not communities:
            return found
        state = self.recommender.state(tenant)
        model = self.recommender.models.get(tenant)
        edges = state.edges
        partners = set(profile.follows) | set(profile.interacts)
        offers = []
        for community_id in communities:
            fields = state.communities.get(community_id)
            if fields is None or fields.get("visibility", "public") != "public":
                continue
            if community_id in profile.joined or community_id in profile.dismissed:
                continue
            if community_id in profile.blocked or community_id in profile.owned:
                continue
            seed = self.seeds(tenant)[community_id]
            first = [
                m for m in seed.members if m != profile.member_id and community_id in edges[Edge.MEMBER].get(m, {})
            ]
            talks = sum(
                1
                for m in first
                if m in partners
                or profile.member_id in edges[Edge.FOLLOWS].get(m, {})
                or profile.member_id in edges[Edge.INTERACTS].get(m, {})
            )
            size = int(model.size[model.index[community_id]]) if model and community_id in model.index else len(first)
            name = str(fields.get("name") or community_id)
            offers.append(SeedOffer(community_id, name, size, talks, len(seed.members)))
        return put_first(found, offers, limit, explain=explain)
