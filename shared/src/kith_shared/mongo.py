"""MongoDB client factory on PyMongo's async API."""

from __future__ import annotations

from typing import Any

from pymongo import AsyncMongoClient

from kith_shared.settings import MongoSettings

Document = dict[str, Any]


def make_mongo_client(settings: MongoSettings, *, app_name: str) -> AsyncMongoClient[Document]:
    """Create a client; it connects lazily, so a missing server never stops a service starting."""
    options: dict[str, Any] = {}
    if settings.tls:
        options["tls"] = True
        if settings.tls_ca_file:
            options["tlsCAFile"] = settings.tls_ca_file
    return AsyncMongoClient(
        settings.uri.get_secret_value(),
        appname=app_name,
        tz_aware=True,
        serverSelectionTimeoutMS=settings.server_selection_timeout_ms,
        connectTimeoutMS=settings.server_selection_timeout_ms,
        **options,
    )


async def ping(client: AsyncMongoClient[Document]) -> None:
    """Raise if the server cannot be reached."""
    await client.admin.command("ping")
