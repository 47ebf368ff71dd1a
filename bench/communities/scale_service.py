"""Micro-communities at scale through the service: a tenant of 100,000 members and a million ties.

1. The synthetic scale tenant (``bench.communities.synthetic.scale_recipe``: communities with close
   sub-groups, forming groups, heavy-tailed noise) is published on the activity topic as ingest
   writes it: every tie as a ``member.followed`` event (the heaviest kind for the graph: a follow is
   remembered for its unfollow) and every membership as ``member.joined``.
2. The state is rebuilt from the topic and written as a checkpoint (``kith recommend rebuild``).
3. The recommend service starts as its own process: it loads the checkpoint (the interaction graph
   included) and, asked to, detects the tenant in its worker process. Reported from its ``/metrics``:
   the detection's parts (prepare: snapshot under the model lock; the worker's CPU; storing), the
   worker's peak resident memory, and the service's own resident memory.
4. 32 concurrent clients then read the list (``GET /v1/micro-communities``, 50 a page) and single
   groups (``GET /v1/micro-communities/{id}``), and a trivial endpoint of the same service
   (``GET /v1/model``): p50 and p99 of each, and the ratios.
"""

from __future__ import annotations

import asyncio
import random
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bench.communities.synthetic import draw, scale_recipe
from bench.embedded import api_key, embedded_servers, service_env
from bench.measure import Server, load_paths, percentile
from kith_devkit.servers import free_port
from kith_recommend.rebuild import rebuild
from kith_recommend.settings import RecommendSettings
from kith_shared.auth import Scope
from kith_shared.events import SCHEMA_VERSION, encode_structured, structured_headers, validate_event
from kith_shared.kafka import EventProducer, ensure_topics
from kith_shared.settings import KafkaSettings
from kith_shared.topics import ACTIVITY

TENANT = "scale"


def _events(members: int, ties: int, seed: int) -> tuple[list[bytes], list[bytes | None], int, int]:
    """Return the tenant as encoded events (joins, then follows) with their keys, the ties and members tied."""
    tenant = draw(scale_recipe(members, ties, seed))
    now = datetime.now(UTC).replace(microsecond=0)
    values: list[bytes] = []
    keys: list[bytes | None] = []
    count = 0

    def add(kind: str, data: dict[str, str]) -> None:
        nonlocal count
        count += 1
        event = validate_event(
            {"id": f"s-{count}", "source": "bench://scale", "type": kind, "time": now.isoformat(), "tenant": TENANT,
             "receivedtime": now.isoformat(), "schemaversion": SCHEMA_VERSION, "data": data}
        )  # fmt: skip
        values.append(encode_structured(event))
        keys.append(event.partition_key())

    for community_id, people in tenant.communities.items():
        for member in sorted(people):
            add("member.joined", {"member_id": member, "community_id": community_id})
    pairs: set[tuple[str, str]] = set()
    names = tenant.members
    for a, b in zip(tenant.rows.tolist(), tenant.cols.tolist(), strict=True):
        source, target = names[a], names[b]
        if (source, target) in pairs or (target, source) in pairs:
            continue
        pairs.add((source, target))
        add("member.followed", {"member_id": source, "followed_member_id": target})
    tied = len({m for pair in pairs for m in pair})
    return values, keys, len(pairs), tied


async def _publish(kafka: KafkaSettings, values: list[bytes], keys: list[bytes | None]) -> None:
    producer = EventProducer(kafka, send_timeout=120.0, linger_ms=20, max_batch_size=1_048_576)
    await producer.start()
    await producer.wait_connected(30)
    topic = kafka.topic(ACTIVITY)
    headers = structured_headers()
    try:
        for start in range(0, len(values), 5_000):
            chunk = zip(values[start : start + 5_000], keys[start : start + 5_000], strict=True)
            await producer.send_many([(topic, value, key, headers) for value, key in chunk])
    finally:
        await producer.stop()


def _metric(text: str, name: str, labels: str = "") -> float | None:
    """Return the first sample of metric ``name`` whose labels contain ``labels`` in a Prometheus text page."""
    for line in text.splitlines():
        if line.startswith((name + "{", name + " ")) and labels in line:
            return float(line.rsplit(" ", 1)[1])
    return None


def _rss_mb(pid: int, field: str = "VmRSS") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def _load(client: httpx.AsyncClient, paths: list[str], concurrency: int) -> dict[str, float]:
    timings, _wall, errors = await load_paths(client, paths, concurrency)
    return {
        "p50_ms": percentile(timings, 0.5) * 1000,
        "p99_ms": percentile(timings, 0.99) * 1000,
        "requests": float(len(timings)),
        "errors": float(errors),
    }


