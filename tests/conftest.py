"""The whole system for end-to-end tests: the three services as real processes on the test's broker and database."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from kith_cli.stack import SERVICES, service_env
from kith_devkit.servers import free_port, stop_process
from kith_devkit.testing.plugin import Infra
from kith_shared.kafka import ensure_topics
from kith_shared.settings import KafkaSettings
from tests.process_stack import ProcessStack, create_admin_key


class Stack(ProcessStack):
    """Ingest, scoring and recommend running as processes, with an admin key of one tenant."""

    def stop(self, service: str) -> None:
        """Stop a service gracefully (SIGTERM), killing it if it does not exit in time."""
        stop_process(self.processes[service], timeout=30.0)

    @contextlib.asynccontextmanager
    async def clients(self) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient, httpx.AsyncClient]]:
        """Yield clients of ingest, scoring and recommend (in that order); close them after the block."""
        async with (
            self.client("ingest") as ingest,
            self.client("scoring") as scoring,
            self.client("recommend") as recommend,
        ):
            yield ingest, scoring, recommend


@pytest.fixture
def stack_env() -> dict[str, str]:
    """Extra environment of every service of the ``stack`` (a test module overrides this fixture to add some)."""
    return {}


@pytest.fixture
async def stack(
    infra: Infra, kafka_settings: KafkaSettings, tmp_path: Path, stack_env: dict[str, str]
) -> AsyncIterator[Stack]:
    """Run the three services against this test's own topics and databases."""
    await ensure_topics(kafka_settings)
    suffix = uuid.uuid4().hex[:8]
    auth_db = f"auth_{suffix}"
    key = await create_admin_key(infra.mongo_uri, auth_db, "acme", "end-to-end")
    ports = {service: free_port() for service in SERVICES}
    envs = {
        service: service_env(
            service,
            port=ports[service],
            bootstrap=infra.bootstrap,
            mongo_uri=infra.mongo_uri,
            embedded_broker=infra.embedded_broker,
            topic_prefix=kafka_settings.topic_prefix,
            database=f"{service}_{suffix}",
            auth_database=auth_db,
        )
        | stack_env
        for service in SERVICES
    }
    stack = Stack(tenant="acme", key=key, kafka=kafka_settings, logs=tmp_path, ports=ports, envs=envs)
    try:
        for service in SERVICES:
            stack.start(service)
        for service in SERVICES:
            await stack.wait_ready(service)
        yield stack
    finally:
        for service in stack.processes:
            stop_process(stack.processes[service], timeout=15.0)
