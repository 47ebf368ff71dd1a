"""Scoring's settings: env prefix ``SCORING_``, nested Kafka and MongoDB settings with ``__``."""

from __future__ import annotations

import os
from typing import Final, Self

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from kith_scoring.domain.parameters import EngagementParameters
from kith_shared.settings import MongoSettings, ServiceSettings

#: Variables that became nested ones: refused with their new name rather than silently ignored.
RENAMED: Final = {
    "SCORING_RECENT_EVENTS": "SCORING_ENGAGEMENT__RECENT_EVENTS",
    "SCORING_QUIET_DAYS": "SCORING_ENGAGEMENT__QUIET_DAYS",
}


class ScoringSettings(ServiceSettings):
    """How the scoring service runs: batching, explanations, slipping away and erasure."""

    model_config = SettingsConfigDict(env_prefix="SCORING_", env_nested_delimiter="__", extra="ignore")

    port: int = 8002
    mongo: MongoSettings = Field(default_factory=lambda: MongoSettings(database="kith_scoring"))
    consume: bool = Field(default=True, description="Run the consumer of the activity topic in this process.")
    consumer_group: str = Field(default="scoring", description="Consumer group on the activity topic (prefixed).")
    session_timeout_ms: int = Field(
        default=10_000,
        ge=3_000,
        description="How long the group waits for a silent consumer before taking its partitions.",
    )
    batch_max_records: int = Field(
        default=60_000,
        ge=1,
        le=100_000,
        description="Most records gathered in one batch from a backlog (about 3.5 KB of memory per record). It is "
        "folded in memory and applied in chunks of whole partitions: the more records, the fewer writes per event.",
    )
    batch_max_bytes: int = Field(
        default=128 * 1024 * 1024,
        ge=64 * 1024,
        description="Most bytes of records gathered in one batch (a backlog of large events stops gathering earlier).",
    )
    fetch_max_bytes: int = Field(
        default=64 * 1024 * 1024,
        ge=64 * 1024,
        description="Most bytes one fetch from the broker returns (a quarter of it per partition).",
    )
    batch_timeout_ms: int = Field(default=200, ge=1, description="How long a poll waits for records.")
    gather_seconds: float = Field(
        default=3.0, gt=0, description="How long a backlog keeps being gathered into one batch."
    )
    chunk_max_records: int = Field(
        default=30_000, ge=1, le=100_000, description="Most records applied in one transaction."
    )
    chunk_first_records: int = Field(
        default=5_000, ge=1, description="Most records of the first transaction, before the database's pace is known."
    )
    chunk_seconds: float = Field(
        default=5.0,
        gt=0,
        description="How long one transaction should take: chunks shrink on a slow database and grow on a fast one "
        "(one transaction per chunk, then its offsets are committed, so lag falls chunk by chunk).",
    )
    batch_max_seconds: float = Field(
        default=60.0,
        gt=0,
        description="Work per poll: after this the rest of a batch is read again, so a batch never outlives the "
        "poll interval.",
    )
    max_poll_interval_ms: int = Field(
        default=300_000,
        ge=5_000,
        description="How long the group waits between polls before it takes the consumer's partitions away.",
    )
    record_tries: int = Field(
        default=3, ge=1, description="Tries of a record whose effects fail before it is dead-lettered."
    )
    stuck_seconds: float = Field(
        default=120.0,
        gt=0,
        description="Readiness fails when the consumer made no progress for this long with records waiting.",
    )
    engagement: EngagementParameters = Field(default_factory=EngagementParameters)
    slipping_sweep_seconds: float = Field(
        default=30.0, ge=0, description="How often slipping-away members are looked for (0: never)."
    )
    metrics_cache_seconds: float = Field(
        default=5.0, ge=0, description="How long community metrics asked for 'now' may be served from memory (0: off)."
    )
    insights_cache_seconds: float = Field(
        default=30.0,
        ge=0,
        description="How long a tenant's documents read for figures over time (overview, community list, series, "
        "cohorts) are reused (0: off).",
    )
    insights_stale_seconds: float = Field(
        default=300.0,
        ge=0,
        description="How much longer such figures may still be served at once while they are computed again in "
        "the background (0: a request after insights_cache_seconds waits for the new figures).",
    )
    store_retry_max_seconds: float = Field(default=5.0, gt=0, description="Longest pause between database retries.")
    erasure_salt: SecretStr = Field(
        default=SecretStr("kith-scoring-erasure"),
        description="Key of the one-way stand-in id that an erased member's community figures are kept under.",
    )

    @model_validator(mode="after")
    def _batches_fit_the_poll_interval(self) -> Self:
        if self.batch_max_seconds * 1000 >= self.max_poll_interval_ms:
            raise ValueError("batch_max_seconds must stay under max_poll_interval_ms, or the group drops the consumer")
        return self

    @model_validator(mode="after")
    def _no_renamed_variables(self) -> Self:
        present = {name.upper() for name in os.environ}
        renamed = [f"{old} is now {new}" for old, new in RENAMED.items() if old in present]
        if renamed:
            raise ValueError("renamed settings: " + "; ".join(renamed))
        return self
