"""What a group is (status, topics, central members, overlaps) and the nurturing actions with their reasons."""

from __future__ import annotations

from dataclasses import replace

import pytest

from kith_recommend.domain.microcommunities import (
    ActionKind,
    Detection,
    Interaction,
    InteractionKind,
    Overlap,
    Status,
    TenantContext,
    detect,
    nurture,
)
from kith_recommend.domain.microcommunities.actions import create_community
from kith_recommend.domain.microcommunities.summary import classify

from .microcommunities import NOW, PARAMS, graph_of

pytestmark = pytest.mark.unit


def overlap(shared: int, community_size: int, group_size: int, cid: str = "c1") -> Overlap:
    jaccard = shared / (group_size + community_size - shared)
    return Overlap(cid, shared, community_size, jaccard, shared / group_size)


def test_status_rules() -> None:
    assert classify(10, [overlap(8, 12, 10)], PARAMS) == (Status.MATCHES, "c1")  # Jaccard 8/14
    assert classify(10, [overlap(8, 40, 10)], PARAMS) == (Status.INSIDE, "c1")  # 80% inside, 4x its size
    assert classify(10, [overlap(8, 25, 10)], PARAMS) == (Status.INSIDE, "c1")  # most of it in a larger one
    assert classify(10, [overlap(6, 9, 10)], PARAMS) == (Status.EMERGING, None)  # the community is smaller
    strict = PARAMS.model_copy(update={"inside_ratio": 3.0})
    assert classify(10, [overlap(8, 25, 10)], strict) == (Status.EMERGING, None)  # parent only 2.5x its size
    assert classify(10, [overlap(5, 40, 10)], PARAMS) == (Status.EMERGING, None)  # half is not most
    assert classify(10, [], PARAMS) == (Status.EMERGING, None)


def world() -> tuple[Detection, dict[str, list[str]]]:
    """Bakers (no community together), climbers (inside a big club), chess players (a club of their own)."""
    groups = {
        "bake": [f"baker{i}" for i in range(7)],
        "climb": [f"climber{i}" for i in range(6)],
        "chess": [f"chess{i}" for i in range(5)],
    }
    graph = graph_of(groups.values())
    graph.add(Interaction(InteractionKind.MENTION, "baker0", "baker1", NOW))  # baker0 and baker1 the busiest
    graph.add(Interaction(InteractionKind.MENTION, "baker0", "chess0", NOW))
    terms: dict[str, dict[str, float]] = {m: {"#hello": 1.0} for ms in groups.values() for m in ms}
    for member in groups["bake"]:
        terms[member].update({"#sourdough": 3.0, "#rye": 1.0})
    terms["baker0"]["#chess"] = 1.0
    for member in groups["chess"]:
        terms[member]["#chess"] = 2.0
    club = set(groups["climb"]) | {f"other{i}" for i in range(30)}
    communities = {
        "c-climb": club,
        "c-chess": set(groups["chess"]),
        "c-bake-a": {"baker0", "other1"},
        "c-bake-b": {"baker1", "other2"},
    }
    context = TenantContext(terms, communities, {"c-climb": "Climbing Club"})
    return detect("acme", graph.snapshot(NOW), PARAMS, context), groups


def test_summaries_say_what_each_group_is() -> None:
    detection, groups = world()
    by_first = {next(iter(sorted(s.group.members))): s for s in detection.groups}
    bake, climb, chess = by_first["baker0"], by_first["climber0"], by_first["chess0"]
    assert bake.status is Status.EMERGING
    assert bake.unaffiliated == 7
    assert bake.central[:2] == ("baker0", "baker1")
    assert [t.term for t in bake.topics] == ["#sourdough", "#rye"]  # #hello everywhere: no lift; #chess one member
    assert bake.topics[0].support == 7
    assert climb.status is Status.INSIDE
    assert climb.community_id == "c-climb"
    assert climb.overlaps[0].share == 1.0
    assert chess.status is Status.MATCHES
    assert chess.overlaps[0].jaccard == 1.0
    assert detection.ties_between(bake.id, chess.id) == 1
    assert {s.size for s in detection.groups} == {len(g) for g in groups.values()}


def test_actions_come_with_reasons_that_name_their_numbers() -> None:
    detection, _ = world()
    actions = nurture(detection, slipping={"climber3", "climber4"}, community_names={"c-climb": "Climbing Club"})
    by_kind: dict[ActionKind, list[str]] = {}
    for action in actions:
        by_kind.setdefault(action.kind, []).append(action.reason)
    create = next(a for a in actions if a.kind is ActionKind.CREATE_COMMUNITY)
    assert create.proposed_name == "Sourdough & Rye"
    assert create.members[:2] == ("baker0", "baker1")
    assert create.reason.startswith("7 members who interact with one another about #sourdough and #rye")
    assert "pairs are tied), none of them in a community with another." in create.reason
    bake = next(s for s in detection.groups if s.id == create.group_id)
    assert "3 of them in no community with another." in create_community(replace(bake, unaffiliated=3)).reason
    assert "each in a community with another of them, though no community holds the group" in (
        create_community(replace(bake, unaffiliated=0)).reason
    )
    invite = next(a for a in actions if a.kind is ActionKind.INVITE_TO_SUBSPACE)
    assert invite.community_id == "c-climb"
    assert "6 of these 6 members are in Climbing Club (36 members)" in invite.reason
    engage = next(a for a in actions if a.kind is ActionKind.RE_ENGAGE)
    assert engage.members == ("climber3", "climber4")
    assert engage.reason.startswith("2 of the 6 members of this group are slipping away (climber3 and climber4)")
    connect = [a for a in actions if a.kind is ActionKind.CONNECT_GROUPS]
    bakers = next(a for a in connect if "baker0" in a.members[:2])
    chess_id = detection.membership["chess0"]
    assert bakers.other_group_id == chess_id
    assert "1 tie already links members of the two" in bakers.reason
    assert not any(a.kind is ActionKind.CREATE_COMMUNITY and a.group_id == chess_id for a in actions)
