"""Answer pieces → an OpenAI Response object and its stream events. Pure: no I/O.

One `ResponseRender` per response. It is fed what chat completions send too (reasoning
and content pieces, then the tool calls, search sources and usage) and builds the
output items in order: reasoning, web search call, message, function calls. Each step
returns the SSE events OpenAI sends for it, numbered by `sequence_number`; a whole
(non-stream) answer is the same walk with the events dropped, so both agree.
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from ..errors import GatewayError
from .completion import ARGUMENT_PIECE
from .response_input import new_id
from .responses import ResponsesRequest


class ResponseRender:
    def __init__(self, request: ResponsesRequest, model: str, response_id: str | None = None,
                 search_query: str | None = None) -> None:
        self.id = response_id or new_id("resp")
        self.created_at = int(time.time())
        self.model = model
        self.output: list[dict[str, Any]] = []
        self._request = request
        self._search_query = search_query  # a web_search call is shown before the answer
        self._sequence = 0
        self._reasoning: dict[str, Any] | None = None  # the open reasoning item
        self._message: dict[str, Any] | None = None  # the open message item
        self._text: list[str] = []
        self.response: dict[str, Any] | None = None  # the completed Response object

    @property
    def output_text(self) -> str:
        return "".join(self._text)

    def snapshot(self, status: str, usage: dict[str, Any] | None = None,
                 error: dict[str, Any] | None = None) -> dict[str, Any]:
        """The Response object as it stands."""
        echo = self._request.echo
        return {
            "id": self.id, "object": "response", "created_at": self.created_at, "status": status,
            "background": False, "error": error, "incomplete_details": None, "model": self.model,
            "output": list(self.output), "previous_response_id": self._request.previous_response_id,
            "store": self._request.store, "usage": usage,
            "completed_at": int(time.time()) if status == "completed" else None, **echo,
        }

    def _event(self, kind: str, **fields: Any) -> bytes:
        data = {"type": kind, "sequence_number": self._sequence, **fields}
        self._sequence += 1
        return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"

    def _add(self, item: dict[str, Any]) -> bytes:
        self.output.append(item)
        return self._event("response.output_item.added", output_index=len(self.output) - 1, item=dict(item))

    def _done(self, item: dict[str, Any]) -> bytes:
        return self._event("response.output_item.done", output_index=self.output.index(item), item=item)

    def opening(self) -> list[bytes]:
        return [self._event("response.created", response=self.snapshot("in_progress")),
                self._event("response.in_progress", response=self.snapshot("in_progress"))]

    def reasoning(self, text: str) -> list[bytes]:
        events = []
        if self._reasoning is None:
            self._reasoning = {"id": new_id("rs"), "type": "reasoning", "summary": []}
            events.append(self._add(self._reasoning))
            events.append(self._event("response.reasoning_summary_part.added", **self._at(self._reasoning),
                                      summary_index=0, part={"type": "summary_text", "text": ""}))
            self._reasoning["summary"] = [{"type": "summary_text", "text": ""}]
        self._reasoning["summary"][0]["text"] += text
        events.append(self._event("response.reasoning_summary_text.delta", **self._at(self._reasoning),
                                  summary_index=0, delta=text))
        return events

    def _close_reasoning(self) -> list[bytes]:
        item, self._reasoning = self._reasoning, None
        if item is None:
            return []
        part = item["summary"][0]
        text_done = self._event("response.reasoning_summary_text.done", **self._at(item), summary_index=0,
                                text=part["text"])
        return [text_done,
                self._event("response.reasoning_summary_part.done", **self._at(item), summary_index=0, part=part),
                self._done(item)]

    def text(self, text: str) -> list[bytes]:
        events = self._open_message() if self._message is None else []
        assert self._message is not None
        self._text.append(text)
        events.append(self._event("response.output_text.delta", **self._at(self._message), content_index=0,
                                  delta=text, logprobs=[]))
        return events

    def _open_message(self) -> list[bytes]:
        events = self._close_reasoning() + self._web_search()
        self._message = {"id": new_id("msg"), "type": "message", "status": "in_progress", "role": "assistant",
                         "content": []}
        events.append(self._add(self._message))
        events.append(self._event("response.content_part.added", **self._at(self._message), content_index=0,
                                  part=_text_part("", [])))
        return events

    def _web_search(self) -> list[bytes]:
        if self._search_query is None:
            return []
        item = {"id": new_id("ws"), "type": "web_search_call", "status": "in_progress",
                "action": {"type": "search", "query": self._search_query}}
        events = [self._add(item)]
        for step in ("in_progress", "searching", "completed"):
            events.append(self._event(f"response.web_search_call.{step}", **self._at(item)))
        item["status"] = "completed"
        self._search_query = None
        return [*events, self._done(item)]

    def finish(self, tool_calls: list[dict[str, Any]], sources: list[dict[str, Any]],
               usage: dict[str, Any]) -> list[bytes]:
        """Close every open item, add the function calls, and complete the response."""
        events = self._close_reasoning()
        if self._message is None and not tool_calls:
            events += self._open_message()  # an empty answer is still one (empty) message
        if self._message is not None:
            events += self._close_message(sources)
        for call in tool_calls:
            events += self._function_call(call)
        self.response = self.snapshot("completed", response_usage(usage))
        events.append(self._event("response.completed", response=self.response))
        return events

    def _close_message(self, sources: list[dict[str, Any]]) -> list[bytes]:
        item = self._message
        assert item is not None
        text = "".join(self._text)
        annotations = [{"type": "url_citation", "url": s["url"], "title": str(s.get("title") or ""),
                        "start_index": 0, "end_index": len(text)} for s in sources]
        events = [self._event("response.output_text.annotation.added", **self._at(item), content_index=0,
                              annotation_index=index, annotation=annotation)
                  for index, annotation in enumerate(annotations)]
        part = _text_part(text, annotations)
        events.append(self._event("response.output_text.done", **self._at(item), content_index=0, text=text,
                                  logprobs=[]))
        events.append(self._event("response.content_part.done", **self._at(item), content_index=0, part=part))
        item.update(status="completed", content=[part])
        self._message = None
        return [*events, self._done(item)]

    def _function_call(self, call: dict[str, Any]) -> list[bytes]:
        name, arguments = call["function"]["name"], call["function"]["arguments"]
        item = {"id": new_id("fc"), "type": "function_call", "status": "in_progress", "call_id": call["id"],
                "name": name, "arguments": ""}
        events = [self._add(item)]
        for start in range(0, len(arguments), ARGUMENT_PIECE):
            events.append(self._event("response.function_call_arguments.delta", **self._at(item),
                                      delta=arguments[start:start + ARGUMENT_PIECE]))
        events.append(self._event("response.function_call_arguments.done", **self._at(item), name=name,
                                  arguments=arguments))
        item.update(status="completed", arguments=arguments)
        return [*events, self._done(item)]

    def failed(self, error: GatewayError) -> list[bytes]:
        """After the first byte, a failure ends the stream: an `error` event, then `response.failed`."""
        code = error.code or error.type
        failure = {"code": "rate_limit_exceeded" if error.status == 429 else "server_error", "message": error.message}
        return [self._event("error", code=code, message=error.message, param=error.param),
                self._event("response.failed", response=self.snapshot("failed", error=failure))]

    def _at(self, item: dict[str, Any]) -> dict[str, Any]:
        return {"item_id": item["id"], "output_index": self.output.index(item)}


def _text_part(text: str, annotations: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": annotations, "logprobs": []}


def response_usage(usage: dict[str, Any]) -> dict[str, Any]:
    """Chat completion usage in the Responses API's terms."""
    return {
        "input_tokens": usage["prompt_tokens"],
        "input_tokens_details": {"cached_tokens": (usage.get("prompt_tokens_details") or {}).get("cached_tokens", 0)},
        "output_tokens": usage["completion_tokens"],
        "output_tokens_details": {
            "reasoning_tokens": (usage.get("completion_tokens_details") or {}).get("reasoning_tokens", 0)},
        "total_tokens": usage["total_tokens"],
    }
