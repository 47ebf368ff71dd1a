"""What every page shares: templates, the session cookie, CSRF-checked forms, sign-in redirects, security headers."""

from __future__ import annotations

import logging
import urllib.parse
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from kith_console.domain import numbers
from kith_console.session import COOKIE, Session, SessionBox
from kith_console.settings import ConsoleSettings

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
#: Largest form body read.
MAX_FORM_BYTES: Final = 16 * 1024
SECURITY_HEADERS: Final = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


def make_templates() -> Environment:
    """Return the page templates, every value escaped unless marked safe (charts are built escaped)."""
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    # Each number format is a filter of its own name: {{ value | share }}.
    for fmt in (numbers.count, numbers.share, numbers.growth, numbers.duration, numbers.score, numbers.change):
        env.filters[fmt.__name__] = fmt
    env.filters["when"] = _when
    return env


def _when(value: str | datetime | None) -> str:
    """Return an instant as ``2026-11-28 14:03 UTC``."""
    if value is None:
        return numbers.DASH
    instant = datetime.fromisoformat(value) if isinstance(value, str) else value
    return instant.strftime("%Y-%m-%d %H:%M UTC")


class NeedsSignIn(Exception):
    """The visitor must sign in (again); ``message`` says why, when there is a reason to tell."""

    def __init__(self, target: str, message: str = "") -> None:
        super().__init__(message)
        self.target = target
        self.message = message


class FormRefused(Exception):
    """A form without the session's CSRF token."""


async def form(request: Request, session: Session) -> dict[str, str]:
    """Return a submitted form's fields (the last value of each), once its CSRF token matched the session's."""
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise FormRefused("the form is too large")
    fields = {k: v[-1] for k, v in urllib.parse.parse_qs(body.decode("utf-8", "replace")).items()}
    if not session.csrf_matches(fields.get("csrf")):
        raise FormRefused("the form has expired or did not come from this console")
    return fields


def set_session(response: Response, request: Request, session: Session) -> None:
    """Send the session's cookie with a response."""
    box: SessionBox = request.app.state.sessions
    settings: ConsoleSettings = request.app.state.settings
    response.set_cookie(
        COOKIE,
        box.seal(session),
        max_age=int(box.max_age_seconds),
        httponly=True,
        samesite="strict",
        secure=settings.https_only,
        path="/",
    )


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """Render a page with the visitor's session, navigation and CSRF token."""
    templates: Environment = request.app.state.templates
    session: Session | None = getattr(request.state, "session", None)
    page = templates.get_template(template).render(
        session=session, csrf=session.csrf if session else "", path=request.url.path, **context
    )
    return HTMLResponse(page, status_code=status_code)


def redirect(target: str) -> RedirectResponse:
    """Return a redirect after a form (303: the browser follows with GET)."""
    return RedirectResponse(target, status_code=303)


def safe_target(target: str | None) -> str:
    """Return a local path to go to after signing in (never another site)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/overview"
    return target
