"""One tenant's micro-community part: its interaction graph and its last detection, kept in the checkpoint.

:class:`TenantGraph` is a part of each tenant's state (:mod:`kith_recommend.domain.parts`): the
consumer applies every change to it, and it keeps the graph changes (ties, attendance, communities
created for a group) and erasures (when members joined communities is the ranking model's
``joinedat`` edge). It also holds the last detection and each group's
record, so that a restarted service warm-starts from them and announces only what moved. Its
snapshot is plain data for the checkpoint: the graph as the bytes of a numpy archive, the rest as
lists and dictionaries.

The part is registered as ``microcommunities`` with the default detection parameters (what a rebuild
without settings uses); :func:`parts_for` gives a service the registry with its own parameters (the
graph weighs ties as it takes them in).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from kith_recommend.domain.changes import (
    AttendanceChange,
    Change,
    ErasureChange,
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
from kith_recommend.domain.parts import PARTS, PartKind, Snapshot, register

#: The part's name in each tenant's state and in the checkpoint.
PART = "microcommunities"


@dataclass(frozen=True, slots=True)
class Seed:
    """A community created for a group: the group's id and its members when the community was created."""

    community_id: str
    group_id: str
    members: frozenset[str]
    at: float


@dataclass
class TenantGraph:
    """A tenant's interaction graph, seeded communities, last detection and group records."""

    tenant: str
    graph: InteractionGraph
    horizon: float = math.inf  # the earliest tie seen: memberships older than what was seen date from it
    version: int = 0  # moves with every change the part keeps (the checkpoint rewrites it then)
    detection: Detection | None = None
    records: dict[str, GroupRecord] = field(default_factory=dict)
    ran_at: float = 0.0  # wall time of the detection held
    seeds: dict[str, Seed] = field(default_factory=dict)  # community -> seed
    pending_seeds: list[Seed] = field(default_factory=list)  # seen, not stored yet (not saved)
    erased: list[str] = field(default_factory=list)  # erased since the scheduler last looked (not saved)

    @classmethod
    def empty(cls, tenant: str, params: DetectionParams | None = None) -> TenantGraph:
        """Return a tenant with nothing yet."""
        return cls(tenant, InteractionGraph(params or DetectionParams()))

    def apply(self, change: Change) -> None:
        """Apply one change: graph changes and erasures; every other kind is the ranking model's."""
        if isinstance(change, ErasureChange):
            self.version += 1
            self.forget(change.member_id)
            self.erased.append(change.member_id)
            return
        if isinstance(change, SeedChange):
            self.version += 1
            seed = Seed(change.community_id, change.group_id, self._group_members(change.group_id), change.at)
            self.seeds[change.community_id] = seed
            self.pending_seeds.append(seed)
            return
        if not isinstance(change, TieChange | AttendanceChange):
            return
        self.version += 1
        self.horizon = min(self.horizon, change.at)
        when = datetime.fromtimestamp(change.at, UTC)
        if isinstance(change, TieChange):
            if change.action == "remove":
                self.graph.unfollow(change.source, change.target)
            else:
                self.graph.add(Interaction(change.kind, change.source, change.target, when))
        else:
            self.graph.attend(change.event, change.member_id, when)

    def adopt(self, detection: Detection, records: dict[str, GroupRecord], ran_at: float) -> None:
        """Hold a new detection and its records (call with the model's lock held)."""
        self.detection, self.records, self.ran_at = detection, records, ran_at
        self.version += 1

    def _group_members(self, group_id: str) -> frozenset[str]:
        if self.detection is not None and group_id in self.detection.by_id:
            return self.detection.by_id[group_id].members
        record = self.records.get(group_id)
        return record.announced.members if record is not None else frozenset()

    def since(self, joined_at: float | None) -> float:
        """Return when a membership began: when the member joined, else (a join never seen) the horizon."""
        if joined_at is not None:
            return joined_at
        return self.horizon if math.isfinite(self.horizon) else 0.0

    def forget(self, member: str) -> None:
        """Erase a member from the graph, the join times, the seeds and the last detection's groups."""
        self.graph.forget(member)
        self.seeds = {c: replace(s, members=s.members - {member}) for c, s in self.seeds.items()}
        if self.detection is not None:
            self.detection = without(self.detection, member)
        self.records = {gid: record_without(r, member) for gid, r in self.records.items()}

    def to_snapshot(self) -> Snapshot:
        """Return the part as plain data: the graph's own snapshot (bytes) and the rest as lists and maps."""
        return {
            "graph": self.graph.to_snapshot(compress=False),
            "horizon": self.horizon if math.isfinite(self.horizon) else None,
            "version": self.version,
            "detection": detection_to_plain(self.detection) if self.detection is not None else None,
            "records": [record_to_plain(r) for r in self.records.values()],
            "ran_at": self.ran_at,
            "seeds": [[s.community_id, s.group_id, sorted(s.members), s.at] for s in self.seeds.values()],
        }

    @classmethod
    def from_snapshot(cls, tenant: str, data: Snapshot, params: DetectionParams | None = None) -> TenantGraph:
        """Return the part :meth:`to_snapshot` saved."""
        horizon = data["horizon"]
        detection = data["detection"]
        return cls(
            tenant=tenant,
            graph=InteractionGraph.from_snapshot(data["graph"], params or DetectionParams()),
            horizon=float(horizon) if horizon is not None else math.inf,
            version=int(data["version"]),
            detection=detection_from_plain(detection) if detection is not None else None,
            records={r["id"]: record_from_plain(r) for r in data["records"]},
            ran_at=float(data["ran_at"]),
            seeds={c: Seed(c, g, frozenset(m), float(at)) for c, g, m, at in data["seeds"]},
        )


