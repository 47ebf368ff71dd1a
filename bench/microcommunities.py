"""Micro-community detection: quality on real and planted groups, stability, and cost at scale.

``python -m bench microcommunities --data ../shared/data [--seeds 3] [--scale-members 100000]
[--scale-ties 1000000] [--quick]``

- Real data: ``youtube-sample`` (SNAP com-youtube, 100 overlapping ground-truth communities,
  friendships taken as follows). Average best-match F1 (Yang and Leskovec) and overlapping NMI
  (McDaid et al.'s ``NMI_max``) of Kith's detection and of networkx Louvain, networkx label
  propagation and graspologic-native Leiden (defaults) on the same graph, seeds 0..N-1.
- Stability: 2% of the friendships (seeded, sampled from the true edges) are held out, groups are
  detected on the rest, the held-out edges are added and groups detected again warm: the share of
  grouped members keeping their group id. Also on a planted tenant, with 2% more ties.
- Planted: a seeded synthetic tenant (``bench.communities.synthetic``) with forming groups and close
  sub-groups inside large communities amid heavy-tailed noise: F1 against the planted groups, and
  the share of ``emerging`` groups matching no planted group (best F1 below 0.5).
- Scale: detection on a synthetic tenant of 100,000 members and 1,000,000 ties in a fresh process:
  CPU seconds and peak resident memory of the whole path.

Prints a Markdown table and writes ``bench/results/microcommunities.json``.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.communities.metrics import average_f1, best_match_f1, overlapping_nmi
from bench.communities.sources import (
    NOW,
    ClusterSource,
    Edges,
    KithDetection,
    LabelPropagation,
    LeidenDirect,
    Louvain,
    follow_graph,
)
from bench.communities.synthetic import PlantedRecipe, PlantedTenant, draw
from kith_recommend.domain.microcommunities import (
    Detection,
    DetectionParams,
    Interaction,
    InteractionGraph,
    InteractionKind,
    Status,
    TenantContext,
    detect,
)

RESULTS = Path(__file__).resolve().parent / "results" / "microcommunities.json"
ROOT = Path(__file__).resolve().parent.parent
#: Kith's detection as a plain partition: the same code with the close-group filters off, groups of
#: two allowed and modularity as objective, for comparison with partitioning baselines on a truth
#: whose communities are large and sparse.
PARTITION = DetectionParams(
    objective="modularity", resolution=1.0, min_group_size=2, min_internal_ties=0, max_conductance=1.0
)
HELD_OUT = 0.02


@dataclass(frozen=True)
class Row:
    """One source's scores over seeds."""

    source: str
    f1: list[float]
    nmi: list[float]
    groups: list[int]

    def summary(self) -> dict[str, Any]:
        """Return means and per-seed figures."""
        return {
            "source": self.source,
            "f1_mean": statistics.fmean(self.f1),
            "nmi_mean": statistics.fmean(self.nmi),
            "groups_mean": statistics.fmean(self.groups),
            "f1": self.f1,
            "nmi": self.nmi,
            "groups": self.groups,
        }


def load_youtube(data: Path) -> tuple[list[tuple[str, str]], list[frozenset[str]]]:
    """Return the sample's friendships and ground-truth communities."""
    folder = data / "youtube-sample"
    edges = []
    for line in (folder / "com-youtube_train.txt").read_text(encoding="utf-8").splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] != parts[1]:
            edges.append((parts[0], parts[1]))
    text = (folder / "com-youtube.sampled.cmty.txt").read_text(encoding="utf-8")
    truth = [frozenset(line.split()) for line in text.splitlines() if line.strip()]
    return edges, truth


def score_sources(
    sources: Sequence[ClusterSource], edges: Edges, truth: Sequence[frozenset[str]], seeds: Sequence[int]
) -> list[Row]:
    """Score each source on the same graph for each seed."""
    universe = len({m for e in edges for m in e})
    rows = []
    for source in sources:
        f1s, nmis, counts = [], [], []
        for seed in seeds:
            found = source.clusters(edges, seed)
            f1s.append(average_f1(found, truth))
            nmis.append(overlapping_nmi(found, truth, universe))
            counts.append(len(found))
        rows.append(Row(source.name, f1s, nmis, counts))
    return rows


