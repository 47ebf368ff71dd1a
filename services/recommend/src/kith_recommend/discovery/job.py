"""One detection as a job: prepared from the live state, run in the worker, with what it found and cost.

:func:`prepare` runs where the state lives (under the model's lock, in a thread): small communities
become co-membership ties, staff and bots are left out, and the read model lends the context (terms
members use, community members and names). :func:`run` is what the worker executes, in a process or
a thread: detection proper, and each group's heaviest internal ties for drawing.
"""

from __future__ import annotations

import resource
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from kith_recommend.discovery.state import TenantGraph
from kith_recommend.domain.changes import Edge
from kith_recommend.domain.microcommunities import (
    CommunityMembership,
    Detection,
    DetectionParams,
    GraphSnapshot,
    TenantContext,
    detect,
)
from kith_recommend.domain.model import TenantState

#: A tie as drawn: its two members and its decayed weight.
Tie = tuple[str, str, float]


@dataclass(frozen=True)
class DetectionJob:
    """Everything one detection needs, independent of the live state (it may run in another process)."""

    tenant: str
    snapshot: GraphSnapshot
    params: DetectionParams
    context: TenantContext
    previous: Detection | None
    max_edges_per_group: int
    version: int  # the state's version the snapshot was taken at


@dataclass(frozen=True)
class DetectionOutcome:
    """What a detection found, each group's internal ties, and what it cost where it ran."""

    detection: Detection
    edges: dict[str, list[Tie]]
    cpu_seconds: float
    peak_rss_mb: float


def detection_instant(state: TenantState) -> datetime | None:
    """Return the instant a tenant is detected at: its latest event's time, never past now (None: no events)."""
    latest = state.now
    if latest <= 0:
        return None
    return datetime.fromtimestamp(min(latest, time.time()), UTC)


def prepare(
    tenant: TenantGraph, state: TenantState, params: DetectionParams, at: datetime, max_edges_per_group: int
) -> DetectionJob:
    """Build the job of one detection at ``at`` from the tenant's graph and read model."""
    communities: dict[str, set[str]] = {}
    for member, joined in state.edges[Edge.MEMBER].items():
        for community_id in joined:
            communities.setdefault(community_id, set()).add(member)
    joined_at = state.edges[Edge.JOINED_AT]
    tenant.graph.set_communities(
        CommunityMembership(
            community_id,
            {
                m: datetime.fromtimestamp(tenant.since(joined_at.get(m, {}).get(community_id)), UTC)
                for m in sorted(members)
            },
            len(members),
        )
        for community_id, members in communities.items()
        if 2 <= len(members) <= params.small_community_size
    )
    snapshot = tenant.graph.snapshot(at, state.excluded_members())
    tags = state.edges[Edge.TAG]
    terms = {m: dict(tags[m]) for m in snapshot.members if m in tags}
    names = {c: str(fields.get("name") or c) for c, fields in state.communities.items()}
    context = TenantContext(terms, {c: frozenset(m) for c, m in communities.items()}, names)
    return DetectionJob(tenant.tenant, snapshot, params, context, tenant.detection, max_edges_per_group, tenant.version)


def run(job: DetectionJob, *, whole_process: bool = True) -> DetectionOutcome:
    """Detect the job's groups; measure the CPU of the process (or, in a thread, of this thread)."""
    clock = time.process_time if whole_process else time.thread_time
    started = clock()
    detection = detect(job.tenant, job.snapshot, job.params, job.context, job.previous)
    edges = internal_ties(job.snapshot, detection, job.max_edges_per_group)
    cpu = clock() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return DetectionOutcome(detection, edges, cpu, peak)


def internal_ties(snapshot: GraphSnapshot, detection: Detection, most: int) -> dict[str, list[Tie]]:
    """Return each group's heaviest ``most`` internal ties, heaviest first."""
    if not detection.groups or most <= 0:
        return {s.id: [] for s in detection.groups}
    index = snapshot.index
    owner = np.full(len(snapshot.members), -1, dtype=np.int64)
    for g, summary in enumerate(detection.groups):
        owner[[index[m] for m in summary.members if m in index]] = g
    rows, cols, weights = snapshot.upper()
    inside = (owner[rows] == owner[cols]) & (owner[rows] >= 0)
    rows, cols, weights = rows[inside], cols[inside], weights[inside]
    order = np.lexsort((-weights, owner[rows]))
    rows, cols, weights = rows[order], cols[order], weights[order]
    groups = owner[rows]
    bounds = np.searchsorted(groups, np.arange(len(detection.groups) + 1))
    names = snapshot.members
    result: dict[str, list[Tie]] = {}
    for g, summary in enumerate(detection.groups):
        start, end = int(bounds[g]), min(int(bounds[g + 1]), int(bounds[g]) + most)
        result[summary.id] = [
            (names[a], names[b], round(w, 6))
            for a, b, w in zip(
                rows[start:end].tolist(), cols[start:end].tolist(), weights[start:end].tolist(), strict=True
            )
        ]
    return result
