"""Kith's components (the services, the console) run as processes by a test, with an admin key of one tenant.

:class:`ProcessStack` holds what ``tests/conftest.py``'s ``stack`` and ``tests/console_stack.py`` share:
where each component listens and logs, starting one, waiting until it is ready, and a client of it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import httpx
from pymongo import AsyncMongoClient

from kith_cli.stack import HOST, spawn_service
from kith_devkit.servers import process_alive
from kith_devkit.testing import eventually
from kith_shared.auth import KeyStore, Scope
from kith_shared.settings import KafkaSettings


async def create_admin_key(mongo_uri: str, auth_database: str, tenant: str, name: str) -> str:
    """Create an admin key of ``tenant`` in the key store of ``auth_database``; return the key."""
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(mongo_uri)
    try:
        store = KeyStore(client[auth_database])
        await store.ensure_indexes()
        return (await store.create_key(tenant, [Scope.ADMIN], name)).key
    finally:
        await client.close()


@dataclass
class ProcessStack:
    """Components run as processes, each on its port of ``ports`` and logging to ``<logs>/<component>.log``."""

    tenant: str
    key: str
    """The tenant's admin key."""
    kafka: KafkaSettings
    logs: Path
    ports: dict[str, int]
    envs: dict[str, dict[str, str]]
    processes: dict[str, int] = field(default_factory=dict)
    """The process id of each component started."""

    def url(self, component: str) -> str:
        """Return a component's base URL."""
        return f"http://{HOST}:{self.ports[component]}"

    def client(self, component: str) -> httpx.AsyncClient:
        """Return an HTTP client of a component, authenticated with the tenant's key."""
        return httpx.AsyncClient(
            base_url=self.url(component), headers={"Authorization": f"Bearer {self.key}"}, timeout=30.0
        )

    def start(self, component: str) -> None:
        """Start a component's process."""
        process = spawn_service(component, self.envs[component], self.logs / f"{component}.log")
        self.processes[component] = process.pid

    async def wait_ready(self, component: str, within: float = 60.0) -> None:
        """Wait until a component answers /readyz with 200; fail with the end of its log if it exited."""

        async def ready() -> bool | None:
            if not process_alive(self.processes[component]):
                log = (self.logs / f"{component}.log").read_text()[-3000:]
                raise AssertionError(f"{component} exited:\n{log}")
            try:
                async with httpx.AsyncClient(base_url=self.url(component), timeout=3.0) as client:
                    return (await client.get("/readyz")).status_code == 200 or None
            except httpx.HTTPError:
                return None

        await eventually(ready, within, f"{component} ready")
