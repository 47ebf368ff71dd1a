"""The whole system for end-to-end tests: the three services as real processes on the test's broker and database."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import httpx
import pytest
from pymongo import AsyncMongoClient

from kith_cli.stack import SERVICES, service_env, spawn_service
from kith_devkit.servers import free_port, process_alive, stop_process
from kith_devkit.testing import eventually
from kith_devkit.testing.plugin import Infra
from kith_shared.auth import KeyStore, Scope
from kith_shared.kafka import ensure_topics
from kith_shared.settings import KafkaSettings

T = TypeVar("T")


@dataclass
class Stack:
    """Ingest, scoring and recommend running as processes, with an admin key of one tenant."""

    tenant: str
    key: str
    kafka: KafkaSettings
    envs: dict[str, dict[str, str]]
    logs: Path
    ports: dict[str, int]
    processes: dict[str, int] = field(default_factory=dict)

    def url(self, service: str) -> str:
        """Return a service's base URL."""
        return f"http://127.0.0.1:{self.ports[service]}"

    def client(self, service: str) -> httpx.AsyncClient:
        """Return an HTTP client for a service, authenticated with the tenant's key."""
        return httpx.AsyncClient(
            base_url=self.url(service), headers={"Authorization": f"Bearer {self.key}"}, timeout=30.0
        )

    def start(self, service: str) -> None:
        """Start a service process."""
        process = spawn_service(service, self.envs[service], self.logs / f"{service}.log")
        self.processes[service] = process.pid

    def stop(self, service: str) -> None:
        """Stop a service gracefully (SIGTERM), killing it if it does not exit in time."""
        stop_process(self.processes[service], timeout=30.0)

    async def wait_ready(self, service: str, within: float = 60.0) -> None:
        """Wait until the service's /readyz answers 200."""

        async def ready() -> bool | None:
            if not process_alive(self.processes[service]):
                log = (self.logs / f"{service}.log").read_text()[-3000:]
                raise AssertionError(f"{service} exited:\n{log}")
            try:
                async with httpx.AsyncClient(base_url=self.url(service), timeout=3.0) as client:
                    return (await client.get("/readyz")).status_code == 200 or None
            except httpx.HTTPError:
                return None

        await eventually(ready, within, f"{service} ready")


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
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(infra.mongo_uri)
    try:
        store = KeyStore(client[auth_db])
        await store.ensure_indexes()
        created = await store.create_key("acme", [Scope.ADMIN], "end-to-end")
    finally:
        await client.close()
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
    stack = Stack("acme", created.key, kafka_settings, envs, tmp_path, ports)
    try:
        for service in SERVICES:
            stack.start(service)
        for service in SERVICES:
            await stack.wait_ready(service)
        yield stack
    finally:
        for service in stack.processes:
            stop_process(stack.processes[service], timeout=15.0)
