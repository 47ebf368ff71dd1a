"""One detection of a tenant's micro-communities, end to end, from a graph snapshot.

``detect`` partitions the snapshot (warm from the previous detection), drops clusters below the
minimum group size, keeps the ids of groups that continue, and summarises each group. Comparing two
detections (:func:`kith_recommend.domain.microcommunities.events.compare`) gives the events to
publish, and :func:`kith_recommend.domain.microcommunities.actions.nurture` the suggested actions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property

import numpy as np
import numpy.typing as npt

from kith_recommend.domain.microcommunities.identity import Group, assign_ids
from kith_recommend.domain.microcommunities.params import DetectionParams
from kith_recommend.domain.microcommunities.partition import Path, cluster, connected
from kith_recommend.domain.microcommunities.snapshot import GraphSnapshot
from kith_recommend.domain.microcommunities.summary import GroupSummary, TenantContext, summarize


@dataclass(frozen=True)
class Detection:
    """A tenant's groups at one instant, and how many ties link each two of them."""

    tenant: str
    detected_at: datetime
    groups: tuple[GroupSummary, ...] = ()
    between: Mapping[tuple[str, str], int] = field(default_factory=dict)
    paths: Mapping[str, Path] = field(default_factory=dict)  # every member's cluster at each level (warm start)

    @cached_property
    def by_id(self) -> dict[str, GroupSummary]:
        """Return the groups by id."""
        return {s.id: s for s in self.groups}

    @cached_property
    def membership(self) -> dict[str, str]:
        """Return each grouped member's group id."""
        return {member: s.id for s in self.groups for member in s.group.members}

    def ties_between(self, a: str, b: str) -> int:
        """Return the number of tied member pairs between two groups."""
        return int(self.between.get((a, b) if a < b else (b, a), 0))


def detect(
    tenant: str,
    snapshot: GraphSnapshot,
    params: DetectionParams,
    context: TenantContext | None = None,
    previous: Detection | None = None,
) -> Detection:
    """Find the tenant's groups in ``snapshot``, keeping the ids of ``previous`` where groups continue.

    Clusters smaller than ``min_group_size`` or looser than ``max_conductance`` are not groups.
    """
    clustering = cluster(snapshot, params, previous.paths if previous is not None else None)
    labels = _core(snapshot, clustering.labels, params.min_internal_ties)
    close = _close(snapshot, labels, params.max_conductance)
    clusters = [
        members
        for label, members in enumerate(_clusters(snapshot, labels))
        if len(members) >= params.min_group_size and close[label]
    ]
    before: dict[str, Group] = {s.id: s.group for s in previous.groups} if previous is not None else {}
    groups = assign_ids(tenant, clusters, before, snapshot.at)
    summaries, between = summarize(snapshot, groups, context or TenantContext(), params)
    paths = dict(zip(snapshot.members, clustering.paths, strict=True))
    return Detection(tenant, snapshot.at, tuple(summaries), between, paths)


def _core(snapshot: GraphSnapshot, labels: npt.NDArray[np.int64], k: int) -> npt.NDArray[np.int64]:
    """Take out of their cluster, repeatedly, members with fewer than ``k`` ties inside it (each then stands alone)."""
    labels = labels.copy()
    rows, cols, _ = snapshot.upper()
    n = labels.size
    while n:
        inside = (labels[rows] == labels[cols]) & (labels[rows] >= 0)
        degree = np.bincount(rows[inside], minlength=n) + np.bincount(cols[inside], minlength=n)
        weak = (degree < k) & (labels >= 0)
        if not weak.any():
            break
        labels[weak] = -1
    out = labels < 0
    labels[out] = labels.max(initial=-1) + 1 + np.arange(int(out.sum()))
    return connected(labels, rows, cols)


def _close(snapshot: GraphSnapshot, labels: npt.NDArray[np.int64], max_conductance: float) -> npt.NDArray[np.bool_]:
    """Return, per cluster label, whether its conductance is at most ``max_conductance``."""
    if labels.size == 0:
        return np.zeros(0, dtype=bool)
    rows, cols, weights = snapshot.upper()
    inside = labels[rows] == labels[cols]
    count = int(labels.max()) + 1
    internal = np.bincount(labels[rows[inside]], weights=weights[inside], minlength=count)
    volume = np.bincount(labels, weights=snapshot.strength, minlength=count)
    rest = float(snapshot.strength.sum()) - volume
    cut = volume - 2.0 * internal
    denominator = np.minimum(volume, rest)
    conductance = np.divide(cut, denominator, out=np.zeros(count), where=denominator > 0)
    return np.asarray(conductance <= max_conductance + 1e-12, dtype=bool)


def _clusters(snapshot: GraphSnapshot, labels: npt.NDArray[np.int64]) -> list[frozenset[str]]:
    """Return the members of each cluster label."""
    if labels.size == 0:
        return []
    order = np.argsort(labels, kind="stable")
    bounds = np.flatnonzero(np.diff(labels[order])) + 1
    names = snapshot.members
    return [frozenset(names[i] for i in part.tolist()) for part in np.split(order, bounds)]
