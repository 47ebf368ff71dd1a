"""Sources of clusters to score on the same friendship graph: Kith's detection and the baselines.

A source takes undirected friendships and a seed and returns member sets. Kith's pure detection is
one source; the service (friendships posted through ingest, clusters read back over HTTP) can be
another, implementing the same protocol.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

import graspologic_native as gn  # type: ignore[import-untyped]
import networkx as nx  # type: ignore[import-untyped]

from kith_recommend.domain.microcommunities import (
    DetectionParams,
    Interaction,
    InteractionGraph,
    InteractionKind,
    detect,
)

Edges = Sequence[tuple[str, str]]
#: All friendships are taken as made at one instant, so decay weighs them all alike.
NOW = datetime(2026, 1, 1, tzinfo=UTC)


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
class KithDetection:
    """Kith's micro-community detection (the pure domain code), friendships taken as follows."""

    params: DetectionParams = field(default_factory=DetectionParams)
    label: str = "Kith detection"

    @property
    def name(self) -> str:
        """Return the name shown in the tables."""
        return self.label

    def clusters(self, edges: Edges, seed: int) -> list[frozenset[str]]:
        """Detect groups from scratch."""
        params = self.params.model_copy(update={"seed": seed})
        graph = follow_graph(edges, params)
        return [s.group.members for s in detect("bench", graph.snapshot(NOW), params).groups]


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


def follow_graph(edges: Edges, params: DetectionParams, at: datetime = NOW) -> InteractionGraph:
    """Return an interaction graph holding each friendship as one follow at ``at``."""
    graph = InteractionGraph(params)
    for a, b in edges:
        graph.add(Interaction(InteractionKind.FOLLOW, a, b, at))
    return graph


def _nx(edges: Edges) -> nx.Graph:
    graph = nx.Graph()
    graph.add_edges_from(edges)
    return graph
