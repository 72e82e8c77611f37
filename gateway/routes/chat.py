"""`POST /v1/chat/completions`: stream and not, thinking, tools, JSON formats, web search,
and continuation of an upstream chat."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
from sse_starlette import EventSourceResponse
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..accounts import AccountPool, Lease
from ..calls.chat import AnswerStream, ChatCall, OpenAnswer, acquire, prepare_call
from ..errors import GatewayError
from ..offload import read_chat_request
from ..translate.answer import Shaped
from ..translate.chat import ChatRequest
from ..translate.completion import DONE, AnswerTranslator, error_event
from .common import CutOnShutdown, cancel_on_disconnect, json_response

log = logging.getLogger("gateway.chat")


async def create_chat_completion(request: Request) -> Response:
    chat = await read_chat_request(request, request.app.state.settings.max_body_bytes)
    return await answer_chat(request, chat)


async def answer_chat(request: Request, chat: ChatRequest,
                      extra: Callable[[dict[str, Any]], dict[str, Any]] | None = None) -> Response:
    """Serve a parsed chat request: /v1 and the legacy /api/chat share this path.

    `extra` adds fields to a whole (non-stream) answer, e.g. the legacy API's chatId.
    """
    state = request.app.state
    call, owner = await prepare_call(request, chat)
    pool: AccountPool = state.pool
    if not chat.stream:
        lease = await cancel_on_disconnect(request, acquire(pool, call, call.complete, owner))
        lease.release()
        request.state.account = lease.account_id
        request.state.usage = lease.value.get("usage")  # for /metrics
        state.chats.remember(lease.value["chat_id"], lease.account_id)
        return json_response(extra(lease.value) if extra else lease.value)
    opened: Lease[OpenAnswer] = await cancel_on_disconnect(request, acquire(pool, call, call.open, owner))
    request.state.account = opened.account_id
    request.state.translator = opened.value.translator  # its usage, once the stream ends, for /metrics
    state.chats.remember(opened.value.translator.chat_id, opened.account_id)
    grace = state.settings.timeouts.shutdown_grace
    shutdown = anyio.Event()
    return EventSourceResponse(_stream(call, opened, chat.include_usage, CutOnShutdown(shutdown, grace)), sep="\n",
                               ping=15, shutdown_event=shutdown, shutdown_grace_period=grace)


async def _stream(call: ChatCall, lease: Lease[OpenAnswer], usage: bool, cut: CutOnShutdown) -> AsyncIterator[bytes]:
    answer = AnswerStream(call, lease.value)
    translator = lease.value.translator
    failure: GatewayError | None = None
    try:
        yield translator.role_chunk(usage)
        sent: list[str] = []
        async with cut:
            async for out in answer.pieces():
                if out[0] == "content":
                    sent.append(out[1])
                yield translator.piece_chunk(out, usage)
        for chunk in _closing_chunks(translator, answer.shaped, sent, usage):
            yield chunk
        await call.remember(lease.account_id, translator, "".join(sent), answer.shaped.tool_calls)
    except GatewayError as exc:
        failure = exc
        log.warning("stream from account %s failed after its first byte: %s", lease.account_id, exc.message)
    except Exception:  # a bug of ours: the client still gets an error event and [DONE], not a cut connection
        log.exception("stream from account %s failed unexpectedly after its first byte", lease.account_id)
        failure = GatewayError("The gateway failed unexpectedly while streaming; the error is logged.")
    finally:
        lease.release(failure)
        await answer.close()
    if failure is not None:
        yield error_event(failure)
    yield DONE


def _closing_chunks(translator: AnswerTranslator, shaped: Shaped, sent: list[str], usage: bool) -> list[bytes]:
    chunks = []
    if shaped.content:
        sent.append(shaped.content)
        chunks.append(translator.piece_chunk(("content", shaped.content), usage))
    chunks += translator.tool_call_chunks(shaped.tool_calls, usage)
    if translator.sources:
        chunks.append(translator.annotations_chunk("".join(sent), usage))
    chunks.append(translator.finish_chunk(usage, shaped.finish_reason))
    if usage:
        chunks.append(translator.usage_chunk())
    return chunks


ROUTES = [Route("/v1/chat/completions", create_chat_completion, methods=["POST"])]
