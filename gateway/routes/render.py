"""Responses the /v1 routes and the original API's routes share: a chat answer, whole or streamed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from ..calls import completions
from ..calls.lifetime import CutOnShutdown
from ..translate.chat import ChatRequest
from .common import json_response
from .event_stream import EventStream


async def answer_chat(request: Request, chat: ChatRequest,
                      extra: Callable[[dict[str, Any]], dict[str, Any]] | None = None) -> Response:
    """Serve a parsed chat request: /v1 and the legacy /api/chat share this path.

    `extra` adds fields to a whole (non-stream) answer, e.g. the legacy API's chatId.
    """
    if not chat.stream:
        completion = await completions.complete(request, chat)
        return json_response(extra(completion) if extra else completion)
    call, opened = await completions.open_stream(request, chat)
    grace = request.app.state.settings.timeouts.shutdown_grace
    cut = CutOnShutdown(grace)
    return EventStream(completions.stream_chunks(call, opened, chat.include_usage, cut), cut, grace)
