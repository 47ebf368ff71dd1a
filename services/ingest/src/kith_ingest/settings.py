"""Ingest's settings: env prefix ``INGEST_``, nested Kafka and MongoDB settings with ``__``."""

from __future__ import annotations

from datetime import UTC, timedelta
from typing import Literal, Self

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from kith_ingest.domain import NormalizeConfig
from kith_ingest.domain.normalize import EARLIEST_EVENT_TIME
from kith_shared.events.instants import Instant
from kith_shared.events.types import PRODUCER_TYPES
from kith_shared.settings import MongoSettings, ServiceSettings

#: Type names common producers use, and the Kith type each one means.
DEFAULT_TYPE_ALIASES: dict[str, str] = {
    "like": "reaction.added",
    "unlike": "reaction.removed",
    "reply": "comment.created",
    "comment": "comment.created",
    "post": "post.created",
    "join": "member.joined",
    "leave": "member.left",
    "view": "post.viewed",
    "follow": "member.followed",
    "unfollow": "member.unfollowed",
}


class IngestSettings(ServiceSettings):
    """How the ingest service runs: limits, normalization, deduplication and the raw-topic consumer."""

    model_config = SettingsConfigDict(env_prefix="INGEST_", env_nested_delimiter="__", extra="ignore")

    port: int = 8001
    mongo: MongoSettings = Field(default_factory=lambda: MongoSettings(database="kith_ingest"))
    max_body_bytes: int = Field(
        default=4 * 1024 * 1024,
        ge=1,
        description="Largest request body read, in bytes; a larger one is refused (413) before authentication.",
    )
    max_batch_events: int = Field(default=1_000, ge=1, le=10_000, description="Most events in one batch request.")
    max_text_chars: int = Field(
        default=10_000, ge=1, description="Longest post or comment text after cleaning; longer is refused."
    )
    keep_original_text: bool = Field(default=False, description="Keep the text as received in text_features.original.")
    unicode_form: Literal["NFC", "NFKC"] = Field(
        default="NFKC", description="Unicode normalization of texts (NFKC also folds look-alike compatibility forms)."
    )
    future_tolerance_seconds: float = Field(
        default=300.0, ge=0, description="How far past the receive time an event time may lie (clock skew)."
    )
    normalize_workers: int = Field(
        default=2,
        ge=0,
        le=64,
        description="Workers that clean requests with much text off the event loop (0: on the loop).",
    )
    normalize_pool: Literal["thread", "process"] = Field(
        default="process",
        description="Whether those workers are processes (the event loop keeps answering) or threads (less memory).",
    )
    earliest_event_time: Instant = Field(
        default=EARLIEST_EVENT_TIME,
        description="Event times before this instant are refused (field error on time); raise it to bound backfills.",
    )
    dedupe_window_seconds: int = Field(
        default=7 * 24 * 3600, ge=60, description="How long a (source, id) pair is remembered to answer duplicates."
    )
    claim_timeout_seconds: float = Field(
        default=30.0, gt=0, description="After this, an unconfirmed dedupe claim (a crashed publish) may be retaken."
    )
    type_aliases: dict[str, str] = Field(
        default_factory=lambda: dict(DEFAULT_TYPE_ALIASES),
        description='Producer type names mapped to Kith types, as JSON in env: {"like": "reaction.added"}.',
    )
    consume_raw: bool = Field(default=True, description="Run the consumer of the raw topic in this process.")
    consumer_group: str = Field(default="ingest", description="Consumer group on the raw topic (prefixed).")
    raw_batch_max_records: int = Field(
        default=500, ge=1, le=10_000, description="Most raw records normalized and published in one batch."
    )
    record_tries: int = Field(
        default=3, ge=1, description="Tries of a raw record whose publishing fails before it is dead-lettered."
    )
    stuck_seconds: float = Field(
        default=120.0,
        gt=0,
        description="Readiness fails when the raw-topic consumer made no progress for this long with records waiting.",
    )
    max_replays: int = Field(default=3, ge=0, description="Replays of a dead letter before it is left alone.")
    erasure_refresh_seconds: float = Field(
        default=5.0,
        gt=0,
        description="How often erased members' tombstones are read again (an erasure taken by another replica "
        "is refused here within this time).",
    )
    retry_after_seconds: int = Field(default=5, ge=1, description="Retry-After sent with 503 answers.")

    @model_validator(mode="after")
    def _aliases_name_known_types(self) -> Self:
        unknown = {alias: target for alias, target in self.type_aliases.items() if target not in PRODUCER_TYPES}
        if unknown:
            raise ValueError(f"type_aliases map to unknown types: {unknown}; known: {sorted(PRODUCER_TYPES)}")
        return self

    def normalize_config(self) -> NormalizeConfig:
        """Return the normalization rules these settings describe."""
        return NormalizeConfig(
            max_text_chars=self.max_text_chars,
            keep_original_text=self.keep_original_text,
            unicode_form=self.unicode_form,
            future_tolerance=timedelta(seconds=self.future_tolerance_seconds),
            earliest_time=self.earliest_event_time.astimezone(UTC),
            type_aliases=dict(self.type_aliases),
        )
