"""A tenant's micro-community part: fed by graph changes, erasable, saved by the checkpoint and restored whole."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest

from kith_recommend.discovery.job import prepare, run
from kith_recommend.discovery.state import PART, TenantGraph
from kith_recommend.domain.changes import (
    AttendanceChange,
    Edge,
    EdgeChange,
    ErasureChange,
    Profile,
    ProfileChange,
    SeedChange,
    TieChange,
)
from kith_recommend.domain.microcommunities import InteractionKind, advance
from kith_recommend.domain.model import TenantState
from kith_recommend.snapshot import compress, digest, pack, unpack

from .microcommunities import NOW, PARAMS

pytestmark = pytest.mark.unit

T = NOW.timestamp()


def saved_and_restored(graph: TenantGraph) -> TenantGraph:
    """Return the part after a trip through the checkpoint's bytes (msgpack, zlib)."""
    blob = compress(pack({PART: graph}))
    return TenantGraph.from_snapshot("acme", unpack(blob, digest(blob))[PART], PARAMS)


def fed() -> tuple[TenantGraph, TenantState]:
    graph = TenantGraph.empty("acme", PARAMS)
    state = TenantState("acme", now=T)
    for a, b in itertools.combinations([f"m{i}" for i in range(5)], 2):
        graph.apply(TieChange("acme", InteractionKind.REPLY, a, b, T))
    for member in ("m0", "bot"):
        graph.apply(TieChange("acme", InteractionKind.FOLLOW, member, "m4", T - 86_400))
    graph.apply(AttendanceChange("acme", "c-a/e1", "m1", T))
    state.apply(EdgeChange("acme", Edge.JOINED_AT, "m1", "c-a", "set", T - 3_600))
    state.apply(ProfileChange("acme", Profile.ROLE, "bot", {"*": "bot"}))
    return graph, state


def test_a_detection_leaves_staff_and_bots_out_and_the_state_comes_back_from_its_snapshot() -> None:
    graph, state = fed()
    job = prepare(graph, state, PARAMS, NOW, 10)
    assert "bot" not in job.snapshot.members
    outcome = run(job)
    (group,) = outcome.detection.groups
    assert group.members == frozenset(f"m{i}" for i in range(5))
    assert len(outcome.edges[group.id]) == 10
    assert outcome.cpu_seconds > 0
    _, records = advance("acme", {}, outcome.detection, PARAMS, timedelta(days=7))
    graph.adopt(outcome.detection, records, 1_000.0)
    graph.apply(SeedChange("acme", "c-new", group.id, T))
    assert graph.seeds["c-new"].members == group.members
    assert graph.pending_seeds == [graph.seeds["c-new"]]

    again = saved_and_restored(graph)
    assert again.detection == graph.detection
    assert again.records == graph.records
    assert again.seeds == graph.seeds
    assert again.horizon == graph.horizon == T - 86_400
    assert (again.version, again.ran_at) == (graph.version, 1_000.0)
    assert (again.graph.snapshot(NOW).adjacency != graph.graph.snapshot(NOW).adjacency).nnz == 0
    assert again.since(T - 3_600) == T - 3_600
    assert again.since(None) == T - 86_400  # a join never seen: at least as old as the oldest tie


def test_an_erasure_takes_the_member_out_of_the_graph_the_groups_and_the_seeds() -> None:
    graph, state = fed()
    outcome = run(prepare(graph, state, PARAMS, NOW, 10))
    _, records = advance("acme", {}, outcome.detection, PARAMS, timedelta(days=7))
    graph.adopt(outcome.detection, records, 1_000.0)
    graph.apply(SeedChange("acme", "c-new", outcome.detection.groups[0].id, T))
    graph.apply(ErasureChange("acme", "m2"))
    assert graph.erased == ["m2"]
    assert "m2" not in graph.graph.snapshot(NOW).members
    assert graph.detection is not None
    assert all("m2" not in s.members and "m2" not in s.central for s in graph.detection.groups)
    assert "m2" not in graph.detection.paths
    assert all("m2" not in r.since and "m2" not in r.announced.members for r in graph.records.values())
    assert "m2" not in graph.seeds["c-new"].members
    assert "m2" not in saved_and_restored(graph).graph.snapshot(NOW).members


def test_the_ranking_state_and_the_graph_each_keep_their_own_changes() -> None:
    graph, state = TenantGraph.empty("acme", PARAMS), TenantState("acme")
    tie = TieChange("acme", InteractionKind.REPLY, "ann", "bea", T)
    role = ProfileChange("acme", Profile.ROLE, "bot", {"*": "bot"})
    for change in (tie, role):
        graph.apply(change)
        state.apply(change)
    assert (graph.version, state.version) == (1, 1)
    assert graph.graph.tie_count == 1
    assert state.roles == {"bot": {"*": "bot"}}
