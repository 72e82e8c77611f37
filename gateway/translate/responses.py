"""OpenAI Responses request → the chat plan. Pure: no I/O.

A `POST /v1/responses` body is rewritten into the chat-completions body it means
(input items → messages, flat function tools → chat tools, `text.format` →
`response_format`, `reasoning.effort` → `reasoning_effort`, a `web_search` tool →
`web_search_options`) and parsed by `parse_chat_request`, so both APIs plan the
upstream turn with the same code. Errors name the Responses parameter.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from ..errors import GatewayError, InvalidRequest
from .chat import ChatRequest, parse_chat_request
from .response_input import input_error, input_items, to_messages

WEB_SEARCH_TOOLS = frozenset({"web_search", "web_search_preview", "web_search_2025_08_26",
                              "web_search_preview_2025_03_11"})
SUMMARIES = frozenset({"auto", "concise", "detailed"})
UNSUPPORTED = {"conversation": "continue with previous_response_id instead",
               "background": "responses are answered while the request is open", "prompt": "send the input itself"}
# Chat's parameter names, as the Responses API spells them (for errors raised by the chat parser).
PARAMS = (("response_format.json_schema.schema", "text.format.schema"), ("response_format", "text.format"),
          ("reasoning_effort", "reasoning.effort"), ("messages", "input"))


@dataclass(frozen=True)
class ResponsesRequest:
    chat: ChatRequest  # messages: this request's input only; the service adds history and instructions
    instructions: str | None
    items: list[dict[str, Any]]  # the input items, with ids, as `input_items` lists them
    previous_response_id: str | None
    store: bool
    echo: dict[str, Any]  # request fields the Response object repeats
    # A big body's items as sent, already encoded as the record {"input_items": [...]} (offload.py),
    # when `items` are folded.
    kept_items: bytes | None = None

    @property
    def stored_items(self) -> list[dict[str, Any]] | bytes:
        """The input items as stored and listed back by `input_items`: as the client sent them, with ids."""
        return self.items if self.kept_items is None else self.kept_items

    def with_history(self, history: list[dict[str, Any]], chat_id: str | None = None, parent_id: str | None = None,
                     files: Mapping[str, str] | None = None) -> ChatRequest:
        """The chat to run: instructions, then earlier turns, then this input."""
        system = [{"role": "system", "content": self.instructions}] if self.instructions else []
        messages = system + history + to_messages(self.items, history, files)
        return replace(self.chat, messages=messages, chat_id=chat_id, parent_id=parent_id)

    def input_error(self, exc: GatewayError, history: int) -> GatewayError:
        """An error about a message of `with_history`'s chat, renamed after the input item it came from."""
        return input_error(exc, self.items, history + (1 if self.instructions else 0))


def parse_responses_request(body: Any) -> ResponsesRequest:
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    for key, why in UNSUPPORTED.items():
        if body.get(key) not in (None, False):
            raise InvalidRequest(f"'{key}' is not supported by this gateway: {why}.", param=key)
    items = input_items(body.get("input"))
    instructions = _optional(body, "instructions", str)
    tools, web_search = _tools(body.get("tools"))
    reasoning = _optional(body, "reasoning", dict) or {}
    summary = reasoning.get("summary")
    if summary is not None and (not isinstance(summary, str) or summary not in SUMMARIES):
        raise InvalidRequest(f"'reasoning.summary' must be one of {', '.join(sorted(SUMMARIES))}.",
                             param="reasoning.summary")
    for key, kind in (("max_output_tokens", int), ("metadata", dict), ("store", bool), ("user", str),
                      ("parallel_tool_calls", bool), ("previous_response_id", str)):
        _optional(body, key, kind)
    for key in ("temperature", "top_p"):
        if body.get(key) is not None and (not isinstance(body[key], int | float) or isinstance(body[key], bool)):
            raise InvalidRequest(f"'{key}' must be a number.", param=key)
    chat_body: dict[str, Any] = {
        "model": body.get("model"), "messages": to_messages(items), "stream": body.get("stream"),
        "tools": tools or None, "tool_choice": _tool_choice(body.get("tool_choice")) if tools else None,
        "parallel_tool_calls": body.get("parallel_tool_calls"),
        "response_format": _response_format(_optional(body, "text", dict) or {}),
        "reasoning_effort": reasoning.get("effort"),
        "web_search_options": {} if web_search else None,
    }
    try:
        chat = parse_chat_request(chat_body)
    except InvalidRequest as exc:
        raise _renamed(input_error(exc, items, 0)) from None
    echo = {key: body.get(key) for key in ("temperature", "top_p", "max_output_tokens", "user")}
    echo.update(
        instructions=instructions, metadata=body.get("metadata") or {}, tools=body.get("tools") or [],
        tool_choice=body.get("tool_choice") or "auto", parallel_tool_calls=body.get("parallel_tool_calls") is not False,
        text=body.get("text") or {"format": {"type": "text"}},
        reasoning={"effort": reasoning.get("effort"), "summary": reasoning.get("summary")},
        truncation=body.get("truncation") or "disabled",
    )
    return ResponsesRequest(chat, instructions, items, body.get("previous_response_id") or None,
                            body.get("store") is not False, echo)


