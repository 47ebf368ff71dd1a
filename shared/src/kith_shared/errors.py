"""Errors as clear JSON (``{"error": {"code", "message", "problems"}}``), never a stack trace."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import iter_route_contexts
from pymongo.errors import PyMongoError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import compile_path

log = logging.getLogger(__name__)


class ApiError(Exception):
    """An error a client can act on, with an HTTP status."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        problems: list[dict[str, str]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.problems = problems or []
        self.headers = headers or {}


def error_body(code: str, message: str, problems: list[dict[str, str]] | None = None) -> dict[str, Any]:
    """Return the JSON body of an error response."""
    body: dict[str, Any] = {"code": code, "message": message}
    if problems:
        body["problems"] = problems
    return {"error": body}


def allowed_methods(request: Request) -> list[str]:
    """Return every method some route of the app answers on this request's path.

    Starlette's own 405 names only the methods of the first route matching the path, while a path
    often has several (``GET`` and ``PUT /v1/settings/scoring`` are two routes).
    """
    methods: set[str] = set()
    for route in iter_route_contexts(request.app.routes):
        template, found = route.path_format, route.methods
        if template and found and compile_path(template)[0].match(request.url.path):
            methods |= found
    return sorted(methods)


def install_error_handlers(app: FastAPI) -> None:
    """Answer every failure with a JSON error and the right status."""

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(error_body(exc.code, exc.message, exc.problems), exc.status, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            {"field": ".".join(str(p) for p in err["loc"] if p != "body") or "body", "reason": err["msg"]}
            for err in exc.errors()
        ]
        return JSONResponse(error_body("invalid_request", "the request is not valid", problems), 422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized", 403: "forbidden"}
        headers = dict(getattr(exc, "headers", None) or {})
        if exc.status_code == 405:
            headers["Allow"] = ", ".join(allowed_methods(request))
        return JSONResponse(
            error_body(code.get(exc.status_code, "http_error"), str(exc.detail)), exc.status_code, headers=headers
        )

    @app.exception_handler(PyMongoError)
    async def _database_down(request: Request, exc: PyMongoError) -> JSONResponse:
        log.warning("database error while answering", extra={"path": request.url.path, "error": str(exc)})
        return JSONResponse(
            error_body("unavailable", "the database is unreachable; retry shortly"),
            503,
            headers={"Retry-After": "5"},
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled error", exc_info=exc, extra={"path": request.url.path})
        return JSONResponse(error_body("internal", "an unexpected error occurred; it has been logged"), 500)
