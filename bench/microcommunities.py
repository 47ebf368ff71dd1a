"""Micro-community detection through the service: real and planted groups, stability, and cost at scale.

``python -m bench microcommunities --data ../shared/data [--seeds 3] [--generator-seeds 3]
[--scale-members 100000] [--scale-ties 1000000] [--quick] [--no-scale]``

Every Kith row is the service's real path: events are posted to ingest's HTTP API
(``POST /v1/events:batch``), recommend's consumer builds its interaction graph, a detection is asked
for (``POST /v1/micro-communities:detect``) and runs in its worker process, and the groups are read
back from ``GET /v1/micro-communities`` (ingest and recommend run in this process, on the embedded
broker and database).

- youtube-sample (SNAP com-youtube: 100 overlapping ground-truth communities, 60 of them pairs, the
  largest 2,217 members): every friendship posted as a ``member.followed`` event. The service runs
  twice: with its defaults (micro-communities) and with the documented ground-truth profile
  (:data:`GROUND_TRUTH_PROFILE`: the truth's own definition of a community). Scored with average
  best-match F1 (Yang and Leskovec) and overlapping NMI (McDaid et al.) beside networkx Louvain,
  networkx label propagation and graspologic-native Leiden run directly on the same graph; mean and
  95% interval over seeds (the service's Leiden seed; the baselines' seeds).
- Stability, in the same runs: 2% of the friendships (seeded) are held back; the detection on the rest
  is followed by the held-back ones and a second (warm) detection: the share of grouped members who
  keep their group id.
- Planted: the activity generator's tenant (3,000 members, 300 communities, 30 days; ``World.planted``:
  forming groups and close sub-groups inside large communities) posted event by event through ingest,
  2% of its ties (follows, replies, reactions) held back for the stability check. Reported: each
  planted group's best-match F1 against the groups found as emerging or inside (the target), the
  Yang-Leskovec average both ways, the share of ``emerging`` groups matching no planted group (best
  F1 below 0.5), forming groups found as emerging and sub-groups found as inside.
- Scale (:mod:`bench.communities.scale_service`): 100,000 members and 1,000,000 ties through the
  service process: detection time and memory, and list and detail p99 against a trivial endpoint;
  and (:mod:`bench.communities.scale`) the detection path alone in a fresh process.

Prints Markdown tables and writes ``bench/results/microcommunities.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.communities.metrics import average_f1, best_match_f1, overlapping_nmi
from bench.communities.scale_service import measure as scale_through_service
from bench.communities.service import Run, ServiceLab
from bench.communities.sources import ClusterSource, Edges, LabelPropagation, LeidenDirect, Louvain
from bench.measure import finish, parser_for, run_facts
from kith_devkit.generator import GeneratorConfig, build_world, generate
from kith_recommend.domain.microcommunities import DetectionParams
from kith_shared.events import Event, validate_event

RESULTS = Path(__file__).resolve().parent / "results" / "microcommunities.json"
ROOT = Path(__file__).resolve().parent.parent
HELD_OUT = 0.02
#: What a ground truth like youtube-sample calls a community, as detection settings: modularity at
#: resolution 1, pairs allowed (60 of its 100 communities are pairs), a size cap above its largest
#: community (2,217), the closeness filters off, and the best of five Leiden trials. The opposite of a
#: micro-community; documented so that anyone can ask the service for this definition.
GROUND_TRUTH_PROFILE = DetectionParams(
    objective="modularity",
    resolution=1.0,
    min_group_size=2,
    max_cluster_size=3_000,
    min_internal_ties=0,
    max_conductance=1.0,
    trials=5,
)
PROFILES: dict[str, DetectionParams] = {"defaults": DetectionParams(), "ground-truth profile": GROUND_TRUTH_PROFILE}
#: Two-sided 95% Student t quantiles by degrees of freedom (intervals over a few seeds).
T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262}


def interval(values: Sequence[float]) -> tuple[float, float]:
    """Return the mean and the half-width of its 95% interval (0 with one value)."""
    mean = statistics.fmean(values)
    if len(values) < 2:
        return mean, 0.0
    return mean, T95.get(len(values) - 1, 1.96) * statistics.stdev(values) / len(values) ** 0.5


def show(values: Sequence[float], digits: int = 4) -> str:
    """Return ``mean ± half-width``."""
    mean, half = interval(values)
    return f"{mean:.{digits}f} ± {half:.{digits}f}" if len(values) > 1 else f"{mean:.{digits}f}"


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


def follows(tenant: str, edges: Edges, first: int, at: datetime) -> Iterator[Event]:
    """Yield each friendship as a ``member.followed`` event a client app would send (ids ``y<user>``)."""
    for number, (a, b) in enumerate(edges, start=first):
        yield validate_event(
            {"id": f"{tenant}-{number}", "source": "bench://youtube-sample", "type": "member.followed",
             "time": at.isoformat(), "tenant": tenant, "data": {"member_id": f"y{a}", "followed_member_id": f"y{b}"}}
        )  # fmt: skip


def retention(before: dict[str, str], after: dict[str, str]) -> float:
    """Return the share of members grouped before who kept their group id."""
    return sum(1 for member, group in before.items() if after.get(member) == group) / len(before) if before else 0.0


def membership(groups: list[dict[str, Any]]) -> dict[str, str]:
    """Return each grouped member's group id."""
    return {member: g["id"] for g in groups for member in g["member_ids"]}


