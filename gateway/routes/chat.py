"""`POST /v1/chat/completions`: stream and not, thinking, tools, JSON formats, web search,
and continuation of an upstream chat."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar
from dataclasses import replace

import anyio
from sse_starlette import EventSourceResponse
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..accounts import AccountPool, Lease
from ..attachments import image_refs, load_images
from ..calls.chat import ROUNDS, Chaining, ChatCall, Documents, OpenAnswer
from ..documents import document_parts, load_documents
from ..errors import GatewayError, InvalidRequest, NoAccountAvailable, UpstreamError
from ..limits import read_json
from ..middleware import request_owner
from ..qwen.client import QwenClient
from ..translate.answer import Shaped
from ..translate.chat import ChatRequest, hosted_images, parse_chat_request
from ..translate.completion import DONE, AnswerTranslator, error_event
from .common import CutOnShutdown, cancel_on_disconnect, json_response

__all__ = ["ROUTES", "ChatCall", "OpenAnswer", "answer_chat", "create_chat_completion"]

log = logging.getLogger("gateway.chat")
T = TypeVar("T")


async def create_chat_completion(request: Request) -> Response:
    chat = parse_chat_request(await read_json(request, request.app.state.settings.max_body_bytes))
    return await answer_chat(request, chat)


async def answer_chat(request: Request, chat: ChatRequest, extra: Callable[[dict], dict] | None = None) -> Response:
    """Serve a parsed chat request: /v1 and the legacy /api/chat share this path.

    `extra` adds fields to a whole (non-stream) answer, e.g. the legacy API's chatId.
    """
    state = request.app.state
    if chat.parent_id is not None and chat.chat_id is None:
        raise InvalidRequest("'parent_id' continues an upstream chat and needs 'chat_id' too.", param="parent_id")
    model = await state.catalog.resolve(chat.model)
    if "t2t" not in model.info.chat_types:
        raise InvalidRequest(f"The model '{chat.model}' does not chat (it offers {', '.join(sorted(model.info.chat_types))}); "
                             "see GET /v1/models.", param="model", code="model_not_supported")
    if chat.web_search and "search" not in model.info.chat_types:
        raise InvalidRequest(f"The model '{model.info.id}' cannot search the web; drop 'web_search_options' or "
                             "pick a model with search (see GET /v1/models).", param="web_search_options",
                             code="model_not_supported")
    request.state.model = model.info.id
    pool: AccountPool = state.pool
    owner = await state.chats.owner(chat.chat_id) if chat.chat_id else None
    if owner is None and chat.chat_id is not None:
        log.info("chat %s has no known owner here; folding into a new chat", chat.chat_id)
        chat = replace(chat, chat_id=None, parent_id=None)
    refs = image_refs(chat.messages)
    if (refs or hosted_images(chat.messages[-1])) and not model.info.vision:
        raise InvalidRequest(f"The model '{model.info.id}' cannot read images; use a vision model.", param="model")
    if document_parts(chat.messages) and not model.info.document:
        raise InvalidRequest(f"The model '{model.info.id}' cannot read documents; use a model with the "
                             "document capability (see GET /v1/models).", param="model", code="model_not_supported")
    images = await cancel_on_disconnect(request, load_images(refs, state.media)) if refs else []
    documents = await load_documents(request, chat.messages)
    chaining = await _chaining(request, chat, model.info.id)
    if chaining is not None and chaining.link is not None:
        owner = chaining.link.account_id
    call = ChatCall(chat, model, state.settings.timeouts.first_event, list(zip(refs, images)), state.media.uploads,
                    conversation=state.settings.conversation, chaining=chaining,
                    documents=Documents(documents, state.media.uploads.sts_keys, state.settings.media.parse_poll,
                                        state.settings.media.parse_wait))
    if not chat.stream:
        lease = await cancel_on_disconnect(request, _acquire(pool, call.complete, owner, chaining))
        lease.release()
        request.state.account = lease.account_id
        state.chats.remember(lease.value["chat_id"], lease.account_id)
        return json_response(extra(lease.value) if extra else lease.value)
    opened: Lease[OpenAnswer] = await cancel_on_disconnect(request, _acquire(pool, call.open, owner, chaining))
    request.state.account = opened.account_id
    state.chats.remember(opened.value.translator.chat_id, opened.account_id)
    grace = state.settings.timeouts.shutdown_grace
    shutdown = anyio.Event()
    return EventSourceResponse(_stream(call, opened, chat.include_usage, CutOnShutdown(shutdown, grace)), sep="\n",
                               ping=15, shutdown_event=shutdown, shutdown_grace_period=grace)


async def _stream(call: ChatCall, lease: Lease[OpenAnswer], usage: bool, cut: CutOnShutdown) -> AsyncIterator[bytes]:
    answer = lease.value
    translator = answer.translator
    failure: GatewayError | None = None
    try:
        yield translator.role_chunk(usage)
        sent: list[str] = []
        async with cut:
            for round_ in range(ROUNDS):
                shaper = call.shaper()
                async for piece in answer.pieces():
                    out = shaper.feed(piece)
                    if out is not None:
                        if out[0] == "content":
                            sent.append(out[1])
                        yield translator.piece_chunk(out, usage)
                shaped = shaper.finish()
                if shaped.correction is None or round_ == ROUNDS - 1 or sent:
                    break  # once content went out, a second answer cannot replace it
                await answer.close()
                answer = await call.open(answer.client, shaped.correction, translator)
        for chunk in _closing_chunks(translator, shaped, sent, usage):
            yield chunk
        await call.remember(lease.account_id, translator, "".join(sent), shaped.tool_calls)
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


async def _acquire(pool: AccountPool, attempt: Callable[[QwenClient], Awaitable[T]], owner: str | None,
                   chaining: Chaining | None) -> Lease[T]:
    """The pool's attempt; a chained conversation whose account fails folds on any account instead
    of failing (a client's own chat_id stays pinned: only its account knows that chat)."""
    try:
        return await pool.acquire(attempt, pinned=owner)
    except (UpstreamError, NoAccountAvailable) as exc:
        if chaining is None or chaining.link is None or not getattr(exc, "retry_elsewhere", True):
            raise
        log.info("the account of chat %s failed (%s); folding on another account", chaining.link.chat_id,
                 exc.message)
        chaining.link = None
        return await pool.acquire(attempt)


async def _chaining(request: Request, chat: ChatRequest, model_id: str) -> Chaining | None:
    """The stored upstream chat this conversation continues, if its account can serve now."""
    conversations = request.app.state.conversations
    if chat.chat_id is not None or not conversations.enabled:
        return None
    chaining = Chaining(conversations, request_owner(request.scope))
    link = await conversations.find(chaining.owner, model_id, "\n".join(chat.instructions()), chat.messages)
    if link is not None:  # its chat lives on one account: fold rather than wait for a resting one
        healthy = {a["id"] for a in request.app.state.pool.status() if a["state"] == "healthy"}
        chaining.link = link if link.account_id in healthy else None
    return chaining


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
