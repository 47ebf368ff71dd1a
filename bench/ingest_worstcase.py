"""Ingest under worst-case posts: each answered within a second, and /healthz answering meanwhile.

``python -m bench ingest_worstcase [--clients 8] [--rounds 3] [--modes loop,thread,process]``

Starts the embedded broker and database on free ports and, for each way of normalizing (``loop``: on
the event loop, ``INGEST_NORMALIZE_WORKERS=0``; ``thread`` and ``process``: a pool of two workers),
runs the real ingest app under uvicorn in a subprocess. ``--clients`` clients send the costliest
single posts there are (4 MB of entities; entities, stray brackets, ligatures and markup just
within the bounds of what normalization reads) while a prober asks
``/healthz`` every 20 ms. Reported per mode: the slowest answer to a worst-case post (target < 1 s),
and /healthz p50 / p99 / max (target p99 < 100 ms), against /healthz p99 on the same server idle.

Prints a Markdown table and writes ``bench/results/ingest_worstcase.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bench.embedded import api_key, embedded_servers, service_env
from bench.measure import CpuMeter, Server, finish, parser_for, percentile, run_facts
from kith_devkit.servers import free_port
from kith_ingest.domain.text import MAX_TAGS, TextBounds
from kith_ingest.settings import IngestSettings
from kith_shared.auth import Scope
from kith_shared.events.examples import example
from kith_shared.kafka import ensure_topics

RESULTS = Path(__file__).resolve().parent / "results" / "ingest_worstcase.json"
MODES = {"loop": ("0", "thread"), "thread": ("2", "thread"), "process": ("2", "process")}
PROBE_EVERY = 0.02


def worst_texts() -> dict[str, str]:
    """Return the costliest texts of each kind: just within the bounds of what is read, or (4 MB) far beyond."""
    bounds = TextBounds(IngestSettings().max_text_chars)
    nested = MAX_TAGS - 1
    return {
        "4 MB of entities": "&amp;" * (4_000_000 // 5),
        "entities up to the markup bound": "&amp;" * bounds.markup,
        "stray brackets up to the markup bound": "<" * bounds.markup,
        "ligatures growing up to the raw bound": "\ufdfa" * (bounds.chars // 18),
        "escaped markup up to the tag limit": "&lt;div&gt;" * nested,
        "nested markup up to the tag limit": "<div>" * nested + "deep" + "</div>" * nested,
        "unclosed markup up to the tag limit": "<div>" * nested,
    }


def _post(index: int, text: str) -> bytes:
    event = example("post.created")
    event["id"] = f"worst-{index}"
    event["time"] = datetime.now(UTC).isoformat()
    event["data"] = {**event["data"], "text": text}
    return json.dumps(event).encode()


async def _probe(url: str, stop: asyncio.Event, latencies: list[float], count: int | None = None) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        while not stop.is_set() and (count is None or len(latencies) < count):
            started = time.perf_counter()
            response = await client.get("/healthz")
            latencies.append(time.perf_counter() - started)
            if response.status_code != 200:
                raise RuntimeError(f"/healthz answered {response.status_code}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), PROBE_EVERY)


async def _idle_health(url: str, count: int = 200) -> list[float]:
    latencies: list[float] = []
    await _probe(url, asyncio.Event(), latencies, count)
    return latencies


async def _under_attack(url: str, key: str, clients: int, rounds: int) -> dict[str, Any]:
    texts = worst_texts()
    bodies = [(kind, _post(i, text)) for i, (kind, text) in enumerate(texts.items())]
    slowest: dict[str, float] = dict.fromkeys(texts, 0.0)
    statuses: dict[str, set[int]] = {kind: set() for kind in texts}
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}

    async def client_loop(offset: int) -> None:
        async with httpx.AsyncClient(base_url=url, timeout=120) as client:
            for round_ in range(rounds):
                for step in range(len(bodies)):
                    kind, body = bodies[(offset + round_ + step) % len(bodies)]
                    started = time.perf_counter()
                    response = await client.post("/v1/events", content=body, headers=headers)
                    slowest[kind] = max(slowest[kind], time.perf_counter() - started)
                    statuses[kind].add(response.status_code)

    stop = asyncio.Event()
    health: list[float] = []
    probing = asyncio.create_task(_probe(url, stop, health))
    started = time.perf_counter()
    await asyncio.gather(*(client_loop(offset) for offset in range(clients)))
    elapsed = time.perf_counter() - started
    stop.set()
    await probing
    return {
        "posts": clients * rounds * len(bodies),
        "seconds": elapsed,
        "slowest_s": slowest,
        "statuses": {kind: sorted(codes) for kind, codes in statuses.items()},
        "health_p50_ms": percentile(health, 0.5) * 1000,
        "health_p99_ms": percentile(health, 0.99) * 1000,
        "health_max_ms": max(health) * 1000,
        "health_probes": len(health),
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    """Start the servers, attack each mode in turn, stop everything."""
    workdir = Path(tempfile.mkdtemp(prefix="kith-bench-worstcase-"))
    results: dict[str, Any] = {}
    async with embedded_servers(workdir) as embedded:
        kafka = embedded.kafka(topic_prefix="bench.")
        await ensure_topics(kafka)
        mongo = embedded.mongo("kith_ingest_worstcase")
        key = await api_key(mongo, "demo", [Scope.EVENTS_WRITE])
        for mode in args.modes:
            workers, pool = MODES[mode]
            port = free_port()
            env = service_env(
                "ingest", port, kafka, mongo, inherit=False, consume_raw="false", rate_limit_per_second="0",
                normalize_workers=workers, normalize_pool=pool,
            )  # fmt: skip
            server = Server.service("ingest", env, port, workdir / f"ingest-{mode}.log")
            try:
                await server.ready()
                idle = await _idle_health(server.url)
                with CpuMeter({"ingest": server.process.pid}) as cpu:
                    attack = await _under_attack(server.url, key, args.clients, args.rounds)
                results[mode] = {
                    **attack,
                    "idle_health_p99_ms": percentile(idle, 0.99) * 1000,
                    "server_cpu_s": cpu.used["ingest"],
                }
            finally:
                server.stop()
    return {
        **run_facts("ingest_worstcase"),
        "clients": args.clients,
        "rounds": args.rounds,
        "modes": results,
        "load_average_at_end": os.getloadavg(),
    }


def markdown(result: dict[str, Any]) -> str:
    """Render the figures as Markdown tables: one row per mode, then the slowest answer per kind of post."""
    modes = result["modes"]
    lines = [
        f"Ingest under worst-case posts: {result['clients']} clients, /healthz every {PROBE_EVERY * 1000:.0f} ms "
        f"(load average at the end {result['load_average_at_end'][0]:.1f} on {os.cpu_count()} cores)",
        "",
        "| normalization | posts | slowest post (target < 1 s) | /healthz p50 / p99 / max (target p99 < 100 ms) "
        "| /healthz p99 idle |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for mode, m in modes.items():
        lines.append(
            f"| {mode} | {m['posts']} | {max(m['slowest_s'].values()):.2f} s | "
            f"{m['health_p50_ms']:.1f} / {m['health_p99_ms']:.1f} / {m['health_max_ms']:.0f} ms | "
            f"{m['idle_health_p99_ms']:.1f} ms |"
        )
    kinds = list(next(iter(modes.values()))["slowest_s"])
    lines += ["", "| worst-case post | answer | " + " | ".join(modes) + " |", "| --- | --- |" + " ---: |" * len(modes)]
    for kind in kinds:
        answer = "/".join(str(code) for code in next(iter(modes.values()))["statuses"][kind])
        slowest = " | ".join(f"{m['slowest_s'][kind]:.2f} s" for m in modes.values())
        lines.append(f"| {kind} | {answer} | {slowest} |")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    """Run the worst-case benchmark, print the tables and write the JSON figures."""
    parser = parser_for("ingest_worstcase", __doc__.splitlines()[0], RESULTS)
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients sending worst-case posts")
    parser.add_argument("--rounds", type=int, default=3, help="times each client sends every kind of post")
    parser.add_argument(
        "--modes",
        type=lambda text: [m for m in text.split(",") if m],
        default=list(MODES),
        help="normalization modes, comma-separated: loop, thread, process",
    )
    args = parser.parse_args(argv)
    unknown = set(args.modes) - set(MODES)
    if unknown:
        parser.error(f"unknown modes: {sorted(unknown)}")
    result = asyncio.run(run(args))
    finish(result, args.output, markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
