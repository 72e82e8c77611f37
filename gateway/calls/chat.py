"""The chat service: one client request's upstream plan (`ChatCall`) and its preparation.

Chat completions and responses both run through here, so they share the planning
(translate/chat) and the answer reading (AnswerTranslator, AnswerShaper); only the
routes' rendering differs.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace

from starlette.requests import Request

from ..accounts import AccountPool
from ..attachments import Attachment, ImageRef, UploadCache, image_refs, load_images, upload_images
from ..catalog import ResolvedModel
from ..errors import InvalidRequest, UpstreamChatNotFound, UpstreamTimeout, UpstreamTransient
from ..qwen.client import QwenClient
from ..qwen.events import Delta, Event
from ..qwen.files import hosted_image_entry
from ..routes.common import cancel_on_disconnect
from ..translate.answer import AnswerShaper, Shaped
from ..translate.chat import ChatRequest, completion_payload, compose_prompt, fold_messages, hosted_images, render_message
from ..translate.completion import AnswerTranslator, Piece

log = logging.getLogger("gateway.chat")
ROUNDS = 2  # an unusable answer (missing required call, invalid JSON) is asked for once more


@dataclass
class OpenAnswer:
    """An upstream answer that has produced its first output, ready to be read on."""

    client: QwenClient
    translator: AnswerTranslator
    events: AsyncIterator[Event]
    first: list[Piece]

    async def pieces(self) -> AsyncIterator[Piece]:
        for piece in self.first:
            yield piece
        async for event in self.events:
            for piece in self.translator.feed(event):
                yield piece

    async def close(self) -> None:
        await self.events.aclose()  # type: ignore[attr-defined]


class ChatCall:
    """One client request's plan; `open` and `complete` are the pool's attempts."""

    def __init__(self, chat: ChatRequest, model: ResolvedModel, first_event_timeout: float,
                 images: list[tuple[ImageRef, Attachment]] | None = None, uploads: UploadCache | None = None) -> None:
        self.chat = chat
        self.images = images or []
        self._uploads = uploads
        self.model_id = model.info.id
        self.chat_type = "search" if model.search or chat.web_search else "t2t"
        wants = model.thinking or bool(chat.thinking)
        self.thinking = wants and model.info.thinking and chat.thinking is not False
        self.instructions = chat.instructions()
        self._first_event_timeout = first_event_timeout

    def shaper(self) -> AnswerShaper:
        return AnswerShaper(self.chat.tools, self.chat.json_format)

    async def open(self, client: QwenClient, correction: str | None = None,
                   translator: AnswerTranslator | None = None) -> OpenAnswer:
        chat = self.chat
        extra = [correction] if correction else []
        if chat.chat_id is not None and correction is None:
            last = render_message(chat.messages[-1], {})
            latest = [image for ref, image in self.images if ref.message_index == len(chat.messages) - 1]
            try:
                return await self._open(client, chat.chat_id, compose_prompt(self.instructions, last),
                                        chat.parent_id, translator, latest)
            except UpstreamChatNotFound as exc:
                log.info("chat %s cannot be continued (%s); folding into a new chat", chat.chat_id, exc.message)
        chat_id = await client.create_chat(self.model_id, self.chat_type)
        prompt = compose_prompt(self.instructions + extra, fold_messages(chat.messages))
        return await self._open(client, chat_id, prompt, None, translator, [image for _, image in self.images])

    async def complete(self, client: QwenClient) -> dict:
        """The whole answer inside the attempt: a non-stream call can fail over even mid-answer."""
        correction: str | None = None
        for round_ in range(ROUNDS):
            answer = await self.open(client, correction)
            shaper = self.shaper()
            content: list[str] = []
            reasoning: list[str] = []
            try:
                async for piece in answer.pieces():
                    out = shaper.feed(piece)
                    if out is not None:
                        (content if out[0] == "content" else reasoning).append(out[1])
            finally:
                await answer.close()  # at once, not when collected: it holds an upstream connection
            shaped = shaper.finish()
            if shaped.correction is None or round_ == ROUNDS - 1:
                break
            correction = shaped.correction
        text = "".join(content) + shaped.content
        return answer.translator.completion(text, "".join(reasoning), shaped.tool_calls)

    async def _open(self, client: QwenClient, chat_id: str, content: str, parent_id: str | None,
                    translator: AnswerTranslator | None, images: list[Attachment]) -> OpenAnswer:
        # Uploads are per account (STS credentials), so they happen inside the attempt.
        files = await upload_images(client, images, self._uploads) if images and self._uploads else []
        files += [hosted_image_entry(url) for url in hosted_images(self.chat.messages[-1])]
        payload = completion_payload(
            chat_id=chat_id, model=self.model_id, content=content, parent_id=parent_id, files=files,
            chat_type=self.chat_type, thinking=self.thinking, thinking_budget=self.chat.thinking_budget,
        )
        translator = translator or AnswerTranslator(self.chat.model, content)
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
        return OpenAnswer(client, translator, events, first)


async def _first_output(events: AsyncIterator[Event], translator: AnswerTranslator) -> list[Piece]:
    async for event in events:
        pieces = translator.feed(event)
        if pieces:
            return pieces
        if isinstance(event, Delta) and event.is_end:
            break
    raise UpstreamTransient("Qwen finished with an empty answer")


async def prepare_call(request: Request, chat: ChatRequest) -> tuple[ChatCall, str | None]:
    """Check the request against its model, load its images, and find the account that
    owns a continued chat (None: any account; an unknown chat is folded instead)."""
    state = request.app.state
    if chat.parent_id is not None and chat.chat_id is None:
        raise InvalidRequest("'parent_id' continues an upstream chat and needs 'chat_id' too.", param="parent_id")
    model = await state.catalog.resolve(chat.model)
    if "t2t" not in model.info.chat_types:
        raise InvalidRequest(f"The model '{chat.model}' does not chat (it offers {', '.join(sorted(model.info.chat_types))}); "
                             "see GET /v1/models.", param="model", code="model_not_supported")
    request.state.model = model.info.id
    pool: AccountPool = state.pool
    owner = pool.chat_owner(chat.chat_id) if chat.chat_id else None
    if owner is None and chat.chat_id is not None:
        log.info("chat %s has no known owner here; folding into a new chat", chat.chat_id)
        chat = replace(chat, chat_id=None, parent_id=None)
    refs = image_refs(chat.messages)
    if (refs or hosted_images(chat.messages[-1])) and not model.info.vision:
        raise InvalidRequest(f"The model '{model.info.id}' cannot read images; use a vision model.", param="model")
    images = await cancel_on_disconnect(request, load_images(refs, state.media)) if refs else []
    return ChatCall(chat, model, state.settings.timeouts.first_event, list(zip(refs, images)), state.media.uploads), owner


class AnswerStream:
    """A streamed answer read through the shaper, asking once more for an unusable one.

    `pieces()` yields what may reach the client now; then `shaped` holds what is left
    (content held back, tool calls found). A second round happens only while nothing
    of the content has gone out, since it could not replace it.
    """

    def __init__(self, call: ChatCall, answer: OpenAnswer) -> None:
        self.call = call
        self.answer = answer
        self.shaped = Shaped("")

    async def pieces(self) -> AsyncIterator[Piece]:
        sent = False
        for round_ in range(ROUNDS):
            shaper = self.call.shaper()
            async for piece in self.answer.pieces():
                out = shaper.feed(piece)
                if out is not None:
                    sent = sent or out[0] == "content"
                    yield out
            self.shaped = shaper.finish()
            if self.shaped.correction is None or round_ == ROUNDS - 1 or sent:
                return
            await self.answer.close()
            self.answer = await self.call.open(self.answer.client, self.shaped.correction, self.answer.translator)

    async def close(self) -> None:
        await self.answer.close()
