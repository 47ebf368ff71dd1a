"""One event followed by its trace: ingest's request, scoring's and recommend's processing, the database calls.

The three apps run in this process, each on its own database, with tracing on and spans kept in memory.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from kith_devkit.testing import MakeSettings, RunningService, RunService, eventually, publish
from kith_ingest.app import create_app as create_ingest
from kith_ingest.settings import IngestSettings
from kith_recommend.app import create_app as create_recommend
from kith_recommend.settings import RecommendSettings
from kith_scoring.app import create_app as create_scoring
from kith_scoring.settings import ScoringSettings
from kith_shared import tracing
from kith_shared.auth import Scope
from kith_shared.events import validate_event
from kith_shared.events.examples import example
from kith_shared.settings import MongoSettings
from kith_shared.topics import ACTIVITY, ENGAGEMENT
from services.scoring.tests.helpers import at, engagement_events
from services.scoring.tests.helpers import event as scoring_event
from tests.tracing_support import spans  # noqa: F401  (the fixture)

pytestmark = pytest.mark.integration

_ids = itertools.count()
PYMONGO = "opentelemetry.instrumentation.pymongo"


@dataclass
class Apps:
    ingest: RunningService[IngestSettings]
    scoring: RunningService[ScoringSettings]
    recommend: RunningService[RecommendSettings]


@pytest.fixture
async def apps(
    spans: InMemorySpanExporter,  # noqa: F811  (tracing on before the apps exist)
    make_settings: MakeSettings,
    mongo_settings: MongoSettings,
    running_service: RunService,
) -> AsyncIterator[Apps]:
    """Run ingest, scoring and recommend in this process, each on its own database, with tracing on."""

    def own(service: str) -> MongoSettings:
        return mongo_settings.model_copy(update={"database": f"{mongo_settings.database}_{service}"})

    async with AsyncExitStack() as stack:
        ingest = await stack.enter_async_context(
            running_service(
                create_ingest,
                make_settings(IngestSettings, mongo=own("ingest"), consume_raw=False, normalize_pool="thread"),
                {"acme": [Scope.EVENTS_WRITE]},
            )
        )
        scoring = await stack.enter_async_context(
            running_service(
                create_scoring,
                make_settings(
                    ScoringSettings, mongo=own("scoring"), slipping_sweep_seconds=0, batch_timeout_ms=100,
                    rate_limit_per_second=0,
                ),
                {},
            )
        )  # fmt: skip
        recommend = await stack.enter_async_context(
            running_service(
                create_recommend,
                make_settings(RecommendSettings, mongo=own("recommend"), refresh_interval_seconds=0.2,
                              batch_timeout_ms=50, rate_limit_per_second=0),
                {},
            )
        )  # fmt: skip
        yield Apps(ingest, scoring, recommend)


def joined(member: str, community: str, **extra: Any) -> dict[str, Any]:
    """Return a member.joined event as a client app sends it."""
    return {
        "id": f"trace-{next(_ids)}",
        "source": "app://tracing",
        "type": "member.joined",
        "time": datetime.now(UTC).isoformat(),
        "data": {"community_id": community, "member_id": member},
        **extra,
    }


def of_trace(exporter: InMemorySpanExporter, trace_id: int) -> list[ReadableSpan]:
    """Return the finished spans of one trace."""
    return [s for s in exporter.get_finished_spans() if s.context is not None and s.context.trace_id == trace_id]


def processing(service: str, topic: str) -> Callable[[ReadableSpan], bool]:
    """Match a consumer's chunk span of ``service`` on ``topic``."""

    def match(span: ReadableSpan) -> bool:
        attributes = span.attributes or {}
        topics = str(attributes.get("messaging.destination.name", "")).split(", ")
        return attributes.get("kith.service") == service and topic in topics

    return match


def database_calls(found: list[ReadableSpan], database: str) -> list[ReadableSpan]:
    """Return the PyMongo spans on ``database``."""
    return [
        s
        for s in found
        if s.instrumentation_scope is not None
        and s.instrumentation_scope.name == PYMONGO
        and (s.attributes or {}).get("db.name") == database
    ]


async def test_one_event_is_one_trace_from_the_request_to_scoring_and_recommend(
    apps: Apps,
    spans: InMemorySpanExporter,  # noqa: F811
) -> None:
    event = joined("m-1", "c-climb")
    answer = await apps.ingest.client_for("acme").post("/v1/events", json=event)
    assert answer.status_code == 202, answer.text
    [request] = [s for s in spans.get_finished_spans() if s.kind is SpanKind.SERVER and s.name == "POST /v1/events"]
    assert request.context is not None
    trace_id = request.context.trace_id
    activity = apps.scoring.settings.kafka.topic(ACTIVITY)
    engagement = apps.scoring.settings.kafka.topic(ENGAGEMENT)

    async def complete() -> list[ReadableSpan] | None:
        found = of_trace(spans, trace_id)
        wanted = (
            processing("scoring", activity),
            processing("recommend", activity),
            processing("recommend", engagement),
        )
        return found if all(any(match(s) for s in found) for match in wanted) else None

    found = await eventually(complete, 60, "scoring's and recommend's processing in the request's trace")
    names = {s.name for s in found}
    assert "ingest admit" in names
    assert f"{activity} send" in names, "ingest's publication continues the request's trace"
    assert f"{engagement} send" in names, "scoring's engagement change carries the trace on"
    assert database_calls(found, apps.ingest.settings.mongo.database), "ingest's claims are in the trace"
    assert database_calls(found, apps.scoring.settings.mongo.database), "scoring's writes are in the trace"
    [chunk] = [s for s in found if processing("scoring", activity)(s)]
    assert chunk.parent is not None
    assert chunk.parent.trace_id == trace_id
    assert [link.context.trace_id for link in chunk.links] == [trace_id]
    writes = database_calls(found, apps.scoring.settings.mongo.database)
    assert chunk.context is not None
    assert any(s.parent is not None and s.parent.span_id == chunk.context.span_id for s in writes)


