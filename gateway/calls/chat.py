"""The chat service: one client request's plan, run as the pool's attempts.

What goes upstream, in order of preference:
  * a continuation of an upstream chat: the client's own `chat_id`/`parent_id`, or a
    conversation the gateway already sent (`conversations`): only the new turns;
  * else the whole conversation folded into one message in a new chat;
  * a folded prompt over `conversation.context_file_chars` keeps its instructions and
    newest turns inline and sends the older history as context files (§7a).
A lost chat or parent folds once (§6); an anti-bot answer to an oversized prompt rests
no account and goes to no other account (§10).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from starlette.requests import Request

from ..accounts import AccountPool, Lease
from ..attachments import Attachment, ImageRef, UploadCache, image_refs, load_images, upload_images
from ..catalog import ResolvedModel
from ..config import ConversationSettings
from ..conversations import ConversationMap, Link
from ..documents import DocumentFile, document_parts, load_documents
from ..errors import (
    InvalidRequest,
    NoAccountAvailable,
    UpstreamAnswerTooLong,
    UpstreamBlocked,
    UpstreamCaptcha,
    UpstreamChatNotFound,
    UpstreamEmptyStream,
    UpstreamError,
    UpstreamOversizeBlocked,
)
from ..fresh_chats import FreshChats, open_in_new_chat
from ..middleware import request_owner
from ..qwen.client import QwenClient
from ..qwen.documents import document_entry, upload_document
from ..qwen.events import Event
from ..qwen.files import StsKeys, UploadedFile, hosted_image_entry
from ..translate.answer import AnswerShaper, Shaped
from ..translate.chat import ChatRequest, completion_payload, compose_prompt, fold_lines, hosted_images
from ..translate.completion import AnswerTranslator, Piece
from ..translate.context import plan_context
from .answers import start_answer
from .lifetime import cancel_on_disconnect

log = logging.getLogger("gateway.chat")
T = TypeVar("T")
ROUNDS = 2  # an unusable answer (missing required call, invalid JSON) is asked for once more


@dataclass
class OpenAnswer:
    """An upstream answer that has produced its first output, ready to be read on."""

    client: QwenClient
    translator: AnswerTranslator
    events: AsyncIterator[Event]
    first: list[Piece]
    deadline: float | None = None  # loop time when the try is over (timeouts.max_answer)

    async def pieces(self) -> AsyncIterator[Piece]:
        for piece in self.first:
            yield piece
        while True:
            timer = asyncio.timeout_at(self.deadline)  # around each read only: never across a yield
            try:
                async with timer:
                    event = await anext(self.events)
            except StopAsyncIteration:
                return
            except TimeoutError:
                if not timer.expired():
                    raise
                raise UpstreamAnswerTooLong("Qwen's answer was still coming after timeouts.max_answer; it was "
                                            "cut (a retry would run as long)") from None
            for piece in self.translator.feed(event):
                yield piece

    async def close(self) -> None:
        await self.events.aclose()  # type: ignore[attr-defined]


@dataclass
class Chaining:
    """Who asks, and where their conversation stands upstream (None: fold)."""

    conversations: ConversationMap
    owner: str
    link: Link | None = None


@dataclass
class Documents:
    """Documents the request attaches, uploaded and parsed on the answering account."""

    files: list[DocumentFile] = field(default_factory=list)
    keys: StsKeys | str = "old"
    parse_poll: float = 1.0  # seconds between parse-status polls
    parse_wait: float = 15.0

    async def upload(self, client: QwenClient, data: bytes, name: str, content_type: str) -> UploadedFile:
        return await upload_document(client, data, name, content_type, self.keys, poll=self.parse_poll,
                                     wait=self.parse_wait)


class ChatCall:
    """One client request's plan; `open` and `complete` are the pool's attempts."""

    def __init__(self, chat: ChatRequest, model: ResolvedModel, first_event_timeout: float,
                 images: list[tuple[ImageRef, Attachment]] | None = None, uploads: UploadCache | None = None,
                 *, conversation: ConversationSettings | None = None, chaining: Chaining | None = None,
                 documents: Documents | None = None, max_answer: float | None = None,
                 fresh: FreshChats | None = None) -> None:
        self.chat = chat
        self.fresh = fresh  # upstream chats made ahead (fresh_chats.py)
        self._max_answer = max_answer  # seconds a try's whole answer may take
        self.images = images or []
        self._uploads = uploads
        self.model_id = model.info.id
        self.chat_type = "search" if model.search or chat.web_search else "t2t"
        wants = model.thinking or bool(chat.thinking)
        # §9: a think_skip model refuses thinking off; its reasoning comes back as reasoning_content
        self.thinking = model.info.must_think or (wants and model.info.thinking and chat.thinking is not False)
        self.instructions = chat.instructions()
        self._first_event_timeout = first_event_timeout
        self.conversation = conversation or ConversationSettings()
        self.chaining = chaining
        self.documents = documents or Documents()

    def shaper(self) -> AnswerShaper:
        return AnswerShaper(self.chat.tools, self.chat.json_format)

    async def open(self, client: QwenClient, correction: str | None = None,
                   translator: AnswerTranslator | None = None) -> OpenAnswer:
        chat = self.chat
        link = self.chaining.link if self.chaining is not None else None
        if correction is None and (chat.chat_id is not None or link is not None):
            chat_id, parent_id, start = (chat.chat_id, chat.parent_id, len(chat.messages) - 1) if link is None \
                else (link.chat_id, link.parent_id, link.consumed)
            assert chat_id is not None  # the request's own chat id, or the link's
            try:
                return await self._send(client, chat_id, parent_id, self.instructions, start, translator)
            except UpstreamChatNotFound as exc:
                log.info("chat %s cannot be continued (%s); folding into a new chat", chat_id, exc.message)
                if link is not None and self.chaining is not None:
                    await self.chaining.conversations.forget(link)
                    self.chaining.link = None
        extra = [correction] if correction else []
        return await open_in_new_chat(self.fresh, client, self.model_id, self.chat_type, lambda chat_id: self._send(
            client, chat_id, None, self.instructions + extra, 0, translator))

    async def _send(self, client: QwenClient, chat_id: str, parent_id: str | None, instructions: list[str],
                    start: int, translator: AnswerTranslator | None) -> OpenAnswer:
        """Send `messages[start:]` (all of them in a new chat), as a context file when too long (§7a)."""
        messages, earlier = self.chat.messages[start:], self.chat.messages[:start]
        images = [image for ref, image in self.images if ref.message_index >= start]
        prompt = compose_prompt(instructions, "\n\n".join(fold_lines(messages, earlier)))
        if len(prompt) > self.conversation.context_file_chars:
            return await self._with_context(client, chat_id, parent_id, instructions, start, translator, images,
                                            oversized=True)
        try:
            return await self._open(client, chat_id, prompt, parent_id, translator, images, start=start)
        except (UpstreamEmptyStream, UpstreamCaptcha) as exc:
            # §7a/§10: Qwen's size limit floats (R saw the stub at 92,160 bytes); for a long prompt
            # these mean "too long", so the same account tries once more with the file forced.
            if len(prompt) < self.conversation.empty_retry_chars:
                raise
            log.info("%s for a %d-character prompt; sending its history as a context file",
                     type(exc).__name__, len(prompt))
        if parent_id is None:
            chat_id = await client.create_chat(self.model_id, self.chat_type)
        return await self._with_context(client, chat_id, parent_id, instructions, start, translator, images,
                                        oversized=False)

    async def _with_context(self, client: QwenClient, chat_id: str, parent_id: str | None, instructions: list[str],
                            start: int, translator: AnswerTranslator | None, images: list[Attachment], *,
                            oversized: bool) -> OpenAnswer:
        """`oversized`: the prompt was over the threshold, so an anti-bot answer is not the account's fault;
        else (a forced file after an anti-bot answer or an empty stream) only one now is a block."""
        conversation = self.conversation
        plan = plan_context(instructions, self.chat.messages[start:], tail_chars=conversation.inline_tail_chars,
                            part_chars=conversation.context_part_chars, stamp=int(time.time() * 1000),
                            earlier=self.chat.messages[:start])
        entries = []
        for file in plan.files:  # in order: the model reads them as one history
            uploaded = await self.documents.upload(client, file.text.encode(), file.name, "text/plain")
            entries.append(document_entry(uploaded, context_file=True))
        log.info("prompt of %d characters: %d moved into %d context file(s)", len(plan.prompt) + plan.moved_chars,
                 plan.moved_chars, len(entries))
        try:
            return await self._open(client, chat_id, plan.prompt, parent_id, translator, images, start=start,
                                    context_files=entries)
        except UpstreamBlocked as exc:
            if not oversized:
                raise
            raise UpstreamOversizeBlocked(
                "Qwen answered this very long conversation with its anti-bot reply even with the history in a "
                f"context file; the account is not to blame ({exc.message})") from None

    async def _open(self, client: QwenClient, chat_id: str, content: str, parent_id: str | None,
                    translator: AnswerTranslator | None, images: list[Attachment], *, start: int = 0,
                    context_files: list[dict[str, Any]] | None = None) -> OpenAnswer:
        # Uploads are per account (STS credentials), so they happen inside the attempt.
        files = await upload_images(client, images, self._uploads) if images and self._uploads else []
        files += [hosted_image_entry(url) for url in hosted_images(self.chat.messages[-1])]
        for document in self.documents.files:  # the documents of the turns sent now
            if document.message_index >= start:
                uploaded = await self.documents.upload(client, document.data, document.name,
                                                       document.content_type)
                files.append(document_entry(uploaded))
        files += context_files or []
        payload = completion_payload(
            chat_id=chat_id, model=self.model_id, content=content, parent_id=parent_id, files=files,
            chat_type=self.chat_type, thinking=self.thinking, thinking_budget=self.chat.thinking_budget,
        )
        translator = translator or AnswerTranslator(self.chat.model, content)
        translator.chat_id = chat_id
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._max_answer if self._max_answer else None
        events, first = await start_answer(client, chat_id, payload, translator,
                                           first_event_timeout=self._first_event_timeout,
                                           conversation=self.conversation)
        return OpenAnswer(client, translator, events, first, deadline)

    async def complete(self, client: QwenClient) -> dict[str, Any]:
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
        completion = answer.translator.completion(text, "".join(reasoning), shaped.tool_calls)
        await self.remember(client.account_id, answer.translator, text, shaped.tool_calls)
        return completion

    async def remember(self, account_id: str, translator: AnswerTranslator, content: str,
                       tool_calls: list[dict[str, Any]]) -> None:
        """Record where the conversation now stands upstream, for the client's next call."""
        if self.chaining is None or self.chat.chat_id is not None:
            return
        answer: dict[str, Any] = {"role": "assistant", "content": content, "tool_calls": tool_calls}
        await self.chaining.conversations.remember(
            self.chaining.owner, self.model_id, "\n".join(self.instructions), self.chat.messages, answer,
            account_id=account_id, chat_id=translator.chat_id, parent_id=translator.response_id)


