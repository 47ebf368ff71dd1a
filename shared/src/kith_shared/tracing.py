"""OpenTelemetry tracing for every service, configured by the standard ``OTEL_*`` variables only.

Tracing is off unless ``OTEL_TRACES_EXPORTER`` names an exporter (``otlp``, ``console``, or both,
comma-separated); unset or ``none`` leaves every helper here a no-op that costs one check. When on,
:func:`configure` builds one tracer provider for the process (service name from
``OTEL_SERVICE_NAME``, sampler from ``OTEL_TRACES_SAMPLER``/``OTEL_TRACES_SAMPLER_ARG``, endpoint and
headers from ``OTEL_EXPORTER_OTLP_*``; OTLP goes over HTTP/protobuf) and instruments PyMongo and
aiokafka with it; :func:`instrument_app` instruments a FastAPI app.

The W3C trace context of an event travels in its CloudEvents ``traceparent`` attribute:

- **publishing** (:meth:`kith_shared.kafka.EventProducer.send_many`): each record is sent inside its
  event's own context, so the aiokafka instrumentation's send span and the ``traceparent`` Kafka
  header it writes belong to the event's trace; an event without one gets the current span's
  (:func:`stamp`, :func:`current_traceparent`);
- **consuming** (:class:`kith_shared.consumer.Consumer`): the aiokafka instrumentation ends its
  receive spans inside ``getmany`` and leaves nothing attached, so the skeleton reads each record's
  context itself (:func:`record_context`: the ``traceparent`` header, else ``ce_traceparent``, else
  the attribute in a structured body) and applies each chunk inside one span (:func:`batch_span`)
  that continues the trace of the chunk's first record and links to every record's context. A span
  per chunk, not per record: a chunk's database writes and publications are shared by its records
  (one transaction, one outbox), so only a chunk-wide span holds them truthfully; the parent keeps a
  lone event (the common case at low traffic) on one trace end to end, and the links lead from the
  chunk to every other event's trace.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Final, TypeVar

from fastapi import FastAPI
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from opentelemetry.trace import Link, NonRecordingSpan, Span, SpanContext, SpanKind, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from kith_shared.events.envelope import Envelope

log = logging.getLogger(__name__)

#: An event (any CloudEvents envelope).
E = TypeVar("E", bound=Envelope)

#: The CloudEvents distributed-tracing attribute, and the W3C header of the same name.
TRACEPARENT: Final = "traceparent"
#: The exporters :func:`configure` knows (``OTEL_TRACES_EXPORTER``).
EXPORTERS: Final = ("otlp", "console")
#: Most links one chunk span carries (the SDK's default limit): further records are counted, not linked.
MAX_LINKS: Final = 128
#: Requests never traced: probes and scrapes.
EXCLUDED_URLS: Final = "/healthz,/readyz,/metrics"

_PROPAGATOR: Final = TraceContextTextMapPropagator()
#: The ``traceparent`` attribute in a structured-mode JSON body (W3C version 00 layout).
_BODY_TRACEPARENT: Final = re.compile(rb'"traceparent"\s*:\s*"([0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2})"')


class TracingConfigError(ValueError):
    """The ``OTEL_*`` variables ask for something this service cannot do; the message says what to change."""


class _State:
    provider: TracerProvider | None = None
    tracer: trace.Tracer = trace.NoOpTracer()
    configured: bool = False


_state = _State()


def enabled() -> bool:
    """Tell whether tracing is on in this process."""
    return _state.provider is not None


def exporter_names(environ: Mapping[str, str] = os.environ) -> list[str]:
    """Return the exporters ``OTEL_TRACES_EXPORTER`` names (none when unset, ``none`` or tracing is disabled)."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return []
    raw = environ.get("OTEL_TRACES_EXPORTER", "none")
    names = [name.strip().lower() for name in raw.split(",") if name.strip()]
    if "none" in names:
        return []
    unknown = [name for name in names if name not in EXPORTERS]
    if unknown:
        raise TracingConfigError(
            f"OTEL_TRACES_EXPORTER={raw!r}: unknown exporter {unknown[0]!r}; use otlp, console or none"
        )
    return names


