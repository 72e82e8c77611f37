"""OpenAI Responses request → the chat plan. Pure: no I/O.

A `POST /v1/responses` body is rewritten into the chat-completions body it means
(input items → messages, flat function tools → chat tools, `text.format` →
`response_format`, `reasoning.effort` → `reasoning_effort`, a `web_search` tool →
`web_search_options`) and parsed by `parse_chat_request`, so both APIs plan the
upstream turn with the same code. Errors name the Responses parameter.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, replace
from typing import Any

from ..errors import GatewayError, InvalidRequest
from .chat import ChatRequest, parse_chat_request

WEB_SEARCH_TOOLS = frozenset({"web_search", "web_search_preview", "web_search_2025_08_26",
                              "web_search_preview_2025_03_11"})
MESSAGE_ROLES = frozenset({"user", "system", "developer", "assistant"})
SUMMARIES = frozenset({"auto", "concise", "detailed"})
SKIPPED_ITEMS = frozenset({"reasoning", "web_search_call"})  # history the model need not read again
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

    def with_history(self, history: list[dict[str, Any]], chat_id: str | None = None,
                     parent_id: str | None = None) -> ChatRequest:
        """The chat to run: instructions, then earlier turns, then this input."""
        system = [{"role": "system", "content": self.instructions}] if self.instructions else []
        messages = system + history + to_messages(self.items, history)
        return replace(self.chat, messages=messages, chat_id=chat_id, parent_id=parent_id)

    def input_error(self, exc: GatewayError, history: int) -> GatewayError:
        """An error about a message of `with_history`'s chat, renamed after the input item it came from."""
        return input_error(exc, self.items, history + (1 if self.instructions else 0))


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(24)}"


def parse_responses_request(body: Any) -> ResponsesRequest:
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    for key, why in UNSUPPORTED.items():
        if body.get(key) not in (None, False):
            raise InvalidRequest(f"'{key}' is not supported by this gateway: {why}.", param=key)
    items = _input_items(body.get("input"))
    instructions = _optional(body, "instructions", str)
    tools, web_search = _tools(body.get("tools"))
    reasoning = _optional(body, "reasoning", dict) or {}
    if reasoning.get("summary") is not None and reasoning["summary"] not in SUMMARIES:
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
    echo = {key: body.get(key) for key in ("metadata", "temperature", "top_p", "max_output_tokens", "user")}
    echo.update(instructions=instructions, tools=body.get("tools") or [], tool_choice=body.get("tool_choice") or "auto",
                parallel_tool_calls=body.get("parallel_tool_calls") is not False, text=body.get("text") or
                {"format": {"type": "text"}}, reasoning={"effort": reasoning.get("effort"),
                                                         "summary": reasoning.get("summary")})
    echo["metadata"] = echo["metadata"] or {}
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


def input_error(exc: GatewayError, items: list[dict[str, Any]], offset: int) -> GatewayError:
    """`messages[N]...` → `input[K]...`: N counts the chat messages, `offset` of them before the input."""
    match = re.match(r"messages\[(\d+)\]", exc.param or "")
    item = _item_of(items, int(match.group(1)) - offset) if match else None
    if match is None or item is None or exc.param is None:
        return exc
    param = f"input[{item}]" + exc.param[match.end():]
    return type(exc)(exc.message.replace(exc.param, param), param=param, code=exc.code, status=exc.status,
                     headers=exc.headers)


def _item_of(items: list[dict[str, Any]], message: int) -> int | None:
    """Which input item chat message `message` came from (as `to_messages` groups them)."""
    produced, after_call = -1, False
    for index, item in enumerate(items):
        kind = item.get("type", "message")
        if kind in SKIPPED_ITEMS:
            continue
        if not (kind == "function_call" and after_call):
            produced += 1
        after_call = kind == "function_call"
        if produced == message:
            return index
    return None


def _input_items(raw: Any) -> list[dict[str, Any]]:
    """The input as a list of items, each with an id; a string is one user message."""
    if isinstance(raw, str):
        raw = [{"type": "message", "role": "user", "content": raw}]
    if not isinstance(raw, list) or not raw:
        raise InvalidRequest("'input' must be a non-empty string or array of input items.", param="input")
    items = []
    for index, item in enumerate(raw):
        where = f"input[{index}]"
        if not isinstance(item, dict):
            raise InvalidRequest(f"{where} must be an object.", param=where)
        kind = item.get("type", "message")
        if kind == "message":
            items.append(_message_item(where, item))
        elif kind == "function_call":
            for key in ("call_id", "name", "arguments"):
                if not isinstance(item.get(key), str):
                    raise InvalidRequest(f"{where}.{key} must be a string.", param=f"{where}.{key}")
            items.append({"id": new_id("fc"), "status": "completed", **item})
        elif kind == "function_call_output":
            if not isinstance(item.get("call_id"), str):
                raise InvalidRequest(f"{where}.call_id must be a string.", param=f"{where}.call_id")
            if not isinstance(item.get("output"), str | list):
                raise InvalidRequest(f"{where}.output must be a string or an array of parts.", param=f"{where}.output")
            items.append({"id": new_id("fco"), "status": "completed", **item})
        elif kind in SKIPPED_ITEMS:
            items.append({"id": new_id("item"), **item})
        else:
            raise InvalidRequest(f"{where}: input items of type '{kind}' are not supported.", param=f"{where}.type")
    return items