def _optional(body: dict[str, Any], key: str, kind: type) -> Any:
    value = body.get(key)
    if value is not None and (not isinstance(value, kind) or (kind is int and isinstance(value, bool))):
        raise InvalidRequest(f"'{key}' must be of type {'object' if kind is dict else kind.__name__}.", param=key)
    return value


def _renamed(exc: GatewayError) -> InvalidRequest:
    message, param = exc.message, exc.param
    for chat_name, name in PARAMS:
        if param is not None and param.startswith(chat_name):
            param = name + param[len(chat_name):]
        message = message.replace(f"'{chat_name}", f"'{name}")
    return InvalidRequest(message, param=param, code=exc.code)


def _tools(raw: Any) -> tuple[list[dict[str, Any]], bool]:
    """Chat function tools, and whether web search was asked for; other built-in tools are refused."""
    if raw is None:
        return [], False
    if not isinstance(raw, list):
        raise InvalidRequest("'tools' must be an array.", param="tools")
    functions, web_search = [], False
    for index, tool in enumerate(raw):
        where = f"tools[{index}]"
        kind = tool.get("type") if isinstance(tool, dict) and isinstance(tool.get("type"), str) else None
        if kind in WEB_SEARCH_TOOLS:
            web_search = True
        elif kind == "function":
            if not isinstance(tool.get("name"), str) or not tool["name"]:
                raise InvalidRequest(f"{where}.name is required.", param=f"{where}.name")
            parameters = tool.get("parameters") or {"type": "object", "properties": {}}
            if not isinstance(parameters, dict):
                raise InvalidRequest(f"{where}.parameters must be a JSON schema object.", param=f"{where}.parameters")
            functions.append({"type": "function", "function": {"name": tool["name"], "parameters": parameters,
                                                               "description": tool.get("description") or ""}})
        elif isinstance(kind, str):
            raise InvalidRequest(f"The '{kind}' tool is not supported by this gateway (Qwen offers function tools "
                                 "and web_search only).", param=f"{where}.type", code="unsupported_tool")
        else:
            raise InvalidRequest(f"{where} must be an object with a 'type'.", param=where)
    return functions, web_search


def _tool_choice(raw: Any) -> Any:
    if raw is None or raw in ("auto", "required", "none"):
        return raw
    if isinstance(raw, dict) and raw.get("type") == "function" and isinstance(raw.get("name"), str):
        return {"type": "function", "function": {"name": raw["name"]}}
    if isinstance(raw, dict) and isinstance(raw.get("type"), str) and raw["type"] in WEB_SEARCH_TOOLS:
        return "auto"
    raise InvalidRequest("'tool_choice' must be auto, required, none or {\"type\": \"function\", \"name\": ...}.",
                         param="tool_choice")


def _response_format(text: dict[str, Any]) -> dict[str, Any] | None:
    fmt = text.get("format")
    if fmt is None:
        return None
    if not isinstance(fmt, dict) or fmt.get("type") not in ("text", "json_object", "json_schema"):
        raise InvalidRequest("'text.format.type' must be text, json_object or json_schema.", param="text.format")
    if fmt["type"] != "json_schema":
        return {"type": fmt["type"]}
    return {"type": "json_schema", "json_schema": {"name": fmt.get("name"), "schema": fmt.get("schema"),
                                                   "strict": fmt.get("strict")}}
