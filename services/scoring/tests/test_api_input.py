"""Odd but legal input on every read route and on the settings: a field error, never a 500."""

from __future__ import annotations

from typing import Any

import pytest

from kith_devkit.testing import publish
from kith_scoring.settings import ScoringSettings
from kith_shared.auth import Scope
from services.scoring.tests.helpers import at, caught_up, event, wait_for

pytestmark = pytest.mark.integration

READ_ROUTES = (
    "/v1/communities/c1/metrics",
    "/v1/communities/c1/leaderboard",
    "/v1/communities/c1/trending",
    "/v1/communities/c1/slipping",
    "/v1/members/m1/engagement",
    "/v1/members/m1/communities/c1/engagement",
)


async def test_extreme_instants_answer_on_every_read_route(scoring_settings: ScoringSettings, start_app: Any) -> None:
    events = [event("member.joined", at(0, 9), community_id="c1", member_id="m1")]
    async with start_app(scoring_settings) as running:
        await publish(scoring_settings.kafka, events)
        await wait_for(lambda: caught_up(scoring_settings))
        reader = await running.key("acme", Scope.METRICS_READ)
        for route in READ_ROUTES:
            for as_of in ("0001-01-01T00:00:00Z", "9999-12-31T23:59:59.999999Z", "0001-01-07T00:00:00+00:00"):
                reply = await running.client.get(route, params={"as_of": as_of, "window": "365d"}, headers=reader)
                assert reply.status_code == 200, (route, as_of, reply.text)
            for as_of in ("0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "2026-10-05T10:00:00"):
                reply = await running.client.get(route, params={"as_of": as_of}, headers=reader)
                assert reply.status_code == 422, (route, as_of, reply.text)
                assert reply.json()["error"]["problems"][0]["field"] == "query.as_of"
        for route in (READ_ROUTES[0], READ_ROUTES[2]):
            for window in ("0d", "366d", "1e400d", "-1d", "7"):
                reply = await running.client.get(route, params={"window": window}, headers=reader)
                assert reply.status_code == 422, (route, window, reply.text)
                assert reply.json()["error"]["problems"][0]["field"] == "window"


async def test_settings_accept_finite_numbers_only(scoring_settings: ScoringSettings, start_app: Any) -> None:
    async with start_app(scoring_settings) as running:
        admin = await running.key("acme", Scope.ADMIN)
        for body in (
            '{"level_thresholds": [5, 1e400]}',
            '{"weights": {"post.created": 1e400}}',
            '{"half_life_days": NaN}',
            '{"level_thresholds": [5, Infinity]}',
        ):
            reply = await running.client.put(
                "/v1/settings/scoring", content=body, headers={**admin, "Content-Type": "application/json"}
            )
            assert reply.status_code == 422, (body, reply.text)
            assert reply.json()["error"]["code"] == "invalid_request"
        current = (await running.client.get("/v1/settings/scoring", headers=admin)).json()["current"]
        assert current["version"] == 0
        assert None not in current["config"]["level_thresholds"]
