"""Reading request bodies with a byte cap: neither uvicorn nor Starlette has one."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
from starlette.requests import Request

from .errors import InvalidRequest, PayloadTooLarge, UnsupportedMediaType


async def capped_stream(request: Request, max_bytes: int) -> AsyncIterator[bytes]:
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
    content_type = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if content_type and content_type != "application/json" and not content_type.endswith("+json"):
        raise UnsupportedMediaType(f"Expected a JSON body, got content type '{content_type}'.")
    body = await read_body(request, max_bytes)
    if not body.strip():
        raise InvalidRequest("The request body is empty; a JSON object is expected.")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"The request body is not valid JSON: {exc.msg} at position {exc.pos}.") from None


def _too_large(max_bytes: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"The request body is larger than the limit of {max_bytes} bytes.")
