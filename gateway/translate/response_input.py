"""Responses input items: checked, given ids, and turned into chat messages. Pure: no I/O.

Messages keep their parts (`input_text` → text, `input_image` → image_url, or by
`file_id` an image part with the Qwen-hosted URL of a `/v1/files` upload); function
calls become an assistant turn's `tool_calls`, their outputs `tool` messages named
after the call (so a continued chat shows the model which function answered);
`reasoning` and `web_search_call` items from earlier output are kept but not re-sent.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from typing import Any

from ..errors import GatewayError, InvalidRequest

MESSAGE_ROLES = frozenset({"user", "system", "developer", "assistant"})
SKIPPED_ITEMS = frozenset({"reasoning", "web_search_call"})  # history the model need not read again


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(24)}"


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


def input_items(raw: Any) -> list[dict[str, Any]]:
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
        if not isinstance(kind, str):
            raise InvalidRequest(f"{where}.type must be a string.", param=f"{where}.type")
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
    if not isinstance(role, str) or role not in MESSAGE_ROLES:
        raise InvalidRequest(f"{where}.role must be one of {', '.join(sorted(MESSAGE_ROLES))}.", param=f"{where}.role")
    content = item.get("content")
    text_type = "output_text" if role == "assistant" else "input_text"
    if isinstance(content, str):
        content = [{"type": text_type, "text": content}]
    if not isinstance(content, list):
        raise InvalidRequest(f"{where}.content must be a string or an array of parts.", param=f"{where}.content")
    for index, part in enumerate(content):
        part_where = f"{where}.content[{index}]"
        kind = part.get("type") if isinstance(part, dict) and isinstance(part.get("type"), str) else None
        if kind in {"input_text", "output_text"} and isinstance(part.get("text"), str):
            continue
        if kind == "refusal" and isinstance(part.get("refusal"), str):
            continue
        if kind == "input_image" and isinstance(part.get("image_url") or part.get("file_id"), str):
            continue
        if kind == "input_image":
            raise InvalidRequest(f"{part_where}.image_url is required: an https or data: URL (or a file_id from "
                                 "POST /v1/files).", param=f"{part_where}.image_url")
        if kind == "input_file" and isinstance(part.get("file_data") or part.get("file_id"), str):
            continue  # a document: chat's `file` part, uploaded and parsed like one
        if kind == "input_file":
            raise InvalidRequest(f"{part_where} needs file_data (base64, with its filename) or a file_id from "
                                 "POST /v1/files; file_url is not supported.", param=part_where)
        raise InvalidRequest(f"{part_where} must be an input_text, output_text, refusal, input_image or input_file "
                             "part.", param=part_where)
    return {"id": item.get("id") or new_id("msg"), "type": "message", "role": role, "content": content,
            "status": "completed"}


def to_messages(items: list[dict[str, Any]], history: list[dict[str, Any]] | None = None,
                files: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """Chat messages for input items; consecutive function calls become one assistant turn.

    `files` maps the file ids of `input_image` parts to their Qwen-hosted URLs."""
    names = {c["id"]: c["function"]["name"] for m in history or () for c in m.get("tool_calls") or ()}
    messages: list[dict[str, Any]] = []
    for item in items:
        kind = item.get("type", "message")
        if kind == "message":
            messages.append({"role": item["role"], "content": [_chat_part(p, files or {}) for p in item["content"]]})
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


def image_files(items: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(param, file id) of every `input_image` given by `file_id`."""
    return [(f"input[{i}].content[{j}].file_id", part["file_id"]) for i, item in enumerate(items)
            if item.get("type") == "message" for j, part in enumerate(item["content"])
            if part["type"] == "input_image" and not part.get("image_url")]


def _chat_part(part: dict[str, Any], files: Mapping[str, str]) -> dict[str, Any]:
    if part["type"] == "input_image" and not part.get("image_url"):
        return {"type": "image", "image": files.get(part["file_id"], "")}  # a Qwen-hosted image (chat's form)
    if part["type"] == "input_image":
        return {"type": "image_url", "image_url": {"url": part["image_url"]}}
    if part["type"] == "input_file":
        return {"type": "file", "file": {k: part[k] for k in ("file_data", "file_id", "filename") if k in part}}
    return {"type": "text", "text": part.get("text", part.get("refusal", ""))}
