"""Costly text: refused before it is sanitized when it cannot be worth it, and cleaned off the event loop."""

from __future__ import annotations

import asyncio
import json
import threading
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest

from kith_devkit.testing import eventually
from kith_ingest import intake
from kith_ingest.domain import NormalizeConfig, clean_text, normalize_raw
from kith_ingest.domain.text import MAX_TAGS, RAW_FACTOR, CostlyText, TextBounds
from kith_ingest.settings import IngestSettings
from kith_shared.events import DecodeError
from kith_shared.events.examples import example
from kith_shared.topics import ACTIVITY

NOW = datetime(2026, 11, 3, 12, 0, tzinfo=UTC)


def post(event_id: str, text: str, **data: Any) -> dict[str, Any]:
    event = example("post.created")
    return {**event, "id": event_id, "data": {**event["data"], "text": text, **data}}


def refusal(text: str, **data: Any) -> str:
    with pytest.raises(DecodeError) as caught:
        normalize_raw(post("e", text, **data), tenant="demo", config=NormalizeConfig(), received=NOW)
    [problem] = caught.value.problems
    return f"{problem.field}: {problem.reason}"


@pytest.mark.unit
def test_raw_text_far_beyond_what_could_clean_down_to_the_limit_is_refused_unread() -> None:
    limit = NormalizeConfig().max_text_chars
    reason = refusal("&amp;" * 800_000)  # 4 MB: used to take seconds to sanitize
    assert reason.startswith("data.text: 4000000 characters as received")
    assert str(RAW_FACTOR * limit) in reason
    # Unicode normalization may lengthen a text 18 times: the bound holds after it too.
    assert "once unicode-normalized" in refusal("\ufdfa" * 10_000)
    assert refusal("x" * 10_000 + "<b>", title="<i>" * 3_000).startswith("data.title: ")


@pytest.mark.unit
def test_deep_markup_is_refused_by_its_tag_count_even_when_hidden_in_entities() -> None:
    assert f"at most {MAX_TAGS}" in refusal("<div>" * (MAX_TAGS + 1))
    assert "markup characters" in refusal("<" * (TextBounds(10_000).markup + 1))
    assert "markup characters" in refusal("&amp;" * (TextBounds(10_000).markup + 1))
    assert f"at most {MAX_TAGS}" in refusal("&lt;div&gt;" * (MAX_TAGS + 1))
    with pytest.raises(CostlyText):
        clean_text("&amp;lt;div&amp;gt;" * (MAX_TAGS + 1), limit=10**6)


@pytest.mark.unit
def test_text_within_the_bounds_is_cleaned_as_before() -> None:
    nested = "<div>" * 1_000 + "deep" + "</div>" * 1_000
    assert clean_text(nested, limit=10_000) == clean_text(nested) == "deep"
    escaped = "".join(f"&#x{ord(c):x};" for c in "escaped throughout, every character") * 100
    event = normalize_raw(post("e", escaped), tenant="demo", config=NormalizeConfig(), received=NOW)
    assert event.data.text.startswith("escaped throughout, every character")  # type: ignore[union-attr]


@pytest.mark.integration
async def test_health_answers_while_a_costly_request_is_normalized(
    ingest_settings: IngestSettings, run_ingest: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The costliest text still accepted, nested block markup just under the tag limit, about 4 MB of it;
    # its normalization is held until health has answered, so the test proves the order, not a speed.
    costly = "<div>" * (MAX_TAGS - 1) + "deep" + "</div>" * (MAX_TAGS - 1)
    body = json.dumps([post(f"costly-{i}", costly) for i in range(70)]).encode()
    assert len(body) < ingest_settings.max_body_bytes
    started, released = threading.Event(), threading.Event()
    held: list[bool] = []
    real = intake.receive_all

    def normalize_when_released(*args: Any) -> Any:
        started.set()
        held.append(released.wait(timeout=30))
        return real(*args)

    monkeypatch.setattr(intake, "receive_all", normalize_when_released)  # a thread pool runs the patched one
    async with run_ingest(ingest_settings) as ingest:
        sending = asyncio.create_task(
            ingest.client.post(
                "/v1/events:batch", content=body, headers={**ingest.auth(), "Content-Type": "application/json"}
            )
        )

        async def normalizing() -> bool:
            return started.is_set()

        await eventually(normalizing, 30, "the batch's normalization to start")
        health = await ingest.client.get("/healthz")
        released.set()
        response = await sending
    assert health.status_code == 200
    assert held == [True], "health could not answer until the normalization gave up waiting"
    assert response.status_code == 202, response.text
    assert response.json()["accepted"] == 70


@pytest.mark.integration
async def test_worker_processes_clean_costly_requests_as_the_loop_would(
    ingest_settings: IngestSettings, run_ingest: Any, read_topic: Any
) -> None:
    settings = ingest_settings.model_copy(update={"normalize_pool": "process", "normalize_workers": 1})
    texts = {
        "nested": "<div>" * 2_000 + "<b>deep</b> #markup" + "</div>" * 2_000,
        "escaped": "&lt;p&gt;escaped &amp;amp; #decoded&lt;/p&gt; " * 500,
        "too-long": "x" * 20_000,
        "beyond": "&amp;" * 200_000,
    }
    batch = [post(name, text) for name, text in texts.items()]
    async with run_ingest(settings) as ingest:
        assert isinstance(ingest.app.state.intake.pool, ProcessPoolExecutor)
        response = await ingest.client.post("/v1/events:batch", json=batch, headers=ingest.auth())
        assert response.status_code == 202, response.text
        results = {r["id"]: r for r in response.json()["results"]}
    assert [results[name]["status"] for name in texts] == ["accepted", "accepted", "rejected", "rejected"]
    assert "after cleaning" in results["too-long"]["problems"][0]["reason"]
    assert "as received" in results["beyond"]["problems"][0]["reason"]
    published = {json.loads(r.value)["id"]: json.loads(r.value) for r in await read_topic(settings.kafka, ACTIVITY, 2)}
    expected = {name: normalize_raw(post(name, texts[name]), tenant="demo", config=settings.normalize_config(),
                                    received=NOW) for name in ("nested", "escaped")}  # fmt: skip
    for name, event in expected.items():
        assert published[name]["data"]["text"] == event.data.text  # type: ignore[union-attr]
        assert published[name]["data"]["text_features"]["hashtags"] == ["markup" if name == "nested" else "decoded"]
