"""Prometheus metrics, request ids, health and readiness, shared by every service."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from fastapi import APIRouter, FastAPI, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kith_shared.errors import install_error_handlers
from kith_shared.logs import request_id

HTTP_LATENCY = Histogram("kith_http_request_seconds", "HTTP request latency", ["service", "method", "route", "status"])
EVENTS_IN = Counter("kith_events_in_total", "Events received", ["service", "door"])
EVENTS_OUT = Counter("kith_events_out_total", "Events published", ["service", "topic"])
DEAD_LETTERS = Counter("kith_dead_letters_total", "Records sent to the dead-letter topic", ["service", "error"])
BATCH_SIZE = Histogram(
    "kith_batch_size",
    "Records per processed batch",
    ["service"],
    buckets=(1, 5, 10, 50, 100, 250, 500, 1000, 2000, 5000, 10_000, 30_000),
)
STORE_LATENCY = Histogram("kith_store_seconds", "Database operation latency", ["service", "operation"])
CONSUMER_LAG = Gauge("kith_consumer_lag", "Records behind the end of each partition", ["service", "topic", "partition"])
READY = Gauge(
    "kith_ready",
    "1 when a dependency's readiness check passes, 0 when it fails; checked when /metrics is scraped",
    ["service", "dependency"],
)

Check = Callable[[], Awaitable[None]]


@dataclass
class Readiness:
    """Named dependency checks; ready when every one passes."""

    checks: dict[str, Check] = field(default_factory=dict)
    timeout: float = 3.0

    def add(self, name: str, check: Check) -> None:
        """Register a dependency check that raises when the dependency is unreachable."""
        self.checks[name] = check

    async def run(self) -> dict[str, str]:
        """Return each dependency's status: ``ok`` or the reason it failed."""

        async def one(check: Check) -> str:
            try:
                async with asyncio.timeout(self.timeout):
                    await check()
            except TimeoutError:
                return f"unreachable: no answer within {self.timeout:g}s"
            except Exception as exc:  # a readiness probe reports every failure, whatever its kind
                return str(exc) or type(exc).__name__
            return "ok"

        names = list(self.checks)
        results = await asyncio.gather(*(one(self.checks[name]) for name in names))
        return dict(zip(names, results, strict=True))


async def record_readiness(readiness: Readiness, service: str) -> dict[str, str]:
    """Run the readiness checks (each within its timeout) and set ``kith_ready`` from their results."""
    results = await readiness.run()
    for dependency, result in results.items():
        READY.labels(service, dependency).set(1 if result == "ok" else 0)
    return results


def health_router(readiness: Readiness, service: str) -> APIRouter:
    """Return the router with ``/healthz`` (alive), ``/readyz`` (dependencies) and ``/metrics``.

    A scrape of ``/metrics`` runs the readiness checks first, so ``kith_ready`` is as fresh as the
    scrape; a slow dependency costs the scrape at most the checks' timeout.
    """
    router = APIRouter(tags=["operations"])

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        """Tell that the process is alive."""
        return {"status": "alive"}

    @router.get("/readyz", responses={503: {"description": "A dependency is unreachable"}})
    async def readyz() -> JSONResponse:
        """Tell whether the broker and the database are reachable."""
        results = await record_readiness(readiness, service)
        ready = all(value == "ok" for value in results.values())
        failing = [name for name, value in results.items() if value != "ok"]
        body = {"status": "ready" if ready else "not ready", "checks": results, "failing": failing}
        return JSONResponse(body, status_code=200 if ready else 503)

    @router.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        """Expose Prometheus metrics, readiness of each dependency included."""
        await record_readiness(readiness, service)
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router


class RequestContextMiddleware:
    """Give every request an id (``X-Request-ID``), and time it per route."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        rid = headers.get(b"x-request-id", b"").decode("latin-1")[:64] or uuid.uuid4().hex
        token = request_id.set(rid)
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", rid.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", "unmatched")
            HTTP_LATENCY.labels(self.service, scope.get("method", ""), path, str(status)).observe(
                time.perf_counter() - started
            )
            request_id.reset(token)


def install(app: FastAPI, *, service: str, readiness: Readiness) -> None:
    """Add request ids, latency metrics, health routes and error handlers to an app."""
    app.add_middleware(RequestContextMiddleware, service=service)
    app.include_router(health_router(readiness, service))
    install_error_handlers(app)
