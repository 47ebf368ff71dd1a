"""What a group is: cohesion, central members, topics, overlap with communities, and status.

All figures for all groups are computed together from the snapshot's tie arrays (vectorised), so
summarising thousands of groups costs about one pass over the ties.

- cohesion: ``density`` is the share of member pairs that are tied; ``conductance`` is the weight of
  ties leaving the group over the smaller of its volume and the rest's (0: closed, 1: no inside);
- central members: weighted degree inside the group;
- topics: a term's share of the group's usage against its share of the tenant's (lift), counted only
  when at least ``min_topic_support`` members use it, ranked by ``share * log2(lift)`` (the term's
  part in how far the group's vocabulary is from the tenant's);
- overlaps: Jaccard with each community and the share of the group inside it;
- status: ``matches`` (Jaccard >= ``emerging_jaccard`` with a community), else ``inside`` (more than
  ``inside_share`` of it in one community at least ``inside_ratio`` times its size), else ``emerging``.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np

from kith_recommend.domain.microcommunities.identity import Group
from kith_recommend.domain.microcommunities.params import DetectionParams
from kith_recommend.domain.microcommunities.snapshot import GraphSnapshot, Ints

#: Overlapping communities listed per group.
MAX_OVERLAPS = 5


class Status(StrEnum):
    """How a group relates to the existing communities."""

    EMERGING = "emerging"  # no community holds it: a community waiting to be created
    INSIDE = "inside"  # a close sub-group of one larger community
    MATCHES = "matches"  # it is, in effect, an existing community


@dataclass(frozen=True, slots=True)
class Cohesion:
    """How closely a group's members are tied to one another rather than to others."""

    density: float
    conductance: float
    internal_ties: int
    internal_weight: float


@dataclass(frozen=True, slots=True)
class Topic:
    """A term a group talks about more than the tenant does."""

    term: str
    support: int  # group members using it
    share: float  # its share of the group's term usage
    lift: float  # that share over its share of the tenant's usage


@dataclass(frozen=True, slots=True)
class Overlap:
    """How much a group and an existing community share."""

    community_id: str
    shared: int
    community_size: int
    jaccard: float
    share: float  # of the group's members inside the community


@dataclass(frozen=True, slots=True)
class TenantContext:
    """What a detection knows besides ties: terms members use, and the communities' members."""

    terms: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    communities: Mapping[str, Collection[str]] = field(default_factory=dict)
    names: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class GroupSummary:
    """One group and what it is."""

    group: Group
    cohesion: Cohesion
    central: tuple[str, ...]
    topics: tuple[Topic, ...]
    overlaps: tuple[Overlap, ...]
    status: Status
    community_id: str | None  # the community it matches or sits inside
    unaffiliated: int  # members sharing no community with another member of the group

    @property
    def id(self) -> str:
        """Return the group's id."""
        return self.group.id

    @property
    def size(self) -> int:
        """Return the number of members."""
        return self.group.size

    @property
    def members(self) -> frozenset[str]:
        """Return the members."""
        return self.group.members


def summarize(
    snapshot: GraphSnapshot, groups: Sequence[Group], context: TenantContext, params: DetectionParams
) -> tuple[list[GroupSummary], dict[tuple[str, str], int]]:
    """Return a summary per group, and the number of tied member pairs between each two groups."""
    owner = np.full(len(snapshot.members), -1, dtype=np.int64)
    index = snapshot.index
    for g, group in enumerate(groups):
        owner[[index[m] for m in group.members]] = g
    rows, cols, weights = snapshot.upper()
    g_rows, g_cols = owner[rows], owner[cols]
    inside = (g_rows == g_cols) & (g_rows >= 0)
    count = len(groups)
    internal_ties = np.bincount(g_rows[inside], minlength=count)
    internal_weight = np.bincount(g_rows[inside], weights=weights[inside], minlength=count)
    strength = snapshot.strength
    grouped = owner >= 0
    volume = np.bincount(owner[grouped], weights=strength[grouped], minlength=count)
    total_volume = float(strength.sum())
    local = np.bincount(rows[inside], weights=weights[inside], minlength=owner.size)
    local += np.bincount(cols[inside], weights=weights[inside], minlength=owner.size)
    between = _between(groups, g_rows, g_cols)
    tenant_terms, tenant_total = _totals(context.terms)
    memberships = _memberships(context.communities)
    summaries = []
    for g, group in enumerate(groups):
        size = group.size
        cut = float(volume[g] - 2 * internal_weight[g])
        denominator = min(float(volume[g]), total_volume - float(volume[g]))
        cohesion = Cohesion(
            density=float(internal_ties[g]) / (size * (size - 1) / 2) if size > 1 else 0.0,
            conductance=cut / denominator if denominator > 0 else 0.0,
            internal_ties=int(internal_ties[g]),
            internal_weight=float(internal_weight[g]),
        )
        central = tuple(sorted(group.members, key=lambda m: (-local[index[m]], m))[: params.central_members])
        topics = _topics(group.members, context.terms, tenant_terms, tenant_total, params)
        overlaps, unaffiliated = _overlaps(group.members, memberships, context.communities)
        status, community_id = classify(size, overlaps, params)
        summaries.append(
            GroupSummary(group, cohesion, central, topics, overlaps[:MAX_OVERLAPS], status, community_id, unaffiliated)
        )
    return summaries, between