def youtube_stability(edges: Edges, params: DetectionParams, seed: int) -> dict[str, float]:
    """Hold out 2% of the true edges, detect, add them back, detect warm; return the id retention."""
    shuffled = list(edges)
    random.Random(seed).shuffle(shuffled)
    cut = int(len(shuffled) * HELD_OUT)
    params = params.model_copy(update={"seed": seed})
    graph = follow_graph(shuffled[cut:], params)
    first = detect("bench", graph.snapshot(NOW), params)
    for a, b in shuffled[:cut]:
        graph.add(_follow(a, b))
    second = detect("bench", graph.snapshot(NOW), params, previous=first)
    return _retention(first.membership, second.membership) | {"added_edges": float(cut)}


def planted_stability(recipe: PlantedRecipe, params: DetectionParams) -> dict[str, float]:
    """Hold out 2% of a planted tenant's ties (all their interactions), then add them back warm."""
    tenant = draw(recipe)
    interactions = list(tenant.interactions())
    order = list(range(len(interactions)))
    random.Random(recipe.seed).shuffle(order)
    cut = int(len(order) * HELD_OUT)
    held = set(order[:cut])
    graph = InteractionGraph(params)
    graph.add_all(x for i, x in enumerate(interactions) if i not in held)
    for membership in tenant.memberships():
        graph.set_community(membership)
    context = TenantContext(tenant.terms, tenant.communities)
    first = detect("bench", graph.snapshot(NOW), params, context)
    graph.add_all(interactions[i] for i in sorted(held))
    second = detect("bench", graph.snapshot(NOW), params, context, previous=first)
    return _retention(first.membership, second.membership) | {"added_interactions": float(cut)}


def planted_quality(recipe: PlantedRecipe, params: DetectionParams) -> dict[str, float]:
    """Detect on a planted tenant; score against the planted groups and check the statuses."""
    tenant = draw(recipe)
    detection = detect_tenant(tenant, params)
    found = [s.group.members for s in detection.groups]
    emerging = [s.group.members for s in detection.groups if s.status is Status.EMERGING]
    stray = sum(1 for f in best_match_f1(emerging, tenant.planted) if f < 0.5)
    inside = [s.group.members for s in detection.groups if s.status is Status.INSIDE]
    forming_hits = best_match_f1(tenant.forming, emerging)
    sub_hits = best_match_f1([g for g, _ in tenant.subgroups], inside)
    return {
        "f1": average_f1(found, tenant.planted),
        "groups": float(len(found)),
        "planted": float(len(tenant.planted)),
        "emerging": float(len(emerging)),
        "emerging_unmatched_share": stray / len(emerging) if emerging else 0.0,
        "forming_found_emerging": sum(1 for f in forming_hits if f >= 0.5) / len(forming_hits),
        "subgroups_found_inside": sum(1 for f in sub_hits if f >= 0.5) / len(sub_hits),
    }


def detect_tenant(tenant: PlantedTenant, params: DetectionParams) -> Detection:
    """Build a planted tenant's graph and detect its groups."""
    graph = InteractionGraph(params)
    graph.add_all(tenant.interactions())
    for membership in tenant.memberships():
        graph.set_community(membership)
    return detect("bench", graph.snapshot(NOW), params, TenantContext(tenant.terms, tenant.communities))


def scale(members: int, ties: int, seed: int) -> dict[str, float]:
    """Measure the detection path at scale in a fresh process (so peak memory is its own)."""
    command = [sys.executable, "-m", "bench.communities.scale", str(members), str(ties), str(seed)]
    done = subprocess.run(command, capture_output=True, text=True, check=True, cwd=ROOT)  # noqa: S603
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _follow(a: str, b: str) -> Interaction:
    return Interaction(InteractionKind.FOLLOW, a, b, NOW)


def _retention(before: dict[str, str], after: dict[str, str]) -> dict[str, float]:
    kept = sum(1 for member, group in before.items() if after.get(member) == group)
    return {"grouped_members": float(len(before)), "kept_share": kept / len(before) if before else 0.0}


