"""The CloudEvents 1.0 envelope, with the ``tenant`` extension and ingest's normalization marks."""

from __future__ import annotations

import builtins
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from kith_shared.events.instants import Instant

TenantId = Annotated[str, StringConstraints(min_length=1, max_length=63, pattern=r"^[a-z0-9][a-z0-9_\-]*$")]

#: Version of the normalized event layout that ingest writes on the activity topic.
SCHEMA_VERSION = 1


class Envelope(BaseModel):
    """CloudEvents 1.0 attributes shared by every event; subclasses fix ``type`` and ``data``."""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True, allow_inf_nan=False)

    specversion: Literal["1.0"] = "1.0"
    id: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=256)]
    source: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=512)]
    type: str
    time: Instant = Field(
        description=(
            "When the activity happened; any UTC offset, never naive, and convertible to UTC (years 0001-9999)."
        )
    )
    subject: Annotated[str, StringConstraints(max_length=512)] | None = None
    datacontenttype: Literal["application/json"] | None = "application/json"
    dataschema: Annotated[str, StringConstraints(max_length=512)] | None = None
    tenant: TenantId
    receivedtime: Instant | None = Field(default=None, description="Set by ingest: when it first saw the event.")
    schemaversion: int | None = Field(default=None, description="Set by ingest: layout version of a normalized event.")
    traceparent: Annotated[str, StringConstraints(max_length=128)] | None = None
    data: Any

    @classmethod
    def data_model(cls) -> builtins.type[BaseModel]:  # ``type`` is a field here
        """Return the model of this event type's ``data``."""
        annotation = cls.model_fields["data"].annotation
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            raise TypeError(f"{cls.__name__} declares no data model")
        return annotation

    @property
    def identity(self) -> tuple[str, str]:
        """Return the (source, id) pair that identifies this event: a second copy is a duplicate."""
        return (self.source, self.id)

    @property
    def community_id(self) -> str | None:
        """Return the community the event is about, if any."""
        value = getattr(self.data, "community_id", None)
        return value if isinstance(value, str) else None

    @property
    def member_id(self) -> str | None:
        """Return the member who acted, if any."""
        value = getattr(self.data, "member_id", None)
        return value if isinstance(value, str) else None

    def partition_key(self) -> bytes:
        """Return the record key: community within a tenant, else member within a tenant.

        Everything about one community stays in one partition, so its order is kept.
        """
        anchor = self.community_id or self.member_id or self.id
        return f"{self.tenant}:{anchor}".encode()

    @property
    def is_normalized(self) -> bool:
        """Tell whether ingest has normalized this event."""
        return self.schemaversion is not None and self.receivedtime is not None
