"""Scoring speed: topic to durable metrics against a naive consumer and a read-only ceiling; read API latency.

``python -m bench scoring [--events 60000] [--batch 60000] [--sweep 10000,30000] [--requests 25] [--concurrency 32]``

Starts the embedded broker (tansu) and database (SecantusDB, the store every figure here ran on) on
free ports, loads a skewed, realistic stream from the shared generator (normalized by ingest's own
normalization) onto the activity topic, and measures in the same run, each in its own consumer group:

1. the scoring consumer: batches folded in memory and applied in chunks of whole partitions, each in
   one transaction with its partitions' progress, offsets committed after each; events/s from first
   record to the last stored offset,
   database writes per event (bulk_write calls and documents written), and the stored size of each
   kind of document (BSON bytes per document, documents per event);
2. a naive consumer, what a user would write by hand: one upsert per event, offsets committed per batch;
3. a consumer that only reads (and decodes) the topic: the ceiling.

Then the read API under uvicorn, ``--concurrency`` clients: p50/p99 of the member-explanation and
community-metrics endpoints, as a ratio to a trivial authenticated endpoint of the same service.

Prints a Markdown table and writes ``bench/results/scoring.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import bson
from pymongo.asynchronous.database import AsyncDatabase

from bench.embedded import embedded_servers
from bench.measure import markdown_table, run_facts, write_figures
from bench.scoring_reads import TENANT, run_reads
from kith_devkit.generator import GeneratorConfig, generate
from kith_devkit.testing.kafka import publish
from kith_ingest.domain import NormalizeConfig, normalize_raw
from kith_scoring.consumer import ScoringConsumer, decode
from kith_scoring.rebuild import high_watermarks
from kith_scoring.settings import ScoringSettings
from kith_scoring.store import ScoringStore
from kith_shared.consumer.polling import JOIN_TIMEOUT_MS
from kith_shared.events import Event
from kith_shared.kafka import EventProducer, ensure_topics, make_consumer
from kith_shared.mongo import make_mongo_client
from kith_shared.topics import ACTIVITY

RESULTS = Path(__file__).resolve().parent / "results" / "scoring.json"


def realistic_stream(count: int) -> list[Event]:
    """Return the first ``count`` generated events, normalized as ingest would publish them."""
    config = NormalizeConfig()
    events: list[Event] = []
    for raw in generate(GeneratorConfig(days=120, tenant=TENANT)):
        received = raw.time + timedelta(seconds=2)
        events.append(normalize_raw(raw.model_dump(mode="json"), tenant=TENANT, config=config, received=received))
        if len(events) >= count:
            break
    return events


async def wait_done(done: Callable[[], Awaitable[bool]], within: float = 1_800.0) -> None:
    """Poll until ``done`` holds."""
    deadline = time.monotonic() + within
    while not await done():
        if time.monotonic() > deadline:
            raise TimeoutError("the consumer did not catch up in time")
        await asyncio.sleep(0.05)


async def stored_sizes(db: AsyncDatabase[dict[str, Any]], events: int) -> dict[str, dict[str, float]]:
    """Return, per collection of the scoring database, its documents, their mean BSON size and documents per event."""
    sizes: dict[str, dict[str, float]] = {}
    for name in sorted(await db.list_collection_names()):
        count = 0
        total = 0
        async for doc in db[name].find({}):
            count += 1
            total += len(bson.encode(doc))
        sizes[name] = {
            "documents": count,
            "bytes": total,
            "bytes_per_document": total / count if count else 0.0,
            "documents_per_event": count / events,
        }
    return sizes


async def run_scoring(settings: ScoringSettings, events: int) -> dict[str, Any]:
    """Measure the scoring consumer from the first record to the last stored offset."""
    client = make_mongo_client(settings.mongo, app_name="bench")
    store = ScoringStore(client, client[settings.mongo.database], erasure_salt="bench")
    await store.ensure_indexes()
    producer = EventProducer(settings.kafka)
    await producer.start()
    consumer = ScoringConsumer(settings, store, producer)
    first: list[float] = []
    apply = store.apply

    async def timed_apply(records: Any, same_incarnation: Any = None) -> Any:
        if not first:
            first.append(time.perf_counter())
        return await apply(records, same_incarnation)

    store.apply = timed_apply  # type: ignore[method-assign]
    ends = await high_watermarks(settings)

    async def caught_up() -> bool:
        stored = {
            d["partition"]: d["offset"] async for d in client[settings.mongo.database]["partition_progress"].find()
        }
        return all(stored.get(p, -1) >= end - 1 for p, end in ends.items() if end > 0)

    await consumer.start()
    try:
        await wait_done(caught_up)
        elapsed = time.perf_counter() - first[0]
        await consumer.stop()
        stored = await stored_sizes(client[settings.mongo.database], events)
    finally:
        await consumer.stop()
        await producer.stop()
        await client.close()
    stats = store.stats
    return {
        "events": events,
        "seconds": elapsed,
        "events_per_second": events / elapsed,
        "transactions": stats.transactions,
        "bulk_writes": stats.bulk_writes,
        "documents_written": stats.documents,
        "bulk_writes_per_event": stats.bulk_writes / events,
        "documents_per_event": stats.documents / events,
        "stored": stored,
        "stored_bytes_per_event": sum(c["bytes"] for c in stored.values()) / events,
    }


async def run_simple(settings: ScoringSettings, events: int, *, naive: bool) -> dict[str, Any]:
    """Measure a naive consumer (one upsert per event) or a read-only one (the ceiling)."""
    kafka = settings.kafka
    group = kafka.group("bench-naive" if naive else "bench-ceiling")
    consumer = make_consumer(kafka, group=group, max_poll_records=2_000, request_timeout_ms=JOIN_TIMEOUT_MS)
    consumer.subscribe([kafka.topic(ACTIVITY)])
    client = make_mongo_client(settings.mongo, app_name="bench")
    collection = client[f"{settings.mongo.database}_naive"]["member_communities"]
    await consumer.start()
    seen = 0
    writes = 0
    started: float | None = None
    try:
        while seen < events:
            batches = await consumer.getmany(timeout_ms=500, max_records=2_000)
            for records in batches.values():
                for raw in records:
                    if started is None:
                        started = time.perf_counter()
                    record, _ = decode(raw)
                    seen += 1
                    event = record.event
                    if naive and event is not None and event.community_id and event.member_id:
                        key = f"{event.tenant}|{event.community_id}|{event.member_id}"
                        await collection.update_one(
                            {"_id": key},
                            {
                                "$inc": {f"counts.{event.type.replace('.', '_')}": 1},
                                "$max": {"last": event.time},
                                "$setOnInsert": {"tenant": event.tenant},
                            },
                            upsert=True,
                        )
                        writes += 1
            if batches:
                await consumer.commit()
        elapsed = time.perf_counter() - (started or time.perf_counter())
    finally:
        await consumer.stop()
        await client.close()
    return {
        "events": seen,
        "seconds": elapsed,
        "events_per_second": seen / elapsed,
        "documents_written": writes,
        "documents_per_event": writes / max(seen, 1),
    }


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    """Run every measurement against one broker and one database."""
    with tempfile.TemporaryDirectory(prefix="kith-bench-scoring-") as tmp:
        async with embedded_servers(Path(tmp)) as embedded:
            kafka = embedded.kafka(topic_prefix="bench.")
            mongo = embedded.mongo("bench_scoring", auth_database="bench_auth")
            settings = ScoringSettings(
                environment="test",
                kafka=kafka,
                mongo=mongo,
                batch_max_records=args.batch,
                slipping_sweep_seconds=0,
                rate_limit_per_second=0,
            )
            await ensure_topics(kafka)
            started = time.perf_counter()
            events = realistic_stream(args.events)
            await publish(kafka, events, chunk=5_000)
            prepared = time.perf_counter() - started
            naive = await run_simple(settings, len(events), naive=True)
            scoring = await run_scoring(settings, len(events))
            ceiling = await run_simple(settings, len(events), naive=False)
            sweep = {}
            for size in args.sweep:
                variant = settings.model_copy(
                    update={
                        "batch_max_records": size,
                        "consumer_group": f"scoring-sweep-{size}",
                        "mongo": mongo.model_copy(update={"database": f"bench_sweep_{size}"}),
                    }
                )
                sweep[str(size)] = await run_scoring(variant, len(events))
            reads = await run_reads(settings, events, args.requests, args.concurrency)
    return {
        **run_facts("scoring"),
        "events": len(events),
        "batch_max_records": args.batch,
        "load_seconds": prepared,
        "scoring": scoring,
        "naive": naive,
        "ceiling": ceiling,
        "batch_sweep": sweep,
        "speedup_vs_naive": scoring["events_per_second"] / naive["events_per_second"],
        "share_of_ceiling": scoring["events_per_second"] / ceiling["events_per_second"],
        "reads": reads,
        "concurrency": args.concurrency,
    }


def table(result: dict[str, Any]) -> str:
    """Return the figures as a Markdown table."""
    s, n, c = result["scoring"], result["naive"], result["ceiling"]
    lines = [
        f"Scoring on {result['events']} generated events; store: {result['store']}; broker: {result['broker']}.",
        "",
        "| consumer | events/s | ratio | bulk_write calls/event | documents written/event |",
        "|---|---:|---:|---:|---:|",
        f"| scoring (batched, transactional) | {s['events_per_second']:.0f} | 1.00 | "
        f"{s['bulk_writes_per_event']:.4f} | {s['documents_per_event']:.3f} |",
        f"| naive (one upsert per event) | {n['events_per_second']:.0f} | "
        f"{n['events_per_second'] / s['events_per_second']:.3f} | - | {n['documents_per_event']:.3f} |",
        f"| read-only (ceiling) | {c['events_per_second']:.0f} | "
        f"{c['events_per_second'] / s['events_per_second']:.2f} | - | 0 |",
        "",
        f"Scoring is {result['speedup_vs_naive']:.1f}x the naive consumer (target >= 10x) and "
        f"{100 * result['share_of_ceiling']:.0f}% of the read-only ceiling; "
        f"{s['bulk_writes_per_event']:.4f} bulk writes per event (target < 0.2).",
        "",
        *_sweep_lines(result),
        *_stored_lines(result),
        f"| endpoint ({result['concurrency']} concurrent clients) | p50 ms | p99 ms | p99 / trivial |",
        "|---|---:|---:|---:|",
    ]
    for name, value in result["reads"].items():
        if isinstance(value, dict):
            lines.append(
                f"| {name} | {value['p50_ms']:.1f} | {value['p99_ms']:.1f} | {value['p99_ratio_to_trivial']:.2f} |"
            )
    return "\n".join(lines)


def _sweep_lines(result: dict[str, Any]) -> list[str]:
    sweep: dict[str, dict[str, Any]] = result.get("batch_sweep", {})
    if not sweep:
        return []
    header = ["most records per batch", "events/s", "transactions (chunks)", "documents written/event"]
    rows = [
        [
            f"{int(size):,}",
            f"{run['events_per_second']:.0f}",
            str(run["transactions"]),
            f"{run['documents_per_event']:.3f}",
        ]
        for size, run in sorted(sweep.items(), key=lambda item: int(item[0]))
    ]
    return [*markdown_table(header, rows, "rrrr"), ""]


def _stored_lines(result: dict[str, Any]) -> list[str]:
    stored: dict[str, dict[str, float]] = result["scoring"].get("stored", {})
    if not stored:
        return []
    header = ["stored collection", "documents", "bytes/document", "documents/event"]
    rows = [
        [name, f"{f['documents']:.0f}", f"{f['bytes_per_document']:.0f}", f"{f['documents_per_event']:.4f}"]
        for name, f in stored.items()
    ]
    rows.append(["all", "", "", f"{result['scoring']['stored_bytes_per_event']:.0f} bytes/event"])
    return [*markdown_table(header, rows, "lrrr"), ""]


def main(argv: list[str]) -> int:
    """Run the scoring benchmark."""
    parser = argparse.ArgumentParser(prog="python -m bench scoring", description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=60_000, help="Events from the generator (default 60000).")
    default_batch = ScoringSettings.model_fields["batch_max_records"].default
    parser.add_argument(
        "--batch", type=int, default=default_batch, help=f"Most records per scoring batch (default {default_batch})."
    )
    parser.add_argument(
        "--sweep",
        type=lambda text: [int(part) for part in text.split(",") if part],
        default=[10_000, 30_000],
        help="Other batch limits to run the scoring consumer with, comma-separated (default 10000,30000).",
    )
    parser.add_argument("--requests", type=int, default=25, help="Requests per client per endpoint.")
    parser.add_argument("--concurrency", type=int, default=32, help="Concurrent API clients.")
    args = parser.parse_args(argv)
    result = asyncio.run(bench(args))
    write_figures(RESULTS, result)
    print(table(result))
    print(f"\nwritten to {RESULTS}")
    return 0
