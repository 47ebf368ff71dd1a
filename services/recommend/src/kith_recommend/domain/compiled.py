"""The compiled read model: sparse matrices over community and member indices that ranking computes with.

:func:`compile_model` turns a tenant's :class:`~kith_recommend.domain.model.TenantState` into a
:class:`CompiledModel`; the service rebuilds it in the background when the tenant changed, within
about a second.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import numpy as np
import numpy.typing as npt
from scipy import sparse

from kith_recommend.domain.changes import Edge
from kith_recommend.domain.model import TenantState, coordinates

Vector = npt.NDArray[np.float64]
#: How a community meets, as compiled: the index is the code in :attr:`CompiledModel.mode`.
MODES: tuple[str, ...] = ("online", "local", "hybrid")


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
        where = coordinates(place)
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
