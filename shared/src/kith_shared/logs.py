"""JSON structured logging: every line names the request, the event and tenant being processed, and the trace.

Each line carries ``service``, ``request_id`` (HTTP requests), ``event_id`` and ``tenant`` (bound by
consumers while they process a record, see :func:`bound`), and ``trace_id``/``span_id`` while a
span records (tracing on, see :mod:`kith_shared.tracing`); absent values are ``null``. A value given
in a call's ``extra`` wins over the bound one.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from pythonjsonlogger.json import JsonFormatter

from kith_shared import tracing

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
event_id: ContextVar[str | None] = ContextVar("event_id", default=None)
tenant: ContextVar[str | None] = ContextVar("tenant", default=None)

#: The fields the filter adds to every record, in the order of the JSON line.
CONTEXT_FIELDS = ("service", "request_id", "event_id", "tenant", "trace_id", "span_id")


@contextmanager
def bound(*, event: str | None, tenant_id: str | None) -> Iterator[None]:
    """Name an event and its tenant on every log line written inside the block."""
    event_token = event_id.set(event)
    tenant_token = tenant.set(tenant_id)
    try:
        yield
    finally:
        tenant.reset(tenant_token)
        event_id.reset(event_token)


class ContextFilter(logging.Filter):
    """Add the service name, the current request, event, tenant and trace to every log record."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def filter(self, record: logging.LogRecord) -> bool:
        fields = record.__dict__
        fields["service"] = self.service
        fields["request_id"] = request_id.get()
        if fields.get("event_id") is None:
            fields["event_id"] = event_id.get()
        if fields.get("tenant") is None:
            fields["tenant"] = tenant.get()
        fields["trace_id"], fields["span_id"] = tracing.log_ids()
        return True


def configure_logging(service: str, level: str = "INFO") -> None:
    """Send JSON lines to stderr for the whole process."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter(
            " ".join(f"%({name})s" for name in ("asctime", "levelname", "name", "message", *CONTEXT_FIELDS)),
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        )
    )
    handler.addFilter(ContextFilter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("aiokafka", "pymongo", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
