"""Groups, records and detections as plain JSON-able values (times as epoch seconds), and back.

One form for the database documents and the checkpoint snapshot, so both restore the same objects.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from kith_recommend.domain.microcommunities.detect import Detection
from kith_recommend.domain.microcommunities.events import Announced
from kith_recommend.domain.microcommunities.identity import Group
from kith_recommend.domain.microcommunities.records import GroupRecord, HistoryPoint
from kith_recommend.domain.microcommunities.summary import Cohesion, GroupSummary, Overlap, Status, Topic

Plain = dict[str, Any]


def _t(value: datetime) -> float:
    return value.timestamp()


def _dt(value: float) -> datetime:
    return datetime.fromtimestamp(float(value), UTC)


def summary_to_plain(summary: GroupSummary) -> Plain:
    """Return a group summary as plain values."""
    group, cohesion = summary.group, summary.cohesion
    return {
        "id": group.id,
        "members": sorted(group.members),
        "first_seen": _t(group.first_seen),
        "gained": sorted(group.gained),
        "lost": sorted(group.lost),
        "cohesion": [cohesion.density, cohesion.conductance, cohesion.internal_ties, cohesion.internal_weight],
        "central": list(summary.central),
        "topics": [[t.term, t.support, t.share, t.lift] for t in summary.topics],
        "overlaps": [[o.community_id, o.shared, o.community_size, o.jaccard, o.share] for o in summary.overlaps],
        "status": summary.status.value,
        "community_id": summary.community_id,
        "unaffiliated": summary.unaffiliated,
    }


def summary_from_plain(plain: Mapping[str, Any]) -> GroupSummary:
    """Return the group summary :func:`summary_to_plain` gave."""
    density, conductance, ties, weight = plain["cohesion"]
    group = Group(
        plain["id"],
        frozenset(plain["members"]),
        _dt(plain["first_seen"]),
        frozenset(plain.get("gained", ())),
        frozenset(plain.get("lost", ())),
    )
    return GroupSummary(
        group=group,
        cohesion=Cohesion(float(density), float(conductance), int(ties), float(weight)),
        central=tuple(plain["central"]),
        topics=tuple(Topic(str(a), int(b), float(c), float(d)) for a, b, c, d in plain["topics"]),
        overlaps=tuple(Overlap(str(a), int(b), int(c), float(d), float(e)) for a, b, c, d, e in plain["overlaps"]),
        status=Status(plain["status"]),
        community_id=plain.get("community_id"),
        unaffiliated=int(plain["unaffiliated"]),
    )


def record_to_plain(record: GroupRecord) -> Plain:
    """Return a group record as plain values."""
    announced = record.announced
    return {
        "id": record.id,
        "since": [[m, _t(t)] for m, t in record.since.items()],
        "departed": [[m, _t(t)] for m, t in record.departed.items()],
        "history": [[_t(p.at), p.size, p.status.value] for p in record.history],
        "announced": [announced.size, announced.status.value, sorted(announced.members)],
    }


def record_from_plain(plain: Mapping[str, Any]) -> GroupRecord:
    """Return the group record :func:`record_to_plain` gave."""
    size, status, members = plain["announced"]
    return GroupRecord(
        id=plain["id"],
        since={m: _dt(t) for m, t in plain["since"]},
        departed={m: _dt(t) for m, t in plain["departed"]},
        history=tuple(HistoryPoint(_dt(at), int(n), Status(s)) for at, n, s in plain["history"]),
        announced=Announced(plain["id"], int(size), Status(status), frozenset(members)),
    )


def detection_to_plain(detection: Detection) -> Plain:
    """Return a whole detection (groups, ties between them, every member's path) as plain values."""
    return {
        "tenant": detection.tenant,
        "detected_at": _t(detection.detected_at),
        "groups": [summary_to_plain(s) for s in detection.groups],
        "between": [[a, b, n] for (a, b), n in sorted(detection.between.items())],
        "paths": [[m, list(p)] for m, p in detection.paths.items()],
    }


def detection_from_plain(plain: Mapping[str, Any]) -> Detection:
    """Return the detection :func:`detection_to_plain` gave."""
    return Detection(
        tenant=plain["tenant"],
        detected_at=_dt(plain["detected_at"]),
        groups=tuple(summary_from_plain(g) for g in plain["groups"]),
        between={(a, b): int(n) for a, b, n in plain["between"]},
        paths={m: tuple(int(x) for x in p) for m, p in plain["paths"]},
    )
