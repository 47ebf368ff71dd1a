"""Stable group ids across detections: match new groups to previous ones by member overlap.

Pairs of (new group, previous group) are taken greedily by the number of members they share, most
first, each group used at most once. A new group keeps the previous id only if they share at least
half of one of them (``MIN_SHARED``): a group that kept two of its thirty members is a new group.
Otherwise it gets a new id derived from the tenant, the detection time and its lowest member, so the
same detection run twice mints the same ids.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

#: A new group inherits an id only if the shared members are at least this share of either group.
MIN_SHARED = 0.5


@dataclass(frozen=True, slots=True)
class Group:
    """One micro-community as a set of members, with its stable id and how it moved since last time."""

    id: str
    members: frozenset[str]
    first_seen: datetime
    gained: frozenset[str] = frozenset()
    lost: frozenset[str] = frozenset()

    @property
    def size(self) -> int:
        """Return the number of members."""
        return len(self.members)


def mint_id(tenant: str, detected_at: datetime, lowest_member: str) -> str:
    """Return a new group id, the same for the same tenant, time and lowest member."""
    digest = hashlib.sha256(f"{tenant}\x1f{detected_at.isoformat()}\x1f{lowest_member}".encode()).hexdigest()
    return f"mc-{digest[:16]}"


def assign_ids(
    tenant: str, clusters: Iterable[frozenset[str]], previous: Mapping[str, Group], detected_at: datetime
) -> list[Group]:
    """Return the clusters as groups, keeping the id of the previous group each one continues."""
    ordered = sorted((c for c in clusters if c), key=min)
    owner = {member: group_id for group_id, group in previous.items() for member in group.members}
    candidates: list[tuple[int, str, int]] = []
    for index, members in enumerate(ordered):
        shared: dict[str, int] = {}
        for member in members:
            group_id = owner.get(member)
            if group_id is not None:
                shared[group_id] = shared.get(group_id, 0) + 1
        for group_id, count in shared.items():
            if count >= MIN_SHARED * min(len(members), previous[group_id].size):
                candidates.append((count, group_id, index))
    candidates.sort(key=lambda c: (-c[0], c[1], c[2]))
    kept: dict[int, str] = {}
    taken: set[str] = set()
    for _, group_id, index in candidates:
        if index in kept or group_id in taken:
            continue
        kept[index] = group_id
        taken.add(group_id)
    groups = []
    for index, members in enumerate(ordered):
        group_id = kept.get(index)
        if group_id is None:
            groups.append(Group(mint_id(tenant, detected_at, min(members)), members, detected_at, members))
            continue
        before = previous[group_id]
        groups.append(Group(group_id, members, before.first_seen, members - before.members, before.members - members))
    return groups
