"""`POST /v1/chat/completions`: stream and not, thinking, upstream chat continuation."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace

from sse_starlette import EventSourceResponse
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..accounts import AccountPool, Lease
from ..catalog import ResolvedModel
from ..errors import GatewayError, InvalidRequest, UpstreamChatNotFound, UpstreamTimeout, UpstreamTransient
from ..limits import read_json
from ..qwen.client import QwenClient
from ..qwen.events import Delta, Event
from ..translate.chat import ChatRequest, completion_payload, fold_messages, parse_chat_request, text_of
from ..translate.completion import DONE, AnswerTranslator, Piece, error_event
from .common import cancel_on_disconnect, json_response

log = logging.getLogger("gateway.chat")


@dataclass
class OpenAnswer:
    """An upstream answer that has produced its first output, ready to stream."""

    translator: AnswerTranslator
    events: AsyncIterator[Event]
    first: list[Piece]


class ChatCall:
    """One client request's plan; `open` and `complete` are the pool's attempts."""

    def __init__(self, chat: ChatRequest, model: ResolvedModel, first_event_timeout: float) -> None:
        self.chat = chat
        self.model_id = model.info.id
        wants = model.thinking or bool(chat.thinking)
        self.thinking = wants and model.info.thinking and chat.thinking is not False
        self.folded = fold_messages(chat.messages)
        self._first_event_timeout = first_event_timeout

    async def open(self, client: QwenClient) -> OpenAnswer:
        chat = self.chat
        if chat.chat_id is not None:
            try:
                return await self._open(client, chat.chat_id, text_of(chat.messages[-1]), chat.parent_id)
            except UpstreamChatNotFound as exc:
                log.info("chat %s cannot be continued (%s); folding into a new chat", chat.chat_id, exc.message)
        chat_id = await client.create_chat(self.model_id, "t2t")
        return await self._open(client, chat_id, self.folded, None)

    async def complete(self, client: QwenClient) -> tuple[AnswerTranslator, list[Piece]]:
        """The whole answer inside the attempt: a non-stream call can fail over even mid-answer."""
        answer = await self.open(client)
        pieces = list(answer.first)
        async for event in answer.events:
            pieces.extend(answer.translator.feed(event))
        return answer.translator, pieces

    async def _open(self, client: QwenClient, chat_id: str, content: str, parent_id: str | None) -> OpenAnswer:
        payload = completion_payload(
            chat_id=chat_id, model=self.model_id, content=content, parent_id=parent_id,
            thinking=self.thinking, thinking_budget=self.chat.thinking_budget,
        )
        translator = AnswerTranslator(self.chat.model, content)
        translator.chat_id = chat_id
        events = client.stream_completion(chat_id, payload)
        try:
            async with asyncio.timeout(self._first_event_timeout):
                first = await _first_output(events, translator)
        except BaseException as exc:
            await events.aclose()  # type: ignore[attr-defined]
            if isinstance(exc, TimeoutError):
                raise UpstreamTimeout("Qwen sent no answer before the first-event timeout") from None
            raise
        return OpenAnswer(translator, events, first)


async def _first_output(events: AsyncIterator[Event], translator: AnswerTranslator) -> list[Piece]:
    async for event in events:
        pieces = translator.feed(event)
        if pieces:
            return pieces
        if isinstance(event, Delta) and event.is_end:
            break
    raise UpstreamTransient("Qwen finished with an empty answer")


async def create_chat_completion(request: Request) -> Response:
    state = request.app.state
    chat = parse_chat_request(await read_json(request, state.settings.max_body_bytes))
    if chat.parent_id is not None and chat.chat_id is None:
        raise InvalidRequest("'parent_id' continues an upstream chat and needs 'chat_id' too.", param="parent_id")
    model = await state.catalog.resolve(chat.model)
    request.state.model = model.info.id
    pool: AccountPool = state.pool
    owner = pool.chat_owner(chat.chat_id) if chat.chat_id else None
    if owner is None and chat.chat_id is not None:
        log.info("chat %s has no known owner here; folding into a new chat", chat.chat_id)
        chat = replace(chat, chat_id=None, parent_id=None)
    call = ChatCall(chat, model, state.settings.timeouts.first_event)
    if not chat.stream:
        lease = await cancel_on_disconnect(request, pool.acquire(call.complete, pinned=owner))
        lease.release()
        translator, pieces = lease.value
        request.state.account = lease.account_id
        pool.remember_chat(translator.chat_id, lease.account_id)
        return json_response(translator.completion(pieces))
    opened: Lease[OpenAnswer] = await cancel_on_disconnect(request, pool.acquire(call.open, pinned=owner))
    request.state.account = opened.account_id
    pool.remember_chat(opened.value.translator.chat_id, opened.account_id)
    return EventSourceResponse(_stream(opened, chat.include_usage), sep="\n", ping=15)


async def _stream(lease: Lease[OpenAnswer], include_usage: bool) -> AsyncIterator[bytes]:
    answer = lease.value
    translator = answer.translator
    failure: GatewayError | None = None
    try:
        yield translator.role_chunk(include_usage)
        for piece in answer.first:
            yield translator.piece_chunk(piece, include_usage)
        async for event in answer.events:
            for piece in translator.feed(event):
                yield translator.piece_chunk(piece, include_usage)
        yield translator.finish_chunk(include_usage)
        if include_usage:
            yield translator.usage_chunk()
    except GatewayError as exc:
        failure = exc
        log.warning("stream from account %s failed after its first byte: %s", lease.account_id, exc.message)
    finally:
        lease.release(failure)
        await answer.events.aclose()  # type: ignore[attr-defined]
    if failure is not None:
        yield error_event(failure)
    yield DONE


ROUTES = [Route("/v1/chat/completions", create_chat_completion, methods=["POST"])]
