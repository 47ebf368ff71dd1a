"""Each service's OpenAPI document tells the truth: security schemes, every error with its body, event schemas."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from kith_ingest.app import create_app as ingest_app
from kith_ingest.settings import IngestSettings
from kith_recommend.app import create_app as recommend_app
from kith_recommend.settings import RecommendSettings
from kith_scoring.app import create_app as scoring_app
from kith_scoring.settings import ScoringSettings
from kith_shared.events.types import PRODUCER_TYPES
from kith_shared.openapi import ERROR_REF

pytestmark = pytest.mark.unit

SERVICES: dict[str, Callable[[], FastAPI]] = {
    "ingest": lambda: ingest_app(IngestSettings()),
    "scoring": lambda: scoring_app(ScoringSettings()),
    "recommend": lambda: recommend_app(RecommendSettings()),
}


def operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(path, method, op) for path, ops in doc["paths"].items() for method, op in ops.items()]


@pytest.mark.parametrize("service", SERVICES)
def test_protected_routes_declare_both_ways_to_send_a_key_and_their_errors(service: str) -> None:
    doc = SERVICES[service]().openapi()
    schemes = doc["components"]["securitySchemes"]
    assert schemes["bearer"] == {**schemes["bearer"], "type": "http", "scheme": "bearer"}
    assert schemes["apiKey"] == {**schemes["apiKey"], "type": "apiKey", "in": "header", "name": "X-API-Key"}
    protected = [(path, method, op) for path, method, op in operations(doc) if path.startswith("/v1/")]
    assert protected
    for path, method, op in protected:
        assert op["security"] == [{"bearer": []}, {"apiKey": []}], (path, method)
        assert {"401", "403", "429", "503"} <= set(op["responses"]), (path, method)
        assert "Retry-After" in op["responses"]["429"]["headers"]
        if "requestBody" in op:
            assert {"400", "413", "422"} <= set(op["responses"]), (path, method)
        if "{" in path:
            assert "404" in op["responses"], (path, method)
    for path, method, op in operations(doc):
        for code, response in op["responses"].items():
            if int(code) >= 400 and path != "/readyz":
                assert response["content"]["application/json"]["schema"] == {"$ref": ERROR_REF}, (path, method, code)
    error = doc["components"]["schemas"]["ErrorBody"]
    assert error["required"] == ["error"]
    assert "HTTPValidationError" not in doc["components"]["schemas"]


def test_event_bodies_are_the_contracts_schemas() -> None:
    doc = SERVICES["ingest"]().openapi()
    schemas = doc["components"]["schemas"]
    single = doc["paths"]["/v1/events"]["post"]["requestBody"]["content"]
    batch = doc["paths"]["/v1/events:batch"]["post"]["requestBody"]["content"]
    assert single["application/cloudevents+json"]["schema"] == {"$ref": "#/components/schemas/Event"}
    assert batch["application/cloudevents-batch+json"]["schema"]["items"] == {"$ref": "#/components/schemas/Event"}
    assert set(schemas["Event"]["discriminator"]["mapping"]) == PRODUCER_TYPES
    for ref in schemas["Event"]["discriminator"]["mapping"].values():
        assert ref.rsplit("/", 1)[1] in schemas
    assert {"415", "503"} <= set(doc["paths"]["/v1/events"]["post"]["responses"])


@pytest.mark.parametrize(
    ("service", "method", "path", "allow"),
    [
        ("scoring", "DELETE", "/v1/settings/scoring", "GET, PUT"),
        ("scoring", "POST", "/v1/communities/c1/metrics", "GET"),
        ("ingest", "PATCH", "/v1/admin/keys", "GET, POST"),
        ("recommend", "GET", "/v1/members/m-1/interests", "PUT"),
        ("recommend", "PUT", "/healthz", "GET"),
    ],
)
async def test_405_lists_every_allowed_method(service: str, method: str, path: str, allow: str) -> None:
    transport = httpx.ASGITransport(app=SERVICES[service]())
    async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
        response = await client.request(method, path)
    assert response.status_code == 405
    assert response.headers["allow"] == allow
    assert response.json()["error"]["code"] == "method_not_allowed"


@pytest.mark.parametrize("service", SERVICES)
async def test_docs_page_offers_the_key(service: str) -> None:
    transport = httpx.ASGITransport(app=SERVICES[service]())
    async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
        page = await client.get("/docs")
        served = (await client.get("/openapi.json")).json()
    assert page.status_code == 200
    assert "swagger-ui" in page.text
    assert set(served["components"]["securitySchemes"]) == {"bearer", "apiKey"}
