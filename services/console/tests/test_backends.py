"""How the console tells a route missing from a deployment from a resource a service does not know."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI, status

from kith_console.backends import Backends, Failure
from kith_console.pages.insights import MICRO_ABSENT
from kith_shared.errors import ApiError, install_error_handlers

pytestmark = pytest.mark.unit


def _service(with_route: bool) -> FastAPI:
    """A Kith service (its error handlers) with or without a micro-community route."""
    app = FastAPI()
    install_error_handlers(app)
    if with_route:

        @app.get("/v1/micro-communities/{group_id}")
        async def one(group_id: str) -> dict[str, str]:
            if group_id != "mc-1":
                raise ApiError(
                    status.HTTP_404_NOT_FOUND, "microcommunity_not_found", f"no micro-community {group_id!r}"
                )
            return {"id": group_id}

    return app


async def _get(app: FastAPI, group_id: str) -> tuple[Failure | None, str, int]:
    backends = Backends({"recommend": "http://recommend"}, timeout=5)
    await backends.client.aclose()
    backends.client = httpx.AsyncClient(transport=httpx.ASGITransport(app))
    try:
        part = await backends.get(
            "recommend", f"/v1/micro-communities/{group_id}", "kith_k_s", scope="metrics:read", absent=MICRO_ABSENT
        )
    finally:
        await backends.close()
    return part.failure, part.message, part.status


async def test_a_deployment_without_the_route_is_told_apart_from_an_unknown_group() -> None:
    assert await _get(_service(with_route=False), "mc-1") == (Failure.ABSENT, MICRO_ABSENT, 404)
    failure, message, code = await _get(_service(with_route=True), "mc-2")
    assert (failure, code) == (Failure.NOT_FOUND, 404)
    assert "no micro-community 'mc-2'" in message
    assert await _get(_service(with_route=True), "mc-1") == (None, "", 200)
