"""The console app on its own (every service unreachable): sign-in, CSRF, redirects, errors as pages, headers."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest
from asgi_lifespan import LifespanManager

from kith_console.app import create_app
from kith_console.settings import ConsoleSettings
from kith_devkit.servers import free_port

pytestmark = pytest.mark.unit


@pytest.fixture
async def console() -> AsyncIterator[httpx.AsyncClient]:
    """The console with its three services pointing at a port nobody listens on."""
    nowhere = f"http://127.0.0.1:{free_port()}"
    settings = ConsoleSettings(
        environment="test", ingest_url=nowhere, scoring_url=nowhere, recommend_url=nowhere, request_timeout_seconds=2
    )
    app = create_app(settings)
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://console") as client:
            yield client


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found is not None
    return found.group(1)


async def test_signing_in_needs_the_form_token_and_says_when_the_key_cannot_be_checked(
    console: httpx.AsyncClient,
) -> None:
    away = await console.get("/overview?from=2026-11-01")
    assert away.status_code == 303
    assert away.headers["location"] == "/signin?next=%2Foverview%3Ffrom%3D2026-11-01"
    page = await console.get("/signin")
    assert page.status_code == 200
    assert "HttpOnly" in page.headers["set-cookie"]
    assert "SameSite=strict" in page.headers["set-cookie"]
    assert "default-src 'self'" in page.headers["content-security-policy"]
    token = csrf_of(page.text)

    forged = await console.post("/signin", data={"key": "kith_x_y", "csrf": "forged"})
    assert forged.status_code == 403
    assert "did not come from this console" in forged.text
    refused = await console.post("/signin", data={"key": "kith_x_y", "csrf": token, "next": "//elsewhere.example"})
    assert refused.status_code == 401
    assert "cannot be checked" in refused.text
    assert "unreachable" in refused.text
    empty = await console.post("/signin", data={"key": " ", "csrf": token})
    assert empty.status_code == 422
    assert "Enter an API key" in empty.text


async def test_unknown_pages_and_bad_queries_answer_pages_not_json(console: httpx.AsyncClient) -> None:
    missing = await console.get("/no/such/page")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("text/html")
    assert "There is no such page." in missing.text
    invalid = await console.get("/signin", params={"next": "/" + "x" * 2_001})
    assert invalid.status_code == 422
    assert "next: String should have at most 2000 characters" in invalid.text
    assert invalid.headers["content-type"].startswith("text/html")
    assert (await console.get("/healthz")).json() == {"status": "alive"}
    assert (await console.get("/readyz")).status_code == 200
    assert (await console.get("/static/console.css")).status_code == 200
