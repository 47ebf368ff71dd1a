"""The interaction graph: decayed weights, group ties, exclusions, erasure, snapshots."""

from __future__ import annotations

import io
import json
from datetime import datetime, timedelta

import numpy as np
import pytest

from kith_recommend.domain.microcommunities import (
    CommunityMembership,
    DetectionParams,
    EventAttendance,
    Interaction,
    InteractionGraph,
    InteractionKind,
    detect,
)

from .microcommunities import NOW

pytestmark = pytest.mark.unit

PARAMS = DetectionParams(half_life_days=10.0)


def weight(graph: InteractionGraph, a: str, b: str, at: datetime = NOW, exclude: tuple[str, ...] = ()) -> float:
    snap = graph.snapshot(at, exclude)
    if a not in snap.index or b not in snap.index:
        return 0.0
    return float(snap.adjacency[snap.index[a], snap.index[b]])


def test_a_tie_halves_every_half_life_and_kinds_add_up() -> None:
    graph = InteractionGraph(PARAMS)
    graph.add(Interaction(InteractionKind.REPLY, "ann", "bea", NOW - timedelta(days=10)))
    assert weight(graph, "ann", "bea") == pytest.approx(PARAMS.weights.reply / 2)
    assert weight(graph, "bea", "ann") == pytest.approx(PARAMS.weights.reply / 2)  # undirected
    graph.add(Interaction(InteractionKind.FOLLOW, "bea", "ann", NOW))
    assert weight(graph, "ann", "bea") == pytest.approx(PARAMS.weights.reply / 2 + PARAMS.weights.follow)
    assert weight(graph, "ann", "bea", NOW + timedelta(days=20)) == pytest.approx(
        (PARAMS.weights.reply / 2 + PARAMS.weights.follow) / 4
    )


def test_order_does_not_matter_and_rebasing_keeps_weights() -> None:
    times = [NOW - timedelta(days=d) for d in (0, 3, 40)]
    forward, backward = InteractionGraph(PARAMS), InteractionGraph(PARAMS)
    for t in times:
        forward.add(Interaction(InteractionKind.MENTION, "ann", "bea", t))
    for t in reversed(times):
        backward.add(Interaction(InteractionKind.MENTION, "bea", "ann", t))
    expected = weight(forward, "ann", "bea")
    assert weight(backward, "ann", "bea") == pytest.approx(expected)
    forward.rebase(NOW.timestamp())
    assert weight(forward, "ann", "bea") == pytest.approx(expected)


def test_interactions_far_ahead_of_the_landmark_rebase_instead_of_overflowing() -> None:
    graph = InteractionGraph(DetectionParams(half_life_days=0.01))
    graph.add(Interaction(InteractionKind.FOLLOW, "ann", "bea", NOW))
    assert graph.landmark == NOW.timestamp()
    assert weight(graph, "ann", "bea") == pytest.approx(1.0)


def test_a_graph_silent_for_many_half_lives_is_pruned_instead_of_failing() -> None:
    graph = InteractionGraph(DetectionParams(half_life_days=0.01))
    graph.add(Interaction(InteractionKind.REPLY, "ann", "bea", NOW))
    graph.add(Interaction(InteractionKind.FOLLOW, "ann", "cid", NOW))
    later = NOW + timedelta(days=30)  # 3,000 half-lives: every tie has faded
    assert graph.prune(later) == 2
    assert (graph.tie_count, graph.follow_count) == (0, 0)
    graph.add(Interaction(InteractionKind.REPLY, "ann", "bea", later))
    assert weight(graph, "ann", "bea", later) == pytest.approx(PARAMS.weights.reply)


def test_self_ties_are_ignored_and_group_kinds_are_refused() -> None:
    graph = InteractionGraph(PARAMS)
    graph.add(Interaction(InteractionKind.FOLLOW, "ann", "ann", NOW))
    assert graph.tie_count == 0
    with pytest.raises(ValueError, match="attendance"):
        graph.add(Interaction(InteractionKind.CO_ATTENDANCE, "ann", "bea", NOW))


def test_excluded_members_and_their_ties_are_left_out() -> None:
    graph = InteractionGraph(PARAMS)
    graph.add(Interaction(InteractionKind.REPLY, "ann", "bot", NOW))
    graph.add(Interaction(InteractionKind.REPLY, "ann", "bea", NOW))
    snap = graph.snapshot(NOW, exclude={"bot"})
    assert set(snap.members) == {"ann", "bea"}
    assert snap.total_weight == pytest.approx(PARAMS.weights.reply)


def test_events_and_small_communities_tie_their_members_spread_over_the_group() -> None:
    graph = InteractionGraph(PARAMS)
    graph.set_event(EventAttendance("meetup", frozenset({"ann", "bea", "cid"}), NOW - timedelta(days=10)))
    assert weight(graph, "ann", "cid") == pytest.approx(PARAMS.weights.co_attendance / 2 / 2)
    crowd = frozenset(f"m{i}" for i in range(PARAMS.max_event_size + 1))
    graph.set_event(EventAttendance("festival", crowd, NOW))
    assert weight(graph, "m0", "m1") == 0.0
    joined = {"dan": NOW - timedelta(days=30), "eve": NOW - timedelta(days=10)}
    graph.set_community(CommunityMembership("c-small", joined, size=2))
    assert weight(graph, "dan", "eve") == pytest.approx(PARAMS.weights.co_membership / 2)  # since eve joined
    graph.set_community(CommunityMembership("c-big", {"fay": NOW, "gus": NOW}, size=PARAMS.small_community_size + 1))
    assert weight(graph, "fay", "gus") == 0.0


