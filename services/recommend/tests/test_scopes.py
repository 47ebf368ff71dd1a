"""Reading suggestions and writing interests or feedback are separate scopes."""

from __future__ import annotations

import pytest

from kith_devkit.testing import RunningService
from kith_recommend.settings import RecommendSettings
from kith_shared.auth import Scope

pytestmark = pytest.mark.integration

WRITES = (
    ("PUT", "/v1/members/m-1/interests", {"interests": ["jazz"]}),
    ("POST", "/v1/members/m-1/suggestions/c-1/dismiss", None),
    ("POST", "/v1/members/m-1/suggestions/c-1/shown", {"position": 1}),
    ("POST", "/v1/members/m-1/suggestions/c-1/clicked", None),
)


async def test_a_read_key_cannot_write_and_a_write_key_cannot_read(
    running: RunningService[RecommendSettings],
) -> None:
    reader = await running.keys.create_key("acme", [Scope.RECOMMENDATIONS_READ])
    writer = await running.keys.create_key("acme", [Scope.RECOMMENDATIONS_WRITE])
    for method, path, body in WRITES:
        refused = await running.client.request(method, path, json=body, headers=running.auth(reader.key))
        assert refused.status_code == 403, (path, refused.text)
        assert "recommendations:write" in refused.json()["error"]["message"]
        accepted = await running.client.request(method, path, json=body, headers=running.auth(writer.key))
        assert accepted.status_code == 202, (path, accepted.text)
    suggestions = "/v1/members/m-1/suggestions"
    assert (await running.client.get(suggestions, headers=running.auth(reader.key))).status_code == 200
    assert (await running.client.get(suggestions, headers=running.auth(writer.key))).status_code == 403


async def test_interests_lose_invisible_characters_and_blank_ones_are_refused(
    running: RunningService[RecommendSettings],
) -> None:
    client = running.client_for("acme")
    blank = await client.put("/v1/members/m-1/interests", json={"interests": ["\u200b\u2066\u2069"]})
    assert blank.status_code == 422
    assert blank.json()["error"]["problems"][0]["field"].startswith("interests")
