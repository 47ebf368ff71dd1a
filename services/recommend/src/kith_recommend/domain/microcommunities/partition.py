"""Partition a graph snapshot into connected clusters no larger than the cap, warm-started.

Leiden (Traag, Waltman and van Eck, 2019; graspologic-native's Rust implementation) maximises
the Constant Potts Model (or modularity) at the given resolution. Three guarantees are then
enforced here rather than assumed:

- every cluster is connected (it is split into its connected components, which Leiden's refinement
  should already ensure; a warm start from groups that lost their ties could otherwise break it);
- no cluster is larger than ``max_cluster_size``: a larger one is partitioned again on its own, at
  the same resolution (relative to its own ties), then at doubled resolutions until it splits; the
  pieces are split again while still too large (a giant blob never comes back whole);
- the same snapshot, warm start and seed give the same clusters.

The splitting makes a hierarchy: each member has a *path*, its cluster label at each level. Every
level is warm-started from the previous detection's partition at that same level (members who were
in one cluster at that level start together), not just from the final groups: starting a level from
the finer groups below it would let Leiden merge them along other lines than last time, and the
groups cut out of those new blocks would drift even on an unchanged graph.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import graspologic_native as gn  # type: ignore[import-untyped]
import numpy as np
from scipy import sparse
from scipy.sparse import csgraph

from kith_recommend.domain.microcommunities.params import DetectionParams
from kith_recommend.domain.microcommunities.snapshot import Floats, GraphSnapshot, Ints

Path = tuple[int, ...]
#: Resolution is doubled at most this many times to split a cluster (2^30 isolates every member).
MAX_DOUBLINGS = 30


@dataclass(frozen=True)
class Clustering:
    """A cluster label per snapshot member (0..k-1 by lowest member index) and each member's path."""

    labels: Ints
    paths: tuple[Path, ...]


def cluster(snapshot: GraphSnapshot, params: DetectionParams, previous: Mapping[str, Path] | None = None) -> Clustering:
    """Partition the snapshot: clusters connected, none above the cap, warm from ``previous`` paths."""
    n = len(snapshot.members)
    if n == 0:
        return Clustering(np.zeros(0, dtype=np.int64), ())
    known = previous or {}
    before = [known.get(member) for member in snapshot.members]
    rows, cols, weights = snapshot.upper()
    if params.objective == "cpm" and weights.size:
        weights = weights / float(weights.mean())  # the resolution is then a density of average ties
    everyone = np.arange(n, dtype=np.int64)
    start = connected(_start(everyone, before, 0), rows, cols)
    labels = connected(_leiden(n, rows, cols, weights, start, params, params.resolution, params.iterations), rows, cols)
    paths: list[list[int]] = [[label] for label in labels.tolist()]
    next_label = int(labels.max()) + 1
    cap = params.max_cluster_size
    work = [(*piece, 1) for piece in _pieces(labels, rows, cols, weights) if piece[0].size > cap]
    while work:
        nodes, s_rows, s_cols, s_weights, depth = work.pop()
        local_rows = np.searchsorted(nodes, s_rows)
        local_cols = np.searchsorted(nodes, s_cols)
        local_start = connected(_start(nodes, before, depth), local_rows, local_cols)
        parts = _split(nodes.size, local_rows, local_cols, s_weights, local_start, params)
        for node, part in zip(nodes.tolist(), parts.tolist(), strict=True):
            paths[node].append(part)
        labels[nodes] = parts + next_label
        next_label += int(parts.max()) + 1
        for members, p_rows, p_cols, p_weights in _pieces(parts, local_rows, local_cols, s_weights):
            if members.size > cap:
                work.append((nodes[members], nodes[p_rows], nodes[p_cols], p_weights, depth + 1))
    return Clustering(_canonical(connected(labels, rows, cols)), tuple(tuple(p) for p in paths))


def connected(labels: Ints, rows: Ints, cols: Ints) -> Ints:
    """Split every cluster into its connected components (ties inside the cluster only)."""
    n = labels.size
    if n == 0:
        return labels
    inside = labels[rows] == labels[cols]
    graph = sparse.coo_matrix((np.ones(int(inside.sum())), (rows[inside], cols[inside])), shape=(n, n))
    _, components = csgraph.connected_components(graph, directed=False)
    return np.asarray(components, dtype=np.int64)