async def test_a_trace_the_producer_started_is_continued(
    apps: Apps,
    spans: InMemorySpanExporter,  # noqa: F811
) -> None:
    theirs = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    other = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    events = [joined("m-2", "c-chess", traceparent=theirs), joined("m-3", "c-chess", traceparent=other)]
    answer = await apps.ingest.client_for("acme").post("/v1/events:batch", json=events)
    assert answer.status_code == 202, answer.text
    [request] = [s for s in spans.get_finished_spans() if s.kind is SpanKind.SERVER]
    [admit] = [s for s in spans.get_finished_spans() if s.name == "ingest admit"]
    assert admit.context is not None
    assert admit.parent is not None
    assert format(admit.context.trace_id, "032x") == theirs.split("-")[1], "ingest's span continues the event's trace"
    linked = {format(link.context.trace_id, "032x") for link in admit.links}
    assert {theirs.split("-")[1], other.split("-")[1]} <= linked
    assert request.context is not None
    assert request.context.trace_id in {link.context.trace_id for link in admit.links}, "the request is linked"
    activity = apps.scoring.settings.kafka.topic(ACTIVITY)
    for traceparent in (theirs, other):
        trace_id = int(traceparent.split("-")[1], 16)

        async def scored(trace_id: int = trace_id) -> bool:
            found = of_trace(spans, trace_id)
            sent = any(s.name == f"{activity} send" for s in found)
            linked = any(
                processing("scoring", activity)(s) and trace_id in {link.context.trace_id for link in s.links}
                for s in spans.get_finished_spans()
            )
            return sent and linked

        await eventually(scored, 60, f"the event of trace {traceparent} published in it and linked by scoring")


def test_tracing_is_off_unless_an_exporter_is_named() -> None:
    assert tracing.exporter_names({}) == []
    assert tracing.exporter_names({"OTEL_TRACES_EXPORTER": "none"}) == []
    assert tracing.exporter_names({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_SDK_DISABLED": "true"}) == []
    assert tracing.exporter_names({"OTEL_TRACES_EXPORTER": "console, otlp"}) == ["console", "otlp"]
    with pytest.raises(tracing.TracingConfigError, match="unknown exporter 'jaeger'"):
        tracing.exporter_names({"OTEL_TRACES_EXPORTER": "jaeger"})
    with pytest.raises(tracing.TracingConfigError, match="http/protobuf"):
        tracing.otlp_exporter({"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"})
    assert not tracing.enabled()
    assert tracing.current_traceparent() is None
    traced = tracing.parse("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
    assert traced is not None
    with tracing.batch_span("nothing", [traced]) as span:
        assert span is None


def test_events_made_in_a_span_carry_its_trace_and_keep_their_own(
    spans: InMemorySpanExporter,  # noqa: F811  (tracing on)
) -> None:
    theirs = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    made = [validate_event({**example("member.joined"), "tenant": "acme"}) for _ in range(2)]
    made[1] = made[1].model_copy(update={"traceparent": theirs})
    assert tracing.stamped(made) == made, "outside any span nothing changes"
    with tracing.tracer().start_as_current_span("detect") as span:
        first, second = tracing.stamped(made)
    context = span.get_span_context()
    assert first.traceparent is not None
    assert first.traceparent.startswith(f"00-{context.trace_id:032x}-{context.span_id:016x}-")
    assert second.traceparent == theirs


async def test_the_slipping_sweep_traces_each_community_it_flags_and_its_announcements_carry_it(
    spans: InMemorySpanExporter,  # noqa: F811
    make_settings: MakeSettings,
    running_service: RunService,
) -> None:
    settings = make_settings(ScoringSettings, slipping_sweep_seconds=0.5, batch_timeout_ms=100)
    early = [scoring_event("member.joined", at(0, 1), community_id="c1", member_id=f"m{i}") for i in range(8)]
    early.append(scoring_event("event.hosted", at(0, 2), community_id="c1", member_id="m0", event_id="e1"))
    later = [scoring_event("member.joined", at(20, 1), community_id="c2", member_id=f"n{i}") for i in range(3)]

    async def slipping() -> list[Any] | None:
        return [
            e for e in await engagement_events(settings) if (e.data.state, e.data.member_id) == ("slipping", "m0")
        ] or None

    async with running_service(create_scoring, settings, {}):
        await publish(settings.kafka, early + later)
        [announcement] = await eventually(slipping, 90, "m0 announced slipping away")
    context = tracing.parse(announcement.traceparent)
    assert context is not None
    [sweep] = [s for s in spans.get_finished_spans() if s.context is not None and s.context.span_id == context.span_id]
    assert sweep.name == "scoring slipping sweep"
    assert (sweep.attributes or {}).get("kith.community") == "c1"
    inside = [s for s in of_trace(spans, context.trace_id) if s.parent is not None]
    assert database_calls(inside, settings.mongo.database), "the sweep's reads and writes belong to its trace"
