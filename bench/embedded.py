"""What benchmarks run on: the embedded broker and database, a service's environment, API keys.

:func:`embedded_servers` starts the embedded broker (tansu) and database (SecantusDB) on free ports
and stops them at the end; :func:`service_env` points a service run as a process at them;
:func:`api_key` creates a tenant's key in the key store every service reads; :data:`BULK_PRODUCER`
publishes a backlog through :func:`kith_devkit.testing.kafka.publish`.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from kith_devkit.environment import service_environment
from kith_devkit.servers import ServerProcess, free_port, start_broker, start_database, wait_for_kafka
from kith_shared.auth import KeyStore, Scope
from kith_shared.mongo import make_mongo_client
from kith_shared.settings import KafkaSettings, MongoSettings

#: A producer for a backlog: larger batches, lingering to fill them, and patience with a busy broker.
BULK_PRODUCER: dict[str, Any] = {"send_timeout": 120.0, "linger_ms": 20, "max_batch_size": 1_048_576}


@dataclass(frozen=True)
class Servers:
    """The embedded broker and database of one benchmark run."""

    broker: ServerProcess
    database: ServerProcess

    @property
    def mongo_uri(self) -> str:
        """Return the database's connection URI."""
        return f"mongodb://{self.database.address}"

    def kafka(self, **settings: Any) -> KafkaSettings:
        """Return settings for the broker (the embedded one has no idempotent producer)."""
        return KafkaSettings(bootstrap_servers=self.broker.address, idempotence=False, **settings)

    def mongo(self, database: str, **settings: Any) -> MongoSettings:
        """Return settings for ``database`` on the embedded database server."""
        return MongoSettings(uri=SecretStr(self.mongo_uri), database=database, **settings)


@asynccontextmanager
async def embedded_servers(workdir: Path) -> AsyncIterator[Servers]:
    """Start the embedded broker and database on free ports (logs and data in ``workdir``); stop them at the end."""
    broker = start_broker(free_port(), workdir / "broker.log")
    try:
        database = start_database(free_port(), workdir / "db", workdir / "db.log")
        try:
            await wait_for_kafka(broker.address)
            yield Servers(broker, database)
        finally:
            database.stop()
    finally:
        broker.stop()


def service_env(
    service: str, port: int, kafka: KafkaSettings, mongo: MongoSettings, *, inherit: bool = True, **settings: str
) -> dict[str, str]:
    """Return the environment that runs ``service`` as a process on ``port`` against a broker and a database.

    The service logs warnings only. ``settings`` are more of its settings by name (``rate_limit_per_second="0"``,
    ``detection__seed="1"``). Without ``inherit`` the environment holds only a plain ``PATH`` besides, so that
    no setting of the shell running the benchmark leaks into what it measures.
    """
    return service_environment(
        service,
        os.environ if inherit else {"PATH": "/usr/bin:/bin"},
        port=port,
        kafka=kafka,
        mongo_uri=mongo.uri.get_secret_value(),
        database=mongo.database,
        auth_database=mongo.auth_database,
        **{"log_level": "WARNING", **settings},
    )


async def api_key(mongo: MongoSettings, tenant: str, scopes: Sequence[Scope], name: str = "bench") -> str:
    """Create a key of ``tenant`` with ``scopes`` in the key store of ``mongo`` (its auth database); return it."""
    client = make_mongo_client(mongo, app_name="bench")
    try:
        keys = KeyStore(client[mongo.auth_database])
        await keys.ensure_indexes()
        return (await keys.create_key(tenant, list(scopes), name)).key
    finally:
        await client.close()
