"""Whatever the contract admits, posted at ingest, stops no service: a canary still flows, nothing errs.

Events are generated from the checked-in JSON Schemas (``contracts/schemas/``) by schemathesis's JSON
Schema generator (the schemas become request bodies of a small OpenAPI document), with edge values
mixed in: extreme and offset times, empty and maximal strings, text from every unicode category, the
costliest markup within the normalization's bounds, maximal lists. They go to a running stack (the
three services as processes) one by one and in batches. Ingest may refuse any of them (a 4xx with a
field error), never fail (5xx). Afterwards a canary event reaches scoring and recommend within
seconds, and no service logged an error.
"""

from __future__ import annotations

import functools
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kith_devkit.testing import eventually
from kith_ingest.domain.text import MAX_TAGS, TextBounds
from kith_shared.events import ACTIVITY_TYPES
from tests.conftest import Stack

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SCHEMAS = Path(__file__).resolve().parent.parent / "contracts" / "schemas"
#: Examples per run: the suite runs this every time, so the budget is small; raise it locally to dig.
EXAMPLES = 40
#: Log lines no service may write while it takes hostile input.
ERROR_MARKS = ('"level": "ERROR"', '"level": "CRITICAL"', "Traceback (most recent call last)")


@functools.cache
def _generators() -> dict[str, st.SearchStrategy[Any]]:
    """Return a strategy of raw events per activity type, generated from the checked-in JSON Schemas."""
    paths: dict[str, Any] = {}
    components: dict[str, Any] = {}
    for event_type in sorted(ACTIVITY_TYPES):
        # Embedded in an OpenAPI document, the schema's own definitions become its components.
        text = (SCHEMAS / f"{event_type}.json").read_text().replace('"#/$defs/', '"#/components/schemas/')
        schema = json.loads(text)
        components.update(schema.pop("$defs", {}))
        for key in ("examples", "$schema", "$id"):
            schema.pop(key, None)
        body = {"required": True, "content": {"application/json": {"schema": schema}}}
        paths[f"/{event_type}"] = {"post": {"requestBody": body, "responses": {"200": {"description": "ok"}}}}
    document = {
        "openapi": "3.1.0",
        "info": {"title": "Kith event contract", "version": "1"},
        "paths": paths,
        "components": {"schemas": components},
    }
    loaded = schemathesis.openapi.from_dict(document)
    return {
        event_type: loaded[f"/{event_type}"]["POST"].as_strategy().map(lambda case: case.body)
        for event_type in sorted(ACTIVITY_TYPES)
    }


def _edge_texts() -> st.SearchStrategy[str]:
    bounds = TextBounds(10_000)
    return st.one_of(
        st.sampled_from(
            [
                "",
                " ",
                "x" * 10_000,
                "x" * 10_001,
                "&amp;" * bounds.markup,
                "<div>" * (MAX_TAGS - 1) + "deep",
                "&lt;div&gt;" * (MAX_TAGS + 1),
                "\ufdfa" * 500,
                "\u202e\u200b\ufeff",
                "\ud800 lone surrogate",
            ]
        ),
        st.text(st.characters(codec=None), max_size=300),
        st.text(st.characters(categories=["Cf", "Mn", "Zs", "Co", "Cc"]), max_size=100),
    )


_RECENT = st.integers(min_value=0, max_value=30 * 24 * 3600).map(
    lambda seconds: (datetime.now(UTC) - timedelta(seconds=seconds)).isoformat()
)
_EXTREME_TIMES = st.sampled_from(
    [
        "0001-01-01T00:00:00+14:00",
        "0001-01-01T00:00:00Z",
        "9999-12-31T23:59:59-14:00",
        "9999-12-31T23:59:59.999999Z",
        "1969-12-31T23:59:59Z",
        "1970-01-01T00:00:00Z",
    ]
)


@st.composite
def hostile_event(draw: st.DrawFn) -> Any:
    """Return an event the contract's schema admits, with edge values mixed in (or, rarely, not an object)."""
    event = draw(_generators()[draw(st.sampled_from(sorted(ACTIVITY_TYPES)))])
    if not isinstance(event, dict):
        return event
    event["tenant"] = draw(st.sampled_from(["acme", "acme", "acme", "other", ""]))
    event["time"] = draw(st.one_of(_RECENT, _RECENT, _EXTREME_TIMES, st.just(event.get("time"))))
    data = event.get("data")
    if isinstance(data, dict):
        for field in ("text", "title", "name", "description"):
            if field in data and draw(st.booleans()):
                data[field] = draw(_edge_texts())
        for field in ("tags", "topics", "interests"):
            if field in data and draw(st.booleans()):
                data[field] = [draw(st.text(max_size=64)) for _ in range(draw(st.sampled_from([0, 1, 50, 51])))]
    return event


def _post(client: httpx.Client, body: Any, path: str) -> httpx.Response:
    content = json.dumps(body).encode()  # lone surrogates travel as \\ud800 escapes, as JSON allows
    return client.post(path, content=content, headers={"Content-Type": "application/json"})


async def test_hostile_events_stop_no_service(stack: Stack) -> None:
    answers: dict[int, int] = {}
    headers = {"Authorization": f"Bearer {stack.key}"}

    with httpx.Client(base_url=stack.url("ingest"), headers=headers, timeout=60) as client:

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
        )
        @given(one=hostile_event(), batch=st.lists(hostile_event(), max_size=20))
        def post(one: Any, batch: list[Any]) -> None:
            for response in (_post(client, one, "/v1/events"), _post(client, batch, "/v1/events:batch")):
                answers[response.status_code] = answers.get(response.status_code, 0) + 1
                assert response.status_code < 500, response.text[:500]
                assert response.status_code in (200, 202, 413, 422), response.text[:500]
                if response.status_code >= 400:
                    assert response.json()["error"]["code"]

        post()
    assert answers.get(422), answers  # hostile input was refused somewhere...
    assert answers.get(202), answers  # ...and some of it went through to the consumers

    member, community = f"canary-{uuid.uuid4().hex[:8]}", "canary-community"
    canary = {
        "id": member,
        "source": "app://canary",
        "type": "member.joined",
        "time": datetime.now(UTC).isoformat(),
        "data": {"community_id": community, "member_id": member},
    }
    async with stack.client("ingest") as ingest, stack.client("scoring") as scoring, stack.client("recommend") as rec:
        accepted = await ingest.post("/v1/events", json=canary)
        assert accepted.status_code == 202, accepted.text

        async def scored() -> bool:
            return (await scoring.get(f"/v1/members/{member}/engagement")).status_code == 200

        async def known() -> bool:
            return bool((await rec.get(f"/v1/members/{member}/suggestions")).json().get("known_member"))

        await eventually(scored, 60, "the canary counted by scoring")
        await eventually(known, 60, "the canary known to recommend")
    for service in stack.processes:
        log = (stack.logs / f"{service}.log").read_text(errors="replace")
        errors = [line for line in log.splitlines() if any(mark in line for mark in ERROR_MARKS)]
        assert not errors, f"{service} logged errors:\n" + "\n".join(errors[:10])
