"""OpenAI chat request → Qwen completion payload. Pure: no I/O.

The upstream takes one user message per call, so a whole OpenAI message list is
folded into that one message, unless the client continues an upstream chat with
`chat_id` / `parent_id`, in which case only its last message is sent.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from ..errors import InvalidRequest
from ..ids import uuid4
from ..schemas import ChatCompletionBody, check
from .structured import JsonFormat, format_instructions, parse_response_format
from .tools import ToolPlan, parse_tool_plan, render_tool_calls, render_tool_result, tool_instructions

EFFORT_OFF = frozenset({"none", "minimal"})


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
    """Validate what the gateway relies on; accept and ignore what Qwen cannot honour.

    The schema has checked every type and shape already; what is left is what values mean.
    """
    check(ChatCompletionBody, body)  # types and shapes: a 400 naming the field, never a 500
    model = body["model"].strip()
    if not model:
        raise InvalidRequest("'model' is required and must be a non-empty string.", param="model")
    messages = body["messages"]
    for index, message in enumerate(messages):
        _check_message(index, message)
    if body.get("n") not in (None, 1):
        raise InvalidRequest("Only n=1 is supported.", param="n")
    stream = body.get("stream") is True
    return ChatRequest(
        model=model,
        messages=messages,
        stream=stream,
        include_usage=stream and (body.get("stream_options") or {}).get("include_usage") is True,
        thinking=_thinking(body),
        thinking_budget=body.get("thinking_budget"),
        chat_id=body.get("chat_id") or body.get("chatId") or None,
        parent_id=body.get("parent_id") or body.get("parentId") or None,
        tools=parse_tool_plan(body),
        json_format=parse_response_format(body),
        web_search=body.get("web_search_options") is not None,
    )


def _thinking(body: dict[str, Any]) -> bool | None:
    enable: bool | None = body.get("enable_thinking")
    if enable is not None:
        return enable
    effort = body.get("reasoning_effort")
    return None if effort is None else effort not in EFFORT_OFF


def _check_message(index: int, message: dict[str, Any]) -> None:
    where = f"messages[{index}]"
    content = message.get("content")
    if content is None and message["role"] != "assistant":
        raise InvalidRequest(f"{where}.content is required.", param=f"{where}.content")
    for part_index, part in enumerate(content if isinstance(content, list) else ()):
        file = part.get("file") if part["type"] == "file" else {}
        if part["type"] == "file" and not (file.get("file_data") or file.get("file_id")):
            raise InvalidRequest(f"{where}.content[{part_index}].file must have 'file_data' and 'filename', or a "
                                 "'file_id'.", param=f"{where}.content[{part_index}].file")


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
        "fid": uuid4(),
        "id": None,
        "parentId": parent_id,
        "parent_id": parent_id,
        "childrenIds": [uuid4()],
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