def otlp_exporter(environ: Mapping[str, str] = os.environ) -> SpanExporter:
    """Return the OTLP exporter the variables describe; raise :class:`TracingConfigError` unless over HTTP."""
    protocol = environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
    protocol = (protocol or "http/protobuf").strip()
    if protocol != "http/protobuf":
        raise TracingConfigError(
            f"OTEL_EXPORTER_OTLP_PROTOCOL={protocol!r} is not supported: Kith exports OTLP over http/protobuf "
            "(the collector's port 4318); set OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf"
        )
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter()  # endpoint, headers, timeout: from OTEL_EXPORTER_OTLP_* themselves


def configure(service: str, environ: Mapping[str, str] = os.environ) -> bool:
    """Turn tracing on from the ``OTEL_*`` variables, once per process; return whether it is on.

    Call it before any MongoDB client is created (the PyMongo instrumentation watches only clients
    created after it). Raises :class:`TracingConfigError` when the variables ask for an exporter or
    protocol this service does not have.
    """
    if _state.configured:
        return enabled()
    names = exporter_names(environ)
    _state.configured = True
    if not names:
        return False
    attributes = {} if environ.get("OTEL_SERVICE_NAME") else {SERVICE_NAME: service}
    provider = TracerProvider(resource=Resource.create(attributes))  # sampler from OTEL_TRACES_SAMPLER
    for name in names:
        exporter = ConsoleSpanExporter() if name == "console" else otlp_exporter(environ)
        provider.add_span_processor(BatchSpanProcessor(exporter))
    enable(provider)
    log.info("tracing on", extra={"exporters": names})
    return True


def enable(provider: TracerProvider, *processors: SpanProcessor) -> None:
    """Trace with ``provider`` (and extra ``processors``): instrument PyMongo and aiokafka with it."""
    from opentelemetry.instrumentation.aiokafka import AIOKafkaInstrumentor
    from opentelemetry.instrumentation.pymongo import PymongoInstrumentor

    for processor in processors:
        provider.add_span_processor(processor)
    _state.provider = provider
    _state.tracer = provider.get_tracer("kith")
    _state.configured = True
    PymongoInstrumentor().instrument(tracer_provider=provider)
    AIOKafkaInstrumentor().instrument(tracer_provider=provider)


def disable() -> None:
    """Turn tracing off again (tests): flush, and remove the instrumentations' effect."""
    from opentelemetry.instrumentation.aiokafka import AIOKafkaInstrumentor
    from opentelemetry.instrumentation.pymongo import PymongoInstrumentor

    provider, _state.provider = _state.provider, None
    _state.tracer = trace.NoOpTracer()
    _state.configured = False
    if provider is not None:
        PymongoInstrumentor().uninstrument()
        AIOKafkaInstrumentor().uninstrument()
        provider.force_flush()


def shutdown() -> None:
    """Export what is buffered (call at the process's end)."""
    if _state.provider is not None:
        _state.provider.force_flush()


def instrument_app(app: FastAPI) -> None:
    """Trace an app's requests (probes and scrapes excluded) when tracing is on."""
    if _state.provider is None:
        return
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor.instrument_app(app, tracer_provider=_state.provider, excluded_urls=EXCLUDED_URLS)


def tracer() -> trace.Tracer:
    """Return Kith's tracer (a no-op one while tracing is off)."""
    return _state.tracer


@contextmanager
def client_span(method: str, url: str, peer: str, headers: dict[str, str]) -> Iterator[Span]:
    """Trace an outgoing HTTP call to ``peer`` (a Kith service) and write its context into ``headers``.

    The callee's server span then continues the caller's trace. Set the answer's status on the span
    yielded with :func:`answered`; an exception leaving the block is recorded on it.
    """
    attributes = {"http.request.method": method, "url.full": url, "server.address": peer}
    with _state.tracer.start_as_current_span(f"{method} {peer}", kind=SpanKind.CLIENT, attributes=attributes) as span:
        if _state.provider is not None:
            _PROPAGATOR.inject(headers)
        yield span


def answered(span: Span, status: int | None, error: str | None = None) -> None:
    """Record an HTTP call's answer on its client span: its status code, or the error that left it unanswered."""
    if status is not None:
        span.set_attribute("http.response.status_code", status)
    if error is not None or (status is not None and status >= 500):
        span.set_status(StatusCode.ERROR, error or f"HTTP {status}")


# -- the trace context of events ---------------------------------------------------------------------


def current_traceparent() -> str | None:
    """Return the current span's context as a W3C ``traceparent`` (None when off or outside any span)."""
    if _state.provider is None:
        return None
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return carrier.get(TRACEPARENT)


