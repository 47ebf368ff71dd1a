"""Text shown to people keeps no invisible or direction-changing characters; a blank name is refused."""

from __future__ import annotations

from typing import Any

import pytest

from kith_shared.auth import NewKey
from kith_shared.events import DecodeError, validate_event
from kith_shared.events.display import visible
from kith_shared.events.examples import example

pytestmark = pytest.mark.unit

ZERO_WIDTH = "\u200b\u200c\u200d\u2060\ufeff"


def community(**data: Any) -> dict[str, Any]:
    raw = example("community.created")
    return {**raw, "data": {**raw["data"], **data}}


@pytest.mark.parametrize("name", [ZERO_WIDTH, " \u200b ", "\u202e\u2066\u2069", "\u3164\u115f"])
def test_a_name_blank_once_invisible_characters_go_is_refused(name: str) -> None:
    with pytest.raises(DecodeError) as raised:
        validate_event(community(name=name))
    assert [p.field for p in raised.value.problems] == ["data.name"]
    assert "blank" in raised.value.problems[0].reason


def test_names_titles_descriptions_tags_and_interests_lose_invisible_characters() -> None:
    event = validate_event(
        community(name="Climb\u202eers\u200b", description="Weekend\u2066 sessions\ufeff", topics=["\u200bBoulder"])
    )
    assert (event.data.name, event.data.description, event.data.topics) == (  # type: ignore[union-attr]
        "Climbers",
        "Weekend sessions",
        ["boulder"],
    )
    post = example("post.created")
    titled = validate_event({**post, "data": {**post["data"], "title": "\u202dTitle\u200f", "tags": ["a\u200bb"]}})
    assert (titled.data.title, titled.data.tags) == ("Title", ["ab"])  # type: ignore[union-attr]
    interests = example("member.interests.declared")
    declared = validate_event({**interests, "data": {**interests["data"], "interests": ["\u2066jazz\u2069"]}})
    assert declared.data.interests == ["jazz"]  # type: ignore[union-attr]
    assert NewKey.model_validate({"scopes": ["admin"], "name": "ops\u202e key"}).name == "ops key"


def test_lone_surrogates_go_too() -> None:
    assert visible("a\udbacb\ud800") == "ab"
    interests = example("member.interests.declared")
    with pytest.raises(DecodeError):
        validate_event({**interests, "data": {**interests["data"], "interests": ["\udbac"]}})


def test_joiners_stay_where_they_shape_visible_text() -> None:
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"
    persian = "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645"
    assert visible(family) == family
    assert visible(persian) == persian
    assert visible("\u200dclimbers\u200c") == "climbers"
