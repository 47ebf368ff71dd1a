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

A follow is a standing tie rather than an act: each one is remembered with its time (a second follow
of the same member adds nothing), so that an unfollow takes exactly its decayed share back out of the
pair's sum. :meth:`InteractionGraph.to_snapshot` and :meth:`InteractionGraph.from_snapshot` save and
restore the whole graph as bytes (numpy arrays, no pickle), for checkpoints.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
from scipy import sparse

from kith_recommend.domain.microcommunities.params import DetectionParams, InteractionKind
from kith_recommend.domain.microcommunities.snapshot import Floats, GraphSnapshot, Ints

SECONDS_PER_DAY = 86_400.0
#: Sums are rebased once an interaction lies this many half-lives past the landmark (2^256 is far from
#: a double's 2^1024 limit, so sums of many such terms stay finite).
REBASE_AFTER_HALF_LIVES = 256.0
_DIRECT = frozenset({InteractionKind.FOLLOW, InteractionKind.REPLY, InteractionKind.MENTION, InteractionKind.REACTION})
_SHIFT = 32
_LOW = (1 << _SHIFT) - 1
#: Layout version of :meth:`InteractionGraph.to_snapshot`.
SNAPSHOT_VERSION = 1


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


@dataclass
class InteractionGraph:
    """A tenant's interaction graph, updated one interaction at a time and read as snapshots."""

    params: DetectionParams = field(default_factory=DetectionParams)
    landmark: float = 0.0
    _ids: dict[str, int] = field(default_factory=dict, repr=False)
    _names: list[str] = field(default_factory=list, repr=False)
    _ties: dict[int, float] = field(default_factory=dict, repr=False)
    _follows: dict[int, float] = field(default_factory=dict, repr=False)  # (source << 32 | target) -> when
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

    @property
    def follow_count(self) -> int:
        """Return how many follows are standing."""
        return len(self._follows)

    def add(self, interaction: Interaction) -> None:
        """Add one direct interaction (O(1)); one towards oneself, or a follow already standing, is ignored."""
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
        source, target = self._id(interaction.source), self._id(interaction.target)
        if interaction.kind is InteractionKind.FOLLOW:
            directed = (source << _SHIFT) | target
            if directed in self._follows:
                return
            self._follows[directed] = t
        key = self._pair(source, target)
        self._ties[key] = self._ties.get(key, 0.0) + weight * 2.0**exponent

    def unfollow(self, source: str, target: str) -> bool:
        """Take a standing follow's decayed weight back out of the pair's tie (O(1)); return whether one stood."""
        a, b = self._ids.get(source), self._ids.get(target)
        if a is None or b is None:
            return False
        at = self._follows.pop((a << _SHIFT) | b, None)
        if at is None:
            return False
        key = self._pair(a, b)
        share = self.params.weights.follow * 2.0 ** ((at - self.landmark) / self.half_life_seconds)
        rest = self._ties.get(key, 0.0) - share
        if rest <= share * 1e-9:  # only the follow tied them (up to rounding)
            self._ties.pop(key, None)
        else:
            self._ties[key] = rest
        return True

    def attend(self, event_id: str, member: str, at: datetime) -> None:
        """Add one attendee (or host) to an event, dated by its earliest attendance; a crowd stops growing."""
        known = self._events.get(event_id)
        if known is None:
            self.set_event(EventAttendance(event_id, frozenset({member}), at))
            return
        if member in known.attendees or len(known.attendees) > self.params.max_event_size:
            return
        self._id(member)
        self._events[event_id] = EventAttendance(event_id, known.attendees | {member}, min(known.at, at))

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

    def set_communities(self, memberships: Iterable[CommunityMembership]) -> None:
        """Replace every community list at once (those not given are forgotten)."""
        self._communities = {}
        for membership in memberships:
            self.set_community(membership)

    def forget(self, member: str) -> None:
        """Erase a member: their ties, follows, attendances, memberships and name (O(ties))."""
        number = self._ids.pop(member, None)
        if number is None:
            return
        self._names[number] = ""  # the slot stays (numbers are positions), the name goes
        self._ties = {k: v for k, v in self._ties.items() if (k >> _SHIFT) != number and (k & _LOW) != number}
        self._follows = {k: v for k, v in self._follows.items() if (k >> _SHIFT) != number and (k & _LOW) != number}
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
        self.landmark = landmark  # follow times are absolute: their shares follow the landmark

    def prune(self, now: datetime) -> int:
        """Drop ties and events too decayed to reach ``min_edge_weight`` at ``now``; return how many."""
        floor = self.params.min_edge_weight
        if floor <= 0:
            return 0
        before = len(self._ties) + len(self._events)
        if (now.timestamp() - self.landmark) / self.half_life_seconds > REBASE_AFTER_HALF_LIVES:
            self.rebase(now.timestamp())  # after a long silence the decay to now underflows: rescale to now instead
        threshold = floor / self._decay(now.timestamp())
        self._ties = {k: v for k, v in self._ties.items() if v >= threshold}
        heaviest = self.params.weights.co_attendance  # a pair's share of an event is at most w / (2 - 1)
        oldest = now.timestamp() - self.half_life_seconds * math.log2(heaviest / floor) if heaviest > 0 else math.inf
        self._events = {k: e for k, e in self._events.items() if e.at.timestamp() >= oldest}
        follow = self.params.weights.follow
        if follow > 0:  # a follow worth less than the floor now could only take back what rounding leaves
            oldest_follow = now.timestamp() - self.half_life_seconds * math.log2(follow / floor)
            self._follows = {k: t for k, t in self._follows.items() if t >= oldest_follow}
        return before - len(self._ties) - len(self._events)

    def trim(self, max_ties: int) -> int:
        """Keep the ``max_ties`` heaviest ties (all decay alike: heaviest now, heaviest later); return how many went."""
        extra = len(self._ties) - max_ties
        if extra <= 0:
            return 0
        keys = np.fromiter(self._ties.keys(), dtype=np.int64, count=len(self._ties))
        sums = np.fromiter(self._ties.values(), dtype=np.float64, count=len(self._ties))
        for key in keys[np.argpartition(sums, extra - 1)[:extra]].tolist():
            del self._ties[key]
        return extra

    def copy(self) -> InteractionGraph:
        """Return an independent copy (C-speed dictionary copies) to snapshot while this one goes on changing."""
        return InteractionGraph(
            self.params,
            self.landmark,
            dict(self._ids),
            list(self._names),
            dict(self._ties),
            dict(self._follows),
            dict(self._events),
            dict(self._communities),
        )

    def to_snapshot(self, *, compress: bool = True) -> bytes:
        """Return the graph as bytes (a numpy archive, no pickle): ties, follows, events, names and landmark.

        Community lists are not saved: they are set from the tenant's memberships before each detection.
        Without ``compress`` the archive is written as is (quicker, for a caller that compresses anyway).
        """
        meta: dict[str, Any] = {
            "version": SNAPSHOT_VERSION,
            "landmark": self.landmark,
            "members": len(self._names),
            "events": [[e.event_id, e.at.timestamp(), sorted(e.attendees)] for e in self._events.values()],
        }
        buffer = io.BytesIO()
        (np.savez_compressed if compress else np.savez)(
            buffer,
            meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8),
            names=np.frombuffer("\n".join(self._names).encode(), dtype=np.uint8),
            tie_keys=np.fromiter(self._ties.keys(), dtype=np.int64, count=len(self._ties)),
            tie_sums=np.fromiter(self._ties.values(), dtype=np.float64, count=len(self._ties)),
            follow_keys=np.fromiter(self._follows.keys(), dtype=np.int64, count=len(self._follows)),
            follow_times=np.fromiter(self._follows.values(), dtype=np.float64, count=len(self._follows)),
        )
        return buffer.getvalue()

    @classmethod
    def from_snapshot(cls, data: bytes, params: DetectionParams | None = None) -> InteractionGraph:
        """Return the graph saved by :meth:`to_snapshot` (weights were applied when ties were added)."""
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            meta = json.loads(archive["meta"].tobytes().decode())
            if meta.get("version") != SNAPSHOT_VERSION:
                raise ValueError(f"unknown interaction graph snapshot version {meta.get('version')!r}")
            text = archive["names"].tobytes().decode()
            names = text.split("\n") if meta["members"] else []
            ties = dict(zip(archive["tie_keys"].tolist(), archive["tie_sums"].tolist(), strict=True))
            follows = dict(zip(archive["follow_keys"].tolist(), archive["follow_times"].tolist(), strict=True))
        graph = cls(params or DetectionParams(), float(meta["landmark"]))
        graph._names = names
        graph._ids = {name: number for number, name in enumerate(names) if name}
        graph._ties = ties
        graph._follows = follows
        for event_id, at, attendees in meta["events"]:
            when = datetime.fromtimestamp(at, UTC)
            graph._events[event_id] = EventAttendance(event_id, frozenset(attendees), when)
        return graph

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
