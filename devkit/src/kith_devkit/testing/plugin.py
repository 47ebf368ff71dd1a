"""Pytest fixtures: real broker and database for the session, fresh names for every test, a running service.

Set ``KITH_TEST_KAFKA_BOOTSTRAP`` and/or ``KITH_TEST_MONGO_URI`` to run the same suite against a
real Kafka and a real MongoDB instead of the embedded servers.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pytest
from pydantic import SecretStr

from kith_devkit.servers import ServerProcess, free_port, start_broker, start_database, wait_for_kafka
from kith_devkit.testing.service import RunService, S, run_service
from kith_shared.kafka import ensure_topics
from kith_shared.settings import KafkaSettings, MongoSettings


class MakeSettings(Protocol):
    """The type of the ``make_settings`` fixture's factory."""

    def __call__(self, cls: type[S], **overrides: Any) -> S: ...


@dataclass(frozen=True)
class Infra:
    """Where the session's broker and database are."""

    bootstrap: str
    mongo_uri: str
    embedded_broker: bool


@pytest.fixture(scope="session")
def infra(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Infra]:
    """Start (or find, from the environment) the broker and the database for the whole session."""
    started: list[ServerProcess] = []
    logs = tmp_path_factory.mktemp("servers")
    bootstrap = os.environ.get("KITH_TEST_KAFKA_BOOTSTRAP")
    mongo_uri = os.environ.get("KITH_TEST_MONGO_URI")
    try:
        if not bootstrap:
            broker = start_broker(free_port(), logs / "broker.log")
            started.append(broker)
            bootstrap = broker.address
            asyncio.run(wait_for_kafka(bootstrap))
        if not mongo_uri:
            database = start_database(free_port(), logs / "db", logs / "db.log")
            started.append(database)
            mongo_uri = f"mongodb://{database.address}"
        yield Infra(
            bootstrap=bootstrap, mongo_uri=mongo_uri, embedded_broker="KITH_TEST_KAFKA_BOOTSTRAP" not in os.environ
        )
    finally:
        for server in reversed(started):
            server.stop()


def unique(prefix: str) -> str:
    """Return a fresh name for a test's own resources."""
    return f"{prefix}{uuid.uuid4().hex[:10]}"


@pytest.fixture
def kafka_settings(infra: Infra) -> KafkaSettings:
    """Kafka settings whose topics and groups belong to this test alone."""
    return KafkaSettings(
        bootstrap_servers=infra.bootstrap,
        idempotence=not infra.embedded_broker,
        topic_prefix=unique("t") + ".",
        request_timeout_ms=5_000,
    )


@pytest.fixture
def mongo_settings(infra: Infra) -> MongoSettings:
    """MongoDB settings whose databases belong to this test alone."""
    return MongoSettings(uri=SecretStr(infra.mongo_uri), database=unique("db_"), auth_database=unique("auth_"))


@pytest.fixture
async def topics(kafka_settings: KafkaSettings) -> KafkaSettings:
    """Create the declared topics under this test's prefix; return the settings."""
    await ensure_topics(kafka_settings)
    return kafka_settings


@pytest.fixture
def make_settings(topics: KafkaSettings, mongo_settings: MongoSettings) -> MakeSettings:
    """Return ``make(SettingsClass, **overrides)``: a service's test settings on this test's topics and databases."""

    def make(cls: type[S], **overrides: Any) -> S:
        return cls(**{"environment": "test", "kafka": topics, "mongo": mongo_settings, **overrides})

    return make


@pytest.fixture
def own_servers() -> Iterator[list[ServerProcess]]:
    """Servers a test started itself, stopped (last first) at its teardown."""
    started: list[ServerProcess] = []
    yield started
    for server in reversed(started):
        server.stop()


@pytest.fixture
def make_broker(tmp_path: Path, own_servers: list[ServerProcess]) -> Callable[..., ServerProcess]:
    """Start a private broker (for tests that stop and restart one); stopped at teardown."""

    def factory(port: int | None = None) -> ServerProcess:
        own_servers.append(start_broker(port or free_port(), tmp_path / f"broker-{len(own_servers)}.log"))
        return own_servers[-1]

    return factory


@pytest.fixture
def make_database(tmp_path: Path, own_servers: list[ServerProcess]) -> Callable[..., ServerProcess]:
    """Start a private database server on a data directory of this test; stopped at teardown."""

    def factory(port: int | None = None, data_dir: Path | None = None) -> ServerProcess:
        log = tmp_path / f"db-{len(own_servers)}.log"
        own_servers.append(start_database(port or free_port(), data_dir or tmp_path / "db", log))
        return own_servers[-1]

    return factory


@pytest.fixture
def running_service() -> RunService:
    """Return ``run(create_app, settings, keys)``: the app running with its lifespan, as an async context manager.

    ``keys`` maps each tenant to the scopes of the key created for it; the block gets a
    :class:`~kith_devkit.testing.RunningService` with an HTTP client per tenant.
    """
    return run_service