def classify(size: int, overlaps: Sequence[Overlap], params: DetectionParams) -> tuple[Status, str | None]:
    """Return a group's status and the community it matches or sits inside (overlaps by Jaccard, best first)."""
    best = max(overlaps, key=lambda o: (o.jaccard, o.shared), default=None)
    if best is not None and best.jaccard >= params.emerging_jaccard:
        return Status.MATCHES, best.community_id
    parents = [o for o in overlaps if o.share > params.inside_share and o.community_size >= params.inside_ratio * size]
    if parents:
        return Status.INSIDE, max(parents, key=lambda o: (o.share, -o.community_size)).community_id
    return Status.EMERGING, None


def _between(groups: Sequence[Group], g_rows: Ints, g_cols: Ints) -> dict[tuple[str, str], int]:
    """Count tied member pairs between each two groups (ids in order)."""
    across = (g_rows != g_cols) & (g_rows >= 0) & (g_cols >= 0)
    a = np.minimum(g_rows[across], g_cols[across])
    b = np.maximum(g_rows[across], g_cols[across])
    pairs, counts = np.unique(a * len(groups) + b, return_counts=True)
    result: dict[tuple[str, str], int] = {}
    for pair, n in zip(pairs.tolist(), counts.tolist(), strict=True):
        first, second = sorted((groups[pair // len(groups)].id, groups[pair % len(groups)].id))
        result[(first, second)] = int(n)
    return result


def _totals(terms: Mapping[str, Mapping[str, float]]) -> tuple[dict[str, float], float]:
    totals: dict[str, float] = {}
    for counts in terms.values():
        for term, n in counts.items():
            totals[term] = totals.get(term, 0.0) + n
    return totals, sum(totals.values())


def _topics(
    members: Collection[str],
    terms: Mapping[str, Mapping[str, float]],
    tenant: Mapping[str, float],
    tenant_total: float,
    params: DetectionParams,
) -> tuple[Topic, ...]:
    usage: dict[str, float] = {}
    support: Counter[str] = Counter()
    for member in members:
        for term, n in terms.get(member, {}).items():
            if n > 0:
                usage[term] = usage.get(term, 0.0) + n
                support[term] += 1
    total = sum(usage.values())
    if total <= 0 or tenant_total <= 0:
        return ()
    found = []
    for term, n in usage.items():
        if support[term] < params.min_topic_support:
            continue
        share = n / total
        lift = share / (tenant[term] / tenant_total)
        if lift > 1.0:
            found.append(Topic(term, support[term], share, lift))
    found.sort(key=lambda t: (-t.share * math.log2(t.lift), t.term))
    return tuple(found[: params.top_topics])


def _memberships(communities: Mapping[str, Collection[str]]) -> dict[str, list[str]]:
    by_member: dict[str, list[str]] = {}
    for community_id, members in communities.items():
        for member in members:
            by_member.setdefault(member, []).append(community_id)
    return by_member


def _overlaps(
    members: Collection[str], memberships: Mapping[str, list[str]], communities: Mapping[str, Collection[str]]
) -> tuple[tuple[Overlap, ...], int]:
    """Return the group's overlaps (best Jaccard first) and how many members share no community within it."""
    shared: Counter[str] = Counter()
    for member in members:
        shared.update(memberships.get(member, ()))
    size = len(members)
    overlaps = [
        Overlap(cid, n, len(communities[cid]), n / (size + len(communities[cid]) - n), n / size)
        for cid, n in shared.items()
    ]
    overlaps.sort(key=lambda o: (-o.jaccard, -o.shared, o.community_id))
    unaffiliated = sum(1 for m in members if not any(shared[c] >= 2 for c in memberships.get(m, ())))
    return tuple(overlaps), unaffiliated
