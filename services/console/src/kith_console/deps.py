"""What pages depend on, as ``Annotated`` aliases of async dependencies: the session, the services, the settings."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from kith_console.backends import Backends
from kith_console.session import COOKIE, Session, SessionBox
from kith_console.settings import ConsoleSettings
from kith_console.web import NeedsSignIn
from kith_shared.state import from_state


async def _session(request: Request) -> Session:
    box: SessionBox = request.app.state.sessions
    session = box.open(request.cookies.get(COOKIE))
    if session is None:
        session = Session()
        request.state.new_session = session
    request.state.session = session
    return session


async def _signed_in(request: Request, session: Annotated[Session, Depends(_session)]) -> Session:
    if not session.signed_in:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise NeedsSignIn(target)
    return session


#: The visitor's session, anonymous or signed in.
CurrentSession = Annotated[Session, Depends(_session)]
#: The visitor's session, signed in (else a redirect to the sign-in page).
SignedIn = Annotated[Session, Depends(_signed_in)]
#: The services' APIs.
Services = Annotated[Backends, Depends(from_state("backends"))]
#: The console's settings.
Settings = Annotated[ConsoleSettings, Depends(from_state("settings"))]
