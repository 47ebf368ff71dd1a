"""The member interaction graph of one tenant: time-decayed, typed ties summed into one undirected graph.

Each tie is kept in forward-decay form (Cormode et al., 2009), as scoring does: an interaction of
weight ``w`` at ``t`` adds ``w * 2^((t - L) / h)`` to its pair's sum, against a landmark ``L``; the
pair's weight at ``now`` is that sum times ``2^(-(now - L) / h)``. Adding an interaction is then one
dictionary update (O(1)) in any order, and the decayed weight at ``now`` is exactly
``sum(w_i * 2^(-(now - t_i) / h))``. When interactions run far ahead of the landmark the sums are
rescaled to a later one (:meth:`InteractionGraph.rebase`, O(ties)), so nothing overflows.

Shared events and small communities tie every pair of their members; they are kept as lists and
expanded when a snapshot is taken, each pair getting ``w / (n - 1)`` (a member's total tie weight
from one event is ``w`` whatever its size), decayed from the event's time or, for a community, from
when the later of the two joined. :meth:`InteractionGraph.snapshot` turns everything into a sparse
symmetric matrix at one instant, leaving out excluded members (staff, bots) and negligible ties.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property

import numpy as np
import numpy.typing as npt
from scipy import sparse

from kith_recommend.domain.microcommunities.params import DetectionParams, InteractionKind

SECONDS_PER_DAY = 86_400.0
#: Sums are rebased once an interaction lies this many half-lives past the landmark (2^256 is far from
#: a double's 2^1024 limit, so sums of many such terms stay finite).
REBASE_AFTER_HALF_LIVES = 256.0
_DIRECT = frozenset({InteractionKind.FOLLOW, InteractionKind.REPLY, InteractionKind.MENTION, InteractionKind.REACTION})
_SHIFT = 32
_LOW = (1 << _SHIFT) - 1

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class Interaction:
    """One member acting towards another: a follow, a reply or comment, a mention, a reaction."""

    kind: InteractionKind
    source: str
    target: str
    at: datetime


@dataclass(frozen=True, slots=True)
class EventAttendance:
    """Who attended one event, and when it took place."""

    event_id: str
    attendees: frozenset[str]
    at: datetime


@dataclass(frozen=True, slots=True)
class CommunityMembership:
    """The members of one community (member -> when they joined) and its size."""

    community_id: str
    members: Mapping[str, datetime]
    size: int


@dataclass(frozen=True)
class GraphSnapshot:
    """The graph at one instant: member names and a symmetric sparse matrix of decayed tie weights.

    Only members with at least one tie are present; index ``i`` of the matrix is ``members[i]``.
    """

    members: tuple[str, ...]
    adjacency: sparse.csr_matrix
    at: datetime

    @cached_property
    def index(self) -> dict[str, int]:
        """Return the matrix index of each member."""
        return {name: i for i, name in enumerate(self.members)}

    @cached_property
    def strength(self) -> Floats:
        """Return each member's weighted degree."""
        return np.asarray(self.adjacency.sum(axis=1), dtype=np.float64).ravel()

    @property
    def total_weight(self) -> float:
        """Return the sum of all tie weights (each undirected tie once)."""
        return float(self.adjacency.sum()) / 2.0

    def upper(self) -> tuple[Ints, Ints, Floats]:
        """Return each undirected tie once, as (row, column, weight) arrays with row < column."""
        upper = sparse.triu(self.adjacency, k=1).tocoo()
        return upper.row.astype(np.int64), upper.col.astype(np.int64), upper.data.astype(np.float64)


