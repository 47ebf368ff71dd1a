"""The read model in memory: live per-tenant state, and what ranking knows of one member.

:class:`TenantState` holds a tenant's edges and profiles, is updated by every applied change (so a
member's own joins, dismissals and writing count at once) and is saved by checkpoints as one part of
the tenant's state (:mod:`kith_recommend.domain.parts`).
:func:`~kith_recommend.domain.compiled.compile_model` turns it into the matrices ranking works on.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from kith_recommend.domain.changes import (
    COMMUNITY_PLACE_PREFIX,
    COMMUNITY_SEPARATOR,
    EXCLUDED_ROLES,
    GRAPH_CHANGES,
    PLACE_PREFIX,
    Change,
    Edge,
    EdgeChange,
    ErasureChange,
    Profile,
    ProfileChange,
)
from kith_recommend.domain.parts import PartKind, Snapshot, register

_MEMBER_TO_MEMBER = (Edge.FOLLOWS, Edge.INTERACTS)


@dataclass(frozen=True, slots=True)
class Place:
    """Where a member is, with where that knowledge comes from."""

    lat: float
    lon: float
    name: str | None = None
    source: str = "declared"  # declared (member.profile.updated) or inferred (events attended)


def coordinates(fields: dict[str, Any] | None) -> tuple[float, float] | None:
    """Return the (lat, lon) of a place's fields, or None when either is missing."""
    if not fields or fields.get("lat") is None or fields.get("lon") is None:
        return None
    return (float(fields["lat"]), float(fields["lon"]))


