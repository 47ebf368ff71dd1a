"""Tracing in tests: one in-memory span exporter for the session, switched on only for the tests that ask.

The PyMongo instrumentation keeps the tracer of the first provider it was given, so every test shares
one provider and clears the exporter; tracing is switched off after each test, so no other test sees
spans or trace headers.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from kith_shared import tracing

_EXPORTER = InMemorySpanExporter()
_PROVIDER = TracerProvider(resource=Resource.create({SERVICE_NAME: "kith-tests"}))
_PROVIDER.add_span_processor(SimpleSpanProcessor(_EXPORTER))


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """Turn tracing on for this test (before any app is created); return the exporter holding finished spans."""
    _EXPORTER.clear()
    tracing.enable(_PROVIDER)
    try:
        yield _EXPORTER
    finally:
        tracing.disable()
        _EXPORTER.clear()


def trace_ids(finished: tuple[ReadableSpan, ...] | list[ReadableSpan]) -> set[int]:
    """Return the trace ids of spans."""
    return {span.context.trace_id for span in finished if span.context is not None}