@dataclass
class InteractionGraph:
    """A tenant's interaction graph, updated one interaction at a time and read as snapshots."""

    params: DetectionParams = field(default_factory=DetectionParams)
    landmark: float = 0.0
    _ids: dict[str, int] = field(default_factory=dict, repr=False)
    _names: list[str] = field(default_factory=list, repr=False)
    _ties: dict[int, float] = field(default_factory=dict, repr=False)
    _events: dict[str, EventAttendance] = field(default_factory=dict, repr=False)
    _communities: dict[str, CommunityMembership] = field(default_factory=dict, repr=False)

    @property
    def half_life_seconds(self) -> float:
        """Return the half-life in seconds."""
        return self.params.half_life_days * SECONDS_PER_DAY

    @property
    def tie_count(self) -> int:
        """Return how many member pairs have direct interactions."""
        return len(self._ties)

    def add(self, interaction: Interaction) -> None:
        """Add one direct interaction (O(1)); one towards oneself is ignored."""
        if interaction.kind not in _DIRECT:
            raise ValueError(f"{interaction.kind} ties come from attendance and membership lists, not interactions")
        if interaction.source == interaction.target:
            return
        weight = self.params.weights.of(interaction.kind)
        if weight == 0:
            return
        t = interaction.at.timestamp()
        exponent = (t - self.landmark) / self.half_life_seconds
        if exponent > REBASE_AFTER_HALF_LIVES:
            self.rebase(t)
            exponent = 0.0
        key = self._pair(self._id(interaction.source), self._id(interaction.target))
        self._ties[key] = self._ties.get(key, 0.0) + weight * 2.0**exponent

    def add_all(self, interactions: Iterable[Interaction]) -> None:
        """Add interactions in any order."""
        for interaction in interactions:
            self.add(interaction)

    def set_event(self, attendance: EventAttendance) -> None:
        """Record (or replace) who attended an event."""
        self._events[attendance.event_id] = attendance
        for member in attendance.attendees:
            self._id(member)

    def set_community(self, membership: CommunityMembership) -> None:
        """Record (or replace) a community's members; an empty one is forgotten."""
        if not membership.members:
            self._communities.pop(membership.community_id, None)
            return
        self._communities[membership.community_id] = membership
        for member in membership.members:
            self._id(member)

    def forget(self, member: str) -> None:
        """Erase a member: their ties, attendances and memberships (O(ties))."""
        number = self._ids.get(member)
        if number is None:
            return
        self._ties = {k: v for k, v in self._ties.items() if (k >> _SHIFT) != number and (k & _LOW) != number}
        for event_id, event in list(self._events.items()):
            if member in event.attendees:
                self._events[event_id] = EventAttendance(event_id, event.attendees - {member}, event.at)
        for community_id, community in list(self._communities.items()):
            if member in community.members:
                rest = {m: t for m, t in community.members.items() if m != member}
                self.set_community(CommunityMembership(community_id, rest, max(community.size - 1, len(rest))))

    def rebase(self, landmark: float) -> None:
        """Move the landmark to ``landmark`` (epoch seconds), rescaling every sum (O(ties))."""
        factor = 2.0 ** (-(landmark - self.landmark) / self.half_life_seconds)
        self._ties = {k: v * factor for k, v in self._ties.items()}
        self.landmark = landmark

    def prune(self, now: datetime) -> int:
        """Drop ties and events too decayed to reach ``min_edge_weight`` at ``now``; return how many."""
        floor = self.params.min_edge_weight
        if floor <= 0:
            return 0
        before = len(self._ties) + len(self._events)
        threshold = floor / self._decay(now.timestamp())
        self._ties = {k: v for k, v in self._ties.items() if v >= threshold}
        heaviest = self.params.weights.co_attendance  # a pair's share of an event is at most w / (2 - 1)
        oldest = now.timestamp() - self.half_life_seconds * math.log2(heaviest / floor) if heaviest > 0 else math.inf
        self._events = {k: e for k, e in self._events.items() if e.at.timestamp() >= oldest}
        return before - len(self._ties) - len(self._events)

    def snapshot(self, now: datetime, exclude: Collection[str] = ()) -> GraphSnapshot:
        """Return the decayed graph at ``now`` without the excluded members and negligible ties."""
        count = len(self._ties)
        keys = np.fromiter(self._ties.keys(), dtype=np.int64, count=count)
        sums = np.fromiter(self._ties.values(), dtype=np.float64, count=count)
        rows = [keys >> _SHIFT]
        cols = [keys & _LOW]
        weights = [sums * self._decay(now.timestamp())]
        for a, b, w in self._group_ties(now):
            rows.append(a)
            cols.append(b)
            weights.append(w)
        row = np.concatenate(rows)
        col = np.concatenate(cols)
        weight = np.concatenate(weights)
        excluded = np.array([self._ids[m] for m in exclude if m in self._ids], dtype=np.int64)
        if excluded.size:
            keep = ~(np.isin(row, excluded) | np.isin(col, excluded))
            row, col, weight = row[keep], col[keep], weight[keep]
        size = len(self._names)
        merged = sparse.coo_matrix((weight, (row, col)), shape=(size, size)).tocsr()
        merged.sum_duplicates()
        merged = merged.tocoo()
        keep = merged.data >= self.params.min_edge_weight
        row, col, weight = merged.row[keep], merged.col[keep], merged.data[keep]
        present, compact = np.unique(np.concatenate([row, col]), return_inverse=True)
        half = row.size
        n = present.size
        matrix = sparse.coo_matrix(
            (np.concatenate([weight, weight]), (compact, np.concatenate([compact[half:], compact[:half]]))),
            shape=(n, n),
        ).tocsr()
        matrix.sum_duplicates()
        names = tuple(self._names[i] for i in present.tolist())
        return GraphSnapshot(members=names, adjacency=matrix, at=now)

    def _group_ties(self, now: datetime) -> Iterable[tuple[Ints, Ints, Floats]]:
        """Yield (row, col, weight) arrays of the pairs tied by shared events and small communities."""
        h = self.half_life_seconds
        t_now = now.timestamp()
        w_event = self.params.weights.co_attendance
        if w_event > 0:
            for event in self._events.values():
                n = len(event.attendees)
                if not 2 <= n <= self.params.max_event_size:
                    continue
                ids = np.array(sorted(self._ids[m] for m in event.attendees), dtype=np.int64)
                a, b = np.triu_indices(n, 1)
                weight = w_event / (n - 1) * 2.0 ** (-(t_now - event.at.timestamp()) / h)
                yield ids[a], ids[b], np.full(a.size, weight)
        w_member = self.params.weights.co_membership
        if w_member > 0:
            for community in self._communities.values():
                n = max(community.size, len(community.members))
                if n > self.params.small_community_size or len(community.members) < 2:
                    continue
                ordered = sorted(community.members.items())
                ids = np.array([self._ids[m] for m, _ in ordered], dtype=np.int64)
                joined = np.array([t.timestamp() for _, t in ordered], dtype=np.float64)
                a, b = np.triu_indices(len(ordered), 1)
                since = np.maximum(joined[a], joined[b])
                yield ids[a], ids[b], w_member / (n - 1) * np.exp2(-(t_now - since) / h)

    def _decay(self, t: float) -> float:
        return float(2.0 ** (-(t - self.landmark) / self.half_life_seconds))

    def _id(self, member: str) -> int:
        number = self._ids.get(member)
        if number is None:
            number = len(self._names)
            self._ids[member] = number
            self._names.append(member)
        return number

    @staticmethod
    def _pair(a: int, b: int) -> int:
        return (a << _SHIFT) | b if a < b else (b << _SHIFT) | a