def _start(nodes: Ints, before: Sequence[Path | None], depth: int) -> Ints:
    """Return starting labels for ``nodes`` at one level: together if together there last time.

    A member whose previous path ends above this level (its cluster was small enough) starts with
    the rest of its final previous cluster; a member seen for the first time starts alone.
    """
    keys: dict[Path, int] = {}
    labels = np.empty(nodes.size, dtype=np.int64)
    for i, node in enumerate(nodes.tolist()):
        path = before[node]
        key = path[: depth + 1] if path is not None else (-1, node)
        labels[i] = keys.setdefault(key, len(keys))
    return labels


def _leiden(
    n: int,
    rows: Ints,
    cols: Ints,
    weights: Floats,
    start: Ints,
    params: DetectionParams,
    resolution: float,
    cycles: int,
) -> Ints:
    """Run Leiden over local node indices 0..n-1 from ``start``; return its labels."""
    if rows.size == 0:
        return np.arange(n, dtype=np.int64)
    names = [str(i) for i in range(n)]
    sources = [names[i] for i in rows.tolist()]
    targets = [names[i] for i in cols.tolist()]
    edges = list(zip(sources, targets, weights.tolist(), strict=True))
    present = np.zeros(n, dtype=bool)
    present[rows] = True
    present[cols] = True
    starting = {names[i]: int(start[i]) for i in np.flatnonzero(present).tolist()}
    _, found = gn.leiden(
        edges,
        starting_communities=starting,
        resolution=resolution,
        randomness=params.randomness,
        iterations=cycles,
        use_modularity=params.objective == "modularity",
        seed=params.seed,
        trials=params.trials,
    )
    labels = np.arange(n, dtype=np.int64) + n  # isolated nodes (none in a snapshot) stay alone
    for name, label in found.items():
        labels[int(name)] = label
    return labels


def _pieces(labels: Ints, rows: Ints, cols: Ints, weights: Floats) -> list[tuple[Ints, Ints, Ints, Floats]]:
    """Return each cluster's nodes (sorted) and the ties inside it."""
    count = int(labels.max()) + 1
    by_label = np.argsort(labels, kind="stable")
    node_bounds = np.searchsorted(labels[by_label], np.arange(count + 1))
    inside = labels[rows] == labels[cols]
    order = np.argsort(labels[rows[inside]], kind="stable")
    e_rows, e_cols, e_weights = rows[inside][order], cols[inside][order], weights[inside][order]
    edge_bounds = np.searchsorted(labels[e_rows], np.arange(count + 1))
    return [
        (
            by_label[node_bounds[c] : node_bounds[c + 1]],
            e_rows[edge_bounds[c] : edge_bounds[c + 1]],
            e_cols[edge_bounds[c] : edge_bounds[c + 1]],
            e_weights[edge_bounds[c] : edge_bounds[c + 1]],
        )
        for c in range(count)
    ]


def _split(n: int, rows: Ints, cols: Ints, weights: Floats, start: Ints, params: DetectionParams) -> Ints:
    """Partition one too-large connected cluster into at least two connected parts."""
    resolution = params.resolution
    cold = np.arange(n, dtype=np.int64)
    warm = not np.array_equal(start, cold)
    for _ in range(MAX_DOUBLINGS):
        parts = connected(_leiden(n, rows, cols, weights, cold, params, resolution, params.iterations), rows, cols)
        if int(parts.max()) > 0:
            if warm:  # the level splits here: split it from where it was split last time
                again = _leiden(n, rows, cols, weights, start, params, resolution, params.iterations)
                kept = connected(again, rows, cols)
                if int(kept.max()) > 0:
                    return kept
            return parts
        resolution *= 2.0
    return cold


def _compact(labels: Ints) -> Ints:
    """Renumber labels 0..k-1."""
    _, compact = np.unique(labels, return_inverse=True)
    return compact.astype(np.int64)


def _canonical(labels: Ints) -> Ints:
    """Renumber labels in order of each cluster's lowest member index."""
    if labels.size == 0:
        return labels
    _, first = np.unique(labels, return_index=True)
    rank = np.empty(first.size, dtype=np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(first.size)
    return rank[_compact(labels)]
