"""Recommend's consumption: records/s catching up on a backlog, beside a read-only consumer; checkpoint cost.

``python -m bench recommend_consume [--events 150000] [--before PATH] [--before-events 20000] [--quick]``

1. A backlog of generated activity (a tenant at scale: memberships, posts, replies, reactions,
   follows, meet-ups; normalized as ingest publishes them) is put on the activity topic of an
   embedded broker.
2. Ceiling: a read-only consumer (every partition, no group) reads and decodes the backlog and
   applies nothing.
3. The recommend service starts as its own process on an empty embedded database (SecantusDB) and
   catches up: records/s from its first record taken in to its lag at 0 (``kith_events_in_total``,
   ``kith_consumer_lag`` on its ``/metrics``, sampled every 50 ms), checkpoints included, as a share
   of the ceiling.
4. With ``--before PATH`` (the ``src`` folder of an earlier recommend, e.g. a checkout of the
   per-event read model), the same is measured for it on the first ``--before-events`` records. It
   exports no lag and counts a batch when it starts writing it: its rate is flattered by one batch.
5. Checkpoint cost, in process, on the embedded database: snapshot (packing, under the consumer's
   lock), compression, write, size, and load (read and restore), for the demo tenant of ``make run``
   and for a 100,000-member tenant.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sys
import tempfile
import time
import uuid
import zlib
from itertools import islice
from pathlib import Path
from typing import Any

import httpx

from bench.embedded import BULK_PRODUCER, embedded_servers, service_env
from bench.measure import Server, finish, parser_for, run_facts
from kith_cli.activity import demo_config
from kith_devkit.generator import generate
from kith_devkit.scale import tenant_at_scale
from kith_devkit.servers import free_port
from kith_devkit.testing.kafka import from_start, publish
from kith_recommend.domain.changes import changes_for
from kith_recommend.domain.parts import part_keys
from kith_recommend.engine import Recommender
from kith_recommend.settings import RecommendSettings
from kith_recommend.store import CheckpointStore
from kith_shared.events import Event, decode_kafka_record
from kith_shared.kafka import ensure_topics
from kith_shared.mongo import make_mongo_client
from kith_shared.reading import read_to_end
from kith_shared.settings import KafkaSettings, MongoSettings
from kith_shared.topics import ACTIVITY

RESULTS = Path(__file__).parent / "results" / "recommend_consume.json"
_SAMPLE = re.compile(r"^(kith_events_in_total|kith_consumer_lag)\{([^}]*)\} ([0-9.e+]+)$", re.M)


def backlog(count: int) -> list[Event]:
    """Return ``count`` events of a tenant at scale (about 2.7 memberships per member, a month of activity)."""
    return list(islice(tenant_at_scale(5_000, 50_000, seed=21, activity=0.2), count))


async def ceiling(kafka: KafkaSettings) -> dict[str, float]:
    """Read and decode every record of the activity topic, applying nothing."""
    records = 0
    options = {"max_poll_records": 5_000, "max_partition_fetch_bytes": 4 * 1024 * 1024}
    async with from_start(kafka, ACTIVITY, **options) as (consumer, partitions):
        started = time.perf_counter()
        async for batch in read_to_end(consumer, partitions, max_records=5_000):
            for record in batch:
                decode_kafka_record(record.value, list(record.headers or []))
            records += len(batch)
    seconds = time.perf_counter() - started
    return {"records": records, "seconds": seconds, "records_per_second": records / seconds}


async def _progress(client: httpx.AsyncClient) -> tuple[float, float | None]:
    """Return the records the service took in from Kafka, and its lag (None when it exports none)."""
    try:
        text = (await client.get("/metrics")).text
    except httpx.HTTPError:
        return 0.0, None
    taken, lag = 0.0, None
    for name, labels, value in _SAMPLE.findall(text):
        if 'service="recommend"' not in labels:
            continue
        if name == "kith_events_in_total" and 'door="kafka"' in labels:
            taken += float(value)
        elif name == "kith_consumer_lag":
            lag = (lag or 0.0) + float(value)
    return taken, lag


async def service(
    kafka: KafkaSettings, mongo: MongoSettings, records: int, workdir: Path, source: Path | None, name: str
) -> dict[str, float]:
    """Start a recommend process on an empty database and time it through ``records`` records."""
    port = free_port()
    own = {
        "database": f"recommend_{name}_{uuid.uuid4().hex[:6]}",
        "auth_database": f"auth_{name}_{uuid.uuid4().hex[:6]}",
    }
    env = service_env("recommend", port, kafka, mongo.model_copy(update=own))
    if source is not None:
        env["PYTHONPATH"] = f"{source}{os.pathsep}{env.get('PYTHONPATH', '')}"
    started = time.perf_counter()
    server = Server.service("recommend", env, port, workdir / f"{name}.log")
    try:
        # Consumption starts before the service is ready: sample from the moment its port answers, and count
        # from the last sample that saw nothing taken in (a conservative start).
        await server.listening()
        first = time.perf_counter()
        seen = 0.0
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
            lag: float | None = None
            while seen < records or (lag is not None and lag > 0):
                sampled = time.perf_counter()
                seen, lag = await _progress(client)
                if seen == 0:
                    first = sampled
                if sampled - started > 1_800:
                    raise TimeoutError(f"{name}: {seen:.0f} of {records} records after 30 minutes")
                await asyncio.sleep(0.05)
            done = time.perf_counter()
    finally:
        server.stop()
    return {
        "records": records,
        "start_seconds": first - started,
        "seconds": done - first,
        "records_per_second": records / max(done - first, 1e-9),
        "spawn_to_done_seconds": done - started,
    }


async def checkpoint_cost(mongo: MongoSettings, label: str, events: list[Event]) -> dict[str, Any]:
    """Build a tenant's state in memory, write it as a checkpoint, read it back; time each step."""
    recommender = Recommender(RecommendSettings().ranking)
    for e in events:
        recommender.apply(changes_for(e))
    client = make_mongo_client(mongo, app_name="bench")
    store = CheckpointStore(client[f"checkpoint_{uuid.uuid4().hex[:8]}"])
    try:
        await store.ensure()
        assert await store.acquire("bench", 600)
        t0 = time.perf_counter()
        snapshot = recommender.snapshot({})
        t1 = time.perf_counter()
        blobs = {tenant: zlib.compress(s.packed, 3) for tenant, s in snapshot.tenants.items()}
        t2 = time.perf_counter()
        report = await store.write("bench", blobs, {}, {}, part_keys(recommender.kinds))
        t3 = time.perf_counter()
        loaded = await store.load()
        t4 = time.perf_counter()
        assert loaded is not None
        restored = Recommender(RecommendSettings().ranking)
        restored.restore(loaded)
        t5 = time.perf_counter()
    finally:
        await client.close()
    state = recommender.states[next(iter(recommender.states))]
    return {
        "tenant": label,
        "events": len(events),
        "members": len({m for by_a in state.edges.values() for m in by_a}),
        "packed_mb": sum(len(s.packed) for s in snapshot.tenants.values()) / 1e6,
        "stored_mb": report.bytes / 1e6,
        "chunks": report.chunks,
        "snapshot_seconds": t1 - t0,
        "compress_seconds": t2 - t1,
        "write_seconds": t3 - t2,
        "load_seconds": t4 - t3,
        "restore_seconds": t5 - t4,
    }


