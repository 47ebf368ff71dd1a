"""The read model in memory: live per-tenant state, and the compiled matrices ranking works on.

:class:`TenantState` holds a tenant's edges and profiles, is updated by every applied change (so a
member's own joins, dismissals and writing count at once) and is saved by checkpoints as one part of
the tenant's state (:mod:`kith_recommend.domain.parts`). :func:`compile_model`
turns it into a :class:`CompiledModel` (sparse matrices over community and member indices) that is
rebuilt in the background when the tenant changed, within about a second.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import sparse

from kith_recommend.domain.changes import (
    COMMUNITY_PLACE_PREFIX,
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

Vector = npt.NDArray[np.float64]
_MEMBER_TO_MEMBER = (Edge.FOLLOWS, Edge.INTERACTS)
#: How a community meets, as compiled: the index is the code in :attr:`CompiledModel.mode`.
MODES: tuple[str, ...] = ("online", "local", "hybrid")


@dataclass(frozen=True, slots=True)
class Place:
    """Where a member is, with where that knowledge comes from."""

    lat: float
    lon: float
    name: str | None = None
    source: str = "declared"  # declared (member.profile.updated) or inferred (events attended)


def _coordinates(fields: dict[str, Any] | None) -> tuple[float, float] | None:
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

    def _resolve(self, key: str) -> tuple[tuple[float, float], str | None] | None:
        if key.startswith(PLACE_PREFIX):
            fields = self.places.get(key)
        elif key.startswith(COMMUNITY_PLACE_PREFIX):
            community = self.communities.get(key.removeprefix(COMMUNITY_PLACE_PREFIX), {})
            fields = community.get("place") if community.get("mode") in ("local", "hybrid") else None
        else:
            fields = None
        where = _coordinates(fields)
        if where is None or fields is None:
            return None
        return where, fields.get("name")

    def location(self, member_id: str) -> Place | None:
        """Return where a member is: declared (with coordinates), else inferred, else None.

        Inferred: where most events they attended or hosted took place (an event without a place of
        its own counts where its community meets, when that community is local or hybrid); failing
        that, where most of the local communities they joined meet (not hybrid ones: those can be
        joined from anywhere).
        """
        declared = self.locations.get(member_id)
        where = _coordinates(declared)
        if where is not None and declared is not None:
            return Place(where[0], where[1], declared.get("name"), "declared")
        attended = self.edges[Edge.ATTENDED_AT].get(member_id, {})
        joined = {
            f"{COMMUNITY_PLACE_PREFIX}{c}": 1.0
            for c in self.edges[Edge.MEMBER].get(member_id, {})
            if self.communities.get(c, {}).get("mode") == "local"  # a hybrid one can be joined from anywhere
        }
        for keys in (attended, joined):
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


@dataclass
class CompiledModel:
    """Matrices over community indices (and member indices) that ranking computes with."""

    tenant: str
    version: int
    ids: list[str]
    index: dict[str, int]
    names: list[str]
    topics: list[list[str]]
    member_index: dict[str, int]
    memberships: sparse.csr_matrix  # members x communities, weighted by engagement
    members_of: sparse.csc_matrix  # the same, by community
    co: sparse.csr_matrix  # communities x communities: co-membership, each member weighted 1/degree
    co_diag: Vector
    size: Vector
    member_degree: Vector  # communities each member is in (at least 1)
    active: Vector  # 0..1: how active a community's members are (1 everywhere when nothing is known)
    trend: Vector  # 0..1: decayed recent joins relative to size
    recent_joins: Vector  # decayed joins over the half-life
    popularity: Vector  # 0..1: log size relative to the largest
    visible: npt.NDArray[np.bool_]
    vocabulary: dict[str, int]
    topic_matrix: sparse.csr_matrix  # communities x tags, rows L2-normalized
    lat: Vector = field(default_factory=lambda: np.zeros(0))  # degrees; NaN where the place is unknown
    lon: Vector = field(default_factory=lambda: np.zeros(0))
    mode: npt.NDArray[np.int8] = field(default_factory=lambda: np.zeros(0, dtype=np.int8))  # index in MODES
    place_names: list[str | None] = field(default_factory=list)
    excluded: frozenset[str] = frozenset()  # staff and bots, left out of memberships
    cache: dict[tuple[str, float], Vector] = field(default_factory=dict)

    @property
    def n(self) -> int:
        """Return the number of communities."""
        return len(self.ids)

    def size_penalty(self, beta: float) -> Vector:
        """Return ``1 / size^beta`` (cached per beta)."""
        key = ("penalty", beta)
        cached = self.cache.get(key)
        if cached is None:
            cached = np.power(np.maximum(self.size, 1.0), -beta)
            self.cache[key] = cached
        return cached

    def nbytes(self) -> int:
        """Estimate the memory the matrices take."""
        total = 0
        for m in (self.memberships, self.members_of, self.co, self.topic_matrix):
            total += m.data.nbytes + m.indices.nbytes + m.indptr.nbytes
        for v in (self.co_diag, self.size, self.active, self.trend, self.recent_joins, self.popularity):
            total += v.nbytes
        return total


def membership_weight(engagement: float, activity: float) -> float:
    """Weigh a membership by how engaged the member is there (1 for a bare join)."""
    return 1.0 + 0.5 * math.log1p(max(engagement, 0.0) + max(activity, 0.0))


def _utc_day(timestamp: float) -> date:
    """Return the UTC day of a POSIX timestamp, the last day there is for one rounded past year 9999."""
    try:
        return datetime.fromtimestamp(timestamp, UTC).date()
    except (OverflowError, ValueError, OSError):
        return date.max if timestamp > 0 else date.min


def compile_model(
    state: TenantState, half_life_days: float = 7.0, neighbour_degree_exponent: float = 0.5
) -> CompiledModel:
    """Compile a tenant's state into the matrices ranking needs.

    ``co[i, j]`` sums, over members of both, ``w_i * w_j / degree^delta``: co-members who joined few
    communities say more about a pair than those who joined hundreds. Staff and bots are left out of
    the memberships altogether: they are nobody's co-members or social ties, and not counted in sizes.
    """
    e = state.edges
    ids = sorted(set(state.communities) | {c for cs in e[Edge.MEMBER].values() for c in cs})
    index = {c: i for i, c in enumerate(ids)}
    n = len(ids)
    excluded = state.excluded_members()
    member_ids = sorted(m for m in e[Edge.MEMBER] if m not in excluded)
    member_index = {m: i for i, m in enumerate(member_ids)}

    rows: list[int] = []
    cols: list[int] = []
    vals: list[float] = []
    activity_sum = np.zeros(n)
    engagement_edges = e[Edge.ENGAGEMENT]
    activity_edges = e[Edge.ACTIVITY]
    for m, communities in e[Edge.MEMBER].items():
        row = member_index.get(m)
        if row is None:
            continue
        eng = engagement_edges.get(m, {})
        act = activity_edges.get(m, {})
        for c in communities:
            col = index[c]
            ev = eng.get(c, 0.0)
            av = act.get(c, 0.0)
            rows.append(row)
            cols.append(col)
            vals.append(membership_weight(ev, av) if (ev or av) else 1.0)
            if ev or av:
                activity_sum[col] += math.log1p(ev + av)
    x = sparse.csr_matrix(
        (np.asarray(vals, dtype=np.float64), (np.asarray(rows, dtype=np.int64), np.asarray(cols, dtype=np.int64))),
        shape=(len(member_ids), n),
    )
    binary = x.copy()
    binary.data[:] = 1.0
    size = np.asarray(binary.sum(axis=0)).ravel()
    degree = np.asarray(binary.sum(axis=1)).ravel()
    inv_degree = sparse.diags(np.power(np.maximum(degree, 1.0), -neighbour_degree_exponent))
    co = sparse.csr_matrix(x.T @ inv_degree @ x)
    co_diag = co.diagonal().astype(np.float64)

    if activity_sum.any():
        per_member = activity_sum / np.maximum(size, 1.0)
        active = 1.0 - np.exp(-per_member)
    else:
        active = np.ones(n)

    now_day = _utc_day(state.now) if state.now else None
    recent = np.zeros(n)
    for c, days in e[Edge.JOINS_DAY].items():
        i = index.get(c)
        if i is None or now_day is None:
            continue
        for day, count in days.items():
            age = max((now_day - date.fromisoformat(day)).days, 0)
            recent[i] += count * 0.5 ** (age / half_life_days)
    growth = recent / (size + 5.0)
    trend = growth / growth.max() if growth.size and growth.max() > 0 else np.zeros(n)
    popularity = np.log1p(size) / math.log1p(size.max()) if n and size.max() > 0 else np.zeros(n)

    names = [str(state.communities.get(c, {}).get("name") or c) for c in ids]
    topics = [list(state.communities.get(c, {}).get("topics") or []) for c in ids]
    visible = np.array([state.communities.get(c, {}).get("visibility", "public") == "public" for c in ids], dtype=bool)
    vocabulary, topic_matrix = _topic_matrix(ids, topics, e[Edge.COMMUNITY_TAG])
    lat = np.full(n, np.nan)
    lon = np.full(n, np.nan)
    mode = np.zeros(n, dtype=np.int8)
    place_names: list[str | None] = [None] * n
    for i, c in enumerate(ids):
        profile = state.communities.get(c, {})
        mode[i] = MODES.index(profile["mode"]) if profile.get("mode") in MODES else 0
        place = profile.get("place") or {}
        place_names[i] = place.get("name")
        where = _coordinates(place)
        if where is not None:
            lat[i], lon[i] = where
    return CompiledModel(
        tenant=state.tenant,
        version=state.version,
        ids=ids,
        index=index,
        names=names,
        topics=topics,
        member_index=member_index,
        memberships=x,
        members_of=sparse.csc_matrix(x),
        co=co,
        co_diag=co_diag,
        size=size.astype(np.float64),
        member_degree=np.maximum(degree, 1.0).astype(np.float64),
        active=active,
        trend=trend,
        recent_joins=recent,
        popularity=popularity,
        visible=visible,
        vocabulary=vocabulary,
        topic_matrix=topic_matrix,
        lat=lat,
        lon=lon,
        mode=mode,
        place_names=place_names,
        excluded=frozenset(excluded),
    )


def _topic_matrix(
    ids: list[str], topics: list[list[str]], content: dict[str, dict[str, float]]
) -> tuple[dict[str, int], sparse.csr_matrix]:
    """Describe each community by its declared topics (weight 1) and what its posts are about (up to 0.5)."""
    vocabulary: dict[str, int] = {}
    rows: list[int] = []
    cols: list[int] = []
    vals: list[float] = []
    for i, c in enumerate(ids):
        weights: dict[str, float] = dict.fromkeys(topics[i], 1.0)
        written = content.get(c, {})
        if written:
            top = math.log1p(max(written.values()))
            for tag, w in written.items():
                weights[tag] = weights.get(tag, 0.0) + 0.5 * math.log1p(w) / top
        for tag, w in weights.items():
            rows.append(i)
            cols.append(vocabulary.setdefault(tag, len(vocabulary)))
            vals.append(w)
    matrix = sparse.csr_matrix((vals, (rows, cols)), shape=(len(ids), max(len(vocabulary), 1)), dtype=np.float64)
    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
    matrix = sparse.csr_matrix(sparse.diags(1.0 / np.maximum(norms, 1e-12)) @ matrix)
    return vocabulary, matrix
