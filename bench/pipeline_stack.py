"""The pipeline benchmark's stack: embedded broker and database, the services as processes, their lag.

A service's lag is what its consumer group committed behind the end of each partition when it has a
group (scoring; recommend before it read without one), else the sum of ``kith_consumer_lag`` on its
``/metrics`` (every partition must be reported). Ends come from fetch responses (see
:mod:`kith_shared.reading`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from pydantic import SecretStr

from bench.embedded import api_key
from kith_cli.stack import service_env, spawn_service
from kith_devkit.servers import ServerProcess, free_port, start_broker, start_database, stop_process, wait_for_kafka
from kith_shared.auth import Scope
from kith_shared.kafka import client_options, ensure_topics, make_consumer
from kith_shared.reading import end_offsets
from kith_shared.settings import KafkaSettings, MongoSettings
from kith_shared.topics import ACTIVITY, ENGAGEMENT, TopicSpec

#: What each measured service reads, and the consumer group it had before reading without one.
READS: dict[str, tuple[tuple[TopicSpec, ...], str]] = {
    "scoring": ((ACTIVITY,), "scoring"),
    "recommend": ((ACTIVITY, ENGAGEMENT), "recommend"),
}


@dataclass
class CaughtUp:
    """When each service reached lag 0 for good (seconds after the start), and the lag samples on the way."""

    seconds: dict[str, float | None]
    samples: list[dict[str, Any]] = field(default_factory=list)


class Stack:
    """Broker, database and services on free ports, stopped at the end."""

    def __init__(
        self, workdir: Path, services: Iterable[str], tenant: str = "demo", env: dict[str, str] | None = None
    ) -> None:
        self.workdir = workdir
        self.env = dict(env or {})
        self.wanted = tuple(services)
        self.tenant = tenant
        self.servers: list[ServerProcess] = []
        self.processes: dict[str, int] = {}
        self.ports: dict[str, int] = {}
        self.kafka = KafkaSettings(idempotence=False)
        self.mongo_uri = ""
        self._ends: AIOKafkaConsumer | None = None
        self._groups: dict[str, AIOKafkaConsumer] = {}
        self.samples: list[dict[str, Any]] = []

    async def __aenter__(self) -> Stack:
        self.workdir.mkdir(parents=True, exist_ok=True)
        broker = start_broker(free_port(), self.workdir / "broker.log")
        self.servers.append(broker)
        database = start_database(free_port(), self.workdir / "db", self.workdir / "db.log")
        self.servers.append(database)
        await wait_for_kafka(broker.address)
        self.kafka = KafkaSettings(bootstrap_servers=broker.address, idempotence=False)
        self.mongo_uri = f"mongodb://{database.address}"
        await ensure_topics(self.kafka)
        if self.wanted:
            await self.start_services(self.wanted)
        return self

    async def __aexit__(self, *_: type[BaseException] | BaseException | TracebackType | None) -> None:
        for consumer in [*self._groups.values(), *([self._ends] if self._ends else [])]:
            with contextlib.suppress(Exception):
                await consumer.stop()
        for pid in reversed(list(self.processes.values())):
            stop_process(pid, timeout=20.0)
        for server in reversed(self.servers):
            server.stop()

    @property
    def ingest_url(self) -> str:
        """Return ingest's address."""
        return self.url("ingest")

    def url(self, service: str) -> str:
        """Return a service's address."""
        return f"http://127.0.0.1:{self.ports[service]}"

    async def start_services(self, names: Iterable[str]) -> None:
        """Start services as processes (as ``make run`` does) and wait until each answers /healthz."""
        for name in names:
            self.spawn(name, free_port())
        async with httpx.AsyncClient(timeout=5) as client:
            for name in names:
                deadline = time.monotonic() + 120
                while True:
                    with contextlib.suppress(httpx.HTTPError):
                        if (await client.get(f"{self.url(name)}/healthz")).status_code == 200:
                            break
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"{name} did not start; see {self.workdir / (name + '.log')}")
                    await asyncio.sleep(0.2)

    def spawn(self, name: str, port: int) -> None:
        """Start a service as a process on ``port`` (as ``make run`` does, logging warnings only, no rate limit)."""
        env = service_env(name, port=port, bootstrap=self.kafka.bootstrap_servers, mongo_uri=self.mongo_uri)
        prefix = name.upper()
        env.update({f"{prefix}_LOG_LEVEL": "WARNING", f"{prefix}_RATE_LIMIT_PER_SECOND": "0", **self.env})
        process = spawn_service(name, env, self.workdir / f"{name}.log")
        self.processes[name], self.ports[name] = process.pid, port

    async def key(self, name: str = "pipeline bench") -> str:
        """Create the tenant's key for writing events and reading metrics and suggestions."""
        scopes = [Scope.EVENTS_WRITE, Scope.METRICS_READ, Scope.RECOMMENDATIONS_READ]
        return await api_key(MongoSettings(uri=SecretStr(self.mongo_uri)), self.tenant, scopes, name)

    async def _partition_ends(self, specs: tuple[TopicSpec, ...]) -> dict[TopicPartition, int]:
        if self._ends is None:
            self._ends = make_consumer(self.kafka, group=None, max_poll_records=1)
            await self._ends.start()
            partitions = [TopicPartition(self.kafka.topic(spec), p) for spec in (ACTIVITY, ENGAGEMENT)
                          for p in range(spec.partitions)]  # fmt: skip
            self._ends.assign(partitions)
        names = {self.kafka.topic(spec) for spec in specs}
        partitions = [tp for tp in self._ends.assignment() if tp.topic in names]
        return await end_offsets(self._ends, partitions)

    async def _group_lag(self, group: str, ends: dict[TopicPartition, int]) -> int | None:
        consumer = self._groups.get(group)
        if consumer is None:
            consumer = AIOKafkaConsumer(**client_options(self.kafka), group_id=group, enable_auto_commit=False)
            await consumer.start()
            self._groups[group] = consumer
        committed = {tp: await consumer.committed(tp) for tp in ends}
        if all(offset is None for offset in committed.values()) and any(ends.values()):
            return None
        return sum(max(0, end - (committed[tp] or 0)) for tp, end in ends.items())

    async def _metrics_lag(self, service: str, partitions: int) -> int | None:
        try:
            async with httpx.AsyncClient(timeout=5) as client:
                text = (await client.get(f"{self.url(service)}/metrics")).text
        except httpx.HTTPError:
            return None
        values = [float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                  if line.startswith("kith_consumer_lag{") and f'service="{service}"' in line]  # fmt: skip
        return int(sum(values)) if len(values) >= partitions else None

    async def lag(self, service: str) -> int | None:
        """Return a service's lag now: None while it cannot be told (not reported yet)."""
        specs, group = READS[service]
        ends = await self._partition_ends(specs)
        from_group = await self._group_lag(group, ends)
        if from_group is not None:
            return from_group
        return await self._metrics_lag(service, sum(spec.partitions for spec in specs))

    async def lags(self, services: Iterable[str]) -> dict[str, int | None]:
        """Return each service's lag now."""
        return {name: await self.lag(name) for name in services}

    def resident_mb(self) -> dict[str, float]:
        """Return each service process's resident memory now, in MB."""
        sizes: dict[str, float] = {}
        for name, pid in self.processes.items():
            with contextlib.suppress(OSError, ValueError, IndexError):
                line = next(x for x in Path(f"/proc/{pid}/status").read_text().splitlines() if x.startswith("VmRSS"))
                sizes[name] = round(int(line.split()[1]) / 1024, 1)
        return sizes

    async def sample_lags(self, services: tuple[str, ...], every: float) -> list[dict[str, Any]]:
        """Append the lags (and the services' memory) to :attr:`samples` every ``every`` seconds until cancelled."""
        started = time.monotonic()
        while True:
            lags = await self.lags(services)
            self.samples.append({"t": round(time.monotonic() - started, 1), **lags, "rss_mb": self.resident_mb()})
            await asyncio.sleep(every)


async def wait_caught_up(stack: Stack, services: tuple[str, ...], started: float, within: float) -> CaughtUp:
    """Sample lags every second until every service is at lag 0 together; return when each got there for good."""
    samples: list[dict[str, Any]] = []
    deadline = time.monotonic() + within
    while True:
        lags = await stack.lags(services)
        samples.append({"t": round(time.monotonic() - started, 1), **lags, "rss_mb": stack.resident_mb()})
        if all(lags[name] == 0 for name in services) or time.monotonic() > deadline:
            break
        await asyncio.sleep(1.0)
    seconds: dict[str, float | None] = {}
    for name in services:
        settled = None
        for sample in reversed(samples):
            if sample[name] != 0:
                break
            settled = sample["t"]
        seconds[name] = settled
    seconds["both"] = samples[-1]["t"] if all(samples[-1][name] == 0 for name in services) else None
    return CaughtUp(seconds, samples[:: max(1, len(samples) // 200)])
