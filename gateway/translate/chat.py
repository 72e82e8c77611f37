"""OpenAI chat request → Qwen completion payload. Pure: no I/O.

The upstream takes one user message per call, so a whole OpenAI message list is
folded into that one message, unless the client continues an upstream chat with
`chat_id` / `parent_id`, in which case only its last message is sent.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

from ..errors import InvalidRequest
from ..schemas import ChatCompletionBody, check
from .structured import JsonFormat, format_instructions, parse_response_format
from .tools import ToolPlan, parse_tool_plan, render_tool_calls, render_tool_result, tool_instructions

ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
EFFORT_OFF = frozenset({"none", "minimal"})
EFFORTS = frozenset({"none", "minimal", "low", "medium", "high", "xhigh"})


@dataclass(frozen=True)
class ChatRequest:
    model: str
    messages: list[dict[str, Any]]
    stream: bool
    include_usage: bool
    thinking: bool | None  # None: the client did not say
    thinking_budget: int | None
    chat_id: str | None
    parent_id: str | None
    tools: ToolPlan | None = None
    json_format: JsonFormat | None = None
    web_search: bool = False

    def instructions(self) -> list[str]:
        """The gateway's own blocks for the model: tool definitions, answer format."""
        blocks = []
        if self.tools is not None and self.tools.active:
            blocks.append(tool_instructions(self.tools))
        if self.json_format is not None:
            blocks.append(format_instructions(self.json_format))
        return blocks


def parse_chat_request(body: Any) -> ChatRequest:
    """Validate what the gateway relies on; accept and ignore what Qwen cannot honour."""
    check(ChatCompletionBody, body)  # types and shapes: a 400 naming the field, never a 500
    model = body.get("model")
    if not isinstance(model, str) or not model.strip():
        raise InvalidRequest("'model' is required and must be a non-empty string.", param="model")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise InvalidRequest("'messages' must be a non-empty array.", param="messages")
    for index, message in enumerate(messages):
        _check_message(index, message)
    stream = _optional(body, "stream", bool, False)
    options = _optional(body, "stream_options", dict, {}) or {}
    n = body.get("n")
    if n is not None and n != 1:
        raise InvalidRequest("Only n=1 is supported.", param="n")
    return ChatRequest(
        model=model.strip(),
        messages=messages,
        stream=stream,
        include_usage=stream and options.get("include_usage") is True,
        thinking=_thinking(body),
        thinking_budget=_optional(body, "thinking_budget", int, None),
        chat_id=_optional(body, "chat_id", str, None) or _optional(body, "chatId", str, None) or None,
        parent_id=_optional(body, "parent_id", str, None) or _optional(body, "parentId", str, None) or None,
        tools=parse_tool_plan(body),
        json_format=parse_response_format(body),
        web_search=_optional(body, "web_search_options", dict, None) is not None,
    )


def _optional(body: dict[str, Any], key: str, kind: type, default: Any) -> Any:
    value = body.get(key)
    if value is None:
        return default
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise InvalidRequest(f"'{key}' must be of type {kind.__name__}.", param=key)
    return value


def _thinking(body: dict[str, Any]) -> bool | None:
    enable = _optional(body, "enable_thinking", bool, None)
    if enable is not None:
        return enable
    effort = body.get("reasoning_effort")
    if effort is None:
        return None
    if effort not in EFFORTS:
        raise InvalidRequest(f"'reasoning_effort' must be one of {', '.join(sorted(EFFORTS))}.", param="reasoning_effort")
    return effort not in EFFORT_OFF


def _check_message(index: int, message: Any) -> None:
    where = f"messages[{index}]"
    if not isinstance(message, dict):
        raise InvalidRequest(f"{where} must be an object.", param=where)
    if message.get("role") not in ROLES:
        raise InvalidRequest(f"{where}.role must be one of {', '.join(sorted(ROLES))}.", param=f"{where}.role")
    content = message.get("content")
    calls = message.get("tool_calls")
    if calls is not None and (not isinstance(calls, list) or not all(
            isinstance(c, dict) and isinstance((c.get("function") or {}).get("name"), str) for c in calls)):
        raise InvalidRequest(f"{where}.tool_calls must be an array of function calls.", param=f"{where}.tool_calls")
    if content is None:
        if message.get("role") != "assistant":
            raise InvalidRequest(f"{where}.content is required.", param=f"{where}.content")
        return
    if isinstance(content, str):
        return
    if not isinstance(content, list):
        raise InvalidRequest(f"{where}.content must be a string or an array of parts.", param=f"{where}.content")
    for part_index, part in enumerate(content):
        part_where = f"{where}.content[{part_index}]"
        if not isinstance(part, dict) or not isinstance(part.get("type"), str):
            raise InvalidRequest(f"{part_where} must be an object with a 'type'.", param=part_where)
        if part["type"] == "text" and not isinstance(part.get("text"), str):
            raise InvalidRequest(f"{part_where}.text must be a string.", param=f"{part_where}.text")
        if part["type"] == "image" and not isinstance(part.get("image"), str):
            raise InvalidRequest(f"{part_where}.image must be the URL of an uploaded image.", param=f"{part_where}.image")
        if part["type"] == "file":
            _check_file_part(part, part_where)
        if part["type"] not in {"text", "image_url", "image", "input_text", "refusal", "file"}:
            raise InvalidRequest(f"{part_where}: content parts of type '{part['type']}' are not supported.", param=part_where)


