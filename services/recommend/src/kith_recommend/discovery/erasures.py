"""Erased members in micro-community discovery: served no more, erased from what is stored, and left out of
the result of a detection that was running when they were erased.

The consumer applies an erasure to the tenant's graph (:meth:`TenantGraph.forget
<kith_recommend.discovery.state.TenantGraph.forget>`), which lists the member in ``erased`` until
:class:`Erasures` takes it from there.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kith_recommend.discovery.state import Served, TenantGraph
from kith_recommend.discovery.store import DiscoveryStore


@dataclass(eq=False)
class Erasures:
    """The members taken from the graphs' erasures: to store, and to strip from a running detection's result."""

    store: DiscoveryStore
    _unstored: list[tuple[str, str]] = field(default_factory=list, init=False)  # (tenant, member) taken, not stored yet
    _seen: list[tuple[str, str]] = field(default_factory=list, init=False)  # taken since the last detection ended

    def take(self, tenant: str, graph: TenantGraph, served: Served | None) -> None:
        """Take the members erased from a tenant's graph, and stop serving them at once."""
        for member in graph.erased:
            self._unstored.append((tenant, member))
            self._seen.append((tenant, member))
            if served is not None:
                served.forget(member)
        graph.erased.clear()

    async def store_taken(self) -> None:
        """Erase the members taken from what is stored, oldest first (a database error leaves the rest)."""
        while self._unstored:
            tenant, member = self._unstored[0]
            await self.store.erase(tenant, member)
            self._unstored.pop(0)

    def drop_taken(self) -> None:
        """Forget the members taken without storing them (only the detecting replica stores)."""
        self._unstored.clear()

    def mark(self) -> int:
        """Return a mark of the erasures seen so far (taken as a detection's snapshot is)."""
        return len(self._seen)

    def since(self, mark: int, tenant: str) -> list[str]:
        """Return the members of a tenant erased since ``mark``."""
        return [member for erased_in, member in self._seen[mark:] if erased_in == tenant]

    def detection_ended(self) -> None:
        """Forget the erasures seen: later snapshots no longer hold them, only a running detection needs them."""
        self._seen.clear()
