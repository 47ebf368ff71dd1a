"""What is kept about each group from one detection to the next, and what is announced of it.

A :class:`GroupRecord` holds, for one group id: when each current member entered the group (``since``),
who left it within the growth window (``departed``), the history of its size and status (a point each
time either moved), and what was last announced of it (:class:`Announced`). :func:`advance` takes the
records of the previous detection and a new detection and returns the events to announce and the new
records; :meth:`GroupRecord.growth` says how many members a group gained and lost over a window.

Growth counts the members who entered the group within the window (a group first seen within it
gained all of its members) and those who left within it and have not come back.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from kith_recommend.domain.microcommunities.detect import Detection
from kith_recommend.domain.microcommunities.events import (
    Announced,
    GroupChanged,
    GroupDetected,
    GroupEvent,
    compare,
)
from kith_recommend.domain.microcommunities.params import DetectionParams
from kith_recommend.domain.microcommunities.summary import GroupSummary, Status

#: History points kept per group (the oldest go first).
MAX_HISTORY = 500


@dataclass(frozen=True, slots=True)
class HistoryPoint:
    """A group's size and status from one instant on."""

    at: datetime
    size: int
    status: Status


@dataclass(frozen=True, slots=True)
class Growth:
    """Members a group gained and lost over a window ending now."""

    gained: int
    lost: int
    window: timedelta

    @property
    def net(self) -> int:
        """Return members gained minus members lost."""
        return self.gained - self.lost


@dataclass(frozen=True)
class GroupRecord:
    """What is kept about one group between detections."""

    id: str
    since: Mapping[str, datetime]
    departed: Mapping[str, datetime]
    history: tuple[HistoryPoint, ...]
    announced: Announced

    def growth(self, at: datetime, window: timedelta) -> Growth:
        """Return the members gained and lost in the ``window`` before ``at``."""
        start = at - window
        gained = sum(1 for entered in self.since.values() if entered > start)
        lost = sum(1 for left in self.departed.values() if left > start)
        return Growth(gained, lost, window)


def advance(
    tenant: str,
    records: Mapping[str, GroupRecord],
    detection: Detection,
    params: DetectionParams,
    window: timedelta,
) -> tuple[list[GroupEvent], dict[str, GroupRecord]]:
    """Return the events a detection announces and every current group's new record.

    A group is compared with what was last announced of it; the records of faded groups are dropped.
    """
    at = detection.detected_at
    events = compare(tenant, [r.announced for r in records.values()], detection.groups, at, params)
    announced = {e.group_id for e in events if isinstance(e, GroupDetected | GroupChanged)}
    updated: dict[str, GroupRecord] = {}
    for summary in detection.groups:
        old = records.get(summary.id)
        record = _next(old, summary, at, window)
        if summary.id in announced or old is None:
            record = replace(record, announced=Announced(summary.id, summary.size, summary.status, summary.members))
        updated[summary.id] = record
    return events, updated


def _next(old: GroupRecord | None, summary: GroupSummary, at: datetime, window: timedelta) -> GroupRecord:
    point = HistoryPoint(at, summary.size, summary.status)
    members = summary.members
    if old is None:
        announced = Announced(summary.id, summary.size, summary.status, members)
        return GroupRecord(summary.id, dict.fromkeys(sorted(members), at), {}, (point,), announced)
    since = {m: old.since.get(m, at) for m in sorted(members)}
    start = at - window
    departed = {m: t for m, t in old.departed.items() if t > start and m not in members}
    departed.update({m: at for m in old.since if m not in members})
    last = old.history[-1] if old.history else None
    history = old.history
    if last is None or (last.size, last.status) != (point.size, point.status):
        history = (*history, point)[-MAX_HISTORY:]
    return GroupRecord(summary.id, since, dict(sorted(departed.items())), history, old.announced)
