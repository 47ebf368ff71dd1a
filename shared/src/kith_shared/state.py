"""Route dependencies on what an app holds on its state, for a service's ``Annotated`` aliases."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from operator import attrgetter
from typing import Any

from fastapi import Request


def from_state(path: str) -> Callable[[Request], Awaitable[Any]]:
    """Return a dependency on ``app.state.<path>`` (dotted: ``"platform.producer"``).

    It is a coroutine: FastAPI runs a plain function in its thread pool, a hop per request.
    """
    get = attrgetter(path)

    async def dependency(request: Request) -> Any:
        return get(request.app.state)

    return dependency
