"""Stopwords by language: the maintained lists plus calendar and chat words."""

from __future__ import annotations

import pytest

from kith_shared.words import any_language_stopwords, is_stopword, stopwords_for

pytestmark = pytest.mark.unit


def test_stopwords_by_language_with_chatter_and_a_fallback() -> None:
    assert is_stopword("week", "en")
    assert is_stopword("The", "en")
    assert is_stopword("und", "de")
    assert not is_stopword("und", "en")  # German words are not English stopwords
    assert is_stopword("und", "xx")  # an unlisted language gets the common ones
    assert is_stopword("semaine", None)
    for topic in ("climbing", "yoga", "pottery", "bouldering", "photography", "chess"):
        assert not is_stopword(topic), topic
    assert "und" in any_language_stopwords()
    assert "och" in any_language_stopwords()  # Swedish


def test_a_language_list_holds_english_but_not_other_languages() -> None:
    german = stopwords_for("de")
    assert {"und", "the"} <= german
    assert "och" not in german
