"""Reading what the upstream answers: the actual status, error envelopes and WAF pages
(`decode_json`), SSE completion bodies (`events_of`), task statuses and file downloads.

Pure of sessions: `QwenClient` makes the calls and hands the responses here.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson

from ..errors import UpstreamBlocked, UpstreamContract, UpstreamUnauthorized
from .events import AnswerSelector, Delta, Event, error_from_body, parse_event, raise_for_error
from .sse import DONE, UNPARSED, SSEDecoder
from .transport import guard

DRAIN_TIMEOUT = 1.0  # seconds to wait for the end of a finished stream's body


@dataclass(frozen=True, slots=True)
class TaskStatus:
    status: str  # running, success / completed, anything else failed; "not_found" for an unknown task
    content: str  # the mp4 URL once rendered
    message: str


def task_status_of(raw: bytes, status: int) -> TaskStatus:
    obj = loads(raw)
    data = obj.get("data") if isinstance(obj, dict) and isinstance(obj.get("data"), dict) else obj
    if status == 404 and isinstance(data, dict) and data.get("code") == "Not_Found":
        return TaskStatus("not_found", "", str(data.get("details") or ""))
    decode_json(raw, status)  # every other error of the catalog (§10)
    if not isinstance(data, dict) or not isinstance(data.get("task_status"), str):
        raise UpstreamContract("Qwen's task status carries no task_status")
    return TaskStatus(data["task_status"], str(data.get("content") or ""), str(data.get("message") or ""))


class Download:
    """An open upstream file response: read it with `chunks()`, then `close()`."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self.status = response.status
        self.content_type = response.headers.get("content-type", "")
        self.length = response.headers.get("content-length")
        self._response = response

    async def chunks(self, size: int = 64 * 1024) -> AsyncIterator[bytes]:
        broke_off = "the download from Qwen's file host broke off"
        async with guard(str(self._response.url), "", broke_off, broke_off):
            async for chunk in self._response.content.iter_chunked(size):
                yield chunk

    def close(self) -> None:
        self._response.close()


def loads(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None


async def events_of(response: aiohttp.ClientResponse) -> AsyncGenerator[Event, None]:
    """Sniff the body (SSE, whole JSON or HTML), then decode SSE events to the end."""
    status = actual_status(response)
    chunks = response.content.iter_any()
    first = b""
    async for chunk in chunks:
        first += chunk
        if first.strip():
            break
    if not first.lstrip().startswith(b"data:") or status >= 400:
        rest = await response.read() if first.lstrip()[:1] in (b"{", b"<") else b""
        decode_json(first + rest, status)
        raise UpstreamContract(f"Qwen answered a completion with a non-SSE body (HTTP {status})")
    decoder = SSEDecoder()
    selector = AnswerSelector()  # one answer of a two-answer stream (§4)
    pending: list[tuple[bytes, Any]] | None = decoder.feed_decoded(first)
    while pending is not None:
        for data, obj in pending:
            event = _parse(data, obj)
            if not selector.keep(event):
                continue
            yield event
            if isinstance(event, Delta) and event.is_end:
                await _drain(response)
                return
        chunk = await anext(chunks, b"")
        pending = decoder.feed_decoded(chunk) if chunk else None
    for data, obj in decoder.flush_decoded():
        event = _parse(data, obj)
        if selector.keep(event):
            yield event
    # A clean end of the body without `finished` is a normal end (§4): the reader
    # judges it by whether any answer came.


async def _drain(response: aiohttp.ClientResponse) -> None:
    """Read the little left after the last event, so the connection goes back to the pool."""
    try:
        async with asyncio.timeout(DRAIN_TIMEOUT):
            await response.read()
    except (TimeoutError, aiohttp.ClientError):
        pass  # the connection is simply closed instead


def _parse(data: bytes, obj: Any) -> Event:
    if obj is DONE or data.strip() == b"[DONE]":
        return parse_event(None)
    if obj is UNPARSED:
        raise UpstreamContract("Qwen sent an SSE event that is not JSON")
    return parse_event(obj)


def actual_status(response: aiohttp.ClientResponse) -> int:
    # v2 endpoints answer 200 and put the real status in a header.
    actual = response.headers.get("x-actual-status-code")
    return int(actual) if actual and actual.isdigit() else response.status


WAF_MARKERS = (b"aliyun_waf", b"<!doctypehtml>", b"captcha", b"punish", b"x5sec", b"Verification")


def token_refused(raw: bytes, status: int) -> bool:
    """Either expired-token shape of §10: HTTP 401, or an envelope the catalog reads as unauthorized."""
    if status == 401:
        return True
    obj = loads(raw) if raw.lstrip()[:1] == b"{" else None
    return isinstance(obj, dict) and isinstance(error_from_body(obj, status), UpstreamUnauthorized)


def _looks_like_waf(raw: bytes) -> bool:
    head = raw[:20000]
    return any(marker in head for marker in WAF_MARKERS)


def decode_json(raw: bytes, status: int) -> Any:
    head = raw.lstrip()[:1]
    if head == b"<" and (status < 500 or _looks_like_waf(raw)):
        raise UpstreamBlocked(
            f"Qwen answered with a WAF/captcha page (HTTP {status}); the account needs fresh cookies or bx-* headers"
        )
    obj = loads(raw)  # None for an empty or non-JSON body: judged by its status below
    raise_for_error(obj, status)
    return obj