def part_kind(params: DetectionParams | None = None) -> PartKind:
    """Return the part's kind, its graph weighing ties with ``params`` (the defaults when None)."""
    if params is None:
        return PartKind(PART, TenantGraph.empty, TenantGraph.from_snapshot)

    def new(tenant: str) -> TenantGraph:
        return TenantGraph.empty(tenant, params)

    def restore(tenant: str, data: Snapshot) -> TenantGraph:
        return TenantGraph.from_snapshot(tenant, data, params)

    return PartKind(PART, new, restore)


#: Every tenant's micro-community part (with the default detection parameters).
MICROCOMMUNITIES_PART = register(part_kind())


def parts_for(params: DetectionParams) -> dict[str, PartKind]:
    """Return the registered parts, the micro-community part weighing ties with ``params``."""
    return {**PARTS, PART: part_kind(params)}


def without(detection: Detection, member: str) -> Detection:
    """Return a detection with one member taken out of every group and path."""
    groups = []
    for summary in detection.groups:
        if member not in summary.members:
            groups.append(summary)
            continue
        group = summary.group
        gone = {member}
        lean = Group(group.id, group.members - gone, group.first_seen, group.gained - gone, group.lost - gone)
        central = tuple(m for m in summary.central if m != member)
        groups.append(replace(summary, group=lean, central=central))
    paths = {m: p for m, p in detection.paths.items() if m != member}
    return Detection(detection.tenant, detection.detected_at, tuple(groups), detection.between, paths)


def record_without(record: GroupRecord, member: str) -> GroupRecord:
    """Return a group record with one member taken out."""
    if member not in record.since and member not in record.departed and member not in record.announced.members:
        return record
    announced = record.announced
    return replace(
        record,
        since={m: t for m, t in record.since.items() if m != member},
        departed={m: t for m, t in record.departed.items() if m != member},
        announced=Announced(announced.id, announced.size, announced.status, announced.members - {member}),
    )


@dataclass
class Served:
    """What the API serves of one tenant: the last stored detection, its groups' records and seeds."""

    detection: Detection | None = None
    records: dict[str, GroupRecord] = field(default_factory=dict)
    seeds: dict[str, Seed] = field(default_factory=dict)
    ran_at: float = 0.0
    cache: dict[object, object] = field(default_factory=dict, repr=False, compare=False)  # what the API derived

    def forget(self, member: str) -> None:
        """Serve an erased member no more: the detection's groups and their records without them."""
        if self.detection is not None:
            self.detection = without(self.detection, member)
            self.records = {g: record_without(r, member) for g, r in self.records.items()}
