"""The console app: pages, static files, health and metrics, the services' client opened and closed by the lifespan."""

from __future__ import annotations

import contextlib
import logging
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from kith_console import SERVICE, __version__
from kith_console.api import router
from kith_console.backends import Backends, SignedOut
from kith_console.session import Session, SessionBox
from kith_console.settings import ConsoleSettings
from kith_console.web import (
    HERE,
    SECURITY_HEADERS,
    FormRefused,
    NeedsSignIn,
    make_templates,
    redirect,
    render,
    set_session,
)
from kith_shared import observability, tracing

log = logging.getLogger(__name__)

Next = Callable[[Request], Awaitable[Response]]


def create_app(settings: ConsoleSettings | None = None) -> FastAPI:
    """Build the console; nothing connects until a page asks a service."""
    settings = settings or ConsoleSettings()
    tracing.configure(SERVICE)  # from OTEL_*, as every service: the console's spans lead into theirs
    backends = Backends(
        {"ingest": settings.ingest_url, "scoring": settings.scoring_url, "recommend": settings.recommend_url},
        settings.request_timeout_seconds,
    )

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await backends.close()
            tracing.shutdown()

    app = FastAPI(
        title="Kith console",
        version=__version__,
        description="Web pages for community managers and operators, over the services' public HTTP APIs.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.settings = settings
    app.state.backends = backends
    app.state.templates = make_templates()
    app.state.sessions = SessionBox(settings.session_secret.get_secret_value(), settings.session_hours * 3600)
    app.add_middleware(observability.RequestContextMiddleware, service=SERVICE)
    tracing.instrument_app(app)
    app.include_router(observability.health_router(observability.Readiness(), SERVICE))
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.include_router(router)

    @app.middleware("http")
    async def headers_and_new_sessions(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        fresh: Session | None = getattr(request.state, "new_session", None)
        if fresh is not None and "set-cookie" not in response.headers:
            set_session(response, request, fresh)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    @app.exception_handler(NeedsSignIn)
    async def _sign_in(_: Request, exc: NeedsSignIn) -> Response:
        return redirect("/signin?" + urllib.parse.urlencode({"next": exc.target}))

    @app.exception_handler(SignedOut)
    async def _signed_out(request: Request, _: SignedOut) -> Response:
        response = redirect("/signin?reason=refused")
        set_session(response, request, Session())
        return response

    @app.exception_handler(FormRefused)
    async def _form_refused(request: Request, exc: FormRefused) -> Response:
        return render(
            request, "error.html", 403, title="Form refused", message=f"{exc}: reload the page and try again."
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        problems = "; ".join(f"{'.'.join(str(p) for p in error['loc'][1:])}: {error['msg']}" for error in exc.errors())
        return render(request, "error.html", 422, title="This address is not valid", message=problems)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        title = "Page not found" if exc.status_code == 404 else "Request refused"
        message = "There is no such page." if exc.status_code == 404 else str(exc.detail)
        return render(request, "error.html", exc.status_code, title=title, message=message)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.error("unhandled error", exc_info=exc, extra={"path": request.url.path})
        return render(request, "error.html", 500, title="Something went wrong",
                      message="An unexpected error occurred; it has been logged.")  # fmt: skip

    return app
