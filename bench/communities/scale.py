"""Detection cost on a large synthetic tenant, measured in a fresh process (run as a module).

``python -m bench.communities.scale MEMBERS TIES SEED`` prints one JSON object: the CPU seconds of
graph building (adding every interaction and community list), the snapshot, and detection with group
summaries, and the peak resident memory the whole path added over what the drawn interactions hold.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

from bench.communities.synthetic import NOW, draw, scale_recipe
from kith_recommend.domain.microcommunities import DetectionParams, InteractionGraph, TenantContext, detect


def _rss_mb() -> float:
    pages = int(Path("/proc/self/statm").read_text(encoding="utf-8").split()[1])
    return pages * resource.getpagesize() / 2**20


def measure(members: int, ties: int, seed: int) -> dict[str, float]:
    """Draw the tenant, then time and measure the detection path."""
    tenant = draw(scale_recipe(members, ties, seed))
    interactions = list(tenant.interactions())
    memberships = tenant.memberships()
    context = TenantContext(tenant.terms, tenant.communities)
    params = DetectionParams(seed=seed)
    before = _rss_mb()
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    started = time.process_time()
    wall = time.perf_counter()
    graph = InteractionGraph(params)
    graph.add_all(interactions)
    for membership in memberships:
        graph.set_community(membership)
    built = time.process_time()
    snapshot = graph.snapshot(NOW)
    snapped = time.process_time()
    detection = detect("scale", snapshot, params, context)
    done = time.process_time()
    wall_seconds = time.perf_counter() - wall
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "members": float(len(snapshot.members)),
        "edges": float(snapshot.adjacency.nnz // 2),
        "interactions": float(len(interactions)),
        "groups": float(len(detection.groups)),
        "build_cpu_s": built - started,
        "snapshot_cpu_s": snapped - built,
        "detect_cpu_s": done - snapped,
        "total_cpu_s": done - started,
        "total_wall_s": wall_seconds,
        # ru_maxrss is a high-water mark: when drawing the data peaked higher than the path, the
        # path's own peak is not visible, and the figure is only an upper bound.
        "peak_rss_delta_mb": max(peak, peak_before) - before,
        "peak_is_exact": float(peak > peak_before),
    }


if __name__ == "__main__":
    members, ties, seed = (int(a) for a in sys.argv[1:4])
    sys.stdout.write(json.dumps(measure(members, ties, seed)) + "\n")