def test_forget_erases_a_member_everywhere() -> None:
    graph = InteractionGraph(PARAMS)
    graph.add(Interaction(InteractionKind.REPLY, "ann", "bea", NOW))
    graph.add(Interaction(InteractionKind.REPLY, "bea", "cid", NOW))
    graph.set_event(EventAttendance("meetup", frozenset({"ann", "cid"}), NOW))
    graph.forget("ann")
    snap = graph.snapshot(NOW)
    assert "ann" not in snap.members
    assert set(snap.members) == {"bea", "cid"}


def test_prune_drops_what_has_decayed_away() -> None:
    graph = InteractionGraph(PARAMS)
    graph.add(Interaction(InteractionKind.REPLY, "ann", "bea", NOW - timedelta(days=400)))
    graph.add(Interaction(InteractionKind.REPLY, "bea", "cid", NOW))
    graph.set_event(EventAttendance("old", frozenset({"dan", "eve"}), NOW - timedelta(days=400)))
    assert graph.prune(NOW) == 2
    assert graph.tie_count == 1


def test_an_empty_graph_has_no_groups() -> None:
    graph = InteractionGraph(PARAMS)
    snap = graph.snapshot(NOW)
    assert snap.members == ()
    detection = detect("acme", snap, PARAMS)
    assert detection.groups == ()
    assert detection.membership == {}


def test_an_unfollow_takes_back_exactly_the_follows_share() -> None:
    graph = InteractionGraph(PARAMS)
    graph.add(Interaction(InteractionKind.FOLLOW, "ann", "bea", NOW - timedelta(days=10)))
    graph.add(Interaction(InteractionKind.REPLY, "bea", "ann", NOW))
    graph.add(Interaction(InteractionKind.FOLLOW, "ann", "bea", NOW))  # already following: nothing more
    assert weight(graph, "ann", "bea") == pytest.approx(PARAMS.weights.follow / 2 + PARAMS.weights.reply)
    assert graph.unfollow("ann", "bea")
    assert weight(graph, "ann", "bea") == pytest.approx(PARAMS.weights.reply)
    assert not graph.unfollow("ann", "bea")  # no longer following
    graph.add(Interaction(InteractionKind.FOLLOW, "cid", "dan", NOW))
    assert graph.unfollow("cid", "dan")
    assert weight(graph, "cid", "dan") == 0.0
    assert graph.tie_count == 1
    assert not graph.unfollow("dan", "cid")  # the other direction never followed


def test_attendance_builds_an_event_one_member_at_a_time() -> None:
    graph = InteractionGraph(PARAMS)
    for member in ("ann", "bea", "cid"):
        graph.attend("c-1/e-1", member, NOW)
    assert weight(graph, "ann", "cid") == pytest.approx(PARAMS.weights.co_attendance / 2)


def test_trim_keeps_the_heaviest_ties() -> None:
    graph = InteractionGraph(PARAMS)
    for i in range(10):
        for _ in range(i + 1):
            graph.add(Interaction(InteractionKind.REPLY, "hub", f"m{i}", NOW))
    assert graph.trim(4) == 6
    assert set(graph.snapshot(NOW).members) == {"hub", "m6", "m7", "m8", "m9"}
    assert graph.trim(4) == 0


def test_a_snapshot_restores_the_same_graph_without_erased_names() -> None:
    graph = InteractionGraph(PARAMS)
    graph.add(Interaction(InteractionKind.FOLLOW, "ann", "bea", NOW - timedelta(days=3)))
    graph.add(Interaction(InteractionKind.REPLY, "bea", "cid", NOW))
    graph.add(Interaction(InteractionKind.MENTION, "eve", "ann", NOW))
    graph.attend("c-1/e-1", "cid", NOW - timedelta(days=1))
    graph.attend("c-1/e-1", "dan", NOW)
    graph.forget("eve")
    again = InteractionGraph.from_snapshot(graph.to_snapshot(), PARAMS)
    before, after = graph.snapshot(NOW), again.snapshot(NOW)
    assert after.members == before.members
    assert (after.adjacency != before.adjacency).nnz == 0
    assert "eve" not in _arrays(again)["names"].tobytes().decode().split("\n")
    assert "ann" in _arrays(again)["names"].tobytes().decode().split("\n")
    assert again.unfollow("ann", "bea")  # the follow came back too
    again.add(Interaction(InteractionKind.REPLY, "fay", "gus", NOW))  # new members get new numbers
    assert {"fay", "gus"} <= set(again.snapshot(NOW).members)
    with pytest.raises(ValueError, match="version"):
        InteractionGraph.from_snapshot(_bad_version(graph), PARAMS)


def _arrays(graph: InteractionGraph) -> dict[str, np.ndarray]:
    with np.load(io.BytesIO(graph.to_snapshot())) as archive:
        return {name: archive[name] for name in archive.files}


def _bad_version(graph: InteractionGraph) -> bytes:
    arrays = _arrays(graph)
    meta = json.loads(arrays["meta"].tobytes())
    meta["version"] = 99
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    buffer = io.BytesIO()
    np.savez(buffer, *(), **arrays)  # type: ignore[arg-type]  # numpy's stub takes the names for flags
    return buffer.getvalue()
