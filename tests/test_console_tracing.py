"""The console is traced like the services: its pages are server spans, its calls client spans whose context
the services continue."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI, Request, Response
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from kith_console.app import create_app
from kith_console.backends import Backends, Failure
from kith_console.settings import ConsoleSettings
from kith_devkit.servers import free_port
from kith_shared import tracing
from tests.tracing_support import spans  # noqa: F401  (the fixture)

pytestmark = pytest.mark.unit


def _scoring(seen: list[str | None]) -> FastAPI:
    """A service that notes the trace context each request carries."""
    service = FastAPI()

    @service.get("/v1/overview")
    async def overview(request: Request) -> dict[str, bool]:
        seen.append(request.headers.get("traceparent"))
        return {"ok": True}

    @service.get("/v1/broken")
    async def broken(request: Request) -> Response:
        seen.append(request.headers.get("traceparent"))
        return Response(status_code=503)

    return service


async def test_the_console_carries_its_trace_into_the_services(spans: InMemorySpanExporter) -> None:  # noqa: F811
    seen: list[str | None] = []
    backends = Backends({"scoring": "http://scoring", "ingest": f"http://127.0.0.1:{free_port()}"}, timeout=5)
    await backends.client.aclose()
    backends.client = httpx.AsyncClient(transport=httpx.ASGITransport(_scoring(seen)))
    try:
        with tracing.tracer().start_as_current_span("page") as page:
            assert (await backends.get("scoring", "/v1/overview", "kith_k_s")).data == {"ok": True}
            assert (await backends.get("scoring", "/v1/broken", "kith_k_s")).failure == Failure.DOWN
        backends.client = httpx.AsyncClient()  # a real connection to a port nobody listens on
        assert (await backends.get("ingest", "/v1/dead-letters", "kith_k_s")).failure == Failure.DOWN
    finally:
        await backends.close()

    calls = [s for s in spans.get_finished_spans() if s.kind == SpanKind.CLIENT]
    assert [s.name for s in calls] == ["GET scoring", "GET scoring", "GET ingest"]
    ok, failed, unreachable = calls
    for call, header in zip((ok, failed), seen, strict=True):
        context = tracing.parse(header)
        assert context is not None
        assert call.context is not None
        assert (context.trace_id, context.span_id) == (call.context.trace_id, call.context.span_id)
        assert call.parent is not None
        assert call.parent.span_id == page.get_span_context().span_id
    assert ok.attributes is not None
    assert ok.attributes["http.response.status_code"] == 200
    assert ok.status.status_code == StatusCode.UNSET
    assert failed.status.status_code == StatusCode.ERROR
    assert unreachable.status.status_code == StatusCode.ERROR
    assert unreachable.attributes is not None
    assert "http.response.status_code" not in unreachable.attributes


async def test_the_console_pages_are_server_spans(spans: InMemorySpanExporter) -> None:  # noqa: F811
    app = create_app(ConsoleSettings(environment="test"))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://console") as client:
        assert (await client.get("/signin")).status_code == 200
        assert (await client.get("/healthz")).status_code == 200
    served = [s for s in spans.get_finished_spans() if s.kind == SpanKind.SERVER]
    assert [s.name for s in served] == ["GET /signin"]
