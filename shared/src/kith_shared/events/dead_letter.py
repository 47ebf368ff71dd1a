"""The record written to the dead-letter topic."""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from kith_shared.events.instants import Instant


class ConsumedRecord(Protocol):
    """What a dead letter keeps of a consumed Kafka record (an aiokafka ``ConsumerRecord`` has it)."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...
    @property
    def headers(self) -> Sequence[tuple[str, bytes]]: ...


class DeadLetter(BaseModel):
    """Something a consumer could not process, with everything needed to understand and replay it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    reason: str = Field(description="Why it could not be processed, readable by a person.")
    error: str = Field(description="The error class, for grouping.")
    field: str | None = Field(default=None, description="The offending field, when one is known.")
    stage: Literal["ingest", "scoring", "recommend"]
    source_topic: str
    partition: int
    offset: int
    key_b64: str | None = None
    value_b64: str = Field(description="The original record value, base64.")
    headers: list[tuple[str, str]] = Field(default_factory=list, description="Original headers, value base64.")
    tenant: str | None = None
    failed_at: Instant = Field(default_factory=lambda: datetime.now(UTC))
    replay_count: int = 0
    redacted: bool = Field(
        default=False, description="The original key, value and headers were removed: they named an erased member."
    )

    @classmethod
    def from_record(
        cls,
        record: ConsumedRecord,
        *,
        reason: str,
        error: str,
        stage: Literal["ingest", "scoring", "recommend"],
        field: str | None = None,
        tenant: str | None = None,
        replay_count: int = 0,
    ) -> DeadLetter:
        """Build a dead letter of a consumed record: where it was, its key, value and headers, and why."""
        return cls(
            reason=reason,
            error=error,
            field=field,
            stage=stage,
            source_topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            key_b64=base64.b64encode(record.key).decode() if record.key is not None else None,
            value_b64=base64.b64encode(record.value or b"").decode(),
            headers=[(name, base64.b64encode(raw or b"").decode()) for name, raw in record.headers or ()],
            tenant=tenant,
            replay_count=replay_count,
        )

    def original_key(self) -> bytes | None:
        """Return the original record key."""
        return base64.b64decode(self.key_b64) if self.key_b64 is not None else None

    def original_value(self) -> bytes:
        """Return the original record value."""
        return base64.b64decode(self.value_b64)

    def original_headers(self) -> list[tuple[str, bytes]]:
        """Return the original record headers."""
        return [(name, base64.b64decode(raw)) for name, raw in self.headers]

    def named_members(self) -> tuple[str | None, list[str]]:
        """Return the original event's tenant and the member ids it names (none when it cannot be read)."""
        headers = {name.lower(): raw.decode("utf-8", "replace") for name, raw in self.original_headers()}
        try:
            body = json.loads(self.original_value())
        except ValueError:
            return self.tenant, []
        if not isinstance(body, dict):
            return self.tenant, []
        binary = "ce_type" in headers
        data = body if binary else body.get("data")
        named = body.get("tenant") if not binary else headers.get("ce_tenant")
        tenant = self.tenant or (named.strip().lower() if isinstance(named, str) else None)
        if not isinstance(data, dict):
            return tenant, []
        return tenant, [v.strip() for name in MEMBER_FIELDS if isinstance(v := data.get(name), str)]

    def redact(self, why: str) -> DeadLetter:
        """Return this letter without its original key, value and headers (they name an erased member)."""
        return self.model_copy(
            update={
                "key_b64": None,
                "value_b64": "",
                "headers": [],
                "reason": f"{self.reason} [redacted: {why}]"[:2_000],
                "redacted": True,
            }
        )


#: Fields of an event's data that hold member ids.
MEMBER_FIELDS = ("member_id", "followed_member_id", "replied_to_member_id")