async def detect_twice(run: Run, first: list[Event], later: list[Event]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Post ``first``, detect, post ``later``, detect warm; return the final groups and what it took."""
    took: dict[str, Any] = {"posted": await run.post(first)}
    took["consume_seconds"] = await run.caught_up()
    took["detect_seconds"] = await run.detect()
    before = membership(await run.groups())
    took["posted"] += await run.post(later)
    await run.caught_up()
    await run.detect()
    groups = await run.groups()
    took["grouped_before"] = len(before)
    took["kept_share"] = retention(before, membership(groups))
    return groups, took


async def youtube(lab: ServiceLab, edges: Edges, truth: Sequence[frozenset[str]], seeds: list[int]) -> dict[str, Any]:
    """Run the service on youtube-sample with each profile and seed."""
    universe = len({m for e in edges for m in e})
    rows: dict[str, Any] = {}
    at = datetime.now(UTC).replace(microsecond=0)
    for name, params in PROFILES.items():
        runs = []
        for seed in seeds:
            shuffled = list(edges)
            random.Random(seed).shuffle(shuffled)
            cut = int(len(shuffled) * HELD_OUT)
            tenant = f"yt-{'defaults' if name == 'defaults' else 'truth'}-{seed}"
            async with lab.run(tenant, params.model_copy(update={"seed": seed})) as run:
                groups, took = await detect_twice(
                    run, list(follows(tenant, shuffled[cut:], cut, at)), list(follows(tenant, shuffled[:cut], 0, at))
                )
            found = [frozenset(m.removeprefix("y") for m in g["member_ids"]) for g in groups]
            runs.append(
                {"seed": seed, "f1": average_f1(found, truth), "nmi": overlapping_nmi(found, truth, universe),
                 "groups": len(found), **took}
            )  # fmt: skip
            print(f"youtube {name} seed {seed}: {runs[-1]}", file=sys.stderr)
        rows[f"Kith service ({name})"] = runs
    return rows


def baselines(edges: Edges, truth: Sequence[frozenset[str]], seeds: list[int]) -> dict[str, Any]:
    """Score the baselines directly on the same graph, seed by seed."""
    universe = len({m for e in edges for m in e})
    sources: list[ClusterSource] = [Louvain(), LabelPropagation(), LeidenDirect()]
    rows: dict[str, Any] = {}
    for source in sources:
        runs = []
        for seed in seeds:
            found = source.clusters(edges, seed)
            runs.append(
                {"seed": seed, "f1": average_f1(found, truth), "nmi": overlapping_nmi(found, truth, universe),
                 "groups": len(found)}
            )  # fmt: skip
        rows[source.name] = runs
    return rows


TIE_EVENTS = frozenset({"member.followed", "comment.created", "reaction.added"})


async def planted(lab: ServiceLab, seed: int) -> dict[str, Any]:
    """Post the generator's tenant through ingest (2% of its ties later), detect, and score against what it planted."""
    config = GeneratorConfig(seed=seed, tenant=f"planted-{seed}")
    world = build_world(config)
    events = list(generate(config))
    ties = [i for i, e in enumerate(events) if e.type in TIE_EVENTS]
    held = set(random.Random(seed).sample(ties, int(len(ties) * HELD_OUT)))
    first = [e for i, e in enumerate(events) if i not in held]
    later = [events[i] for i in sorted(held)]
    async with lab.run(config.tenant, DetectionParams(seed=seed)) as run:
        groups, took = await detect_twice(run, first, later)
    truth = [frozenset(g.members) for g in world.planted]
    found = {status: [frozenset(g["member_ids"]) for g in groups if g["status"] == status] for status in
             ("emerging", "inside", "matches")}  # fmt: skip
    discovered = found["emerging"] + found["inside"]
    stray = sum(1 for f in best_match_f1(found["emerging"], truth) if f < 0.5)
    # Emerging groups most of whose members share no community with another member: no space of their own.
    joined = memberships(events)
    spaceless = [g for g in found["emerging"] if unaffiliated(g, joined) * 2 >= len(g)]
    stray_spaceless = sum(1 for f in best_match_f1(spaceless, truth) if f < 0.5)
    forming = [frozenset(g.members) for g in world.planted if g.kind == "forming"]
    inside = [frozenset(g.members) for g in world.planted if g.kind == "subgroup"]
    result = {
        "seed": seed,
        "events": len(events),
        "planted": len(truth),
        "groups": {status: len(found[status]) for status in found},
        "planted_best_f1": statistics.fmean(best_match_f1(truth, discovered)) if discovered else 0.0,
        "average_f1": average_f1(discovered, truth),
        "emerging_unmatched_share": stray / len(found["emerging"]) if found["emerging"] else 0.0,
        "spaceless_emerging": len(spaceless),
        "spaceless_unmatched_share": stray_spaceless / len(spaceless) if spaceless else 0.0,
        "forming_found_emerging": statistics.fmean(f >= 0.5 for f in best_match_f1(forming, found["emerging"])),
        "subgroups_found_inside": statistics.fmean(f >= 0.5 for f in best_match_f1(inside, found["inside"]))
        if inside
        else 0.0,
        **took,
    }
    print(f"planted seed {seed}: {result}", file=sys.stderr)
    return result


def memberships(events: Sequence[Event]) -> dict[str, set[str]]:
    """Return each member's communities at the end of a stream (joins less leaves)."""
    joined: dict[str, set[str]] = {}
    for event in events:
        member, community = event.member_id, event.community_id
        if member is None or community is None:
            continue
        if event.type == "member.joined":
            joined.setdefault(member, set()).add(community)
        elif event.type == "member.left":
            joined.get(member, set()).discard(community)
    return joined


def unaffiliated(group: frozenset[str], joined: dict[str, set[str]]) -> int:
    """Return how many of a group's members share no community with another of its members."""
    counts: dict[str, int] = {}
    for member in group:
        for community in joined.get(member, ()):
            counts[community] = counts.get(community, 0) + 1
    return sum(1 for m in group if not any(counts[c] >= 2 for c in joined.get(m, ())))


def domain_scale(members: int, ties: int, seed: int) -> dict[str, float]:
    """Measure the detection path alone (pure domain code) in a fresh process."""
    command = [sys.executable, "-m", "bench.communities.scale", str(members), str(ties), str(seed)]
    done = subprocess.run(command, capture_output=True, text=True, check=True, cwd=ROOT)  # noqa: S603
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def parse(argv: list[str]) -> argparse.Namespace:
    """Parse the command line."""
    parser = parser_for("microcommunities", __doc__.splitlines()[0], RESULTS)
    parser.add_argument("--data", type=Path, default=Path("../shared/data"), help="data directory")
    parser.add_argument("--seeds", type=int, default=None, help="youtube seeds 0..N-1 (default 3; 1 with --quick)")
    parser.add_argument("--generator-seeds", type=int, default=None, help="generator seeds (default 3; 1 with --quick)")
    parser.add_argument("--scale-members", type=int, default=100_000)
    parser.add_argument("--scale-ties", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=3_000, help="requests per endpoint in the latency test")
    parser.add_argument("--no-scale", action="store_true", help="skip the scale part")
    parser.add_argument("--quick", action="store_true", help="one seed each, and a scale tenant a tenth the size")
    return parser.parse_args(argv)


def report(payload: dict[str, Any]) -> str:
    """Return the Markdown tables of a run."""
    lines = []
    yt = payload["youtube"]
    seeds = payload["seeds"]
    lines += [
        f"### youtube-sample ({yt['friendships']:,} friendships, {yt['communities']} true communities), seeds {seeds}",
        "",
        "| source | average F1 | overlapping NMI | groups | kept their group id after 2% more edges |",
        "|---|---|---|---|---|",
    ]
    for name, runs in yt["rows"].items():
        kept = show([r["kept_share"] for r in runs], 3) if "kept_share" in runs[0] else "–"
        lines.append(
            f"| {name} | {show([r['f1'] for r in runs])} | {show([r['nmi'] for r in runs])} "
            f"| {statistics.fmean(r['groups'] for r in runs):.0f} | {kept} |"
        )
    best_name, best = max(
        ((n, statistics.fmean(r["f1"] for r in runs)) for n, runs in yt["rows"].items() if "Kith" not in n),
        key=lambda x: x[1],
    )
    lines.append("")
    for name, runs in yt["rows"].items():
        if "Kith" in name:
            mean = statistics.fmean(r["f1"] for r in runs)
            lines.append(f"- {name}: F1 {mean - best:+.4f} against the best baseline ({best_name}, {best:.4f}).")
    pl = payload["planted"]
    lines += [
        "",
        f"### Planted groups (the generator's tenant through ingest, generator seeds {[r['seed'] for r in pl]})",
        "",
        "| best-match F1 per planted group (target ≥ 0.8) | emerging matching no planted group (target ≤ 0.10) "
        "| Yang-Leskovec F1 (emerging + inside) | forming found as emerging | sub-groups found as inside "
        "| groups emerging / inside / matches | planted | kept their group id after 2% more ties |",
        "|---|---|---|---|---|---|---|---|",
        f"| {show([r['planted_best_f1'] for r in pl], 3)} | {show([r['emerging_unmatched_share'] for r in pl], 3)} "
        f"| {show([r['average_f1'] for r in pl], 3)} | {show([r['forming_found_emerging'] for r in pl], 2)} "
        f"| {show([r['subgroups_found_inside'] for r in pl], 2)} "
        f"| {statistics.fmean(r['groups']['emerging'] for r in pl):.0f} / "
        f"{statistics.fmean(r['groups']['inside'] for r in pl):.0f} / "
        f"{statistics.fmean(r['groups']['matches'] for r in pl):.0f} "
        f"| {statistics.fmean(r['planted'] for r in pl):.0f} | {show([r['kept_share'] for r in pl], 3)} |",
        "",
        f"Of the emerging groups, those most of whose members share no community with another member (no "
        f"space of their own): {statistics.fmean(r['spaceless_emerging'] for r in pl):.0f} a tenant, "
        f"{show([r['spaceless_unmatched_share'] for r in pl], 3)} of them matching no planted group.",
    ]
    scale = payload.get("scale")
    if scale:
        s = scale["service"]
        lines += [
            "",
            f"### Scale through the service ({s['members_tied']:,} members, {s['ties']:,} ties as follows, "
            f"{s['events']:,} events)",
            "",
            "| measure | figure | target |",
            "|---|---|---|",
            f"| detection: prepare (snapshot, under the model lock) | {s['detection_prepare_seconds']:.2f} s | |",
            f"| detection: worker CPU (Leiden, summaries, ties) | {s['detection_worker_cpu_seconds']:.2f} s | |",
            f"| detection: prepare + worker CPU | "
            f"**{s['detection_prepare_seconds'] + s['detection_worker_cpu_seconds']:.2f} s** | < 10 s of one core |",
            f"| detection wall time, storing included | {s['detection_total_seconds']:.2f} s | |",
            f"| detection worker's peak memory | **{s['worker_peak_rss_mb']:.0f} MB** | < 1 GB |",
            f"| service process memory (read model, graph, results) | {s['service_rss_mb']:.0f} MB | |",
            f"| groups found | {s['groups']:.0f} | |",
            f"| list p50 / p99 | {s['list']['p50_ms']:.1f} / {s['list']['p99_ms']:.1f} ms | |",
            f"| detail p50 / p99 | {s['detail']['p50_ms']:.1f} / {s['detail']['p99_ms']:.1f} ms | |",
            f"| trivial endpoint (GET /v1/model) p50 / p99 | {s['trivial']['p50_ms']:.1f} / "
            f"{s['trivial']['p99_ms']:.1f} ms | |",
            f"| **list / detail p99 over trivial p99** | **{s['list_p99_ratio']:.2f}x / {s['detail_p99_ratio']:.2f}x** "
            "| ≤ 3x |",
        ]
        d = scale["domain"]
        lines += [
            "",
            f"The detection path alone in a fresh process (pure domain code, {d['edges']:,.0f} ties): build "
            f"{d['build_cpu_s']:.2f} s, snapshot {d['snapshot_cpu_s']:.2f} s, detect and summarise "
            f"{d['detect_cpu_s']:.2f} s of CPU, peak memory added "
            f"{'' if d['peak_is_exact'] else '<= '}{d['peak_rss_delta_mb']:.0f} MB.",
        ]
    return "\n".join(lines)


async def run_all(args: argparse.Namespace, argv: list[str]) -> dict[str, Any]:
    """Run every part; return the figures."""
    seeds = list(range(args.seeds if args.seeds is not None else (1 if args.quick else 3)))
    generator_seeds = [7 + s for s in range(args.generator_seeds or (1 if args.quick else 3))]
    edges, truth = load_youtube(args.data)
    payload: dict[str, Any] = {
        **run_facts("microcommunities", argv),
        "seeds": seeds,
        "params": DetectionParams().model_dump(mode="json"),
        "ground_truth_profile": GROUND_TRUTH_PROFILE.model_dump(mode="json"),
    }
    async with ServiceLab() as lab:
        rows = await youtube(lab, edges, truth, seeds)
        rows.update(baselines(edges, truth, seeds))
        payload["youtube"] = {"friendships": len(edges), "communities": len(truth), "rows": rows}
        payload["planted"] = [await planted(lab, seed) for seed in generator_seeds]
    if not args.no_scale:
        members = args.scale_members // (10 if args.quick else 1)
        ties = args.scale_ties // (10 if args.quick else 1)
        with tempfile.TemporaryDirectory(prefix="kith-scale-") as workdir:
            service = await scale_through_service(members, ties, seeds[0], Path(workdir), args.requests, 32)
        payload["scale"] = {"service": service, "domain": domain_scale(members, ties, seeds[0])}
    return payload


def main(argv: list[str]) -> int:
    """Run the benchmark, print the Markdown tables and write the JSON figures."""
    args = parse(argv)
    if not (args.data / "youtube-sample").is_dir():
        sys.stderr.write(f"microcommunities: no youtube-sample under {args.data}\n")
        return 2
    payload = asyncio.run(run_all(args, argv))
    finish(payload, args.output, report(payload))
    return 0
