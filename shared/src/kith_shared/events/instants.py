"""Instants as the contract admits them: timezone-aware, and expressible in UTC.

ISO 8601 admits ``0001-01-01T00:00:00+14:00`` and ``9999-12-31T23:59:59-14:00``, but neither exists
in UTC within Python's years 1-9999: converting them overflows, and so would any arithmetic a
consumer does on them. The contract refuses such values where they are decoded, so every decoder
(HTTP, Kafka, any service) refuses them the same way, with a field error rather than a crash later.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Final

from pydantic import AfterValidator, AwareDatetime, Field

#: The earliest and latest instants that exist in UTC: every admitted instant lies between them.
EARLIEST: Final = datetime.min.replace(tzinfo=UTC)
LATEST: Final = datetime.max.replace(tzinfo=UTC)

_UTC_RULE: Final = "must convert to UTC within years 0001-9999"


def utc_representable(value: datetime) -> datetime:
    """Return ``value`` unchanged when it converts to UTC without leaving years 1-9999; raise otherwise."""
    try:
        value.astimezone(UTC)
    except OverflowError:
        raise ValueError(
            f"{value.isoformat()} {_UTC_RULE}: its UTC offset moves it out of the representable range"
        ) from None
    return value


Instant = Annotated[
    AwareDatetime,
    AfterValidator(utc_representable),
    Field(json_schema_extra={"$comment": f"An RFC 3339 date-time with an offset that {_UTC_RULE}."}),
]
"""A timezone-aware instant that converts to UTC without overflow (any offset, never naive)."""
