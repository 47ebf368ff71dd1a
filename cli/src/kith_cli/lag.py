"""How far behind each service's consumer is, and how that moved since the last look.

A service's lag is the sum of ``kith_consumer_lag`` on its ``/metrics`` (every consumer exports it,
whatever its assignment: a group's or every partition by hand). A service that exports none yet (its
consumer still joining) falls back on its consumer group's committed offsets, when it has a group
that committed. The last answer is kept in ``.local/lag.json``, so that the next look can say how the
lag moved and how fast it falls.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from kith_shared.kafka import client_options
from kith_shared.reading import end_offsets
from kith_shared.settings import KafkaSettings
from kith_shared.topics import ACTIVITY, ENGAGEMENT, RAW, TopicSpec

#: The topics each service's consumer reads, and the consumer group it may use.
CONSUMERS: dict[str, tuple[str, tuple[TopicSpec, ...]]] = {
    "ingest": ("ingest", (RAW,)),
    "scoring": ("scoring", (ACTIVITY,)),
    "recommend": ("recommend", (ACTIVITY, ENGAGEMENT)),
}


@dataclass(frozen=True)
class Lag:
    """One service's consumer lag now, and how it moved since the last look (if there was one)."""

    service: str
    records: int | None
    """Records waiting; None when the service reports no lag yet."""
    source: str
    change: int | None = None
    seconds: float | None = None

    @property
    def rate(self) -> float | None:
        """Return how many records per second the lag fell since the last look (negative: it grew)."""
        if self.change is None or not self.seconds:
            return None
        return -self.change / self.seconds

    def describe(self) -> str:
        """Return the lag as a person reads it: 12,345 (-2,000 in 10 s, 200/s)."""
        if self.records is None:
            return "not reported yet"
        text = f"{self.records:,}"
        if self.change is not None and self.seconds:
            text += f" ({self.change:+,} in {self.seconds:.0f} s"
            rate = self.rate
            text += f", {rate:,.0f}/s)" if rate and rate > 0 else ")"
        return text


def metrics_lag(text: str, service: str) -> int | None:
    """Return the sum of ``kith_consumer_lag`` of ``service`` in a Prometheus text page, None if absent."""
    values = [
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("kith_consumer_lag{") and f'service="{service}"' in line
    ]
    return int(sum(values)) if values else None


async def _from_metrics(url: str, service: str) -> int | None:
    try:
        async with httpx.AsyncClient(timeout=3.0) as client:
            answer = await client.get(f"{url}/metrics")
    except httpx.HTTPError:
        return None
    return metrics_lag(answer.text, service) if answer.status_code == 200 else None


async def _from_group(kafka: KafkaSettings, group: str, specs: tuple[TopicSpec, ...]) -> int | None:
    """Return what the group committed behind the partitions' ends; None when it never committed."""
    consumer = AIOKafkaConsumer(**client_options(kafka), group_id=kafka.group(group), enable_auto_commit=False)
    try:
        await consumer.start()
        partitions = [TopicPartition(kafka.topic(spec), p) for spec in specs
                      for p in sorted(consumer.partitions_for_topic(kafka.topic(spec)) or ())]  # fmt: skip
        committed = {tp: await consumer.committed(tp) for tp in partitions}
        if not partitions or all(offset is None for offset in committed.values()):
            return None
        consumer.assign(partitions)
        ends = await end_offsets(consumer, partitions, within=5.0)
        return sum(max(0, ends[tp] - (committed[tp] or 0)) for tp in partitions)
    except (KafkaError, OSError, TimeoutError):  # lag is a hint: a broker that does not answer leaves it unknown
        return None
    finally:
        await consumer.stop()


async def service_lags(urls: dict[str, str], kafka: KafkaSettings | None) -> list[Lag]:
    """Return the lag of each service given (name -> address), from its metrics or its group."""
    lags = []
    for service, url in urls.items():
        group, specs = CONSUMERS[service]
        records = await _from_metrics(url, service)
        source = "metrics"
        if records is None and kafka is not None:
            records = await _from_group(kafka, group, specs)
            source = "group"
        lags.append(Lag(service, records, source if records is not None else "-"))
    return lags


def with_change(lags: list[Lag], memory: Path) -> list[Lag]:
    """Return the lags with their change since the last call (kept in ``memory``), and remember these."""
    now = time.time()
    try:
        last = json.loads(memory.read_text())
    except (OSError, ValueError):
        last = {}
    seen_at = last.get("at")
    before = last.get("lags", {})
    moved = []
    for lag in lags:
        previous = before.get(lag.service)
        if lag.records is not None and previous is not None and seen_at is not None:
            lag = Lag(lag.service, lag.records, lag.source, lag.records - int(previous), now - float(seen_at))
        moved.append(lag)
    memory.parent.mkdir(parents=True, exist_ok=True)
    memory.write_text(json.dumps({"at": now, "lags": {lag.service: lag.records for lag in lags}}))
    return moved


def as_json(lags: list[Lag]) -> list[dict[str, object]]:
    """Return the lags as JSON-ready dictionaries."""
    return [asdict(lag) | {"records_per_second": lag.rate} for lag in lags]
