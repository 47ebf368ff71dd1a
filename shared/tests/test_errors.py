"""Every failure reaches the client as a JSON error with the right status, never a traceback."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from pymongo.errors import ServerSelectionTimeoutError

from kith_shared.errors import ApiError, install_error_handlers

pytestmark = pytest.mark.unit


def app() -> FastAPI:
    application = FastAPI()
    install_error_handlers(application)

    @application.get("/db")
    async def database_down() -> None:
        raise ServerSelectionTimeoutError("127.0.0.1:27027: connection refused")

    @application.get("/api")
    async def api_error() -> None:
        raise ApiError(409, "conflict", "already there", problems=[{"field": "id", "reason": "taken"}])

    @application.get("/bug")
    async def bug() -> None:
        raise RuntimeError("secret internals")

    return application


async def get(path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.get(path)


async def test_an_unreachable_database_is_503_with_retry_after() -> None:
    answer = await get("/db")
    assert answer.status_code == 503
    assert answer.headers["retry-after"] == "5"
    assert answer.json() == {"error": {"code": "unavailable", "message": "the database is unreachable; retry shortly"}}


async def test_api_errors_keep_their_status_and_problems() -> None:
    answer = await get("/api")
    assert answer.status_code == 409
    assert answer.json()["error"]["problems"] == [{"field": "id", "reason": "taken"}]


async def test_unexpected_errors_hide_their_internals() -> None:
    answer = await get("/bug")
    assert answer.status_code == 500
    assert "secret" not in answer.text
    assert answer.json()["error"]["code"] == "internal"


async def test_unknown_routes_are_json_404() -> None:
    answer = await get("/nowhere")
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "not_found"