async def run(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    async with embedded_servers(workdir) as embedded:
        kafka = embedded.kafka(topic_prefix=f"consume{uuid.uuid4().hex[:6]}.", request_timeout_ms=30_000)
        mongo = embedded.mongo("bench")
        await ensure_topics(kafka)
        events = backlog(args.events)
        started = time.perf_counter()
        await publish(kafka, events, chunk=5_000, **BULK_PRODUCER)
        out["publish_seconds"] = time.perf_counter() - started
        out["events"] = len(events)
        print(f"published {len(events):,} events in {out['publish_seconds']:.1f}s", file=sys.stderr)
        out["ceiling"] = await ceiling(kafka)
        print(f"ceiling: {out['ceiling']}", file=sys.stderr)
        out["after"] = await service(kafka, mongo, len(events), workdir, None, "after")
        print(f"after: {out['after']}", file=sys.stderr)
        if args.before is not None:
            out["before"] = await service(kafka, mongo, args.before_events, workdir, args.before, "before")
            print(f"before: {out['before']}", file=sys.stderr)
        out["checkpoints"] = [await checkpoint_cost(mongo, "demo (make run)", list(generate(demo_config())))]
        if not args.quick:
            big = list(tenant_at_scale(10_000, 100_000))
            out["checkpoints"].append(await checkpoint_cost(mongo, "100,000 members, 10,000 communities", big))
        for point in out["checkpoints"]:
            print(f"checkpoint: {point}", file=sys.stderr)
    return out


def table(result: dict[str, Any]) -> str:
    """Render the figures as Markdown."""
    ceiling_rate = result["ceiling"]["records_per_second"]
    lines = [
        f"### Recommend consumption ({result['events']:,}-record backlog on the activity topic; embedded broker "
        "and SecantusDB)",
        "",
        "| consumer | records | records/s | share of the ceiling |",
        "|---|---|---|---|",
        f"| read-only ceiling (decode only) | {result['ceiling']['records']:,} | {ceiling_rate:,.0f} | 1.00 |",
    ]
    for name, label in (("before", "per-event read model (before)"), ("after", "in memory + checkpoints")):
        if name in result:
            r = result[name]
            lines.append(
                f"| {label} | {r['records']:,} | {r['records_per_second']:,.0f} | "
                f"{r['records_per_second'] / ceiling_rate:.2f} |"
            )
    lines += [
        "",
        "| checkpoint of | events | members | packed MB | stored MB (zlib) | chunks | snapshot s | compress s "
        "| write s | load s | restore s |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for p in result["checkpoints"]:
        lines.append(
            f"| {p['tenant']} | {p['events']:,} | {p['members']:,} | {p['packed_mb']:.1f} | {p['stored_mb']:.1f} | "
            f"{p['chunks']} | {p['snapshot_seconds']:.2f} | {p['compress_seconds']:.2f} | {p['write_seconds']:.2f} | "
            f"{p['load_seconds']:.2f} | {p['restore_seconds']:.2f} |"
        )
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    """Run the benchmark and print its table."""
    parser = parser_for("recommend_consume", __doc__, RESULTS)
    parser.add_argument("--events", type=int, default=150_000)
    parser.add_argument("--before", type=Path, default=None, help="src folder of an earlier recommend to compare")
    parser.add_argument("--before-events", type=int, default=20_000)
    parser.add_argument("--quick", action="store_true", help="30,000 events; the demo tenant's checkpoint only")
    args = parser.parse_args(argv)
    if args.quick:
        args.events = min(args.events, 30_000)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="kith-consume-") as tmp:
        result = asyncio.run(run(args, Path(tmp)))
    result.update(run_facts("recommend_consume", argv), load_average=os.getloadavg())
    result["seconds"] = time.perf_counter() - started
    finish(result, args.output, table(result), note=f" (load average {result['load_average'][0]:.1f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
