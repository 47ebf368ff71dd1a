"""A tenant's state survives packing and restoring exactly; only changed tenants are packed; parts plug in."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from kith_devkit.events import event, join
from kith_devkit.generator import community_id, member_id
from kith_devkit.scale import tenant_at_scale
from kith_recommend.domain.changes import Change, EdgeChange, changes_for
from kith_recommend.domain.model import MODEL_PART, TenantState
from kith_recommend.domain.params import RankingParams
from kith_recommend.domain.parts import PartKind, Snapshot, part_keys
from kith_recommend.engine import Recommender, UnusableCheckpoint
from kith_recommend.snapshot import FORMAT, CorruptSnapshot, compress, digest, pack, split, unpack
from kith_recommend.store import LoadedCheckpoint, Position
from kith_shared.events import Event

pytestmark = pytest.mark.unit


def tenant_events(tenant: str = "acme") -> list[Event]:
    events: list[Event] = list(tenant_at_scale(30, 200, seed=5, days=10, activity=0.5, tenant=tenant))
    events += [event("member.erased", {"member_id": member_id(3)}, tenant=tenant)]
    events += [join(member_id(4), community_id(1), tenant=tenant)]
    return events


def built(events: list[Event], parts: dict[str, PartKind] | None = None) -> Recommender:
    recommender = Recommender(RankingParams(), parts)
    for e in events:
        recommender.apply(changes_for(e))
    return recommender


def assert_same_state(a: TenantState, b: TenantState) -> None:
    assert a.edges == b.edges
    assert a.communities == b.communities
    assert a.interests == b.interests
    assert (a.now, a.version) == (b.now, b.version)


def loaded(recommender: Recommender, positions: dict[tuple[str, int], Position]) -> LoadedCheckpoint:
    """Pack, compress and read back every tenant as a checkpoint would."""
    snapshot = recommender.snapshot({})
    blobs = {tenant: compress(s.packed) for tenant, s in snapshot.tenants.items()}
    entries = {
        t: {"tenant": t, "version": 1, "chunks": 1, "bytes": len(b), "digest": digest(b)} for t, b in blobs.items()
    }
    return LoadedCheckpoint(1, FORMAT, part_keys(recommender.kinds), positions, blobs, entries)  # type: ignore[arg-type]


def test_a_restored_state_equals_the_saved_one_and_goes_on_the_same() -> None:
    events = tenant_events()
    assert any(e.type == "member.erased" for e in events)
    first, rest = events[: len(events) // 2], events[len(events) // 2 :]
    saved = built(first)
    positions = {("t.activity.v1", 0): Position(41, "abc"), ("t.engagement.v1", 3): Position(7, "def")}
    restored = Recommender(RankingParams())
    restored.restore(loaded(saved, positions))

    assert_same_state(restored.state("acme"), saved.state("acme"))
    assert restored.positions == positions
    for e in rest:  # the restored state goes on exactly as the saved one does
        saved.apply(changes_for(e))
        restored.apply(changes_for(e))
    assert_same_state(restored.state("acme"), saved.state("acme"))
    assert restored.state("acme").edges[next(iter(restored.state("acme").edges))] is not None


def test_only_tenants_that_changed_are_packed_again() -> None:
    recommender = built(tenant_events("acme") + tenant_events("other"))
    first = recommender.snapshot({})
    assert set(first.tenants) == {"acme", "other"}
    saved = {tenant: s.versions for tenant, s in first.tenants.items()}
    assert recommender.snapshot(saved).tenants == {}
    recommender.apply([EdgeChange("other", MODEL_PART_EDGE, "m", "c", "set")])
    again = recommender.snapshot(saved)
    assert set(again.tenants) == {"other"}
    assert again.unchanged == ["acme"]


MODEL_PART_EDGE = next(iter(TenantState("x").edges))


def test_a_corrupt_or_truncated_blob_is_refused() -> None:
    blob = compress(pack(built(tenant_events()).tenants["acme"]))
    with pytest.raises(CorruptSnapshot, match="digest"):
        unpack(blob[:-10], digest(blob))
    broken = b"not zlib at all"
    with pytest.raises(CorruptSnapshot, match="decode"):
        unpack(broken, digest(broken))
    assert b"".join(split(blob, 1000)) == blob
    assert all(len(piece) <= 1000 for piece in split(blob, 1000))
    assert split(b"", 1000) == [b""]


@dataclass
class Counter:
    """A toy part: counts the changes of its tenant (what another part, an interaction graph, would plug in as)."""

    tenant: str
    counts: dict[str, int] = field(default_factory=dict)
    version: int = 0

    def apply(self, change: Change) -> None:
        name = type(change).__name__
        self.counts[name] = self.counts.get(name, 0) + 1
        self.version += 1

    def to_snapshot(self) -> Snapshot:
        return {"counts": self.counts, "version": self.version}

    @classmethod
    def restore(cls, tenant: str, data: Snapshot) -> Counter:
        return cls(tenant, dict(data["counts"]), int(data["version"]))


def test_another_part_joins_the_checkpoint_and_a_checkpoint_without_it_is_not_used() -> None:
    kinds = {MODEL_PART.name: MODEL_PART, "counter": PartKind("counter", Counter, Counter.restore)}
    events = tenant_events()
    with_counter = built(events, kinds)
    counter = with_counter.tenants["acme"]["counter"]
    assert isinstance(counter, Counter)
    assert counter.counts["EdgeChange"] > 100

    restored = Recommender(RankingParams(), kinds)
    restored.restore(loaded(with_counter, {}))
    again = restored.tenants["acme"]["counter"]
    assert isinstance(again, Counter)
    assert again == counter

    # A checkpoint written before the counter existed lacks it: restoring it would leave the counter
    # without the history before the checkpoint, so it is refused (the service then replays everything).
    without = built(events)
    with pytest.raises(UnusableCheckpoint, match="counter"):
        Recommender(RankingParams(), kinds).restore(loaded(without, {}))
