"""The session cookie: sealed and authenticated; a forged, foreign or expired one is refused; settings guard it."""

from __future__ import annotations

import time

import pytest
from pydantic import SecretStr, ValidationError

from kith_console.session import Session, SessionBox
from kith_console.settings import ConsoleSettings

pytestmark = pytest.mark.unit


def test_a_sealed_session_opens_with_the_same_secret_only() -> None:
    box = SessionBox("a secret of the console", 3600)
    session = Session(key="kith_abc_def", tenant="acme", scopes=["metrics:read"])
    sealed = box.seal(session)
    assert "kith_abc_def" not in sealed
    opened = box.open(sealed)
    assert opened is not None
    assert (opened.key, opened.tenant, opened.scopes, opened.csrf) == (
        "kith_abc_def",
        "acme",
        ["metrics:read"],
        session.csrf,
    )
    assert SessionBox("another secret", 3600).open(sealed) is None
    flipped = sealed[:20] + ("A" if sealed[20] != "A" else "B") + sealed[21:]
    assert box.open(flipped) is None
    assert box.open("not a cookie") is None
    assert box.open(None) is None


def test_an_old_session_is_refused_and_csrf_tokens_are_compared() -> None:
    box = SessionBox("a secret of the console", 60)
    old = Session(key="k", tenant="t", issued=time.time() - 120)
    assert box.open(box.seal(old)) is None
    session = Session()
    assert session.csrf_matches(session.csrf)
    assert not session.csrf_matches("forged")
    assert not session.csrf_matches(None)
    assert not session.signed_in
    assert Session(key="k", scopes=["admin"]).allows("metrics:read")
    assert not Session(key="k", scopes=["metrics:read"]).allows("admin")


def test_production_refuses_a_placeholder_session_secret() -> None:
    with pytest.raises(ValidationError, match="session_secret"):
        ConsoleSettings(environment="production")
    with pytest.raises(ValidationError, match="session_secret"):
        ConsoleSettings(environment="production", session_secret=SecretStr("changeme"))
    settings = ConsoleSettings(environment="production", session_secret=SecretStr("a-long-and-random-console-secret"))
    assert settings.https_only is True
    assert ConsoleSettings().https_only is False
    assert ConsoleSettings(secure_cookies=True).https_only is True
