"""Each service against its own OpenAPI document (schemathesis): no server error, no undocumented answer.

The three services run as processes on the test's broker and database; every operation of each
document gets requests generated from it, valid ones and invalid ones, sent with the tenant's admin
key, and every answer is checked against the document: status documented, body matching the
documented schema (the error body included), content type and headers as declared.
"""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.result import Ok
from schemathesis.generation import GenerationMode

from tests.conftest import Stack

pytestmark = [pytest.mark.integration, pytest.mark.slow]

#: Examples per operation and generation mode: small, since the suite runs it every time.
EXAMPLES = 10
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]


def _fuzz(base_url: str, operation: Any, mode: GenerationMode, headers: dict[str, str]) -> None:
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def call(case: Any) -> None:
        case.call_and_validate(base_url=base_url, headers=headers, checks=CHECKS, timeout=60)

    call()


async def test_every_service_answers_as_its_openapi_document_says(stack: Stack) -> None:
    headers = {"Authorization": f"Bearer {stack.key}"}
    tried: list[str] = []
    for service in ("ingest", "scoring", "recommend"):
        base_url = stack.url(service)
        document = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
        for result in document.get_all_operations():
            assert isinstance(result, Ok), f"{service}: {result.err()}"
            operation = result.ok()
            _fuzz(base_url, operation, GenerationMode.POSITIVE, headers)
            # An operation with no parameter and no body (GET /healthz) has nothing to make invalid.
            with contextlib.suppress(Unsatisfiable):
                _fuzz(base_url, operation, GenerationMode.NEGATIVE, headers)
            tried.append(f"{service} {operation.method.upper()} {operation.path}")
    assert len(tried) >= 20, tried
