"""What moved between two detections of one tenant: groups detected, changed and faded.

- detected: an id that was not there before;
- changed: an id still there whose size moved by more than ``changed_share`` of its previous size,
  or whose status changed (emerging, inside, matches);
- faded: an id no longer there (its members drifted apart, or fell below the minimum group size).

``before`` is what was last *announced* of each group (:class:`Announced`), not necessarily the
previous detection: a group that grows by one member a day is announced as changed once the growth
since its last announcement passes the threshold, rather than never. These are plain values; the
service turns them into contract events.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from kith_recommend.domain.microcommunities.params import DetectionParams
from kith_recommend.domain.microcommunities.summary import GroupSummary, Status


class Announceable(Protocol):
    """What an announcement compares: a group's id, size, status and members."""

    @property
    def id(self) -> str: ...

    @property
    def size(self) -> int: ...

    @property
    def status(self) -> Status: ...

    @property
    def members(self) -> frozenset[str]: ...


@dataclass(frozen=True, slots=True)
class Announced:
    """A group as it was last announced."""

    id: str
    size: int
    status: Status
    members: frozenset[str]


@dataclass(frozen=True, slots=True)
class GroupDetected:
    """A group seen for the first time."""

    tenant: str
    group_id: str
    at: datetime
    size: int
    status: Status
    members: frozenset[str]


@dataclass(frozen=True, slots=True)
class GroupChanged:
    """A known group that grew, shrank or changed status."""

    tenant: str
    group_id: str
    at: datetime
    size_before: int
    size: int
    status_before: Status
    status: Status
    gained: frozenset[str]
    lost: frozenset[str]


@dataclass(frozen=True, slots=True)
class GroupFaded:
    """A group no longer found."""

    tenant: str
    group_id: str
    at: datetime
    last_size: int
    last_members: frozenset[str]
    last_status: Status


GroupEvent = GroupDetected | GroupChanged | GroupFaded


def compare(
    tenant: str,
    before: Sequence[Announceable],
    after: Sequence[GroupSummary],
    at: datetime,
    params: DetectionParams,
) -> list[GroupEvent]:
    """Return the events between what was announced and a detection: detected and changed in its order, then faded."""
    previous = {s.id: s for s in before}
    current = {s.id for s in after}
    events: list[GroupEvent] = []
    for summary in after:
        old = previous.get(summary.id)
        if old is None:
            events.append(GroupDetected(tenant, summary.id, at, summary.size, summary.status, summary.members))
            continue
        moved = abs(summary.size - old.size) > params.changed_share * old.size
        if moved or summary.status is not old.status:
            events.append(
                GroupChanged(
                    tenant,
                    summary.id,
                    at,
                    old.size,
                    summary.size,
                    old.status,
                    summary.status,
                    summary.members - old.members,
                    old.members - summary.members,
                )
            )
    for old in before:
        if old.id not in current:
            events.append(GroupFaded(tenant, old.id, at, old.size, old.members, old.status))
    return events
