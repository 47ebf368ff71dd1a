"""``kith_ready{service,dependency}`` follows the readiness checks, refreshed by every scrape of /metrics."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from kith_shared.observability import Readiness, install

pytestmark = pytest.mark.unit


def ready_values(exposition: str, service: str) -> dict[str, float]:
    """Return ``kith_ready`` of one service by dependency, parsed from a /metrics answer."""
    values: dict[str, float] = {}
    for family in text_string_to_metric_families(exposition):
        if family.name != "kith_ready":
            continue
        assert family.type == "gauge"
        for sample in family.samples:
            if sample.labels["service"] == service:
                values[sample.labels["dependency"]] = sample.value
    return values


async def test_scrape_runs_the_checks_and_reports_each_dependency() -> None:
    service = f"ready-{uuid.uuid4().hex[:8]}"
    broker_up = False

    async def database() -> None:
        return None

    async def broker() -> None:
        if not broker_up:
            raise ConnectionError("broker unreachable")

    async def hanging() -> None:
        await asyncio.sleep(10)

    readiness = Readiness(timeout=0.05)
    readiness.add("mongodb", database)
    readiness.add("kafka", broker)
    readiness.add("slow", hanging)
    app = FastAPI()
    install(app, service=service, readiness=readiness)

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        first = await client.get("/metrics")
        assert first.status_code == 200
        assert ready_values(first.text, service) == {"mongodb": 1.0, "kafka": 0.0, "slow": 0.0}

        broker_up = True
        second = await client.get("/metrics")
        assert ready_values(second.text, service) == {"mongodb": 1.0, "kafka": 1.0, "slow": 0.0}

        # The readiness probe refreshes the gauge too, without waiting for a scrape.
        broker_up = False
        assert (await client.get("/readyz")).status_code == 503
        labels = {"service": service, "dependency": "kafka"}
        assert REGISTRY.get_sample_value("kith_ready", labels) == 0.0
        broker_up = True
        del readiness.checks["slow"]
        assert (await client.get("/readyz")).status_code == 200
        assert REGISTRY.get_sample_value("kith_ready", labels) == 1.0