def _message_item(where: str, item: dict[str, Any]) -> dict[str, Any]:
    role = item.get("role")
    if role not in MESSAGE_ROLES:
        raise InvalidRequest(f"{where}.role must be one of {', '.join(sorted(MESSAGE_ROLES))}.", param=f"{where}.role")
    content = item.get("content")
    text_type = "output_text" if role == "assistant" else "input_text"
    if isinstance(content, str):
        content = [{"type": text_type, "text": content}]
    if not isinstance(content, list):
        raise InvalidRequest(f"{where}.content must be a string or an array of parts.", param=f"{where}.content")
    for index, part in enumerate(content):
        part_where = f"{where}.content[{index}]"
        kind = part.get("type") if isinstance(part, dict) else None
        if kind in {"input_text", "output_text"} and isinstance(part.get("text"), str):
            continue
        if kind == "refusal" and isinstance(part.get("refusal"), str):
            continue
        if kind == "input_image" and isinstance(part.get("image_url"), str):
            continue
        if kind == "input_image":
            raise InvalidRequest(f"{part_where}.image_url is required: an https or data: URL (file_id is not "
                                 "supported yet).", param=f"{part_where}.image_url")
        if kind == "input_file":
            raise InvalidRequest(f"{part_where}: input_file parts are not supported yet; send the text as "
                                 "input_text.", param=part_where)
        raise InvalidRequest(f"{part_where} must be an input_text, output_text, refusal or input_image part.",
                             param=part_where)
    return {"id": item.get("id") or new_id("msg"), "type": "message", "role": role, "content": content,
            "status": "completed"}


def to_messages(items: list[dict[str, Any]], history: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Chat messages for input items; consecutive function calls become one assistant turn."""
    names = {c["id"]: c["function"]["name"] for m in history or () for c in m.get("tool_calls") or ()}
    messages: list[dict[str, Any]] = []
    for item in items:
        kind = item.get("type", "message")
        if kind == "message":
            messages.append({"role": item["role"], "content": [_chat_part(p) for p in item["content"]]})
        elif kind == "function_call":
            call = {"id": item["call_id"], "type": "function",
                    "function": {"name": item["name"], "arguments": item["arguments"]}}
            names[item["call_id"]] = item["name"]
            last = messages[-1] if messages else None
            if last is not None and last["role"] == "assistant" and last.get("tool_calls"):
                last["tool_calls"].append(call)
            else:
                messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif kind == "function_call_output":
            output = item["output"]
            text = output if isinstance(output, str) else "\n".join(
                p.get("text", "") for p in output if isinstance(p, dict))
            message = {"role": "tool", "tool_call_id": item["call_id"], "content": text}
            if item["call_id"] in names:
                message["name"] = names[item["call_id"]]
            messages.append(message)
    return messages


def _chat_part(part: dict[str, Any]) -> dict[str, Any]:
    if part["type"] == "input_image":
        return {"type": "image_url", "image_url": {"url": part["image_url"]}}
    return {"type": "text", "text": part.get("text", part.get("refusal", ""))}


def _tools(raw: Any) -> tuple[list[dict[str, Any]], bool]:
    """Chat function tools, and whether web search was asked for; other built-in tools are refused."""
    if raw is None:
        return [], False
    if not isinstance(raw, list):
        raise InvalidRequest("'tools' must be an array.", param="tools")
    functions, web_search = [], False
    for index, tool in enumerate(raw):
        where = f"tools[{index}]"
        kind = tool.get("type") if isinstance(tool, dict) else None
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
    if isinstance(raw, dict) and raw.get("type") in WEB_SEARCH_TOOLS:
        return "auto"
    raise InvalidRequest("'tool_choice' must be auto, required, none or {\"type\": \"function\", \"name\": ...}.",
                         param="tool_choice")


def _response_format(text: dict[str, Any]) -> dict[str, Any] | None:
    fmt = text.get("format")
    if fmt is None:
        return None
    if not isinstance(fmt, dict) or fmt.get("type") not in {"text", "json_object", "json_schema"}:
        raise InvalidRequest("'text.format.type' must be text, json_object or json_schema.", param="text.format")
    if fmt["type"] != "json_schema":
        return {"type": fmt["type"]}
    return {"type": "json_schema", "json_schema": {"name": fmt.get("name"), "schema": fmt.get("schema"),
                                                   "strict": fmt.get("strict")}}
