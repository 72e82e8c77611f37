"""Qwen answer events → OpenAI `chat.completion` objects and `chat.completion.chunk` SSE bytes.

Reading and writing are apart. One `AnswerTranslator` per upstream answer reads it:
`feed(event)` returns the text pieces the event adds, as `(field, text)` with field
`content` or `reasoning_content`, and keeps the ids, usage and search sources. A whole
answer is its `completion(...)`; a stream's chunks are written by a `ChunkWriter`. Thinking
arrives in two eras: plain text in phase `think`, or (Aug 2026 →) empty content with
`extra.summary_title` / `extra.summary_thought` lists that repeat earlier items.
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from ..errors import GatewayError
from ..qwen.events import Delta, Event, ResponseCreated

REASONING_PHASES = frozenset({"think", "thinking_summary"})
CONTENT_PHASES = frozenset({"answer", None})
SUMMARY_FIELDS = ("summary_title", "summary_thought")
Piece = tuple[str, str]
DONE = b"data: [DONE]\n\n"
ARGUMENT_PIECE = 32  # characters of tool-call arguments per streamed delta


class AnswerTranslator:
    def __init__(self, model: str, prompt: str) -> None:
        self.model = model
        self.created = int(time.time())
        self.id = ""
        self.chat_id: str | None = None
        self.response_id: str | None = None
        self._prompt_chars = len(prompt)
        self._output_chars = 0
        self._usage: dict[str, Any] | None = None
        self._summary_seen: set[str] = set()
        self.sources: list[dict[str, Any]] = []  # web search results, for url_citation annotations
        self.upstream_finish: str | None = None  # "length" / "content_filter" when the upstream said so

    def feed(self, event: Event) -> list[Piece]:
        if isinstance(event, ResponseCreated):
            self.chat_id = event.chat_id or self.chat_id
            self.response_id = event.response_id
            return []
        if not isinstance(event, Delta):
            return []
        if event.usage:
            self._usage = event.usage
        if event.finish_reason:
            self.upstream_finish = event.finish_reason
        if event.phase in CONTENT_PHASES:
            pieces = [("content", event.content)] if event.content else []
        elif event.phase in REASONING_PHASES:
            pieces = self._reasoning(event)
        else:
            if event.phase == "web_search":
                self._collect_sources(event)
            pieces = []  # web search, tools: not answer text
        for _, text in pieces:
            self._output_chars += len(text)
        return pieces

    def _reasoning(self, event: Delta) -> list[Piece]:
        if event.content:
            return [("reasoning_content", event.content)]
        extra = event.extra or {}
        texts = []
        for field in SUMMARY_FIELDS:
            for item in (extra.get(field) or {}).get("content") or ():
                if isinstance(item, str) and item and item not in self._summary_seen:
                    self._summary_seen.add(item)
                    texts.append(item + "\n")
        return [("reasoning_content", "".join(texts))] if texts else []

    def _collect_sources(self, event: Delta) -> None:
        results = (event.extra or {}).get("web_search_info") or ()
        for result in results:
            if isinstance(result, dict) and isinstance(result.get("url"), str):
                self.sources.append(result)

    def annotations(self, content: str) -> list[dict[str, Any]]:
        """Search sources as OpenAI url_citation annotations spanning the answer."""
        return [
            {"type": "url_citation", "url_citation": {"url": source["url"], "title": str(source.get("title") or ""),
                                                       "start_index": 0, "end_index": len(content)}}
            for source in self.sources
        ]

    def usage(self) -> dict[str, Any]:
        """OpenAI usage from the last upstream usage; estimated (4 chars a token) where absent."""
        raw = self._usage or {}
        prompt = raw.get("input_tokens") or max(1, self._prompt_chars // 4)
        completion = raw.get("output_tokens") or max(1, self._output_chars // 4)
        usage: dict[str, Any] = {"prompt_tokens": prompt, "completion_tokens": completion,
                                 "total_tokens": prompt + completion}
        reasoning = (raw.get("output_tokens_details") or {}).get("reasoning_tokens")
        if reasoning is not None:
            usage["completion_tokens_details"] = {"reasoning_tokens": reasoning}
        cached = (raw.get("prompt_tokens_details") or {}).get("cached_tokens")
        if cached is not None:
            usage["prompt_tokens_details"] = {"cached_tokens": cached}
        return usage

    def continuation(self) -> dict[str, Any]:
        # Extra fields that let a client continue the upstream chat on its next call.
        return {"chat_id": self.chat_id, "parent_id": self.response_id}

    def completion(
        self, content: str, reasoning: str, tool_calls: list[dict[str, Any]] | None = None
    ) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": content or (None if tool_calls else ""),
                                   "refusal": None}
        if reasoning:
            message["reasoning_content"] = reasoning
        if tool_calls:
            message["tool_calls"] = tool_calls
        if self.sources:
            message["annotations"] = self.annotations(content)
        return {
            "id": self.answer_id(),
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "message": message, "logprobs": None,
                         "finish_reason": "tool_calls" if tool_calls else self.finish_reason("stop")}],
            "usage": self.usage(),
            **self.continuation(),
        }

    def answer_id(self) -> str:
        if not self.id:
            self.id = f"chatcmpl-{self.response_id}" if self.response_id else f"chatcmpl-{int(time.time() * 1e6):x}"
        return self.id

    def finish_reason(self, reason: str) -> str:
        # A plain stop becomes what the upstream reported (length, content_filter).
        return (self.upstream_finish or reason) if reason == "stop" else reason


class ChunkWriter:
    """One streamed answer's `chat.completion.chunk` SSE events, from what its AnswerTranslator read.

    Every chunk shares id, object, created and model: that head is encoded once per response,
    and each chunk encodes only its own part (the bytes are the same as encoding it whole).
    `usage` (stream_options.include_usage) adds `"usage": null` to every chunk but the last.
    """

    def __init__(self, answer: AnswerTranslator, usage: bool) -> None:
        self._answer = answer
        self._usage = usage
        head = {"id": answer.answer_id(), "object": "chat.completion.chunk", "created": answer.created,
                "model": answer.model}
        self._head = b"data: " + orjson.dumps(head)[:-1] + b',"choices":'

    def _chunk(self, choices: list[dict[str, Any]], with_usage: bool | None = None, **extra: Any) -> bytes:
        parts = [self._head, orjson.dumps(choices)]
        for key, value in extra.items():
            parts += [b',"', key.encode(), b'":', orjson.dumps(value)]
        if (self._usage if with_usage is None else with_usage) and "usage" not in extra:
            parts.append(b',"usage":null')
        parts.append(b"}\n\n")
        return b"".join(parts)

    def role(self) -> bytes:
        delta = {"role": "assistant", "content": "", "refusal": None}
        return self._chunk([{"index": 0, "delta": delta, "logprobs": None, "finish_reason": None}],
                           **self._answer.continuation())

    def piece(self, piece: Piece) -> bytes:
        field, text = piece
        return self._delta({field: text})

    def tool_calls(self, calls: list[dict[str, Any]]) -> list[bytes]:
        """Each call as OpenAI streams it: id, type and name first, then the arguments in pieces."""
        chunks = []
        for index, call in enumerate(calls):
            head = {"index": index, "id": call["id"], "type": "function",
                    "function": {"name": call["function"]["name"], "arguments": ""}}
            chunks.append(self._delta({"tool_calls": [head]}))
            arguments = call["function"]["arguments"]
            for start in range(0, len(arguments), ARGUMENT_PIECE):
                piece = {"index": index, "function": {"arguments": arguments[start:start + ARGUMENT_PIECE]}}
                chunks.append(self._delta({"tool_calls": [piece]}))
        return chunks

    def annotations(self, content: str) -> bytes:
        return self._delta({"annotations": self._answer.annotations(content)})

    def _delta(self, delta: dict[str, Any]) -> bytes:
        return self._chunk([{"index": 0, "delta": delta, "logprobs": None, "finish_reason": None}])

    def finish(self, reason: str = "stop") -> bytes:
        choice = {"index": 0, "delta": {}, "logprobs": None, "finish_reason": self._answer.finish_reason(reason)}
        return self._chunk([choice], **self._answer.continuation())

    def usage(self) -> bytes:
        return self._chunk([], True, usage=self._answer.usage())


def error_event(error: GatewayError) -> bytes:
    """After the 200 status line, the only way to report a failure: an error event."""
    return b"data: " + error.render() + b"\n\n"
