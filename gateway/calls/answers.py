"""An upstream answer: started (POST the completion, read up to its first output), then read on
(`OpenAnswer`), and for a stream re-asked once when unusable (`AnswerStream`).

Everything that may still fail over happens here, before a byte reaches the client:
"The chat is in progress" (§6, §10) waits 2–4 s and tries again on the same
account (the chat is that account's), a few times at most; a stream that ends with
no answer at all is an empty stream (§10).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..config import ConversationSettings
from ..errors import UpstreamAnswerTooLong, UpstreamChatBusy, UpstreamEmptyStream, UpstreamTimeout
from ..qwen.client import QwenClient
from ..qwen.events import Delta, Event
from ..translate.answer import Shaped
from ..translate.completion import AnswerTranslator, Piece

if TYPE_CHECKING:
    from .chat import ChatCall

log = logging.getLogger("gateway.chat")
ROUNDS = 2  # an unusable answer (missing required call, invalid JSON) is asked for once more


async def start_answer(
    client: QwenClient,
    chat_id: str,
    payload: Mapping[str, Any],
    translator: AnswerTranslator,
    *,
    first_event_timeout: float,
    conversation: ConversationSettings,
) -> tuple[AsyncIterator[Event], list[Piece]]:
    """The open event stream and the pieces of its first output; raises UpstreamError."""
    for busy_tries in range(conversation.busy_retries + 1):
        events = client.stream_completion(chat_id, payload)
        try:
            async with asyncio.timeout(first_event_timeout):
                return events, await first_output(events, translator)
        except UpstreamChatBusy:
            await events.aclose()  # type: ignore[attr-defined]
            if busy_tries == conversation.busy_retries:
                raise
            delay = random.uniform(*conversation.busy_delay)
            log.info("chat %s is still answering on account %s; trying again in %.1f s",
                     chat_id, client.account_id, delay)
            await asyncio.sleep(delay)
        except BaseException as exc:
            await events.aclose()  # type: ignore[attr-defined]
            if isinstance(exc, TimeoutError):
                raise UpstreamTimeout("Qwen sent no answer before the first-event timeout") from None
            raise
    raise AssertionError("unreachable")


async def first_output(events: AsyncIterator[Event], translator: AnswerTranslator) -> list[Piece]:
    async for event in events:
        pieces = translator.feed(event)
        if pieces:
            return pieces
        if isinstance(event, Delta) and event.is_end:
            break
    raise UpstreamEmptyStream("Qwen finished with an empty answer")


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
        # The deadline is looked at between reads, not armed as a timer around each one (a timer
        # per read was ~4 % of a stream's CPU); a read that stays silent is bounded by the idle
        # timeout, so an answer is cut at most one idle period late.
        clock = asyncio.get_running_loop().time
        deadline = self.deadline if self.deadline is not None else float("inf")
        while True:
            try:
                event = await anext(self.events)
            except StopAsyncIteration:
                return
            if clock() >= deadline:
                raise UpstreamAnswerTooLong("Qwen's answer was still coming after timeouts.max_answer; it was "
                                            "cut (a retry would run as long)")
            for piece in self.translator.feed(event):
                yield piece

    async def close(self) -> None:
        await self.events.aclose()  # type: ignore[attr-defined]


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
