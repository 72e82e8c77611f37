"""Fallbacks through the chat detail (§3.7, §5): a t2v task id or t2i image URLs that the
reply itself lacked.

`GET /api/v2/chats/<chat_id>` holds the chat's messages, as a map by id at
`data.chat.history.messages` or a list at `data.chat.messages`. Like R, the answer is
found by the stream's `response_id` when known, else the newest assistant message;
its `extra.wanx.task_id` (or any task id in it) or its image URLs are read. The
detail may lag the reply, so it is polled a few times.
"""

from __future__ import annotations

import asyncio
from typing import Any

from .client import QwenClient

TASK_KEYS = ("task_id", "taskId")
TASK_TRIES, TASK_DELAY = 5, 1.2  # seconds between tries (R, Aug 2026)
IMAGE_TRIES, IMAGE_DELAY = 5, 0.8


def find_task_id(obj: Any) -> str | None:
    """A `task_id` / `taskId` anywhere in a JSON value (R: the reply's shape drifts)."""
    if isinstance(obj, dict):
        for key in TASK_KEYS:
            value = obj.get(key)
            if isinstance(value, str | int) and not isinstance(value, bool) and str(value):
                return str(value)
        children: Any = obj.values()
    elif isinstance(obj, list):
        children = obj
    else:
        return None
    for child in children:
        found = find_task_id(child)
        if found is not None:
            return found
    return None


def messages_of(detail: Any) -> list[dict[str, Any]]:
    data = detail.get("data") if isinstance(detail, dict) else None
    chat = data.get("chat") if isinstance(data, dict) else None
    if not isinstance(chat, dict):
        return []
    history = (chat.get("history") or {}).get("messages") if isinstance(chat.get("history"), dict) else None
    found = list(history.values()) if isinstance(history, dict) else chat.get("messages")
    return [m for m in found or () if isinstance(m, dict)]


def answer_of(detail: Any, response_id: str | None) -> dict[str, Any] | None:
    """The assistant message with the stream's id, else the newest assistant message."""
    answers = [m for m in messages_of(detail) if m.get("role") == "assistant"]
    if response_id:
        for message in answers:
            if message.get("id") == response_id or message.get("response_id") == response_id:
                return message
    return max(answers, key=lambda m: m.get("timestamp") or 0) if answers else None


def image_urls(message: dict[str, Any]) -> list[str]:
    extra = message.get("extra")
    extra = extra if isinstance(extra, dict) else {}
    listed = [i.get("image") for i in extra.get("image_list") or () if isinstance(i, dict)]
    content = message.get("content")
    content = content if isinstance(content, str) else ""
    lines = [line.strip() for line in content.splitlines()]
    return [u for u in [*listed, *lines] if isinstance(u, str) and u.startswith(("https://", "http://"))]


async def task_id_from_detail(client: QwenClient, chat_id: str, *, tries: int = TASK_TRIES,
                              delay: float = TASK_DELAY) -> str | None:
    for attempt in range(tries):
        detail = await client.chat_detail(chat_id)
        answer = answer_of(detail, None)
        task_id = find_task_id(answer.get("extra")) if answer is not None else None
        if task_id is not None:
            return task_id
        if attempt < tries - 1:
            await asyncio.sleep(delay)
    return None


async def images_from_detail(client: QwenClient, chat_id: str, response_id: str | None, *,
                             tries: int = IMAGE_TRIES, delay: float = IMAGE_DELAY) -> tuple[list[str], Any]:
    """The answer's image URLs and its `extra` (for `output_image_hw`), or ([], None)."""
    for attempt in range(tries):
        answer = answer_of(await client.chat_detail(chat_id), response_id)
        urls = image_urls(answer) if answer is not None else []
        if urls:
            return urls, answer.get("extra") if answer is not None else None
        if attempt < tries - 1:
            await asyncio.sleep(delay)
    return [], None
