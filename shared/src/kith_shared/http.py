"""HTTP edges every service shares: the request body limit, enforced before anything reads the body.

:class:`BodyLimitMiddleware` sits outside routing, authentication and parsing. It refuses at once a
``Content-Length`` above the limit, then reads the body itself, counting the bytes that actually
arrive (a ``Content-Length`` may lie, a chunked body declares none), and answers 413 as soon as the
count passes the limit. Only a body within the limit reaches the app, whole, as one message: so no
key lookup, JSON parse or validation ever runs on an oversized body, with or without a key.

Holding the body before the app runs costs nothing extra: every route reads its body whole anyway.
"""

from __future__ import annotations

from typing import Final

import pydantic_core
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kith_shared.errors import error_body

#: Code of the 413 answer, in the JSON error shape.
TOO_LARGE: Final = "payload_too_large"


async def send_error(send: Send, status: int, code: str, message: str, *, close: bool = False) -> None:
    """Send a whole JSON error answer from ASGI middleware (``{"error": {"code", "message"}}``)."""
    body = pydantic_core.to_json(error_body(code, message))
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if close:
        # The unread rest of the body must not be taken for the next request on this connection.
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class BodyLimitMiddleware:
    """Refuse (413) any request body over ``max_body_bytes`` before the app sees it; pass the rest whole."""

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.limit = max_body_bytes

    async def _too_large(self, send: Send) -> None:
        await send_error(send, 413, TOO_LARGE, f"the body exceeds the limit of {self.limit} bytes", close=True)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _header(scope, b"content-length")
        if declared is not None:
            if not declared.strip().isdigit():
                await send_error(send, 400, "bad_request", "Content-Length is not a number", close=True)
                return
            if int(declared) > self.limit:
                await self._too_large(send)
                return
        first = await self._read(receive)
        if first is None:
            await self._too_large(send)
            return
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return first
            return await receive()  # after the body, only a disconnect can come

        await self.app(scope, replay, send)

    async def _read(self, receive: Receive) -> Message | None:
        """Return the whole body as one message (or the disconnect that cut it), None past the limit."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return message
            chunk: bytes = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers") or ():
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None
