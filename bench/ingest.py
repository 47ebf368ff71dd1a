"""Ingest speed: batch intake vs a raw producer, single-event latency vs a minimal endpoint, normalization alone.

``python -m bench ingest [--events 20000] [--batch 500] [--requests 60] [--concurrency 32]``

Starts the embedded broker (tansu) and database (SecantusDB) on free ports, runs the real ingest app
under uvicorn in a subprocess, and measures in the same run:

1. batch intake: events/s through ``POST /v1/events:batch`` (batches of ``--batch``, ``--senders`` at once) up to
   the broker's acknowledgement, against a raw aiokafka producer sending the same normalized events
   to the same broker (target: ratio >= 0.5);
2. single events at ``--concurrency`` concurrent clients: p50/p99 latency of ``POST /v1/events``,
   against a minimal FastAPI endpoint that publishes the body to the same broker with no validation,
   served the same way (target: p99 ratio <= 1.5);
3. normalization alone, on one core: generator posts and comments, and longer posts;
4. deduplication claim designs on the same database (see :mod:`bench.ingest_claims`).

Prints a Markdown table and writes ``bench/results/ingest.json``. The table also shows the ingest
server's CPU per event and how much of the batch run's wall time the dedupe claims took on the database,
which is what bounds batch intake on the embedded database.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI, Request, Response

from bench.embedded import Servers, api_key, embedded_servers, service_env
from bench.ingest_claims import claim_designs, claim_lines
from bench.measure import CpuMeter, Server, finish, parser_for, percentile, run_facts
from kith_devkit.generator import GeneratorConfig, generate
from kith_devkit.servers import free_port
from kith_ingest.domain import NormalizeConfig, normalize_raw
from kith_ingest.settings import IngestSettings
from kith_shared.auth import Scope
from kith_shared.events import Event, encode_structured
from kith_shared.kafka import ensure_topics, make_producer
from kith_shared.mongo import make_mongo_client
from kith_shared.settings import KafkaSettings
from kith_shared.topics import ACTIVITY

RESULTS = Path(__file__).resolve().parent / "results" / "ingest.json"
TEXT_TYPES = ("post.created", "post.edited", "comment.created")


def minimal_app() -> FastAPI:
    """Build the baseline: what a user would write by hand, publishing the body with no validation."""
    settings = IngestSettings()
    topic = settings.kafka.topic(ACTIVITY)
    producer = make_producer(settings.kafka)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await producer.start()
        try:
            yield
        finally:
            await producer.stop()

    app = FastAPI(lifespan=lifespan)

    @app.post("/v1/events", status_code=202)
    async def accept(request: Request) -> Response:
        """Publish the body as it came and wait for the acknowledgement."""
        await producer.send_and_wait(topic, await request.body())
        return Response(b'{"status":"accepted"}', status_code=202, media_type="application/json")

    return app


def _raw_events(count: int, offset: int = 0) -> list[dict[str, Any]]:
    stream: Iterator[Event] = generate(GeneratorConfig(activity=2.0))
    return [e.model_dump(mode="json", exclude_none=True) for e in itertools.islice(stream, offset, offset + count)]


async def _claim_stats(url: str) -> tuple[float, float]:
    """Return the ingest server's claim writes so far: (count, seconds), from its Prometheus metrics."""
    async with httpx.AsyncClient(base_url=url) as client:
        text = (await client.get("/metrics")).text
    values = {"count": 0.0, "sum": 0.0}
    for line in text.splitlines():
        if line.startswith("kith_store_seconds_") and 'operation="claim"' in line:
            name = line.split("{", 1)[0].rsplit("_", 1)[1]
            if name in values:
                values[name] = float(line.rsplit(" ", 1)[1])
    return values["count"], values["sum"]