@dataclass
class TenantState:
    """Everything the read model knows about one tenant, as plain mappings."""

    tenant: str
    edges: dict[Edge, dict[str, dict[str, float]]] = field(default_factory=lambda: {kind: {} for kind in Edge})
    communities: dict[str, dict[str, Any]] = field(default_factory=dict)
    interests: dict[str, list[str]] = field(default_factory=dict)
    roles: dict[str, dict[str, str]] = field(default_factory=dict)  # member -> scope -> role
    locations: dict[str, dict[str, Any]] = field(default_factory=dict)  # member -> declared place fields
    places: dict[str, dict[str, Any]] = field(default_factory=dict)  # place key -> name, country, lat, lon
    now: float = 0.0
    version: int = 0

    def apply(self, change: Change) -> None:
        """Apply one change (graph changes are the interaction graph's, not the ranking state's)."""
        if isinstance(change, GRAPH_CHANGES):
            return
        self.version += 1
        if isinstance(change, EdgeChange):
            self._apply_edge(change)
        elif isinstance(change, ProfileChange):
            self._apply_profile(change)
        elif isinstance(change, ErasureChange):
            self._erase(change)

    def apply_all(self, changes: Iterable[Change]) -> None:
        """Apply changes in order."""
        for change in changes:
            self.apply(change)

    def _apply_edge(self, change: EdgeChange) -> None:
        by_a = self.edges[change.kind]
        if change.action == "unset":
            targets = by_a.get(change.a)
            if targets is not None:
                targets.pop(change.b, None)
                if not targets:
                    del by_a[change.a]
            return
        targets = by_a.setdefault(change.a, {})
        if change.action == "set":
            targets[change.b] = change.value
        else:
            targets[change.b] = targets.get(change.b, 0.0) + change.value

    def _apply_profile(self, change: ProfileChange) -> None:
        if change.kind is Profile.CLOCK:
            self.now = max(self.now, float(change.fields.get("now", 0.0)))
        elif change.kind is Profile.INTERESTS:
            self.interests[change.id] = list(change.fields.get("interests", []))
        elif change.kind is Profile.ROLE:
            self.roles.setdefault(change.id, {}).update(change.fields)
        elif change.kind is Profile.LOCATION:
            if change.fields:
                self.locations[change.id] = dict(change.fields)
            else:
                self.locations.pop(change.id, None)
        elif change.kind is Profile.PLACE:
            self.places[change.id] = dict(change.fields)
        else:
            self.communities.setdefault(change.id, {}).update(change.fields)

    def _erase(self, change: ErasureChange) -> None:
        member = change.member_id
        for kind, by_a in self.edges.items():
            by_a.pop(member, None)
            if kind in _MEMBER_TO_MEMBER:
                for targets in by_a.values():
                    targets.pop(member, None)
        self.interests.pop(member, None)
        self.roles.pop(member, None)
        self.locations.pop(member, None)

    def excluded_members(self) -> set[str]:
        """Return the staff and bots: members with a staff or bot role in any scope."""
        return {m for m, roles in self.roles.items() if not EXCLUDED_ROLES.isdisjoint(roles.values())}

    def _community_of(self, key: str) -> str | None:
        """Return the community whose event a place key of what a member attended names (None: not known)."""
        if key.startswith(COMMUNITY_PLACE_PREFIX):
            return key.removeprefix(COMMUNITY_PLACE_PREFIX)
        _, separator, community = key.partition(COMMUNITY_SEPARATOR)
        return community if separator else None

    def _resolve(self, key: str) -> tuple[tuple[float, float], str | None] | None:
        if key.startswith(PLACE_PREFIX):
            fields = self.places.get(key.partition(COMMUNITY_SEPARATOR)[0])
        elif key.startswith(COMMUNITY_PLACE_PREFIX):
            community = self.communities.get(key.removeprefix(COMMUNITY_PLACE_PREFIX), {})
            fields = community.get("place") if community.get("mode") in ("local", "hybrid") else None
        else:
            fields = None
        where = coordinates(fields)
        if where is None or fields is None:
            return None
        return where, fields.get("name")

    def location(self, member_id: str) -> Place | None:
        """Return where a member is: declared (with coordinates), else inferred, else None.

        Inferred: where most events they attended or hosted took place (an event without a place of
        its own counts where its community meets, when that community is local or hybrid), hybrid
        communities' events left out (those can be attended from afar); failing that, where most of
        the local communities they joined meet (not hybrid ones: those can be joined from anywhere);
        failing that, where most of the hybrid communities' events they attended took place.
        """
        declared = self.locations.get(member_id)
        where = coordinates(declared)
        if where is not None and declared is not None:
            return Place(where[0], where[1], declared.get("name"), "declared")
        attended = self.edges[Edge.ATTENDED_AT].get(member_id, {})
        joined = {
            f"{COMMUNITY_PLACE_PREFIX}{c}": 1.0
            for c in self.edges[Edge.MEMBER].get(member_id, {})
            if self.communities.get(c, {}).get("mode") == "local"  # a hybrid one can be joined from anywhere
        }
        hybrid = {
            key: count
            for key, count in attended.items()
            if self.communities.get(self._community_of(key) or "", {}).get("mode") == "hybrid"
        }
        in_person = {key: count for key, count in attended.items() if key not in hybrid}
        for keys in (in_person, joined, hybrid):
            counts: dict[tuple[float, float], float] = {}
            names: dict[tuple[float, float], str | None] = {}
            for key, count in keys.items():
                resolved = self._resolve(key)
                if resolved is None:
                    continue
                spot = (round(resolved[0][0], 2), round(resolved[0][1], 2))
                counts[spot] = counts.get(spot, 0.0) + count
                names.setdefault(spot, resolved[1])
            if counts:
                spot = max(sorted(counts), key=lambda s: counts[s])
                return Place(spot[0], spot[1], names[spot], "inferred")
        return None

    def profile(self, member_id: str) -> MemberProfile:
        """Return what ranking needs to know about one member, as of now."""
        e = self.edges
        return MemberProfile(
            member_id=member_id,
            joined=dict(e[Edge.MEMBER].get(member_id, {})),
            engagement=dict(e[Edge.ENGAGEMENT].get(member_id, {})),
            activity=dict(e[Edge.ACTIVITY].get(member_id, {})),
            dismissed=set(e[Edge.DISMISSED].get(member_id, {})),
            blocked=set(e[Edge.BLOCKED].get(member_id, {})),
            owned=set(e[Edge.OWNER].get(member_id, {})),
            follows=set(e[Edge.FOLLOWS].get(member_id, {})),
            interacts=dict(e[Edge.INTERACTS].get(member_id, {})),
            tags=dict(e[Edge.TAG].get(member_id, {})),
            interests=list(self.interests.get(member_id, [])),
            shown=dict(e[Edge.SHOWN].get(member_id, {})),
            clicked=dict(e[Edge.CLICKED].get(member_id, {})),
            location=self.location(member_id),
        )

    def knows_member(self, member_id: str) -> bool:
        """Tell whether anything at all is known about a member."""
        return (
            member_id in self.interests
            or member_id in self.locations
            or any(member_id in by_a for by_a in self.edges.values())
        )

    def to_snapshot(self) -> Snapshot:
        """Return the state as plain data (the live mappings, to be packed at once)."""
        return {
            "edges": {kind.value: by_a for kind, by_a in self.edges.items()},
            "communities": self.communities,
            "interests": self.interests,
            "roles": self.roles,
            "locations": self.locations,
            "places": self.places,
            "now": self.now,
            "version": self.version,
        }

    @classmethod
    def from_snapshot(cls, tenant: str, data: Snapshot) -> TenantState:
        """Rebuild a state from :meth:`to_snapshot`'s data; raise ValueError on an unknown edge kind."""
        state = cls(tenant)
        for kind, by_a in data["edges"].items():
            state.edges[Edge(kind)] = by_a
        state.communities = data["communities"]
        state.interests = data["interests"]
        state.roles = data["roles"]
        state.locations = data["locations"]
        state.places = data["places"]
        state.now = float(data["now"])
        state.version = int(data["version"])
        return state


#: The ranking model's part of every tenant's checkpointed state (format 2: join times, places and roles).
MODEL_PART = register(PartKind("model", TenantState, TenantState.from_snapshot, format=2))


@dataclass(frozen=True)
class MemberProfile:
    """One member as ranking sees them."""

    member_id: str
    joined: dict[str, float] = field(default_factory=dict)
    engagement: dict[str, float] = field(default_factory=dict)
    activity: dict[str, float] = field(default_factory=dict)
    dismissed: set[str] = field(default_factory=set)
    blocked: set[str] = field(default_factory=set)
    owned: set[str] = field(default_factory=set)
    follows: set[str] = field(default_factory=set)
    interacts: dict[str, float] = field(default_factory=dict)
    tags: dict[str, float] = field(default_factory=dict)
    interests: list[str] = field(default_factory=list)
    shown: dict[str, float] = field(default_factory=dict)
    clicked: dict[str, float] = field(default_factory=dict)
    location: Place | None = None
