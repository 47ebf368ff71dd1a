"""What the micro-community unit tests share: the instant they are set at, the default parameters, cliques."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from datetime import UTC, datetime

from kith_recommend.domain.microcommunities import DetectionParams, Interaction, InteractionGraph, InteractionKind

NOW = datetime(2026, 3, 1, tzinfo=UTC)
PARAMS = DetectionParams()


def clique(graph: InteractionGraph, members: list[str], at: datetime = NOW) -> None:
    """Add a reply between every two of ``members``."""
    for a, b in itertools.combinations(members, 2):
        graph.add(Interaction(InteractionKind.REPLY, a, b, at))


def graph_of(groups: Iterable[list[str]], at: datetime = NOW) -> InteractionGraph:
    """Return a graph (of the default parameters) holding a clique of each group."""
    graph = InteractionGraph(PARAMS)
    for members in groups:
        clique(graph, members, at)
    return graph