async def prepare_call(request: Request, chat: ChatRequest) -> tuple[ChatCall, str | None]:
    """Check the request against its model, load its images and documents, and find where its
    conversation stands upstream; returns the call and the account it must run on (None: any)."""
    state = request.app.state
    if chat.parent_id is not None and chat.chat_id is None:
        raise InvalidRequest("'parent_id' continues an upstream chat and needs 'chat_id' too.", param="parent_id")
    model = await state.catalog.resolve(chat.model)
    if "t2t" not in model.info.chat_types:
        raise InvalidRequest(f"The model '{chat.model}' does not chat (it offers "
                             f"{', '.join(sorted(model.info.chat_types))}); see GET /v1/models.", param="model",
                             code="model_not_supported")
    if chat.web_search and "search" not in model.info.chat_types:
        raise InvalidRequest(f"The model '{model.info.id}' cannot search the web; drop 'web_search_options' or "
                             "pick a model with search (see GET /v1/models).", param="web_search_options",
                             code="model_not_supported")
    request.state.model = model.info.id
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
    uploads = list(zip(refs, images, strict=False))
    call = ChatCall(chat, model, state.settings.timeouts.first_event, uploads, state.media.uploads,
                    conversation=state.settings.conversation, chaining=chaining,
                    documents=Documents(documents, state.media.uploads.sts_keys, state.settings.media.parse_poll,
                                        state.settings.media.parse_wait),
                    max_answer=state.settings.timeouts.max_answer, fresh=state.fresh_chats)
    return call, owner


async def acquire(pool: AccountPool, call: ChatCall, attempt: Callable[[QwenClient], Awaitable[T]],
                  owner: str | None) -> Lease[T]:
    """The pool's attempt; a chained conversation whose account fails folds on any account instead
    of failing (a client's own chat_id stays pinned: only its account knows that chat)."""
    chaining = call.chaining
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
        healthy = {a["id"] for a in request.app.state.pool.status() if a["modes"]["t2t"]["state"] == "healthy"}
        chaining.link = link if link.account_id in healthy else None
    return chaining


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
