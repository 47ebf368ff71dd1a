"""What a service configures of a consumer: its topics and group, batch and chunk bounds, time limits."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kith_shared.topics import TopicSpec


@dataclass(frozen=True, kw_only=True)
class ConsumerOptions:
    """How one consumer reads and applies; every service builds these from its own settings."""

    name: str
    """Readable name, in logs and readiness answers."""
    service: str
    """The ``service`` label of the metrics."""
    topics: tuple[TopicSpec, ...]
    """The topics read, as declared (the Kafka settings prefix their names)."""
    group: str | None
    """Consumer group (prefixed by the Kafka settings); None assigns every partition, with no group and no commits."""
    max_records: int = 500
    """Most records in one batch, and in one poll's answer."""
    max_bytes: int = 32 * 1024 * 1024
    """Most bytes (keys and values) gathered into one batch; one fetch asks for 64 MiB at most."""
    poll_ms: int = 200
    """How long a poll waits for records."""
    gather_seconds: float = 2.0
    """How long a backlog keeps being gathered into one batch."""
    chunk_records: int | None = None
    """Most records per apply call (default: ``max_records``); chunks are cut smaller to fit ``chunk_seconds``,
    but one partition's records are split only beyond this."""
    chunk_first: int | None = None
    """Most records of the first apply call, before the rate is known (default: ``chunk_records``)."""
    chunk_seconds: float | None = None
    """How long an apply call should take: chunks shrink when applying is slow (None: always ``chunk_records``)."""
    batch_seconds: float = 60.0
    """Work per poll: after this, the rest of the batch is read again at the next poll."""
    record_tries: int = 3
    """How many times a failing record is applied on its own before it is dead-lettered."""
    stuck_seconds: float = 120.0
    """How long records may wait with no progress before the readiness check calls the consumer stuck."""
    session_timeout_ms: int = 10_000
    """How long the group waits for a heartbeat before it gives this consumer's partitions to another
    (heartbeats go every quarter of it, one second apart at least)."""
    max_poll_interval_ms: int = 300_000
    """Longest time between polls before the group drops the consumer (``batch_seconds`` stays under it)."""
    lag_refresh_seconds: float = 5.0
    """How often the broker is asked where each partition ends, for the lag."""
    retry_most_seconds: float = 5.0
    """Longest pause between retries while a dependency is down."""
    ensure_topics: bool = True
    """Create the topics (and the dead-letter topic) when missing, before subscribing."""
    client: Mapping[str, Any] = field(default_factory=dict)
    """Further aiokafka consumer options (fetch sizes, for instance)."""

    def __post_init__(self) -> None:
        if self.batch_seconds * 1000 >= self.max_poll_interval_ms:
            raise ValueError("batch_seconds must stay under the poll interval, or the group drops the consumer")
        if self.max_records < 1 or (self.chunk_records is not None and self.chunk_records < 1):
            raise ValueError("batches and chunks hold at least one record")
