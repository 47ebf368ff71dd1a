"""OpenAPI documents that tell the truth: how to authenticate, and every error a route can answer.

Conventions every route follows (the platform applies the automatic ones to every service's app):

- A route that needs a key (``principal: MetricsReader`` and the like) is documented with the two
  security schemes that ``kith_shared.auth.require`` declares (``Authorization: Bearer <key>`` or
  ``X-API-Key``), so ``/docs`` "Try it out" sends a key, and with 401, 403, 429 (with
  ``Retry-After``) and 503 (key store unreachable).
- A route that takes a body is documented with 413 (over ``*_MAX_BODY_BYTES``) and 400 (a
  ``Content-Length`` that is not a number); a route with parameters or a body with 422; a route with
  path parameters with 404 (an unknown resource, or a path that matches no route).
- Any other error a route raises is declared on the route: ``responses=errors(404, 415)``, with a
  description when the default one is too vague: ``errors(404, descriptions={404: "Unknown community"})``.
- Every error is documented with the one error body, :class:`ErrorBody`:
  ``{"error": {"code", "message", "problems": [{"field", "reason"}]}}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Final, Union

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, Field, TypeAdapter

#: What each error status means on any route; a route may say more (see :func:`errors`).
ERROR_DESCRIPTIONS: Final[dict[int, str]] = {
    400: "The request is malformed (a Content-Length that is not a number)",
    401: "No API key, or an unknown or revoked one",
    403: "The key lacks the scope this route needs, or names another tenant",
    404: "No such resource in the caller's tenant, or no such path",
    413: "The body is larger than the service's limit (*_MAX_BODY_BYTES)",
    415: "The content type is not accepted here",
    422: "The request is not valid: problems name each field and reason",
    429: "Too many requests for this key; retry after Retry-After seconds",
    503: "A dependency (database, broker or key store) is unreachable; retry after Retry-After seconds",
}
_RETRY_AFTER: Final = {
    "Retry-After": {"description": "Seconds to wait before retrying.", "schema": {"type": "integer", "minimum": 1}}
}
#: The component every error response refers to.
ERROR_REF: Final = "#/components/schemas/ErrorBody"


class ProblemOut(BaseModel):
    """One reason a request was refused."""

    field: str = Field(description="The offending field, as a dotted path (query.as_of, data.text).")
    reason: str


class ErrorDetail(BaseModel):
    """What went wrong, for a person and for a program."""

    code: str = Field(description="Stable machine-readable code: unauthorized, forbidden, not_found, ...")
    message: str = Field(description="What went wrong and what to do about it.")
    problems: list[ProblemOut] = Field(default_factory=list, description="Each invalid field and why.")


class ErrorBody(BaseModel):
    """Every error answer of every service."""

    error: ErrorDetail


def errors(*statuses: int, descriptions: Mapping[int, str] | None = None) -> dict[int | str, dict[str, Any]]:
    """Return a route's ``responses=`` for these error statuses, each with the JSON error body."""
    said = descriptions or {}
    return {
        status: {"model": ErrorBody, "description": said.get(status, ERROR_DESCRIPTIONS[status])} for status in statuses
    }


def event_components() -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """Return the schema of an event producers may send (a ``oneOf`` of the contract's activity types).

    Also return the components it refers to, to serve beside the routes that take it.
    """
    from kith_shared.events.types import EVENT_CLASSES, PRODUCER_TYPES

    classes = tuple(EVENT_CLASSES[name] for name in sorted(PRODUCER_TYPES))
    union = Annotated[Union[classes], Field(discriminator="type")]  # type: ignore[valid-type]  # noqa: UP007
    schema = TypeAdapter(union).json_schema(ref_template="#/components/schemas/{model}", mode="validation")
    components: dict[str, dict[str, Any]] = schema.pop("$defs", {})
    components["Event"] = {
        **schema,
        "description": "A CloudEvents 1.0 event with the tenant extension; its data depends on its type "
        "(the contract's JSON Schemas under contracts/schemas/).",
    }
    return {"$ref": "#/components/schemas/Event"}, components


def _error_response(description: str, status: int) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": ERROR_REF}}},
    }
    if status in (429, 503):
        response["headers"] = dict(_RETRY_AFTER)
    return response


def _complete(operation: dict[str, Any], path: str) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    wanted: dict[int, str] = {}
    if operation.get("security"):
        wanted |= {status: ERROR_DESCRIPTIONS[status] for status in (401, 403, 429, 503)}
    if "requestBody" in operation:
        wanted |= {status: ERROR_DESCRIPTIONS[status] for status in (400, 413, 422)}
    if operation.get("parameters"):
        wanted[422] = ERROR_DESCRIPTIONS[422]
    if "{" in path:
        wanted[404] = ERROR_DESCRIPTIONS[404]
    for status, description in wanted.items():
        responses.setdefault(str(status), {"description": description})
    for code, response in responses.items():
        if code.isdigit() and int(code) >= 400 and not (path == "/readyz" and code == "503"):
            # One error body everywhere; FastAPI's default 422 (HTTPValidationError) is not what is sent.
            responses[code] = {**_error_response(response.get("description", ""), int(code)), **_extras(response)}


def _extras(response: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in response.items() if key not in ("description", "content")}


def document(app: FastAPI, components: Mapping[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """Return the app's OpenAPI document with security schemes and every error answer documented."""
    if app.openapi_schema:
        return app.openapi_schema
    doc = get_openapi(
        title=app.title,
        version=app.version,
        summary=app.summary,
        description=app.description,
        routes=app.routes,
    )
    for path, operations in doc.get("paths", {}).items():
        for operation in operations.values():
            _complete(operation, path)
    schemas: dict[str, Any] = doc.setdefault("components", {}).setdefault("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    schemas.update(TypeAdapter(ErrorBody).json_schema(ref_template="#/components/schemas/{model}").pop("$defs"))
    schemas["ErrorBody"] = TypeAdapter(ErrorBody).json_schema(ref_template="#/components/schemas/{model}")
    schemas["ErrorBody"].pop("$defs", None)
    schemas.update(components or {})
    app.openapi_schema = doc
    return doc


def install(app: FastAPI, components: Mapping[str, dict[str, Any]] | None = None) -> None:
    """Make the app serve :func:`document` as its OpenAPI document (with extra schema ``components``)."""

    def openapi() -> dict[str, Any]:
        return document(app, components)

    app.openapi = openapi  # type: ignore[method-assign]
