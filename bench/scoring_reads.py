"""Scoring's read API under load: p50/p99 of the member-explanation and community-metrics endpoints.

Part of ``python -m bench scoring``: run under uvicorn on the data the consumer stored, ``concurrency``
clients each sending ``requests`` requests, reported as a ratio to a trivial authenticated endpoint
of the same service.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from typing import Any

import httpx
import uvicorn

from bench.embedded import api_key
from bench.measure import percentile
from kith_devkit.servers import free_port
from kith_scoring.app import create_app
from kith_scoring.settings import ScoringSettings
from kith_shared.auth import Scope
from kith_shared.events import Event

TENANT = "demo"


async def run_reads(settings: ScoringSettings, events: list[Event], requests: int, concurrency: int) -> dict[str, Any]:
    """Measure read latency at ``concurrency`` clients under uvicorn (consumer off, data from run 1)."""
    key = await api_key(settings.mongo, TENANT, [Scope.METRICS_READ])
    counts: dict[tuple[str, str], int] = {}
    for event in events:
        if event.community_id and event.member_id:
            pair = (event.community_id, event.member_id)
            counts[pair] = counts.get(pair, 0) + 1
    community, member = max(sorted(counts), key=lambda pair: counts[pair])
    sizes: dict[str, int] = {}
    for c, _ in counts:
        sizes[c] = sizes.get(c, 0) + 1
    biggest = max(sorted(sizes), key=lambda c: sizes[c])
    port = free_port()
    app_settings = settings.model_copy(update={"consume": False, "port": port, "log_level": "WARNING"})
    server = uvicorn.Server(uvicorn.Config(create_app(app_settings), host="127.0.0.1", port=port, log_level="warning"))
    serving = asyncio.create_task(server.serve())
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline:
            raise TimeoutError("scoring's HTTP server did not start within 30 s")
        await asyncio.sleep(0.05)
    endpoints = {
        "trivial (/v1/whoami)": "/v1/whoami",
        "member explanation": f"/v1/members/{member}/communities/{community}/engagement",
        "community metrics (7d)": f"/v1/communities/{biggest}/metrics?window=7d",
    }
    results: dict[str, Any] = {}
    try:
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}",
            headers={"Authorization": f"Bearer {key}"},
            limits=httpx.Limits(max_connections=concurrency),
            timeout=60,
        ) as http:
            for name, path in endpoints.items():
                reply = await http.get(path)
                assert reply.status_code == 200, reply.text
                latencies: list[float] = []

                async def worker(path: str = path, latencies: list[float] = latencies) -> None:
                    for _ in range(requests):
                        started = time.perf_counter()
                        reply = await http.get(path)
                        latencies.append(time.perf_counter() - started)
                        assert reply.status_code == 200

                await asyncio.gather(*(worker() for _ in range(concurrency)))
                results[name] = {
                    "path": path,
                    "requests": len(latencies),
                    "p50_ms": 1000 * statistics.median(latencies),
                    "p99_ms": 1000 * percentile(latencies, 0.99),
                }
    finally:
        server.should_exit = True
        await serving
    trivial = results["trivial (/v1/whoami)"]["p99_ms"]
    for value in results.values():
        value["p99_ratio_to_trivial"] = value["p99_ms"] / trivial
    results["community_members"] = sizes[biggest]
    return results