def parse(traceparent: str | bytes | None) -> SpanContext | None:
    """Return the span context a ``traceparent`` names (None when absent or malformed)."""
    if not traceparent:
        return None
    text = traceparent.decode("latin-1") if isinstance(traceparent, bytes) else traceparent
    span_context = trace.get_current_span(_PROPAGATOR.extract({TRACEPARENT: text})).get_span_context()
    return span_context if span_context.is_valid else None


def stamped(events: Sequence[E]) -> list[E]:
    """Return events, each without a ``traceparent`` given the current span's (tracing on and inside a span).

    Call it where events are made (before an outbox stores them, say), so that they carry the trace
    of the work that made them however late they are published.
    """
    current = current_traceparent()
    if current is None:
        return list(events)
    return [event if event.traceparent else event.model_copy(update={TRACEPARENT: current}) for event in events]


def stamp(obj: object) -> None:
    """Give a raw event (a JSON object) the current span's ``traceparent`` when it carries none (tracing on)."""
    if _state.provider is None or not isinstance(obj, dict) or obj.get(TRACEPARENT):
        return
    traceparent = current_traceparent()
    if traceparent is not None:
        obj[TRACEPARENT] = traceparent


def context_for(traceparent: str | None) -> Context | None:
    """Return a context whose current span is the one ``traceparent`` names (None when off or absent)."""
    if _state.provider is None:
        return None
    span_context = parse(traceparent)
    return trace.set_span_in_context(NonRecordingSpan(span_context)) if span_context is not None else None


@contextmanager
def attached(ctx: Context | None) -> Iterator[None]:
    """Make ``ctx`` the current context inside the block (nothing when None)."""
    if ctx is None:
        yield
        return
    token = otel_context.attach(ctx)
    try:
        yield
    finally:
        otel_context.detach(token)


def record_context(record: Any) -> SpanContext | None:
    """Return a consumed record's trace context: ``traceparent`` header, ``ce_traceparent``, or the body's attribute."""
    return carried_context(record.headers, record.value)


def carried_context(headers: Iterable[tuple[str, bytes | None]] | None, value: bytes | None) -> SpanContext | None:
    """Return the trace context a record carries (see :func:`record_context`)."""
    found: bytes | None = None
    for name, raw in headers or ():
        if name == TRACEPARENT and raw:
            found = raw
            break
        if name == "ce_traceparent" and raw and found is None:
            found = raw
    if found is None and value:
        match = _BODY_TRACEPARENT.search(value[:4096])
        found = match.group(1) if match else None
    return parse(found)


@contextmanager
def batch_span(
    name: str,
    contexts: Iterable[SpanContext | None],
    attributes: Mapping[str, Any] | None = None,
    *,
    kind: SpanKind = SpanKind.CONSUMER,
) -> Iterator[Span | None]:
    """Run the block in a span continuing the first context's trace and linking to every context (see the module).

    The span current before (an HTTP request's, for instance) is linked too when the span does not continue it.
    """
    if _state.provider is None:
        yield None
        return
    seen: set[tuple[int, int]] = set()
    distinct: list[SpanContext] = []
    count = 0
    enclosing = trace.get_current_span().get_span_context()
    for span_context in contexts:
        count += 1
        if span_context is not None and (span_context.trace_id, span_context.span_id) not in seen:
            seen.add((span_context.trace_id, span_context.span_id))
            distinct.append(span_context)
    parent = trace.set_span_in_context(NonRecordingSpan(distinct[0])) if distinct else None
    links: list[Link] = [Link(span_context) for span_context in distinct[:MAX_LINKS]]
    if enclosing.is_valid and distinct and enclosing.span_id != distinct[0].span_id:
        links.append(Link(enclosing))
    fields = {"messaging.batch.message_count": count, "kith.traced_records": len(distinct), **(attributes or {})}
    with _state.tracer.start_as_current_span(name, context=parent, kind=kind, links=links, attributes=fields) as span:
        yield span


def log_ids() -> tuple[str | None, str | None]:
    """Return the current trace and span ids (hex) for a log line, or None while no span records."""
    if _state.provider is None:
        return None, None
    span_context = trace.get_current_span().get_span_context()
    if not span_context.is_valid:
        return None, None
    return format(span_context.trace_id, "032x"), format(span_context.span_id, "016x")
