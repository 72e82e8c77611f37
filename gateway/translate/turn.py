"""The upstream turn of a chat request: one pure step from a request and its model to what goes up.

A turn is a new chat with the whole conversation folded into one prompt, or a continuation
of an upstream chat with only the turns it has not seen; with it go the chat type, thinking,
and which of the request's images and documents are uploaded now (those of the turns sent).
`calls/chat.py` runs it: uploads, `chats/new` or the continued chat, the completion.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..catalog import ResolvedModel
from .chat import ChatRequest, compose_prompt, fold_lines, hosted_images


@dataclass(frozen=True)
class Continuation:
    """An upstream chat to continue, and the index of the first message it has not seen."""

    chat_id: str
    parent_id: str | None
    start: int


@dataclass(frozen=True)
class Turn:
    chat_type: str  # t2t, or search
    thinking: bool
    thinking_budget: int | None
    continuing: Continuation | None  # None: a new chat
    instructions: list[str]  # the gateway's own (tools, JSON format, a correction), first in a new chat
    prompt: str  # the one message sent: the folded turns of messages[start:]
    oversized: bool  # over `context_file_chars`: the older history goes as context files (§7a)
    images: tuple[int, ...]  # indexes into the request's images: those of the turns sent
    documents: tuple[int, ...]  # indexes into the request's documents: likewise
    hosted_images: tuple[str, ...]  # images already on Qwen's storage, in the last message

    @property
    def start(self) -> int:
        return self.continuing.start if self.continuing is not None else 0


def chat_mode(chat: ChatRequest, model: ResolvedModel) -> tuple[str, bool]:
    """The chat type and whether the model thinks."""
    chat_type = "search" if model.search or chat.web_search else "t2t"
    wants = model.thinking or bool(chat.thinking)
    # §9: a think_skip model refuses thinking off; its reasoning comes back as reasoning_content
    thinking = model.info.must_think or (wants and model.info.thinking and chat.thinking is not False)
    return chat_type, thinking


def plan_turn(chat: ChatRequest, model: ResolvedModel, *, continuing: Continuation | None = None,
              correction: str | None = None, image_messages: list[int] | None = None,
              document_messages: list[int] | None = None, context_file_chars: int = 2**62) -> Turn:
    """The turn for `chat` on `model`. `image_messages` / `document_messages`: the message index of
    each of the request's images and documents, in order. A correction (an unusable answer asked
    for again) always goes in a new chat, after the instructions."""
    if correction is not None:
        continuing = None
    start = continuing.start if continuing is not None else 0
    instructions = chat.instructions() + ([correction] if correction else [])
    prompt = compose_prompt(instructions, "\n\n".join(fold_lines(chat.messages[start:], chat.messages[:start])))
    chat_type, thinking = chat_mode(chat, model)
    return Turn(
        chat_type=chat_type, thinking=thinking, thinking_budget=chat.thinking_budget, continuing=continuing,
        instructions=instructions, prompt=prompt, oversized=len(prompt) > context_file_chars,
        images=tuple(i for i, index in enumerate(image_messages or ()) if index >= start),
        documents=tuple(i for i, index in enumerate(document_messages or ()) if index >= start),
        hosted_images=tuple(hosted_images(chat.messages[-1])),
    )
