"""One tenant's micro-community state: its interaction graph and its last detection, as one object.

:class:`TenantGraph` is fed the graph changes the consumer makes of each event (ties, attendance,
join times, communities created for a group, erasures) and keeps the last detection with each group's
record. It follows the per-tenant state protocol of recommend's checkpoints: :meth:`TenantGraph.to_snapshot`
returns bytes, :meth:`TenantGraph.from_snapshot` restores the same object.
"""

from __future__ import annotations

import io
import json
import math
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import numpy as np

from kith_recommend.domain.changes import (
    AttendanceChange,
    ErasureChange,
    GraphChange,
    JoinedChange,
    SeedChange,
    TieChange,
)
from kith_recommend.domain.microcommunities import (
    Announced,
    Detection,
    DetectionParams,
    GroupRecord,
    Interaction,
    InteractionGraph,
)
from kith_recommend.domain.microcommunities.codec import (
    detection_from_plain,
    detection_to_plain,
    record_from_plain,
    record_to_plain,
)
from kith_recommend.domain.microcommunities.identity import Group

SNAPSHOT_VERSION = 1


@dataclass(frozen=True, slots=True)
class Seed:
    """A community created for a group: the group's id and its members when the community was created."""

    community_id: str
    group_id: str
    members: frozenset[str]
    at: float


@dataclass
class TenantGraph:
    """A tenant's interaction graph, join times, last detection, group records and seeded communities."""

    tenant: str
    graph: InteractionGraph
    joined: dict[str, dict[str, float]] = field(default_factory=dict)  # community -> member -> when
    horizon: float = math.inf  # the earliest event time seen: joins before it are at least that old
    version: int = 0  # moves with every change applied; a detection records the version it saw
    detection: Detection | None = None
    records: dict[str, GroupRecord] = field(default_factory=dict)
    seeds: dict[str, Seed] = field(default_factory=dict)  # community -> seed
    pending_seeds: list[Seed] = field(default_factory=list)  # seen, not stored yet

    @classmethod
    def empty(cls, tenant: str, params: DetectionParams) -> TenantGraph:
        """Return a tenant with nothing yet."""
        return cls(tenant, InteractionGraph(params))

    def apply(self, change: GraphChange | ErasureChange) -> None:
        """Apply one graph change or erasure."""
        self.version += 1
        if isinstance(change, ErasureChange):
            self.forget(change.member_id)
            return
        if isinstance(change, SeedChange):
            members = self._group_members(change.group_id)
            seed = Seed(change.community_id, change.group_id, members, change.at)
            self.seeds[change.community_id] = seed
            self.pending_seeds.append(seed)
            return
        self.horizon = min(self.horizon, change.at)
        when = datetime.fromtimestamp(change.at, UTC)
        if isinstance(change, TieChange):
            if change.action == "remove":
                self.graph.unfollow(change.source, change.target)
            else:
                self.graph.add(Interaction(change.kind, change.source, change.target, when))
        elif isinstance(change, AttendanceChange):
            self.graph.attend(change.event, change.member_id, when)
        elif isinstance(change, JoinedChange):
            self.joined.setdefault(change.community_id, {})[change.member_id] = change.at

    def _group_members(self, group_id: str) -> frozenset[str]:
        if self.detection is not None and group_id in self.detection.by_id:
            return self.detection.by_id[group_id].members
        record = self.records.get(group_id)
        return record.announced.members if record is not None else frozenset()

    def joined_at(self, community_id: str, member: str) -> float:
        """Return when a member joined a community (the horizon when the join is older than what was seen)."""
        found = self.joined.get(community_id, {}).get(member)
        if found is not None:
            return found
        return self.horizon if math.isfinite(self.horizon) else 0.0

    def forget(self, member: str) -> None:
        """Erase a member from the graph, the join times, the seeds and the last detection's groups."""
        self.graph.forget(member)
        for members in self.joined.values():
            members.pop(member, None)
        self.seeds = {c: replace(s, members=s.members - {member}) for c, s in self.seeds.items()}
        if self.detection is not None:
            self.detection = without(self.detection, member)
        self.records = {gid: _record_without(r, member) for gid, r in self.records.items()}

    def to_snapshot(self) -> bytes:
        """Return the whole state as bytes: the graph's own snapshot and the rest as JSON (no pickle)."""
        meta: dict[str, Any] = {
            "version": SNAPSHOT_VERSION,
            "tenant": self.tenant,
            "joined": self.joined,
            "horizon": self.horizon if math.isfinite(self.horizon) else None,
            "detection": detection_to_plain(self.detection) if self.detection is not None else None,
            "records": [record_to_plain(r) for r in self.records.values()],
            "seeds": [[s.community_id, s.group_id, sorted(s.members), s.at] for s in self.seeds.values()],
        }
        buffer = io.BytesIO()
        np.savez(
            buffer,
            meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8),
            graph=np.frombuffer(self.graph.to_snapshot(), dtype=np.uint8),
        )
        return buffer.getvalue()

    @classmethod
    def from_snapshot(cls, data: bytes, params: DetectionParams) -> TenantGraph:
        """Return the state :meth:`to_snapshot` saved."""
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            meta = json.loads(archive["meta"].tobytes().decode())
            graph = InteractionGraph.from_snapshot(archive["graph"].tobytes(), params)
        if meta.get("version") != SNAPSHOT_VERSION:
            raise ValueError(f"unknown micro-community state snapshot version {meta.get('version')!r}")
        horizon = meta.get("horizon")
        return cls(
            tenant=meta["tenant"],
            graph=graph,
            joined={c: {m: float(t) for m, t in members.items()} for c, members in meta["joined"].items()},
            horizon=float(horizon) if horizon is not None else math.inf,
            detection=detection_from_plain(meta["detection"]) if meta["detection"] is not None else None,
            records={r["id"]: record_from_plain(r) for r in meta["records"]},
            seeds={c: Seed(c, g, frozenset(m), float(at)) for c, g, m, at in meta["seeds"]},
        )


def without(detection: Detection, member: str) -> Detection:
    """Return a detection with one member taken out of every group and path."""
    groups = []
    for summary in detection.groups:
        if member not in summary.members:
            groups.append(summary)
            continue
        group = summary.group
        lean = Group(
            group.id, group.members - {member}, group.first_seen, group.gained - {member}, group.lost - {member}
        )
        central = tuple(m for m in summary.central if m != member)
        groups.append(replace(summary, group=lean, central=central))
    paths = {m: p for m, p in detection.paths.items() if m != member}
    return Detection(detection.tenant, detection.detected_at, tuple(groups), detection.between, paths)


def _record_without(record: GroupRecord, member: str) -> GroupRecord:
    if member not in record.since and member not in record.departed and member not in record.announced.members:
        return record
    announced = record.announced
    return replace(
        record,
        since={m: t for m, t in record.since.items() if m != member},
        departed={m: t for m, t in record.departed.items() if m != member},
        announced=Announced(announced.id, announced.size, announced.status, announced.members - {member}),
    )
