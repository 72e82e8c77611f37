"""Request bodies: a byte cap per request and a budget for all requests at once.

Neither uvicorn nor Starlette has either. The cap bounds one request (413); the budget
bounds what every request together holds in memory (503 + Retry-After), so ten 45 MB
bodies arriving together cannot take the process past its memory.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

import orjson
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import InvalidRequest, Overloaded, PayloadTooLarge, UnsupportedMediaType

RETRY_AFTER = "2"  # seconds: bodies in flight are usually read and answered within that


class BodyBudget:
    """Pure-ASGI: reserves each request's body bytes as they arrive, until its response ends."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.held = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared > self.max_bytes - self.held:  # it cannot fit now: say so before reading a byte
            await _refuse(send, self._overloaded())
            return
        reserved = 0

        async def counted() -> Message:
            nonlocal reserved
            message = await receive()
            size = len(message.get("body", b""))
            if size:
                if self.held + size > self.max_bytes:
                    raise self._overloaded()
                self.held += size
                reserved += size
            return message

        try:
            await self.app(scope, counted, send)
        finally:
            self.held -= reserved

    def _overloaded(self) -> Overloaded:
        return Overloaded("The gateway is holding as many request bodies as it may at once; retry shortly.",
                          headers={"retry-after": RETRY_AFTER})


def _content_length(scope: Scope) -> int:
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else 0
    return 0


async def _refuse(send: Send, error: Overloaded) -> None:
    body = error.render()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers += [(k.encode(), v.encode()) for k, v in error.headers.items()]
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def capped_stream(request: Request, max_bytes: int) -> AsyncGenerator[bytes, None]:
    """The body as it streams in; 413 as soon as it passes `max_bytes` (declared or counted)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise _too_large(max_bytes)
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise _too_large(max_bytes)
        yield chunk


async def read_body(request: Request, max_bytes: int) -> bytes:
    """The whole body, or 413 as soon as it passes `max_bytes`."""
    return b"".join([chunk async for chunk in capped_stream(request, max_bytes)])


async def read_json(request: Request, max_bytes: int) -> Any:
    return json_loads(await read_json_bytes(request, max_bytes))


async def read_json_bytes(request: Request, max_bytes: int) -> bytes:
    """A JSON body's bytes, not yet decoded (see offload.py for big ones)."""
    check_json_type(request)
    return await read_body(request, max_bytes)


def check_json_type(request: Request) -> None:
    """415 unless the body is declared JSON (or not declared at all)."""
    content_type = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if content_type and content_type != "application/json" and not content_type.endswith("+json"):
        raise UnsupportedMediaType(f"Expected a JSON body, got content type '{content_type}'.")


def json_loads(body: bytes) -> Any:
    if not body.strip():
        raise InvalidRequest("The request body is empty; a JSON object is expected.")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"The request body is not valid JSON: {exc.msg} at position {exc.pos}.") from None


def _too_large(max_bytes: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"The request body is larger than the limit of {max_bytes} bytes.")