def parse(argv: list[str]) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(prog="python -m bench microcommunities", description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"), help="data directory")
    parser.add_argument("--seeds", type=int, default=None, help="seeds 0..N-1 (default 3; 1 with --quick)")
    parser.add_argument("--scale-members", type=int, default=100_000)
    parser.add_argument("--scale-ties", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true", help="one seed, and a scale tenant a tenth the size")
    parser.add_argument("--output", type=Path, default=RESULTS, help="where to write the JSON figures")
    return parser.parse_args(argv)


def _mean(rows: Sequence[dict[str, float]], key: str) -> float:
    return statistics.fmean(r[key] for r in rows)


def main(argv: list[str]) -> int:
    """Run every part, print the Markdown tables and write the JSON figures."""
    args = parse(argv)
    seeds = list(range(args.seeds if args.seeds is not None else (1 if args.quick else 3)))
    members = args.scale_members // (10 if args.quick else 1)
    ties = args.scale_ties // (10 if args.quick else 1)
    try:
        edges, truth = load_youtube(args.data)
    except FileNotFoundError as error:
        sys.stderr.write(f"microcommunities: cannot load youtube-sample from {args.data}: {error}\n")
        return 2
    defaults = DetectionParams()
    sources: list[ClusterSource] = [
        KithDetection(defaults, "Kith detection (service defaults)"),
        KithDetection(PARTITION, "Kith as a partition (modularity, no close-group filters)"),
        Louvain(),
        LabelPropagation(),
        LeidenDirect(),
    ]
    rows = score_sources(sources, edges, truth, seeds)
    stability = [youtube_stability(edges, defaults, s) for s in seeds]
    stability_partition = [youtube_stability(edges, PARTITION, s) for s in seeds]
    seeded = [(PlantedRecipe(seed=100 + s), defaults.model_copy(update={"seed": s})) for s in seeds]
    planted = [planted_quality(recipe, params) for recipe, params in seeded]
    planted_stable = [planted_stability(recipe, params) for recipe, params in seeded]
    at_scale = scale(members, ties, seeds[0])
    summaries = [r.summary() for r in rows]
    baselines = summaries[2:]
    best = max(baselines, key=lambda r: r["f1_mean"])
    print(f"## Real data: youtube-sample ({len(edges):,} friendships, {len(truth)} true communities), seeds {seeds}\n")
    print("| source | average F1 | overlapping NMI (McDaid max) | groups |")
    print("|---|---|---|---|")
    for r in summaries:
        print(f"| {r['source']} | {r['f1_mean']:.4f} | {r['nmi_mean']:.4f} | {r['groups_mean']:.0f} |")
    for r in summaries[:2]:
        print(
            f"\n{r['source']}: F1 {r['f1_mean'] - best['f1_mean']:+.4f} against the best baseline "
            f"({best['source']}, {best['f1_mean']:.4f})."
        )
    print("\n## Stability (2% more edges, held-out true edges / held-out planted ties; warm start)\n")
    print("| graph | configuration | grouped members | kept their group id |")
    print("|---|---|---|---|")
    print(
        f"| youtube-sample | service defaults | {_mean(stability, 'grouped_members'):.0f} "
        f"| {_mean(stability, 'kept_share'):.3f} |"
    )
    print(
        f"| youtube-sample | as a partition | {_mean(stability_partition, 'grouped_members'):.0f} "
        f"| {_mean(stability_partition, 'kept_share'):.3f} |"
    )
    print(
        f"| planted tenant | service defaults | {_mean(planted_stable, 'grouped_members'):.0f} "
        f"| {_mean(planted_stable, 'kept_share'):.3f} |"
    )
    print("\n## Planted groups (synthetic tenant, recipe seeds 100+)\n")
    print(
        "| F1 vs planted | emerging matching nothing | forming found as emerging "
        "| sub-groups found as inside | groups / planted |"
    )
    print("|---|---|---|---|---|")
    print(
        f"| {_mean(planted, 'f1'):.3f} | {_mean(planted, 'emerging_unmatched_share'):.3f} "
        f"| {_mean(planted, 'forming_found_emerging'):.3f} | {_mean(planted, 'subgroups_found_inside'):.3f} "
        f"| {_mean(planted, 'groups'):.0f} / {_mean(planted, 'planted'):.0f} |"
    )
    print(f"\n## Scale ({members:,} members, {ties:,} ties drawn; one process, CPU seconds)\n")
    print("| edges | build | snapshot | detect + summaries | total CPU | peak memory added |")
    print("|---|---|---|---|---|---|")
    print(
        f"| {at_scale['edges']:,.0f} | {at_scale['build_cpu_s']:.2f} s | {at_scale['snapshot_cpu_s']:.2f} s "
        f"| {at_scale['detect_cpu_s']:.2f} s | {at_scale['total_cpu_s']:.2f} s "
        f"| {'' if at_scale['peak_is_exact'] else '<= '}{at_scale['peak_rss_delta_mb']:.0f} MB |"
    )
    payload = {
        "command": "python -m bench microcommunities " + " ".join(argv),
        "seeds": seeds,
        "params": defaults.model_dump(mode="json"),
        "partition_params": PARTITION.model_dump(mode="json"),
        "youtube": summaries,
        "best_baseline": best["source"],
        "stability": {"youtube": stability, "youtube_partition": stability_partition, "planted": planted_stable},
        "planted": planted,
        "scale": at_scale,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    return 0
