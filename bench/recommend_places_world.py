"""The places benchmark's world: where its members live and its clubs meet, and its history cut in time.

The history is cut where the latest share of joins begin, as self-tuning cuts it; the joins after the
cut-off that still stand at the end are held out, for the members with a history before it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from kith_devkit.generator import World
from kith_devkit.generator.vocabulary import CITY_PLACES
from kith_recommend.domain.places import EARTH_RADIUS_KM
from kith_shared.events import Event
from kith_shared.events.data import MemberJoined, MemberLeft


def distance_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Return the great-circle distance between two (latitude, longitude) points."""
    phi1, phi2 = math.radians(a[0]), math.radians(b[0])
    dlambda = math.radians(b[1] - a[1])
    h = math.sin((phi2 - phi1) / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlambda / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(min(1.0, max(0.0, h))))


def city_point(city: str) -> tuple[float, float]:
    """Return a city's centre."""
    _, lat, lon = CITY_PLACES[city]
    return (lat, lon)


@dataclass
class Split:
    """The history before the cut-off, and the joins after it of the members to evaluate."""

    cutoff: datetime
    train: list[Event]
    held_out: dict[str, set[str]]
    joins_after: int


def cutoff_time(joins: Sequence[datetime], share: float) -> datetime:
    """Return the time of the join where the latest ``share`` of joins begin (self-tuning's cut-off)."""
    ordered = sorted(joins)
    return ordered[max(0, min(len(ordered) - 1, int(len(ordered) * (1.0 - share)) - 1))]


def split_in_time(events: Sequence[Event], world: World, share: float) -> Split:
    """Cut the history where the latest ``share`` of joins begin; hold out later joins that still stand.

    Evaluated: members (not staff or bots) with a membership at the cut-off; held out: the public
    communities they joined after it and are still members of at the end, not already joined at it.
    """
    joins = [e.time for e in events if isinstance(e.data, MemberJoined)]
    cutoff = cutoff_time(joins, share)
    before: dict[str, set[str]] = {}
    at_end: dict[str, set[str]] = {}
    late: dict[str, set[str]] = {}
    for e in events:
        data = e.data
        if isinstance(data, MemberJoined):
            at_end.setdefault(data.member_id, set()).add(data.community_id)
            if e.time <= cutoff:
                before.setdefault(data.member_id, set()).add(data.community_id)
            else:
                late.setdefault(data.member_id, set()).add(data.community_id)
        elif isinstance(data, MemberLeft):
            at_end.get(data.member_id, set()).discard(data.community_id)
            if e.time <= cutoff:
                before.get(data.member_id, set()).discard(data.community_id)
    public = {c.id for c in world.communities if c.visibility == "public"}
    people = {m.id for m in world.members if m.role == "member"}
    held_out: dict[str, set[str]] = {}
    for member, communities in late.items():
        wanted = (communities & at_end.get(member, set()) & public) - before.get(member, set())
        if wanted and before.get(member) and member in people:
            held_out[member] = wanted
    train = [e for e in events if e.time <= cutoff]
    return Split(cutoff, train, held_out, sum(len(c) for c in late.values()))
