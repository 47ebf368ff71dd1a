"""The baselines the service's groups are scored beside, run directly on the same friendship graph.

A source takes undirected friendships and a seed and returns member sets. Kith itself is scored
through the service (:mod:`bench.communities.service`), not from here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import graspologic_native as gn  # type: ignore[import-untyped]
import networkx as nx  # type: ignore[import-untyped]

Edges = Sequence[tuple[str, str]]


class ClusterSource(Protocol):
    """Something that finds groups in a friendship graph."""

    @property
    def name(self) -> str:
        """Return the name shown in the tables."""
        ...

    def clusters(self, edges: Edges, seed: int) -> list[frozenset[str]]:
        """Return the groups found in ``edges`` with ``seed``."""
        ...


@dataclass(frozen=True)
class Louvain:
    """networkx's Louvain (modularity, resolution 1)."""

    name: str = "networkx Louvain"

    def clusters(self, edges: Edges, seed: int) -> list[frozenset[str]]:
        """Return Louvain's communities."""
        return [frozenset(c) for c in nx.community.louvain_communities(_nx(edges), seed=seed)]


@dataclass(frozen=True)
class LabelPropagation:
    """networkx's semi-synchronous label propagation (deterministic: the seed is not used)."""

    name: str = "networkx label propagation"

    def clusters(self, edges: Edges, seed: int) -> list[frozenset[str]]:
        """Return label propagation's communities."""
        return [frozenset(c) for c in nx.community.label_propagation_communities(_nx(edges))]


@dataclass(frozen=True)
class LeidenDirect:
    """graspologic-native's Leiden with its defaults (resolution 1, one iteration), seeded."""

    name: str = "Leiden (graspologic-native defaults)"

    def clusters(self, edges: Edges, seed: int) -> list[frozenset[str]]:
        """Return Leiden's communities."""
        _, labels = gn.leiden([(a, b, 1.0) for a, b in edges], seed=seed)
        groups: dict[int, set[str]] = {}
        for member, label in labels.items():
            groups.setdefault(label, set()).add(member)
        return [frozenset(g) for g in groups.values()]


def _nx(edges: Edges) -> nx.Graph:
    graph = nx.Graph()
    graph.add_edges_from(edges)
    return graph
