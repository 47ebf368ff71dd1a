"""What every service holds for its lifetime: database client, key store, producer, readiness."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any

from fastapi import APIRouter, FastAPI
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError

from kith_shared import observability, openapi, tracing
from kith_shared.auth import KeyStore, TokenBucket, admin_router
from kith_shared.http import BodyLimitMiddleware
from kith_shared.kafka import EventProducer
from kith_shared.mongo import Document, make_mongo_client, ping
from kith_shared.operations import operations_router
from kith_shared.revocations import Revocations
from kith_shared.settings import ServiceSettings

log = logging.getLogger(__name__)

#: An app's lifespan: entered at start, left at stop.
Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


class Platform:
    """Connections a service opens at start and closes at stop, in reverse order."""

    def __init__(self, settings: ServiceSettings, service: str) -> None:
        self.settings = settings
        self.service = service
        tracing.configure(service)  # from OTEL_*; before the database client, which it instruments
        self.mongo = make_mongo_client(settings.mongo, app_name=service)
        self.db: AsyncDatabase[Document] = self.mongo[settings.mongo.database]
        self.keys = KeyStore(self.mongo[settings.mongo.auth_database])
        self.producer = EventProducer(settings.kafka)
        self.revocations = Revocations(settings.kafka, service, self.keys, self.producer)
        self.keys.on_revoke = self.revocations.announce
        self.readiness = observability.Readiness()
        self.readiness.add("kafka", self.producer.check)
        self.readiness.add("mongodb", self.ping_database)

    async def ping_database(self) -> None:
        """Raise when the database is unreachable, with a readable reason."""
        try:
            await ping(self.mongo)
        except PyMongoError as exc:
            raise ConnectionError(f"database unreachable: {type(exc).__name__}") from exc

    async def start(self) -> None:
        """Start the producer and the revocation listener (in the background); prepare the key store."""
        await self.producer.start()
        await self.revocations.start()
        try:
            await self.keys.ensure_indexes()
        except PyMongoError as exc:
            log.warning("key store indexes not ensured yet; database unreachable", extra={"error": str(exc)})

    async def stop(self) -> None:
        """Stop the revocation listener, close the producer, then the database client."""
        with contextlib.suppress(Exception):
            await self.revocations.stop()
        with contextlib.suppress(Exception):
            await self.producer.stop()
        await self.mongo.close()
        tracing.shutdown()

    def app(
        self,
        router: APIRouter,
        lifespan: Lifespan,
        *,
        title: str,
        version: str,
        summary: str | None = None,
        description: str = "",
        schemas: Mapping[str, dict[str, Any]] | None = None,
        **state: object,
    ) -> FastAPI:
        """Return the service's app with the platform installed, settings and ``state`` on its state, ``router`` in.

        ``schemas`` are extra OpenAPI components the routes refer to (``#/components/schemas/<name>``).
        """
        app = FastAPI(title=title, version=version, summary=summary, description=description, lifespan=lifespan)
        self.install(app, schemas)
        tracing.instrument_app(app)
        app.state.settings = self.settings
        for name, value in state.items():
            setattr(app.state, name, value)
        app.include_router(router)
        return app

    def install(self, app: FastAPI, schemas: Mapping[str, dict[str, Any]] | None = None) -> None:
        """Attach the platform to an app: state, health, metrics, errors, key admin and operations routes, OpenAPI.

        The document is built on first request, from every route included by then (see
        :mod:`kith_shared.openapi`); ``schemas`` are extra components the routes refer to.
        """
        app.state.platform = self
        app.state.keys = self.keys
        app.state.rate_limiter = TokenBucket(self.settings.rate_limit_per_second, self.settings.rate_limit_burst)
        # Added before the request context, so it runs inside it: a 413 still gets a request id and a metric.
        app.add_middleware(BodyLimitMiddleware, max_body_bytes=self.settings.max_body_bytes)
        observability.install(app, service=self.service, readiness=self.readiness)
        app.include_router(admin_router())
        kafka = self.settings.kafka
        group = getattr(self.settings, "consumer_group", None)
        app.include_router(operations_router(self.service, kafka.group(group) if group else None, kafka.topic_prefix))
        openapi.install(app, schemas)