async def measure(members: int, ties: int, seed: int, workdir: Path, requests: int, concurrency: int) -> dict[str, Any]:
    """Publish, rebuild, start the service, detect, and load-test the scale tenant."""
    out: dict[str, Any] = {"members": members, "ties_drawn": ties}
    values, keys, follows, tied = await asyncio.to_thread(_events, members, ties, seed)
    out.update(events=len(values), ties=follows, members_tied=tied)
    print(f"scale: {len(values):,} events, {follows:,} ties among {tied:,} members", file=sys.stderr)
    async with embedded_servers(workdir) as embedded:
        kafka = embedded.kafka(topic_prefix=f"scale{uuid.uuid4().hex[:8]}.", request_timeout_ms=30_000)
        mongo = embedded.mongo("kith_recommend")
        await ensure_topics(kafka)
        started = time.perf_counter()
        await _publish(kafka, values, keys)
        del values, keys
        out["publish_seconds"] = time.perf_counter() - started
        report = await rebuild(RecommendSettings(kafka=kafka, mongo=mongo))
        out["rebuild_seconds"] = report.seconds
        print(f"scale: published and rebuilt the read model in {time.perf_counter() - started:.0f}s", file=sys.stderr)
        key = await api_key(mongo, TENANT, [Scope.ADMIN])
        port = free_port()
        env = service_env(
            "recommend", port, kafka, mongo, rate_limit_per_second="0", discovery__interval_seconds="86400",
            detection__seed=str(seed),
        )  # fmt: skip
        started = time.perf_counter()
        service = Server.service("recommend", env, port, workdir / "service.log")
        async with service.serving(key, concurrency, request_timeout=120, within=300, stop_within=30) as client:
            out.update(await _detect_and_load(client, service, seed, requests, concurrency, started))
    out["list_p99_ratio"] = out["list"]["p99_ms"] / out["trivial"]["p99_ms"]
    out["detail_p99_ratio"] = out["detail"]["p99_ms"] / out["trivial"]["p99_ms"]
    return out


async def _detect_and_load(
    client: httpx.AsyncClient, service: Server, seed: int, requests: int, concurrency: int, started: float
) -> dict[str, Any]:
    """Ask for a detection, wait for it, read its figures from /metrics, then load-test the routes."""
    out: dict[str, Any] = {}
    asked = await client.post("/v1/micro-communities:detect")
    if asked.status_code != 202:
        raise RuntimeError(f"detect answered {asked.status_code}: {asked.text[:300]}")
    while True:  # it runs once the state is loaded from the checkpoint
        metrics = (await client.get("/metrics")).text
        total = _metric(metrics, "kith_microcommunity_last_detection_seconds", 'part="total"')
        failed = _metric(metrics, "kith_microcommunity_detections_total", 'outcome="failed"')
        if total is not None:
            break
        if failed:
            raise RuntimeError("the scale tenant's detection failed; see service.log")
        if time.perf_counter() - started > 3_600:
            raise TimeoutError("no detection of the scale tenant within an hour")
        await asyncio.sleep(1.0)
    out["start_to_detected_seconds"] = time.perf_counter() - started
    for part in ("prepare", "worker_cpu", "store", "total"):
        out[f"detection_{part}_seconds"] = _metric(
            metrics, "kith_microcommunity_last_detection_seconds", f'part="{part}"'
        )
    out["worker_peak_rss_mb"] = (_metric(metrics, "kith_microcommunity_worker_peak_rss_bytes") or 0) / 2**20
    out["service_rss_mb"] = _rss_mb(service.process.pid)
    out["service_peak_rss_mb"] = _rss_mb(service.process.pid, "VmHWM")
    page = (await client.get("/v1/micro-communities", params={"limit": 200})).json()
    ids = [item["id"] for item in page["items"]]
    out["groups"] = _metric(metrics, "kith_microcommunity_groups") or 0.0
    rng = random.Random(seed)
    list_paths = [
        f"/v1/micro-communities?limit=50&sort={rng.choice(['size', 'cohesion', 'growth'])}" for _ in range(requests)
    ]
    detail_paths = [f"/v1/micro-communities/{rng.choice(ids)}" for _ in range(requests)]
    trivial_paths = ["/v1/model"] * requests
    await _load(client, list_paths[:200] + detail_paths[:200] + trivial_paths[:200], concurrency)
    for name, paths in (("trivial", trivial_paths), ("list", list_paths), ("detail", detail_paths)):
        out[name] = await _load(client, paths, concurrency)
        print(f"scale: {name} {out[name]}", file=sys.stderr)
    return out
