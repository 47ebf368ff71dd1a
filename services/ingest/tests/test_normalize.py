"""Normalization: what a producer sends becomes one clean, typed, bounded event."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import nh3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kith_ingest.domain import NormalizeConfig, clean_text, normalize_event, normalize_raw
from kith_ingest.domain.text import extract_hashtags, extract_keywords, extract_links, extract_mentions
from kith_ingest.settings import DEFAULT_TYPE_ALIASES, IngestSettings
from kith_shared.events import SCHEMA_VERSION, DecodeError
from kith_shared.events.examples import all_examples, example
from kith_shared.events.types import (
    ADMIN_TYPES,
    SERVICE_TYPES,
    CommentCreatedEvent,
    PostCreatedEvent,
    ReactionAddedEvent,
)

pytestmark = pytest.mark.unit

NOW = datetime(2026, 11, 3, 12, 0, tzinfo=UTC)
CONFIG = NormalizeConfig(keep_original_text=True, type_aliases=DEFAULT_TYPE_ALIASES)


def post(text: str, **data: Any) -> dict[str, Any]:
    event = example("post.created")
    event["data"] = {**event["data"], "text": text, **data}
    return event


def normalize(obj: dict[str, Any], tenant: str | None = "demo", config: NormalizeConfig = CONFIG) -> Any:
    return normalize_raw(obj, tenant=tenant, config=config, received=NOW)


def refused(obj: dict[str, Any], tenant: str | None = "demo", config: NormalizeConfig = CONFIG) -> DecodeError:
    with pytest.raises(DecodeError) as caught:
        normalize(obj, tenant, config)
    return caught.value


def test_every_example_normalizes_and_is_stable() -> None:
    for event_type, raw in all_examples().items():
        if event_type in SERVICE_TYPES | ADMIN_TYPES:
            assert refused(raw).problems[0].field == "type"
            continue
        event = normalize(raw)
        assert event.is_normalized
        assert event.schemaversion == SCHEMA_VERSION
        assert event.receivedtime == NOW
        assert normalize_event(event, config=CONFIG, received=NOW) == event, event_type


def test_times_become_utc_and_naive_or_future_times_are_refused() -> None:
    event = normalize(
        post(
            "hi",
        )
        | {"time": "2026-11-02T18:04:05+01:00"}
    )
    assert event.time == datetime(2026, 11, 2, 17, 4, 5, tzinfo=UTC)
    assert event.time.utcoffset() == timedelta(0)
    assert "time" in {p.field for p in refused(post("hi") | {"time": "2026-11-02T18:04:05"}).problems}
    future = (NOW + timedelta(hours=1)).isoformat()
    problem = refused(post("hi") | {"time": future}).problems[0]
    assert problem.field == "time"
    assert "future" in problem.reason
    late = normalize(post("hi") | {"time": "2020-01-01T00:00:00-05:00"})
    assert late.time == datetime(2020, 1, 1, 5, tzinfo=UTC)
    skewed = (NOW + timedelta(minutes=2)).astimezone(timezone(timedelta(hours=9))).isoformat()
    assert normalize(post("hi") | {"time": skewed}).time == NOW + timedelta(minutes=2)


def test_markup_is_stripped_to_text_with_entities_and_without_script_contents() -> None:
    raw = (
        "<p>Hello&nbsp;<b>world</b> &amp; friends</p><p>second   paragraph</p>"
        "<script>alert('x')</script><style>p {color: red}</style><!-- note -->caf&eacute;"
    )
    assert clean_text(raw) == "Hello world & friends second paragraph café"
    assert clean_text("&lt;script&gt;alert(1)&lt;/script&gt;ok") == "ok"
    assert clean_text("1 < 2 and 3 > 2") == "1 < 2 and 3 > 2"
    assert clean_text("  tabs\tand\n\nnewlines\u00a0\u2003 ") == "tabs and newlines"
    assert clean_text("ctrl\x00\x07chars") == "ctrl chars"


def test_unicode_is_normalized() -> None:
    assert clean_text("cafe\u0301") == "café"
    assert clean_text("ｆｕｌｌｗｉｄｔｈ ﬁne") == "fullwidth fine"
    assert clean_text("cafe\u0301", "NFC") == "café"
    assert clean_text("\ufb01", "NFC") == "\ufb01"
    assert clean_text("lone \ud800 surrogate") == "lone surrogate"


def test_hashtags_mentions_links_language_and_keywords() -> None:
    text = (
        'Bouldering at <a href="https://Ostbloc.Example/path?x=1">the gym</a> on Sunday with @m-ben and @ada_l! '
        "#Bouldering #climbing #bouldering #42 mail me: me@example.org, see https://example.org/a). "
        "Bouldering problems, crash pads and bouldering shoes."
    )
    event = normalize(post(text))
    features = event.data.text_features
    assert features.hashtags == ["bouldering", "climbing"]
    assert features.mentions == ["m-ben", "ada_l"]
    assert features.links == ["https://example.org/a", "https://ostbloc.example/path?x=1"]
    assert features.language == "en"
    assert features.keywords[0] == "bouldering"
    assert "the" not in features.keywords
    assert features.length == len(event.data.text)
    assert features.original == text
    assert "https://Ostbloc.Example/path?x=1" in event.data.text
    assert extract_links("see http://x.org/a-b, and HTTPS://Y.ORG.") == ["http://x.org/a-b", "https://y.org"]
    assert extract_hashtags("https://x.org/#anchor and #real") == ["real"]
    assert extract_mentions("write to ada@example.org or @ada") == ["ada"]
    assert extract_keywords("") == []


def test_language_is_left_unknown_for_very_short_texts_and_detected_for_others() -> None:
    assert normalize(post("ok 👍")).data.text_features.language is None
    german = normalize(post("Wir gehen am Sonntag zusammen in die Kletterhalle, wer kommt mit?"))
    assert german.data.text_features.language == "de"


def test_too_long_text_is_refused_with_the_limit_never_cut() -> None:
    config = NormalizeConfig(max_text_chars=20)
    problem = refused(post("x" * 21), config=config).problems[0]
    assert problem.field == "data.text"
    assert "20" in problem.reason
    assert normalize(post("<b>" + "x" * 20 + "</b>"), config=config).data.text == "x" * 20


def test_original_text_is_kept_only_when_configured() -> None:
    assert normalize(post("<b>x</b>"), config=NormalizeConfig()).data.text_features.original is None
    assert normalize(post("<b>x</b>")).data.text_features.original == "<b>x</b>"


def test_features_sent_by_a_producer_are_ignored() -> None:
    planted = {"hashtags": ["spam"], "original": "forged", "bogus": 1}
    event = normalize(post("plain #real", text_features=planted))
    assert event.data.text_features.hashtags == ["real"]
    assert event.data.text_features.original == "plain #real"


def test_type_aliases_come_from_configuration() -> None:
    like = {
        **example("reaction.added"),
        "type": "like",
    }
    assert isinstance(normalize(like), ReactionAddedEvent)
    reply = {**example("comment.created"), "type": "reply"}
    assert isinstance(normalize(reply), CommentCreatedEvent)
    assert refused(like, config=NormalizeConfig()).problems[0].field == "type"
    settings = IngestSettings(type_aliases={"shout": "post.created"})
    assert isinstance(normalize({**post("x"), "type": "shout"}, config=settings.normalize_config()), PostCreatedEvent)
    with pytest.raises(ValueError, match="unknown types"):
        IngestSettings(type_aliases={"shout": "post.shouted"})


def test_tenant_comes_from_the_key_and_another_tenant_is_refused() -> None:
    event = post("x")
    del event["tenant"]
    assert normalize(event, tenant="acme").tenant == "acme"
    assert normalize(post("x") | {"tenant": " DEMO "}).tenant == "demo"
    problem = refused(post("x"), tenant="acme").problems[0]
    assert problem.field == "tenant"
    assert "acme" in problem.reason
    assert refused(event, tenant=None).problems[0].field == "tenant"


def test_ids_are_canonical_and_ingest_marks_cannot_be_forged() -> None:
    raw = post("x") | {"id": "  ev-1 ", "receivedtime": "2000-01-01T00:00:00Z", "schemaversion": 99}
    raw["data"] = {**raw["data"], "member_id": " m-ada "}
    event = normalize(raw)
    assert event.id == "ev-1"
    assert event.data.member_id == "m-ada"
    assert event.receivedtime == NOW
    assert event.schemaversion == SCHEMA_VERSION


def test_unsafe_property_maps_are_refused_with_the_reason() -> None:
    for properties, words in (
        ({"$where": 1}, "$"),
        ({"a.b": 1}, "'.'"),
        ({"a": {"b": {"c": {"d": {"e": {}}}}}}, "deep"),
    ):
        problem = refused(post("x", properties=properties)).problems[0]
        assert problem.field.startswith("data.properties")
        assert words in problem.reason


def test_community_text_is_cleaned_too() -> None:
    raw = example("community.created")
    raw["data"] = {**raw["data"], "name": "<b>Bouldering</b>  Berlin", "description": "<p>Weekend</p><p>sessions</p>"}
    event = normalize(raw)
    assert event.data.name == "Bouldering Berlin"
    assert event.data.description == "Weekend sessions"
    raw["data"]["name"] = "<script>x</script>"
    assert refused(raw).problems[0].field == "data.name"


FRAGMENTS = ["&amp;", "&lt;", "&#60;", "&", "<b>", "</p>", "<script>", "<a href='https://x.org/a'>", "#", "@", "\ud800"]
texts = st.lists(st.text(max_size=20) | st.sampled_from(FRAGMENTS), max_size=30).map("".join)


@given(texts)
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_cleaning_never_raises_is_idempotent_and_leaves_no_markup(raw: str) -> None:
    clean = clean_text(raw)
    assert clean_text(clean) == clean
    assert nh3.clean(clean, tags=set()).replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&") == clean
    assert clean == " ".join(clean.split())


@given(texts, st.sampled_from(["post.created", "post.edited", "comment.created"]), st.booleans())
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_normalizing_a_normalized_event_changes_nothing(raw: str, event_type: str, keep: bool) -> None:
    config = NormalizeConfig(keep_original_text=keep)
    event = example(event_type)
    event["data"]["text"] = raw
    first = normalize(event, config=config)
    assert normalize_event(first, config=config, received=NOW) == first
    again = normalize(
        first.model_dump(mode="json", exclude_none=True), config=NormalizeConfig(keep_original_text=False)
    )
    assert again.data.text == first.data.text
    assert again.data.text_features.model_copy(update={"original": None}) == first.data.text_features.model_copy(
        update={"original": None}
    )


def test_entities_cannot_spell_invisible_characters_into_a_normalized_name() -> None:
    raw = example("community.created")
    spelled = {**raw, "data": {**raw["data"], "name": "Climb&#x202E;ers", "description": "a&#x2066;b"}}
    normalized = normalize(spelled)
    assert (normalized.data.name, normalized.data.description) == ("Climbers", "ab")
    blank = {**raw, "data": {**raw["data"], "name": "&#x200B;&#8206;"}}
    assert refused(blank).problems[0].field == "data.name"


def place(**location: Any) -> dict[str, Any]:
    event = example("community.created")
    event["data"] = {**event["data"], "mode": "local", "location": location}
    return event


def test_places_are_checked_and_their_names_cleaned() -> None:
    ok = normalize(place(name="<b>Seattle</b>", country="us", latitude=47.61, longitude=-122.33))
    assert ok.data.location.name == "Seattle"
    assert ok.data.location.country == "US"
    assert ok.data.location.coordinates == (47.61, -122.33)
    assert normalize(place(name="Somewhere online")).data.location.coordinates is None
    assert refused(place(country="XX", latitude=1.0, longitude=1.0)).problems[0].field == "data.location.country"
    assert "ISO 3166-1" in refused(place(country="ZZ")).problems[0].reason
    assert refused(place(country="USA")).problems[0].field == "data.location.country"
    assert refused(place(latitude=91.0, longitude=0.0)).problems[0].field == "data.location.latitude"
    assert refused(place(latitude=0.0, longitude=-180.5)).problems[0].field == "data.location.longitude"
    assert "together" in refused(place(latitude=10.0)).problems[0].reason
    assert refused(place(name="<p> </p>")).problems[0].field == "data.location.name"
    attended = example("event.attended")
    attended["data"]["location"] = {"country": "QQ", "latitude": 1.0, "longitude": 2.0}
    assert refused(attended).problems[0].field == "data.location.country"
    profile = example("member.profile.updated")
    profile["data"]["location"]["latitude"] = -95
    assert refused(profile).problems[0].field == "data.location.latitude"
    mode = example("community.updated")
    mode["data"]["mode"] = "nearby"
    assert refused(mode).problems[0].field == "data.mode"


def test_keywords_are_real_topics_in_the_text_language_counted_by_stem() -> None:
    english = "Running this week? We run every Sunday morning; new runners welcome, the runs are short. Great trails!"
    keywords = extract_keywords(english, language="en")
    assert keywords[0] == "running"  # "running", "run", "runs" counted as one stem, shown as written
    assert "runs" not in keywords
    assert not {"week", "sunday", "morning", "great", "new", "the"} & set(keywords)
    assert "trails" in keywords
    french = "Cette semaine nous faisons de l'escalade, escalade en bloc et escalades en falaise le samedi."
    keywords = extract_keywords(french, language="fr")
    assert keywords[0] == "escalade"
    assert not {"semaine", "nous", "samedi", "cette"} & set(keywords)
    spanish = "Esta semana hacemos fotografía nocturna; la fotografía de calle también nos gusta mucho."
    assert extract_keywords(spanish, language="es")[0] == "fotografía"
    assert "semana" not in extract_keywords(spanish, language="es")
    # An unknown language still leaves out the stopwords of the common ones, unstemmed.
    assert extract_keywords("the week with der die und les pottery", language=None) == ["pottery"]
    event = normalize(post("Wir gehen diese Woche bouldern, Bouldern macht Spaß, wer kommt zum Bouldern mit?"))
    assert event.data.text_features.language == "de"
    assert event.data.text_features.keywords[0] == "bouldern"
    assert "woche" not in event.data.text_features.keywords
