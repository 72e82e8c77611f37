"""Starting an upstream answer: POST the completion and read it up to its first output.

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
from typing import Any

from ..config import ConversationSettings
from ..errors import UpstreamChatBusy, UpstreamEmptyStream, UpstreamTimeout
from ..qwen.client import QwenClient
from ..qwen.events import Delta, Event
from ..translate.completion import AnswerTranslator, Piece

log = logging.getLogger("gateway.chat")


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
