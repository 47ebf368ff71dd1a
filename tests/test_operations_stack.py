"""Operating the stack as deployed: each process's /metrics after traffic, its log lines and its traces.

The three services run as processes with tracing configured from the environment only
(``OTEL_TRACES_EXPORTER=console``: spans are printed beside the JSON log lines). One test checks
every series the dashboard's queries need, the log lines of a dead-lettered record, and one trace
across the processes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from kith_devkit.testing import eventually
from kith_shared.kafka import client_options
from kith_shared.topics import ACTIVITY, ENGAGEMENT, RAW
from tests.conftest import Stack

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CLIENT_TRACE = "5bd66ef5095369c7b0d1f8f4bd33716a"


@pytest.fixture
def stack_env() -> dict[str, str]:
    """Trace to the console (the process's log), exporting spans every 0.2 s."""
    return {"OTEL_TRACES_EXPORTER": "console", "OTEL_BSP_SCHEDULE_DELAY": "200"}


def event(event_type: str, data: dict[str, Any], n: int) -> dict[str, Any]:
    return {
        "id": f"ops-{n}",
        "source": "app://ops",
        "type": event_type,
        "time": datetime.now(UTC).isoformat(),
        "data": data,
    }


def samples(text: str) -> list[Sample]:
    """Return every sample of a Prometheus exposition."""
    return [sample for family in text_string_to_metric_families(text) for sample in family.samples]


def matching(found: list[Sample], name: str, **labels: str) -> list[Sample]:
    """Return the samples of ``name`` whose labels include ``labels``."""
    return [s for s in found if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())]


def json_objects(text: str) -> Iterator[dict[str, Any]]:
    """Yield the JSON objects of a process's output: one-line log records and the console exporter's spans."""
    decoder = json.JSONDecoder()
    end = 0
    for start in (m.start() for m in re.finditer(r"^\{", text, re.MULTILINE)):
        if start < end:
            continue
        try:
            obj, end = decoder.raw_decode(text, start)
        except ValueError:
            continue
        if isinstance(obj, dict):
            yield obj


def output(stack: Stack, service: str) -> list[dict[str, Any]]:
    return list(json_objects((stack.logs / f"{service}.log").read_text(errors="replace")))


def spans_of(stack: Stack, service: str) -> list[dict[str, Any]]:
    return [obj for obj in output(stack, service) if "context" in obj and "kind" in obj]


