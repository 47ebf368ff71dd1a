"""Every service refuses an oversized body (413, JSON) before authentication, parsing or validation."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from fastapi import FastAPI

from kith_ingest.app import create_app as ingest_app
from kith_ingest.settings import IngestSettings
from kith_recommend.app import create_app as recommend_app
from kith_recommend.settings import RecommendSettings
from kith_scoring.app import create_app as scoring_app
from kith_scoring.settings import ScoringSettings

pytestmark = pytest.mark.unit

#: Each service with its default settings and a route that takes a body (none is started: a body limit
#: needs no broker or database, and no key is sent, so a request that passes the limit stops at 401).
SERVICES: dict[str, tuple[Callable[[], FastAPI], str, str]] = {
    "ingest": (lambda: ingest_app(IngestSettings()), "POST", "/v1/events"),
    "scoring": (lambda: scoring_app(ScoringSettings()), "PUT", "/v1/settings/scoring"),
    "recommend": (lambda: recommend_app(RecommendSettings()), "PUT", "/v1/members/m-1/interests"),
}
LIMITS = {"ingest": 4 * 1024 * 1024, "scoring": 5 * 1024 * 1024, "recommend": 5 * 1024 * 1024}


def _json_of(size: int) -> bytes:
    return b'{"pad": "' + b"x" * (size - 11) + b'"}'


async def _chunked(body: bytes, chunk: int = 64 * 1024) -> AsyncIterator[bytes]:
    for start in range(0, len(body), chunk):
        yield body[start : start + chunk]


def _assert_too_large(response: httpx.Response, limit: int) -> None:
    assert response.status_code == 413, response.text
    error = response.json()["error"]
    assert error["code"] == "payload_too_large"
    assert str(limit) in error["message"]


@pytest.mark.parametrize("service", SERVICES)
async def test_oversized_bodies_are_refused_before_auth_however_their_size_is_declared(service: str) -> None:
    build, method, path = SERVICES[service]
    limit = LIMITS[service]
    assert build().state.settings.max_body_bytes == limit
    over = _json_of(limit + 1)
    json_type = {"Content-Type": "application/json"}
    transport = httpx.ASGITransport(app=build())
    async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
        honest = await client.request(method, path, content=over, headers=json_type)
        _assert_too_large(honest, limit)
        declared_only = await client.request(
            method, path, content=b"{}", headers={**json_type, "Content-Length": str(6 * 1024 * 1024)}
        )
        _assert_too_large(declared_only, limit)
        lying = await client.request(method, path, content=over, headers={**json_type, "Content-Length": "2"})
        assert lying.request.headers["content-length"] == "2"
        _assert_too_large(lying, limit)
        chunked = await client.request(method, path, content=_chunked(_json_of(30 * 1024 * 1024)), headers=json_type)
        _assert_too_large(chunked, limit)
        assert "content-length" not in chunked.request.headers
        not_a_number = await client.request(method, path, content=b"{}", headers={**json_type, "Content-Length": "x"})
        assert not_a_number.status_code == 400
        assert not_a_number.json()["error"]["code"] == "bad_request"
        # At the limit exactly, the body goes through, and the request stops where it should: no key.
        at_limit = await client.request(method, path, content=_json_of(limit), headers=json_type)
        assert at_limit.status_code == 401, at_limit.text
        streamed = await client.request(method, path, content=_chunked(b'{"interests": ["a"]}'), headers=json_type)
        assert streamed.status_code == 401