async def _batch_intake(url: str, key: str, events: list[dict[str, Any]], size: int, senders: int) -> dict[str, float]:
    batches = [events[i : i + size] for i in range(0, len(events), size)]
    queue: asyncio.Queue[list[dict[str, Any]]] = asyncio.Queue()
    for batch in batches:
        queue.put_nowait(batch)
    accepted = 0
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/cloudevents-batch+json"}

    async def sender(client: httpx.AsyncClient) -> None:
        nonlocal accepted
        while not queue.empty():
            batch = queue.get_nowait()
            response = await client.post("/v1/events:batch", content=json.dumps(batch), headers=headers)
            if response.status_code != 202:
                raise RuntimeError(f"batch answered {response.status_code}: {response.text[:300]}")
            accepted += response.json()["accepted"]

    async with httpx.AsyncClient(base_url=url, timeout=120) as client:
        started = time.perf_counter()
        await asyncio.gather(*(sender(client) for _ in range(senders)))
        elapsed = time.perf_counter() - started
    if accepted != len(events):
        raise RuntimeError(f"{accepted} of {len(events)} events accepted")
    return {"events": len(events), "seconds": elapsed, "events_per_s": len(events) / elapsed}


async def _raw_producer(kafka: KafkaSettings, values: list[tuple[bytes, bytes]]) -> dict[str, float]:
    producer = make_producer(kafka)
    await producer.start()
    topic = kafka.topic(ACTIVITY)
    try:
        started = time.perf_counter()
        futures = [await producer.send(topic, value, key=key) for key, value in values]
        await asyncio.gather(*futures)
        elapsed = time.perf_counter() - started
    finally:
        await producer.stop()
    return {"events": len(values), "seconds": elapsed, "events_per_s": len(values) / elapsed}


