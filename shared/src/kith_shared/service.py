"""Serve a service's HTTP app: what ``python -m kith_<service>`` does for each service.

Only the services' entry points import this module; uvicorn comes with ``kith-shared`` for it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypeVar

import uvicorn
from fastapi import FastAPI

from kith_shared.logs import configure_logging


class Served(Protocol):
    """Settings that say where an app listens and how much it logs."""

    host: str
    port: int

    @property
    def log_level(self) -> str:
        """Return the log level's name (a property: each service narrows it to the levels it accepts)."""


_S = TypeVar("_S", bound=Served)


def serve(service: str, settings: _S, create_app: Callable[[_S], FastAPI], *, access_log: bool = True) -> None:
    """Log JSON lines at the configured level and serve the app with uvicorn on the configured host and port."""
    configure_logging(service, settings.log_level)
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_config=None, access_log=access_log)
