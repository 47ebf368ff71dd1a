"""The event contract: envelope, data models, the discriminated union, examples and codecs."""

from kith_shared.events.codec import (
    BATCH_CONTENT_TYPE,
    JSON_CONTENT_TYPE,
    STRUCTURED_CONTENT_TYPE,
    DecodeError,
    Problem,
    decode_batch,
    decode_binary,
    decode_kafka_record,
    decode_structured,
    encode_structured,
    problems_from_validation,
    structured_headers,
    validate_event,
)
from kith_shared.events.dead_letter import DeadLetter
from kith_shared.events.envelope import SCHEMA_VERSION, Envelope, TenantId
from kith_shared.events.types import ACTIVITY_TYPES, EVENT_ADAPTER, EVENT_CLASSES, Event

__all__ = [
    "ACTIVITY_TYPES",
    "BATCH_CONTENT_TYPE",
    "EVENT_ADAPTER",
    "EVENT_CLASSES",
    "JSON_CONTENT_TYPE",
    "SCHEMA_VERSION",
    "STRUCTURED_CONTENT_TYPE",
    "DeadLetter",
    "DecodeError",
    "Envelope",
    "Event",
    "Problem",
    "TenantId",
    "decode_batch",
    "decode_binary",
    "decode_kafka_record",
    "decode_structured",
    "encode_structured",
    "problems_from_validation",
    "structured_headers",
    "validate_event",
]
