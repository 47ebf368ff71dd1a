"""Recommend speed: suggestion latency under load, how it grows with the catalogue, and model refresh time.

``python -m bench recommend_speed [--members 100000] [--communities 10000] [--requests 4000]
[--concurrency 32] [--curve 1000,10000,100000] [--quick]``

1. A tenant at scale from the activity generator (heavy-tailed community sizes, members with
   interests, a light month of posts, replies, reactions, follows and meet-ups) is published as
   normalized events on the activity topic of an embedded broker.
2. Model refresh: the read model is rebuilt from the topics into the embedded database
   (SecantusDB) and compiled, timed.
3. The recommend service runs as its own process (uvicorn), loads that model, and 32 concurrent
   clients ask for suggestions (with reasons) for random members, then call a trivial endpoint of
   the same service (``GET /v1/model``: same auth, middleware and tenant lookup, no ranking).
   Reported: p50/p99 of each and their ratio.
4. Growth: for 1,000 / 10,000 / 100,000 communities (same member count), a fresh process builds
   the model from the same kind of events and reports compile time, memory (resident set) and the
   ranking function's own latency.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from bench.embedded import BULK_PRODUCER, api_key, embedded_servers, service_env
from bench.measure import Server, finish, load_paths, parser_for, run_facts
from kith_devkit.events import event
from kith_devkit.generator import member_id
from kith_devkit.scale import tenant_at_scale
from kith_devkit.servers import free_port
from kith_devkit.testing.kafka import publish
from kith_recommend.rebuild import rebuild
from kith_recommend.settings import RecommendSettings
from kith_shared.auth import Scope
from kith_shared.events import Event
from kith_shared.kafka import EventProducer, ensure_topics
from kith_shared.settings import KafkaSettings
from kith_shared.topics import ACTIVITY

RESULTS = Path(__file__).parent / "results" / "recommend_speed.json"


def _rss_mb() -> float:
    """Return this process's resident set size in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _percentiles(samples: list[float]) -> dict[str, float]:
    ms = np.asarray(samples) * 1000
    return {"p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99)), "n": len(samples)}


def curve_point(communities: int, members: int, samples: int) -> dict[str, Any]:
    """Build a tenant's model in this (fresh) process; report build time, memory and ranking latency."""
    from kith_recommend.domain.changes import changes_for
    from kith_recommend.domain.compiled import compile_model
    from kith_recommend.domain.model import TenantState
    from kith_recommend.domain.params import RankingParams
    from kith_recommend.domain.ranking import suggest

    gc.collect()
    before = _rss_mb()
    state = TenantState("bench")
    started = time.perf_counter()
    events = 0
    for generated in tenant_at_scale(communities, members):
        state.apply_all(changes_for(generated))
        events += 1
    applied = time.perf_counter() - started
    compiled = time.perf_counter()
    model = compile_model(state)
    compile_seconds = time.perf_counter() - compiled
    after = _rss_mb()
    params = RankingParams()
    rng = random.Random(1)
    timings: list[float] = []
    for _ in range(samples):
        profile = state.profile(member_id(rng.randrange(members)))
        t0 = time.perf_counter()
        suggest(model, profile, params, 10, explain=True)
        timings.append(time.perf_counter() - t0)
    return {
        "communities": communities,
        "members": members,
        "events": events,
        "apply_seconds": applied,
        "compile_seconds": compile_seconds,
        "rss_mb": after - before,
        "matrices_mb": model.nbytes() / 1e6,
        "co_nonzeros": int(model.co.nnz),
        **{f"rank_{k}": v for k, v in _percentiles(timings).items()},
    }


async def _publish(settings: KafkaSettings, communities: int, members: int) -> tuple[int, int, float]:
    """Publish the tenant; return the events sent, the members who joined a community, and the seconds taken."""
    joined: set[str] = set()

    def noting_joins() -> Iterator[Event]:
        for generated in tenant_at_scale(communities, members):
            if generated.type == "member.joined" and generated.member_id is not None:
                joined.add(generated.member_id)
            yield generated

    started = time.perf_counter()
    count = await publish(settings, noting_joins(), chunk=5_000, **BULK_PRODUCER)
    return count, len(joined), time.perf_counter() - started


async def _freshness(client: httpx.AsyncClient, kafka: KafkaSettings, member: str) -> dict[str, float]:
    """Measure how long a dismissal and a join take to change a member's suggestions, end to end."""
    producer = EventProducer(kafka)
    await producer.start()
    await producer.wait_connected(30)
    delays: dict[str, float] = {}
    try:
        for kind in ("recommendation.dismissed", "member.joined"):
            path = f"/v1/members/{member}/suggestions?limit=10&explain=false"
            top = (await client.get(path)).json()["suggestions"][0]["community_id"]
            await producer.publish(
                ACTIVITY, [event(kind, {"member_id": member, "community_id": top}, tenant="bench", day=29)]
            )
            started = time.perf_counter()
            while top in [s["community_id"] for s in (await client.get(path)).json()["suggestions"]]:
                if time.perf_counter() - started > 60:
                    break
                await asyncio.sleep(0.05)
            delays[f"{kind}_seconds"] = time.perf_counter() - started
    finally:
        await producer.stop()
    return delays


async def headline(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """Publish, rebuild, serve and load-test the headline tenant."""
    out: dict[str, Any] = {}
    async with embedded_servers(workdir) as embedded:
        run = uuid.uuid4().hex[:8]
        kafka = embedded.kafka(topic_prefix=f"speed{run}.", request_timeout_ms=30_000)
        mongo = embedded.mongo("kith_recommend")
        settings = RecommendSettings(kafka=kafka, mongo=mongo)
        await ensure_topics(kafka)
        events, joined, publish_seconds = await _publish(kafka, args.communities, args.members)
        out["events"] = events
        out["publish_seconds"] = publish_seconds
        print(f"published {events:,} events in {publish_seconds:.1f}s", file=sys.stderr)

        report = await rebuild(settings)
        out["refresh"] = {
            "records": report.records,
            "changes_written": report.changes,
            "checkpoint_bytes": report.checkpoint_bytes,
            "read_seconds": report.read_seconds,
            "write_seconds": report.write_seconds,
            "compile_seconds": report.compile_seconds,
            "seconds": report.seconds,
        }
        print(f"rebuilt the read model from the topics in {report.seconds:.1f}s", file=sys.stderr)

        key = await api_key(mongo, "bench", [Scope.RECOMMENDATIONS_READ])
        port = free_port()
        env = service_env("recommend", port, kafka, mongo, rate_limit_per_second="0")
        started = time.perf_counter()
        service = Server.service("recommend", env, port, workdir / "service.log")
        async with service.serving(key, args.concurrency, request_timeout=60, stop_within=20) as client:
            out.update(await _serve(client, kafka, args, joined, started))
    out["p99_ratio"] = out["suggestions"]["p99_ms"] / out["trivial"]["p99_ms"]
    out["p50_ratio"] = out["suggestions"]["p50_ms"] / out["trivial"]["p50_ms"]
    return out


async def _serve(
    client: httpx.AsyncClient, kafka: KafkaSettings, args: argparse.Namespace, joined: int, started: float
) -> dict[str, Any]:
    """Wait until the service serves the model, then load-test it and measure freshness."""
    out: dict[str, Any] = {}
    while True:
        info = (await client.get("/v1/model")).json()
        if info.get("members", 0) >= joined * 0.95 and not info.get("stale"):
            break
        if time.perf_counter() - started > 600:
            raise TimeoutError(f"service did not load the model: {info}")
        await asyncio.sleep(0.5)
    out["service_load_seconds"] = time.perf_counter() - started
    out["model"] = info
    rng = random.Random(7)
    members = [member_id(rng.randrange(args.members)) for _ in range(args.requests)]
    suggest_paths = [f"/v1/members/{m}/suggestions?limit=10&explain=true" for m in members]
    trivial_paths = ["/v1/model"] * args.requests
    await load_paths(client, suggest_paths[:300] + trivial_paths[:300], args.concurrency)
    for name, paths in (("trivial", trivial_paths), ("suggestions", suggest_paths)):
        timings, wall, errors = await load_paths(client, paths, args.concurrency)
        out[name] = {**_percentiles(timings), "requests_per_second": len(paths) / wall, "errors": errors}
        print(f"{name}: {out[name]}", file=sys.stderr)
    out["freshness"] = await _freshness(client, kafka, members[0])
    print(f"freshness: {out['freshness']}", file=sys.stderr)
    return out


def curve(sizes: list[int], members: int, samples: int) -> list[dict[str, Any]]:
    """Measure each catalogue size in a fresh process, so memory figures do not mix."""
    points = []
    for size in sizes:
        with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
            point = pool.submit(curve_point, size, members, samples).result()
        print(f"curve point: {point}", file=sys.stderr)
        points.append(point)
    return points


def table(result: dict[str, Any]) -> str:
    """Render the figures as Markdown."""
    h = result["headline"]
    lines = [
        f"### Recommend speed ({h['model']['communities']:,} communities, {h['model']['members']:,} members, "
        f"{result['concurrency']} concurrent clients; embedded broker and SecantusDB)",
        "",
        "| endpoint | p50 ms | p99 ms | requests/s |",
        "|---|---|---|---|",
    ]
    for name in ("trivial", "suggestions"):
        r = h[name]
        label = "GET /v1/model (trivial)" if name == "trivial" else "GET /v1/members/{id}/suggestions?explain=true"
        lines.append(f"| {label} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {r['requests_per_second']:.0f} |")
    lines += [
        "",
        f"p99 ratio suggestions / trivial: **{h['p99_ratio']:.2f}x** (target <= 3x); p50 ratio {h['p50_ratio']:.2f}x.",
        "",
        f"Model refresh (rebuild from the topics: {h['refresh']['records']:,} events read and folded, "
        f"a checkpoint of {h['refresh']['checkpoint_bytes'] / 1e6:.1f} MB written, compiled): "
        f"**{h['refresh']['seconds']:.1f} s** "
        f"(read {h['refresh']['read_seconds']:.1f} s, write {h['refresh']['write_seconds']:.1f} s, "
        f"compile {h['refresh']['compile_seconds']:.1f} s). "
        f"Service start to serving the loaded model: {h['service_load_seconds']:.1f} s.",
        "",
        "Freshness (event published on the activity topic -> the member's suggestions change, over HTTP): "
        + ", ".join(f"{k.removesuffix('_seconds')} {v:.2f} s" for k, v in h.get("freshness", {}).items())
        + ".",
        "",
        f"#### Growth with the catalogue ({result['curve'][0]['members']:,} members)" if result["curve"] else "",
        "",
        "| communities | events | compile s | memory MB (RSS) | matrices MB | ranking p50 ms | ranking p99 ms |",
        "|---|---|---|---|---|---|---|",
    ]
    for p in result["curve"]:
        lines.append(
            f"| {p['communities']:,} | {p['events']:,} | {p['compile_seconds']:.2f} | {p['rss_mb']:.0f} | "
            f"{p['matrices_mb']:.1f} | {p['rank_p50_ms']:.2f} | {p['rank_p99_ms']:.2f} |"
        )
    lines.append("")
    lines.append("Ranking latency: the suggest function with reasons, one request at a time, in process.")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    """Run the benchmark and print its table."""
    parser = parser_for("recommend_speed", __doc__, RESULTS)
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--communities", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=4_000, help="requests per endpoint")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--curve", default="1000,10000,100000", help="catalogue sizes for the growth curve")
    parser.add_argument("--curve-samples", type=int, default=500)
    parser.add_argument("--quick", action="store_true", help="20,000 members, 2,000 communities, short curve")
    args = parser.parse_args(argv)
    if args.quick:
        args.members, args.communities, args.requests, args.curve = 20_000, 2_000, 1_000, "1000,10000"
    sizes = [int(x) for x in args.curve.split(",") if x]
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="kith-speed-") as tmp:
        head = asyncio.run(headline(args, Path(tmp)))
    points = curve(sizes, args.members, args.curve_samples)
    result = {
        **run_facts("recommend_speed", argv),
        "concurrency": args.concurrency,
        "headline": head,
        "curve": points,
        "seconds": time.perf_counter() - started,
    }
    finish(result, args.output, table(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
