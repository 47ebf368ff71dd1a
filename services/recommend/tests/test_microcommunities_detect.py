"""Detection: close groups, connectedness, the size cap, warm-start id stability, events between detections."""

from __future__ import annotations

import itertools
import random
from datetime import timedelta

import numpy as np
import pytest
from scipy.sparse import csgraph

from kith_recommend.domain.microcommunities import (
    GroupChanged,
    GroupDetected,
    GroupFaded,
    Interaction,
    InteractionGraph,
    InteractionKind,
    compare,
    detect,
)
from kith_recommend.domain.microcommunities.partition import cluster

from .microcommunities import NOW, PARAMS, clique, graph_of

pytestmark = pytest.mark.unit


def cliques(count: int, size: int, bridges: int = 1, seed: int = 0) -> tuple[InteractionGraph, list[list[str]]]:
    """Return ``count`` cliques of ``size`` members, each linked to the next by ``bridges`` replies."""
    groups = [[f"g{g}m{i:02d}" for i in range(size)] for g in range(count)]
    graph = graph_of(groups)
    rng = random.Random(seed)
    for g in range(count):
        for _ in range(bridges):
            graph.add(
                Interaction(InteractionKind.MENTION, rng.choice(groups[g]), rng.choice(groups[(g + 1) % count]), NOW)
            )
    return graph, groups


def test_cliques_joined_by_a_tie_come_out_as_their_own_groups() -> None:
    graph, groups = cliques(4, 8)
    detection = detect("acme", graph.snapshot(NOW), PARAMS)
    assert sorted(sorted(s.group.members) for s in detection.groups) == sorted(sorted(g) for g in groups)
    for summary in detection.groups:
        assert summary.cohesion.density == pytest.approx(1.0)
        assert 0 < summary.cohesion.conductance < 0.1


def test_a_loose_chain_is_not_a_group() -> None:
    graph = InteractionGraph(PARAMS)
    for i in range(10):
        graph.add(Interaction(InteractionKind.REPLY, f"p{i}", f"p{i + 1}", NOW))
    assert detect("acme", graph.snapshot(NOW), PARAMS).groups == ()


def test_groups_below_the_minimum_size_are_not_groups() -> None:
    graph, _ = cliques(3, 4)
    assert len(detect("acme", graph.snapshot(NOW), PARAMS).groups) == 3
    assert detect("acme", graph.snapshot(NOW), PARAMS.model_copy(update={"min_group_size": 5})).groups == ()


def test_a_giant_blob_is_split_by_the_size_cap_into_connected_clusters() -> None:
    rng = np.random.default_rng(1)
    graph = InteractionGraph(PARAMS)
    n = 400
    for a, b in itertools.combinations(range(n), 2):
        if rng.random() < 0.1:
            graph.add(Interaction(InteractionKind.REPLY, f"b{a}", f"b{b}", NOW))
    snap = graph.snapshot(NOW)
    params = PARAMS.model_copy(update={"max_cluster_size": 50})
    labels = cluster(snap, params).labels
    sizes = np.bincount(labels)
    assert sizes.max() <= 50
    assert sizes.size >= n // 50
    for label in range(sizes.size):
        members = np.flatnonzero(labels == label)
        inside = snap.adjacency[members][:, members]
        assert csgraph.connected_components(inside, directed=False)[0] == 1
    open_params = params.model_copy(update={"max_conductance": 1.0, "min_internal_ties": 0, "min_group_size": 2})
    groups = detect("acme", snap, open_params).groups
    assert max(s.size for s in groups) <= 50
    assert sum(s.size for s in groups) == n


def test_every_group_is_connected_even_when_warm_started_from_a_group_that_broke_apart() -> None:
    graph, groups = cliques(2, 6)
    first = detect("acme", graph.snapshot(NOW), PARAMS)
    # Now the two cliques' members stop talking to each other and each half forms a new clique.
    later = NOW + timedelta(days=365)
    fresh = InteractionGraph(PARAMS)
    clique(fresh, groups[0][:3] + groups[1][:3], later)
    clique(fresh, groups[0][3:] + groups[1][3:], later)
    second = detect("acme", fresh.snapshot(later), PARAMS, previous=first)
    snap = fresh.snapshot(later)
    for summary in second.groups:
        members = [snap.index[m] for m in summary.group.members]
        inside = snap.adjacency[members][:, members]
        assert csgraph.connected_components(inside, directed=False)[0] == 1
    assert sorted(s.size for s in second.groups) == [6, 6]


def test_warm_start_keeps_ids_and_reports_who_came_and_went() -> None:
    graph, groups = cliques(5, 8, bridges=2)
    first = detect("acme", graph.snapshot(NOW), PARAMS)
    later = NOW + timedelta(days=1)
    newcomer = "newcomer"
    for member in groups[2][:5]:
        graph.add(Interaction(InteractionKind.REPLY, newcomer, member, later))
    graph.add(Interaction(InteractionKind.MENTION, groups[0][0], groups[3][0], later))
    second = detect("acme", graph.snapshot(later), PARAMS, previous=first)
    assert {s.id for s in second.groups} == {s.id for s in first.groups}
    grown = second.by_id[first.membership[groups[2][0]]]
    assert grown.group.gained == frozenset({newcomer})
    assert grown.group.lost == frozenset()
    assert all(s.group.first_seen == NOW for s in second.groups)
    kept = sum(1 for m, g in first.membership.items() if second.membership.get(m) == g)
    assert kept == len(first.membership)


def test_new_ids_are_deterministic() -> None:
    graph, _ = cliques(3, 6)
    snap = graph.snapshot(NOW)
    assert [s.id for s in detect("acme", snap, PARAMS).groups] == [s.id for s in detect("acme", snap, PARAMS).groups]
    assert {s.id for s in detect("acme", snap, PARAMS).groups}.isdisjoint(
        s.id for s in detect("other", snap, PARAMS).groups
    )


def test_events_between_two_detections() -> None:
    graph, groups = cliques(3, 6)
    first = detect("acme", graph.snapshot(NOW), PARAMS)
    later = NOW + timedelta(days=1)
    for i in range(3):  # group 0 grows by half
        for member in groups[0]:
            graph.add(Interaction(InteractionKind.REPLY, f"joiner{i}", member, later))
    clique(graph, [f"new{i}" for i in range(5)], later)  # a new group forms
    snap = graph.snapshot(later, exclude=set(groups[2]))  # group 2 goes quiet (its members left out)
    second = detect("acme", snap, PARAMS, previous=first)
    events = compare("acme", first.groups, second.groups, later, PARAMS)
    detected = [e for e in events if isinstance(e, GroupDetected)]
    changed = [e for e in events if isinstance(e, GroupChanged)]
    faded = [e for e in events if isinstance(e, GroupFaded)]
    assert [e.members for e in detected] == [frozenset(f"new{i}" for i in range(5))]
    assert [(e.size_before, e.size, e.gained) for e in changed] == [
        (6, 9, frozenset({"joiner0", "joiner1", "joiner2"}))
    ]
    assert [e.last_members for e in faded] == [frozenset(groups[2])]
    assert compare("acme", second.groups, second.groups, later, PARAMS) == []
