"""Erasure sticks in recommend: nothing about an erased member reaches any part of the state, late or replayed."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from kith_devkit.events import event, join, post, reply
from kith_recommend.domain.changes import Change, Edge, changes_for
from kith_recommend.domain.model import MODEL_PART
from kith_recommend.domain.params import RankingParams
from kith_recommend.domain.parts import PartKind, Snapshot
from kith_recommend.engine import Recommender
from kith_recommend.erasure import tombstone_writes
from kith_shared.erasure import tombstone
from kith_shared.events import Event

pytestmark = pytest.mark.unit


@dataclass
class Seen:
    """A part that keeps every change it is given (as the micro-community graph would)."""

    tenant: str
    changes: list[Change] = field(default_factory=list)
    version: int = 0

    def apply(self, change: Change) -> None:
        self.changes.append(change)
        self.version += 1

    def to_snapshot(self) -> Snapshot:
        return len(self.changes)


SEEN = PartKind("seen", Seen, lambda tenant, _: Seen(tenant))


def apply(recommender: Recommender, events: list[Event]) -> None:
    for e in events:
        recommender.apply(changes_for(e))


def erased_member_everywhere(recommender: Recommender, member: str) -> list[str]:
    state = recommender.state("acme")
    found = [f"edge {k}" for k, by_a in state.edges.items() if member in by_a]
    found += [f"target {k}" for k, by_a in state.edges.items() for t in by_a.values() if member in t]
    found += [name for name in ("interests", "roles", "locations") if member in getattr(state, name)]
    return found


def test_late_events_of_an_erased_member_reach_no_part_and_others_still_count() -> None:
    recommender = Recommender(RankingParams(), {MODEL_PART.name: MODEL_PART, SEEN.name: SEEN}, erasure_secret="k")
    apply(recommender, [join("m-gone", "c1"), join("ann", "c1"), post("m-gone", "c1", "hello", ["climbing"])])
    apply(recommender, [event("member.erased", {"member_id": "m-gone"})])
    seen = recommender.parts("acme")["seen"]
    assert isinstance(seen, Seen)
    before = len(seen.changes)

    late = [
        join("m-gone", "c2"),
        post("m-gone", "c1", "late", ["bouldering"]),
        reply("m-gone", "ann", "c1"),
        event("member.followed", {"member_id": "m-gone", "followed_member_id": "ann"}),
        event("member.interests.declared", {"member_id": "m-gone", "interests": ["yoga"]}),
        event("member.role.set", {"member_id": "m-gone", "role": "staff"}),
        event(
            "engagement.changed",
            {"member_id": "m-gone", "community_id": "c1", "score": 3.0, "level": 1, "as_of": "2026-11-02T10:00:00Z"},
        ),
    ]
    follow = event("member.followed", {"member_id": "ann", "followed_member_id": "m-gone"})
    towards = [reply("ann", "m-gone", "c1"), follow]
    apply(recommender, late + towards)

    assert erased_member_everywhere(recommender, "m-gone") == []
    assert not any("m-gone" in repr(c) for c in seen.changes[before:])
    assert recommender.dropped > 0
    # Ann's own reply still counts (as activity in c1); only the tie towards the erased member is dropped.
    assert recommender.state("acme").edges[Edge.ACTIVITY]["ann"]["c1"] > 0


def test_a_reinstated_member_counts_again_and_the_tombstones_are_keyed_hashes() -> None:
    recommender = Recommender(RankingParams(), erasure_secret="k")
    erase = changes_for(event("member.erased", {"member_id": "m-gone"}))
    assert tombstone_writes(recommender.tombstones, erase) == [(tombstone("k", "acme", "m-gone"), True)]
    recommender.apply(erase)
    apply(recommender, [join("m-gone", "c1")])
    assert erased_member_everywhere(recommender, "m-gone") == []
    reinstate = changes_for(event("member.reinstated", {"member_id": "m-gone"}))
    assert tombstone_writes(recommender.tombstones, reinstate) == [(tombstone("k", "acme", "m-gone"), False)]
    recommender.apply(reinstate)
    apply(recommender, [join("m-gone", "c2")])
    assert erased_member_everywhere(recommender, "m-gone") == ["edge member", "edge joinedat"]


def test_known_tombstones_drop_records_read_before_the_erasure_as_a_rebuild_reads_them() -> None:
    live = Recommender(RankingParams(), erasure_secret="k")
    apply(live, [join("ann", "c1"), join("m-gone", "c1"), event("member.erased", {"member_id": "m-gone"})])
    rebuilt = Recommender(RankingParams(), erasure_secret="k")
    rebuilt.tombstones.replace(live.tombstones)
    apply(rebuilt, [join("m-gone", "c1"), join("ann", "c1"), event("member.erased", {"member_id": "m-gone"})])
    assert rebuilt.state("acme").edges == live.state("acme").edges
