"""The chat service: one client request's plan, run as the pool's attempts.

What goes upstream: only the new turns of a continued chat (which one: `continuation`),
else the whole conversation folded into one message in a new chat (`new_chat`, the one place
a chat call creates an upstream chat). A folded prompt over `conversation.context_file_chars`
keeps its instructions and newest turns inline and sends the older history as context files (§7a).
A lost chat or parent folds once (§6); an anti-bot answer to an oversized prompt rests
no account and goes to no other account (§10).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from ..attachments import Attachment, ImageRef, UploadCache, upload_images
from ..catalog import ResolvedModel
from ..config import ConversationSettings
from ..documents import DocumentFile
from ..errors import (
    UpstreamBlocked,
    UpstreamCaptcha,
    UpstreamChatNotFound,
    UpstreamEmptyStream,
    UpstreamOversizeBlocked,
)
from ..fresh_chats import FreshChats, open_in_new_chat
from ..qwen.client import QwenClient
from ..qwen.documents import document_entry, upload_document
from ..qwen.files import StsKeys, UploadedFile, hosted_image_entry
from ..translate.answer import ClientAnswerShaper
from ..translate.chat import ChatRequest, completion_payload
from ..translate.completion import AnswerTranslator
from ..translate.context import plan_context
from ..translate.turn import Continuation, Turn, chat_mode, plan_turn
from .answers import ROUNDS, OpenAnswer, start_answer
from .continuation import Chaining

log = logging.getLogger("gateway.chat")


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
    """One client request's plan; `open` and `complete` are the pool's attempts. What each try
    sends is planned by `translate/turn.plan_turn`; this runs it on an account."""

    def __init__(self, chat: ChatRequest, model: ResolvedModel, first_event_timeout: float,
                 images: list[tuple[ImageRef, Attachment]] | None = None, uploads: UploadCache | None = None,
                 *, conversation: ConversationSettings | None = None, chaining: Chaining | None = None,
                 documents: Documents | None = None, max_answer: float | None = None,
                 fresh: FreshChats | None = None) -> None:
        self.chat = chat
        self.model = model
        self.fresh = fresh  # upstream chats made ahead (fresh_chats.py)
        self._max_answer = max_answer  # seconds a try's whole answer may take
        self.images = images or []
        self._uploads = uploads
        self.model_id = model.info.id
        self.chat_type = chat_mode(chat, model)[0]  # the turn carries it too; new_chat needs it first
        self.instructions = chat.instructions()
        self._first_event_timeout = first_event_timeout
        self.conversation = conversation or ConversationSettings()
        self.chaining = chaining
        self.documents = documents or Documents()

    def shaper(self) -> ClientAnswerShaper:
        return ClientAnswerShaper(self.chat.tools, self.chat.json_format)

    def plan(self, continuing: Continuation | None, correction: str | None = None) -> Turn:
        return plan_turn(self.chat, self.model, continuing=continuing, correction=correction,
                         image_messages=[ref.message_index for ref, _ in self.images],
                         document_messages=[d.message_index for d in self.documents.files],
                         context_file_chars=self.conversation.context_file_chars)

    def continuing(self) -> Continuation | None:
        """The upstream chat this call continues: the client's own, or the linked conversation's."""
        link = self.chaining.link if self.chaining is not None else None
        if link is not None:
            return Continuation(link.chat_id, link.parent_id, link.consumed)
        if self.chat.chat_id is not None:
            return Continuation(self.chat.chat_id, self.chat.parent_id, len(self.chat.messages) - 1)
        return None

    async def open(self, client: QwenClient, correction: str | None = None,
                   translator: AnswerTranslator | None = None) -> OpenAnswer:
        continuing = self.continuing() if correction is None else None
        if continuing is not None:
            try:
                return await self._send(client, self.plan(continuing), translator, continuing.chat_id)
            except UpstreamChatNotFound as exc:
                log.info("chat %s cannot be continued (%s); folding into a new chat", continuing.chat_id,
                         exc.message)
                if self.chaining is not None:
                    await self.chaining.drop()
        turn = self.plan(None, correction)
        return await open_in_new_chat(self.fresh, client, self.model_id, self.chat_type,
                                      lambda chat_id: self._send(client, turn, translator, chat_id))

    async def new_chat(self, client: QwenClient) -> str:
        """A chat made now (`chats/new`): for the context-file retry; a new conversation takes one
        made ahead (`fresh_chats`) when there is one."""
        return await client.create_chat(self.model_id, self.chat_type)

    async def _send(self, client: QwenClient, turn: Turn, translator: AnswerTranslator | None,
                    chat_id: str) -> OpenAnswer:
        """Send the turn in `chat_id` (the continued chat, or a new one), its history as context files
        when too long (§7a)."""
        parent_id = turn.continuing.parent_id if turn.continuing is not None else None
        if turn.oversized:
            return await self._with_context(client, chat_id, parent_id, turn, translator, oversized=True)
        try:
            return await self._open(client, chat_id, turn.prompt, parent_id, turn, translator)
        except (UpstreamEmptyStream, UpstreamCaptcha) as exc:
            # §7a/§10: Qwen's size limit floats (R saw the stub at 92,160 bytes); for a long prompt
            # these mean "too long", so the same account tries once more with the file forced.
            if len(turn.prompt) < self.conversation.empty_retry_chars:
                raise
            log.info("%s for a %d-character prompt; sending its history as a context file",
                     type(exc).__name__, len(turn.prompt))
        if parent_id is None:
            chat_id = await self.new_chat(client)
        return await self._with_context(client, chat_id, parent_id, turn, translator, oversized=False)

    async def _with_context(self, client: QwenClient, chat_id: str, parent_id: str | None, turn: Turn,
                            translator: AnswerTranslator | None, *, oversized: bool) -> OpenAnswer:
        """`oversized`: the prompt was over the threshold, so an anti-bot answer is not the account's fault;
        else (a forced file after an anti-bot answer or an empty stream) only one now is a block."""
        conversation, start = self.conversation, turn.start
        plan = plan_context(turn.instructions, self.chat.messages[start:], tail_chars=conversation.inline_tail_chars,
                            part_chars=conversation.context_part_chars, stamp=int(time.time() * 1000),
                            earlier=self.chat.messages[:start])
        entries = []
        for file in plan.files:  # in order: the model reads them as one history
            uploaded = await self.documents.upload(client, file.text.encode(), file.name, "text/plain")
            entries.append(document_entry(uploaded, context_file=True))
        log.info("prompt of %d characters: %d moved into %d context file(s)", len(plan.prompt) + plan.moved_chars,
                 plan.moved_chars, len(entries))
        try:
            return await self._open(client, chat_id, plan.prompt, parent_id, turn, translator, entries)
        except UpstreamBlocked as exc:
            if not oversized:
                raise
            raise UpstreamOversizeBlocked(
                "Qwen answered this very long conversation with its anti-bot reply even with the history in a "
                f"context file; the account is not to blame ({exc.message})") from None

    async def _open(self, client: QwenClient, chat_id: str, content: str, parent_id: str | None, turn: Turn,
                    translator: AnswerTranslator | None,
                    context_files: list[dict[str, Any]] | None = None) -> OpenAnswer:
        # Uploads are per account (STS credentials), so they happen inside the attempt.
        images = [self.images[i][1] for i in turn.images]
        files = await upload_images(client, images, self._uploads) if images and self._uploads else []
        files += [hosted_image_entry(url) for url in turn.hosted_images]
        for index in turn.documents:  # the documents of the turns sent now
            document = self.documents.files[index]
            uploaded = await self.documents.upload(client, document.data, document.name, document.content_type)
            files.append(document_entry(uploaded))
        files += context_files or []
        payload = completion_payload(
            chat_id=chat_id, model=self.model_id, content=content, parent_id=parent_id, files=files,
            chat_type=turn.chat_type, thinking=turn.thinking, thinking_budget=turn.thinking_budget,
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
