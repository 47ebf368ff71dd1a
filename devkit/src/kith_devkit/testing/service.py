"""A service app running in-process with its lifespan, with API keys and HTTP clients bound to it."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from typing import Generic, Protocol, TypeVar

import httpx
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from kith_shared.auth import KeyStore, Scope
from kith_shared.events import Event
from kith_shared.kafka import EventProducer
from kith_shared.settings import ServiceSettings
from kith_shared.topics import ACTIVITY, TopicSpec

S = TypeVar("S", bound=ServiceSettings)


class RunningService(Generic[S]):
    """A started app: its settings, key store, an unauthenticated ``client``, and a key per tenant.

    ``client`` sends what a test gives it (``headers=running.auth()`` to authenticate);
    ``client_for(tenant)`` is a client that always carries that tenant's key.
    """

    def __init__(
        self, app: FastAPI, settings: S, transport: httpx.AsyncBaseTransport, base_url: str, stack: AsyncExitStack
    ) -> None:
        self.app = app
        self.settings = settings
        self.keys: KeyStore = app.state.keys
        self._transport = transport
        self._base_url = base_url
        self._stack = stack
        self.client = self._new_client({})
        self._tenant_keys: dict[str, str] = {}
        self._clients: dict[str, httpx.AsyncClient] = {}
        self._producer: EventProducer | None = None

    def _new_client(self, headers: dict[str, str]) -> httpx.AsyncClient:
        client = httpx.AsyncClient(transport=self._transport, base_url=self._base_url, headers=headers, timeout=30)
        self._stack.push_async_callback(client.aclose)
        return client

    @property
    def key(self) -> str:
        """Return the first tenant's key."""
        return next(iter(self._tenant_keys.values()))

    def auth(self, key: str | None = None) -> dict[str, str]:
        """Return the headers authenticating with ``key`` (the first tenant's key by default)."""
        return {"Authorization": f"Bearer {key or self.key}"}

    def client_for(self, tenant: str | None = None) -> httpx.AsyncClient:
        """Return a client carrying ``tenant``'s key (the first tenant's by default)."""
        return self._clients[tenant or next(iter(self._tenant_keys))]

    async def add_key(self, tenant: str, scopes: Sequence[Scope], name: str = "test") -> str:
        """Create a key of ``tenant`` with ``scopes`` and a client carrying it; return the key."""
        created = await self.keys.create_key(tenant, list(scopes), name)
        self._tenant_keys[tenant] = created.key
        self._clients[tenant] = self._new_client(self.auth(created.key))
        return created.key

    async def producer(self) -> EventProducer:
        """Return a connected producer on the service's broker (started on first use, stopped with the service)."""
        if self._producer is None:
            producer = EventProducer(self.settings.kafka)
            await producer.start()
            self._stack.push_async_callback(producer.stop)
            await producer.wait_connected(30)
            self._producer = producer
        return self._producer

    async def publish(self, events: list[Event], spec: TopicSpec = ACTIVITY) -> None:
        """Publish events on a topic (the activity topic by default), as ingest does after normalizing them."""
        await (await self.producer()).publish(spec, events)


@contextlib.asynccontextmanager
async def run_service(
    create_app: Callable[[S], FastAPI], settings: S, keys: Mapping[str, Sequence[Scope]]
) -> AsyncIterator[RunningService[S]]:
    """Start ``create_app(settings)`` with its lifespan and a key per tenant of ``keys``; stop it after the block."""
    app = create_app(settings)
    async with AsyncExitStack() as stack:
        manager = await stack.enter_async_context(LifespanManager(app, startup_timeout=30, shutdown_timeout=60))
        running = RunningService(app, settings, httpx.ASGITransport(manager.app), "http://service", stack)
        for tenant, scopes in keys.items():
            await running.add_key(tenant, scopes)
        # The service's producer connects in the background; a test wants it connected before it sends.
        with contextlib.suppress(Exception):
            await app.state.platform.producer.wait_connected(15)
        yield running


class RunService(Protocol):
    """The type of :func:`run_service`, as the ``running_service`` fixture hands it out."""

    def __call__(
        self, create_app: Callable[[S], FastAPI], settings: S, keys: Mapping[str, Sequence[Scope]]
    ) -> AbstractAsyncContextManager[RunningService[S]]: ...