async def test_metrics_logs_and_traces_of_the_running_stack(stack: Stack) -> None:
    kafka = stack.kafka
    activity, engagement, raw = kafka.topic(ACTIVITY), kafka.topic(ENGAGEMENT), kafka.topic(RAW)
    batch = [
        event("community.created", {"community_id": "c-ops", "name": "Ops", "topics": ["ops"]}, 0),
        *[event("member.joined", {"community_id": "c-ops", "member_id": f"m-{i}"}, i) for i in range(1, 4)],
    ]
    # A record no consumer can apply, carrying its client's trace in the CloudEvents attribute.
    broken = {"specversion": "1.0", "id": "ops-broken", "source": "app://ops", "type": "post.created",
              "time": datetime.now(UTC).isoformat(), "tenant": stack.tenant, "data": {"text": 7},
              "traceparent": f"00-{CLIENT_TRACE}-00f067aa0ba902b7-01"}  # fmt: skip
    async with stack.client("ingest") as ingest, stack.client("scoring") as scoring:
        answer = await ingest.post("/v1/events:batch", json=batch)
        assert answer.status_code == 202, answer.text
        producer = AIOKafkaProducer(**client_options(kafka))
        await producer.start()
        try:
            await producer.send_and_wait(activity, json.dumps(broken).encode(), key=b"acme:c-ops")
            joined = {**event("member.joined", {"community_id": "c-ops", "member_id": "m-raw"}, 9), "tenant": "acme"}
            await producer.send_and_wait(raw, json.dumps(joined).encode(), key=b"acme:c-ops")
        finally:
            await producer.stop()

        async def engaged() -> bool:
            answers = [await scoring.get(f"/v1/members/{member}/engagement") for member in ("m-3", "m-raw")]
            return all(answer.status_code == 200 for answer in answers)

        await eventually(engaged, 90, "scoring counted the members, from both doors")

    async def scraped(service: str) -> list[Sample]:
        async with stack.client(service) as client:
            answer = await client.get("/metrics")
        assert answer.status_code == 200
        return samples(answer.text)

    consumed = {"ingest": [RAW], "scoring": [ACTIVITY], "recommend": [ACTIVITY, ENGAGEMENT]}

    def lag_partitions(found: list[Sample], service: str, topic: str) -> set[str]:
        return {s.labels["partition"] for s in matching(found, "kith_consumer_lag", service=service, topic=topic)}

    async def settled() -> dict[str, list[Sample]] | None:
        found = {service: await scraped(service) for service in ("ingest", "scoring", "recommend")}
        lettered = all(
            sum(s.value for s in matching(found[service], "kith_dead_letters_total", service=service)) >= 1
            for service in ("scoring", "recommend")
        )
        # Every consumer exports its lag on every partition of its topics (once it knows where each starts).
        lags = all(
            lag_partitions(found[service], service, kafka.topic(spec)) == {str(p) for p in range(spec.partitions)}
            for service, specs in consumed.items()
            for spec in specs
        )
        return found if lettered and lags else None

    found = await eventually(settled, 90, "dead letters counted and every consumer's lag on every partition")

    for service in ("ingest", "scoring", "recommend"):
        ready = matching(found[service], "kith_ready", service=service)
        assert {s.labels["dependency"] for s in ready} >= {"kafka", "mongodb", "consumer"}, service
        assert all(s.value == 1 for s in ready), ready
        assert matching(found[service], "kith_batch_size_count", service=service), service
        assert matching(found[service], "kith_events_in_total", service=service, door="kafka"), service
    ingest_samples = found["ingest"]
    assert matching(ingest_samples, "kith_events_in_total", service="ingest", door="http")[0].value >= len(batch)
    assert matching(ingest_samples, "kith_events_out_total", service="ingest", topic=activity)[0].value >= len(batch)
    answers = matching(ingest_samples, "kith_http_request_seconds_count", service="ingest", method="POST",
                       route="/v1/events:batch", status="202")  # fmt: skip
    assert answers
    assert answers[0].value >= 1
    assert matching(ingest_samples, "kith_http_request_seconds_bucket", service="ingest", route="/v1/events:batch")
    assert matching(ingest_samples, "kith_store_seconds_count", service="ingest", operation="claim")
    scoring_samples = found["scoring"]
    assert matching(scoring_samples, "kith_events_out_total", service="scoring", topic=engagement)[0].value >= 1
    assert matching(scoring_samples, "kith_store_seconds_bucket", service="scoring")
    assert matching(scoring_samples, "kith_http_request_seconds_count", service="scoring",
                    route="/v1/members/{member_id}/engagement", status="200")  # fmt: skip

    # The dead-lettered record's log lines name it, its tenant and its client's trace.
    for service in ("scoring", "recommend"):

        async def lettered(service: str = service) -> list[dict[str, Any]] | None:
            lines = [o for o in output(stack, service) if o.get("message") == "record dead-lettered"]
            return lines or None

        lines = await eventually(lettered, 30, f"{service}'s dead-letter log line")
        assert [(o["event_id"], o["tenant"], o["trace_id"]) for o in lines] == [
            ("ops-broken", stack.tenant, CLIENT_TRACE)
        ], service
        assert lines[0]["span_id"], service

    # The batch's trace, from ingest's request to scoring's and recommend's processing, across the processes.
    async def traced() -> set[str] | None:
        requests = [s for s in spans_of(stack, "ingest") if s["name"] == "POST /v1/events:batch"]
        if not requests:
            return None
        trace_id = requests[0]["context"]["trace_id"]
        where = {
            span["resource"]["attributes"]["service.name"]
            for service in ("ingest", "scoring", "recommend")
            for span in spans_of(stack, service)
            if span["context"]["trace_id"] == trace_id
        }
        return where if where == {"ingest", "scoring", "recommend"} else None

    await eventually(traced, 60, "one trace in the three processes")