async def _single_latency(
    url: str, key: str | None, events: list[dict[str, Any]], concurrency: int
) -> dict[str, float]:
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    bodies = iter([json.dumps(e).encode() for e in events])
    latencies: list[float] = []
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async def client_loop(client: httpx.AsyncClient) -> None:
        for body in bodies:
            started = time.perf_counter()
            response = await client.post("/v1/events", content=body, headers=headers)
            latencies.append(time.perf_counter() - started)
            if response.status_code != 202:
                raise RuntimeError(f"event answered {response.status_code}: {response.text[:300]}")

    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:
        started = time.perf_counter()
        await asyncio.gather(*(client_loop(client) for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return {
        "requests": len(latencies),
        "p50_ms": percentile(latencies, 0.50) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
        "mean_ms": statistics.fmean(latencies) * 1000,
        "requests_per_s": len(latencies) / elapsed,
    }


def _normalization(raw: list[dict[str, Any]], config: NormalizeConfig) -> dict[str, float]:
    now = datetime.now(UTC)
    for event in raw[:200]:
        normalize_raw(event, tenant="demo", config=config, received=now)
    started = time.process_time()
    for event in raw:
        normalize_raw(event, tenant="demo", config=config, received=now)
    elapsed = time.process_time() - started
    texts = [e["data"]["text"] for e in raw if e["type"] in TEXT_TYPES]
    mean_chars = statistics.fmean(len(text) for text in texts) if texts else 0.0
    return {"events": len(raw), "cpu_seconds": elapsed, "events_per_s": len(raw) / elapsed, "mean_chars": mean_chars}


def _longer_posts(posts: list[dict[str, Any]], per_post: int = 6) -> list[dict[str, Any]]:
    longer = []
    for index in range(0, len(posts) - per_post, per_post):
        group = posts[index : index + per_post]
        event = json.loads(json.dumps(group[0]))
        event["data"]["text"] = " ".join(p["data"]["text"] for p in group)
        longer.append(event)
    return longer


async def run(args: argparse.Namespace) -> dict[str, Any]:
    """Start the servers, run the three measurements, stop everything."""
    workdir = Path(tempfile.mkdtemp(prefix="kith-bench-ingest-"))
    servers: list[Server] = []
    async with embedded_servers(workdir) as embedded:
        try:
            return await _measure(args, embedded, workdir, servers)
        finally:
            for server in reversed(servers):
                server.stop()


async def _measure(args: argparse.Namespace, embedded: Servers, workdir: Path, servers: list[Server]) -> dict[str, Any]:
    kafka = embedded.kafka(topic_prefix="bench.")
    await ensure_topics(kafka)
    mongo = embedded.mongo("kith_ingest_bench")
    key = await api_key(mongo, "demo", [Scope.EVENTS_WRITE])
    warm, batch_events, single_events, minimal_events = 500, args.events, args.requests * args.concurrency, 0
    raw = _raw_events(warm + batch_events + single_events + args.requests * args.concurrency)
    warm_up, raw = raw[:warm], raw[warm:]
    batch_raw, raw = raw[:batch_events], raw[batch_events:]
    single_raw, minimal_raw = raw[:single_events], raw[single_events:]
    minimal_events = len(minimal_raw)

    ingest_port, minimal_port = free_port(), free_port()
    # A per-key rate limit is policy, not cost: off, so that it does not cap the measurement.
    env = service_env(
        "ingest", ingest_port, kafka, mongo, inherit=False, consume_raw="false", rate_limit_per_second="0"
    )
    # How large requests are cleaned can be compared: INGEST_NORMALIZE_POOL=thread python -m bench ingest
    env.update({name: value for name, value in os.environ.items() if name.startswith("INGEST_NORMALIZE_")})
    ingest = Server.service("ingest", env, ingest_port, workdir / "ingest.log")
    servers.append(ingest)
    minimal_argv = [sys.executable, "-m", "uvicorn", "bench.ingest:minimal_app", "--factory", "--port"]
    minimal_argv += [str(minimal_port), "--log-level", "warning", "--no-access-log"]
    minimal = Server(minimal_argv, env, minimal_port, workdir / "minimal.log")
    servers.append(minimal)
    await ingest.ready()
    await minimal.ready()

    await _batch_intake(ingest.url, key, warm_up, args.batch, args.senders)
    claims, claim_seconds = await _claim_stats(ingest.url)
    processes = {"broker": embedded.broker.process.pid, "database": embedded.database.process.pid}
    with CpuMeter(processes | {"ingest": ingest.process.pid}) as batch_cpu:
        batch = await _batch_intake(ingest.url, key, batch_raw, args.batch, args.senders)
    batch["server_cpu_us_per_event"] = batch_cpu.per_event_us(len(batch_raw))["ingest"]
    claims_after, claim_seconds_after = await _claim_stats(ingest.url)
    batch["claim_writes"] = claims_after - claims
    batch["claim_ms_mean"] = (claim_seconds_after - claim_seconds) / max(1.0, claims_after - claims) * 1000
    batch["claim_share_of_wall"] = (claim_seconds_after - claim_seconds) / batch["seconds"]
    config = IngestSettings().normalize_config()
    received = datetime.now(UTC)
    normalized = [normalize_raw(e, tenant="demo", config=config, received=received) for e in batch_raw]
    values = [(e.partition_key(), encode_structured(e)) for e in normalized]
    with CpuMeter(processes) as raw_cpu:
        raw_producer = await _raw_producer(kafka, values)

    with CpuMeter({"server": ingest.process.pid}) as single_cpu:
        single = await _single_latency(ingest.url, key, single_raw, args.concurrency)
    single["server_cpu_us_per_request"] = single_cpu.per_event_us(len(single_raw))["server"]
    with CpuMeter({"server": minimal.process.pid}) as minimal_cpu:
        baseline = await _single_latency(minimal.url, None, minimal_raw, args.concurrency)
    baseline["server_cpu_us_per_request"] = minimal_cpu.per_event_us(len(minimal_raw))["server"]

    claims_client = make_mongo_client(mongo, app_name="bench-claims")
    try:
        designs = await claim_designs(claims_client["kith_bench_claims"], embedded.database.process.pid)
    finally:
        await claims_client.close()

    texts = [e for e in _raw_events(60_000) if e["type"] in TEXT_TYPES][: args.posts]
    short = _normalization(texts, config)
    long = _normalization(_longer_posts(texts), config)
    mix = _normalization(batch_raw, config)
    return {
        **run_facts("ingest"),
        "batch_intake": {**batch, "batch_size": args.batch, "senders": args.senders},
        "raw_producer": raw_producer,
        "batch_ratio": batch["events_per_s"] / raw_producer["events_per_s"],
        # CPU each process spent per event: with every core busy, batch intake is at most cores / total.
        "cpu_us_per_event": {
            "batch_intake": batch_cpu.per_event_us(len(batch_raw)),
            "raw_producer": raw_cpu.per_event_us(len(values)),
            "cores": os.cpu_count(),
        },
        "single_event": {**single, "concurrency": args.concurrency},
        "minimal_endpoint": {**baseline, "concurrency": args.concurrency, "events": minimal_events},
        "p99_ratio": single["p99_ms"] / baseline["p99_ms"],
        "normalization_generator_posts": short,
        "normalization_long_posts": long,
        "normalization_event_mix": mix,
        "claim_designs": designs,
        "load_average_at_end": os.getloadavg(),
    }


def _cpu_rows(cpu: dict[str, Any], raw_rate: float) -> list[tuple[str, str]]:
    batch, raw, cores = cpu["batch_intake"], cpu["raw_producer"], cpu["cores"]
    parts = ", ".join(f"{name} {value:.0f}" for name, value in batch.items() if name != "total")
    bound = cores / batch["total"] * 1e6
    return [
        (f"CPU per event, all processes: batch intake ({parts})", f"{batch['total']:.0f} us"),
        ("CPU per event, all processes: raw producer", f"{raw['total']:.0f} us"),
        (
            f"Batch intake with all {cores} cores busy at that CPU per event; share of the raw producer's rate",
            f"{bound:,.0f} events/s; {bound / raw_rate:.2f}",
        ),
    ]


def markdown(result: dict[str, Any]) -> str:
    """Render the figures as a Markdown table."""
    batch, raw, single, base = (
        result["batch_intake"],
        result["raw_producer"],
        result["single_event"],
        result["minimal_endpoint"],
    )
    short, long = result["normalization_generator_posts"], result["normalization_long_posts"]
    mix = result["normalization_event_mix"]
    rows = [
        (f"Batch intake (HTTP, batches of {batch['batch_size']}, acked)", f"{batch['events_per_s']:,.0f} events/s"),
        ("Raw aiokafka producer, same normalized events", f"{raw['events_per_s']:,.0f} events/s"),
        ("Batch intake / raw producer (target >= 0.5)", f"{result['batch_ratio']:.2f}"),
        *_cpu_rows(result["cpu_us_per_event"], raw["events_per_s"]),
        (
            "Dedupe claim writes during batch intake: count, mean, share of wall time",
            f"{batch['claim_writes']:.0f}, {batch['claim_ms_mean']:.0f} ms, {batch['claim_share_of_wall']:.0%}",
        ),
        (
            f"Single event, {single['concurrency']} clients: p50 / p99",
            f"{single['p50_ms']:.1f} / {single['p99_ms']:.1f} ms",
        ),
        ("Minimal publish endpoint: p50 / p99", f"{base['p50_ms']:.1f} / {base['p99_ms']:.1f} ms"),
        ("Single-event p99 / minimal p99 (target <= 1.5)", f"{result['p99_ratio']:.2f}"),
        (
            "Single events: ingest / minimal throughput",
            f"{single['requests_per_s']:,.0f} / {base['requests_per_s']:,.0f} req/s",
        ),
        (
            "Server CPU per request: ingest / minimal",
            f"{single['server_cpu_us_per_request']:.0f} / {base['server_cpu_us_per_request']:.0f} us",
        ),
        (
            f"Normalization, one core, posts of {short['mean_chars']:.0f} chars",
            f"{short['events_per_s']:,.0f} events/s",
        ),
        (f"Normalization, one core, posts of {long['mean_chars']:.0f} chars", f"{long['events_per_s']:,.0f} events/s"),
        ("Normalization, one core, the generator's event mix", f"{mix['events_per_s']:,.0f} events/s"),
    ]
    lines = [
        f"Ingest benchmark ({result['store']}; {result['broker']}; "
        f"load average at the end {result['load_average_at_end'][0]:.1f} on {os.cpu_count()} cores)",
        "",
        "| Measure | Value |",
        "| --- | --- |",
    ]
    lines += [f"| {name} | {value} |" for name, value in rows]
    if result.get("claim_designs"):
        lines += ["", *claim_lines(result["claim_designs"])]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    """Run the ingest benchmark, print the table and write the JSON figures."""
    parser = parser_for("ingest", __doc__.splitlines()[0], RESULTS)
    parser.add_argument("--events", type=int, default=20_000, help="events sent in batches (default 20000)")
    parser.add_argument("--batch", type=int, default=500, help="events per batch request (default 500)")
    parser.add_argument("--senders", type=int, default=8, help="concurrent batch senders (default 8)")
    parser.add_argument("--requests", type=int, default=60, help="single-event requests per client (default 60)")
    parser.add_argument("--concurrency", type=int, default=32, help="concurrent single-event clients (default 32)")
    parser.add_argument("--posts", type=int, default=5_000, help="posts and comments normalized (default 5000)")
    args = parser.parse_args(argv)
    result = asyncio.run(run(args))
    finish(result, args.output, markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