def _check_file_part(part: dict[str, Any], where: str) -> None:
    file = part.get("file")
    if not isinstance(file, dict) or not (isinstance(file.get("file_data"), str) or isinstance(file.get("file_id"), str)):
        raise InvalidRequest(f"{where}.file must be an object with 'file_data' and 'filename', or a 'file_id'.",
                             param=f"{where}.file")


def text_of(message: dict[str, Any]) -> str:
    """The text of one message: its string content, or its text parts joined."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if not content:
        return ""
    return "\n".join(p.get("text", "") for p in content if p.get("type") in {"text", "input_text"})


def hosted_images(message: dict[str, Any]) -> list[str]:
    """URLs of `{"type": "image", "image": url}` parts: images already on Qwen's storage
    (the original proxy's form, with URLs from its /api/files/upload)."""
    content = message.get("content")
    if not isinstance(content, list):
        return []
    return [p["image"] for p in content if isinstance(p, dict) and p.get("type") == "image"]


def fold_messages(messages: list[dict[str, Any]]) -> str:
    """One text for the one upstream user message. A lone user message is sent as it is."""
    return "\n\n".join(fold_lines(messages))


def fold_lines(messages: list[dict[str, Any]], earlier: list[dict[str, Any]] | None = None) -> list[str]:
    """Each message as its `role: text` line of the folded conversation; `earlier` messages
    (already upstream) name the tool calls that results in `messages` answer."""
    if len(messages) == 1 and messages[0].get("role") == "user":
        return [text_of(messages[0])]
    names = _call_names((earlier or []) + messages)
    lines = []
    for message in messages:
        role = "system" if message["role"] == "developer" else message["role"]
        lines.append(f"{role}: {render_message(message, names)}")
    return lines


def render_message(message: dict[str, Any], call_names: dict[str, str]) -> str:
    """A message's text as the model should read it, tool calls and results included."""
    text = text_of(message)
    if message.get("role") in {"tool", "function"}:
        name = call_names.get(message.get("tool_call_id") or "") or message.get("name")
        return render_tool_result(message, name, text)
    if message.get("tool_calls"):
        return "\n".join(part for part in (text, render_tool_calls(message["tool_calls"])) if part)
    return text


def _call_names(messages: list[dict[str, Any]]) -> dict[str, str]:
    return {call.get("id", ""): (call.get("function") or {}).get("name", "")
            for message in messages for call in message.get("tool_calls") or ()}


def compose_prompt(instructions: list[str], conversation: str) -> str:
    """The one upstream message: the gateway's instructions first, then the conversation."""
    if not instructions:
        return conversation
    return "<instructions>\n" + "\n\n".join(instructions) + "\n</instructions>\n\n" + conversation


def completion_payload(
    *,
    chat_id: str,
    model: str,
    content: str | list[dict[str, Any]],
    chat_type: str = "t2t",
    parent_id: str | None = None,
    thinking: bool = False,
    thinking_budget: int | None = None,
    files: list[dict[str, Any]] | None = None,
    size: str | None = None,
    stream: bool = True,
) -> dict[str, Any]:
    """The body of `POST /api/v2/chat/completions`, as the web frontend sends it (§3.2)."""
    now = int(time.time())
    features: dict[str, Any] = {
        "thinking_enabled": thinking,
        "output_schema": "phase",  # mandatory, or the deltas carry no phase
        "thinking_budget": thinking_budget or 81920,
    }
    if thinking:
        features.update(research_mode="normal", auto_thinking=True, thinking_mode="Thinking",
                        thinking_format="summary", auto_search=False)
    meta: dict[str, Any] = {"subChatType": chat_type}
    if size is not None:
        meta["size"] = size
    message = {
        "fid": str(uuid.uuid4()),
        "id": None,
        "parentId": parent_id,
        "parent_id": parent_id,
        "childrenIds": [str(uuid.uuid4())],
        "role": "user",
        "content": content,
        "user_action": "chat",
        "files": files or [],
        "timestamp": now,
        "models": [model],
        "model": "",
        "chat_type": chat_type,
        "sub_chat_type": chat_type,
        "feature_config": features,
        "extra": {"meta": meta},
    }
    payload: dict[str, Any] = {
        "stream": stream,
        "version": "2.1",
        "incremental_output": True,
        "chat_id": chat_id,
        "chatId": chat_id,
        "chat_mode": "normal",
        "model": model,
        "parent_id": parent_id,
        "parentId": parent_id or "",
        "timestamp": now,
        "messages": [message],
    }
    if size is not None:
        payload["size"] = size
    return payload
