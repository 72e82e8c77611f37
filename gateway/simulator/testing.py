"""Helpers for tests that drive the simulator directly (like `starlette.testclient`).

They build the upstream payloads of §3 and read SSE replies back; the gateway's
own tests should go through the gateway instead, using only `queue_faults`,
`set_options` and `recorded_requests` from here.
"""

from __future__ import annotations

from typing import Any

import httpx
import orjson


def parse_sse(text: str) -> list[Any]:
    """Each `data:` payload, JSON-decoded (a `[DONE]` line stays the string)."""
    events: list[Any] = []
    for line in text.split("\n"):
        if line.startswith("data:"):
            payload = line[5:].strip()
            events.append(payload if payload == "[DONE]" else orjson.loads(payload))
    return events


def deltas(events: list[Any]) -> list[dict[str, Any]]:
    return [e["choices"][0]["delta"] for e in events if isinstance(e, dict) and "choices" in e]


def answer_text(events: list[Any]) -> str:
    return "".join(d["content"] for d in deltas(events) if d.get("phase") == "answer")


def completion_body(
    chat_id: str,
    content: Any,
    *,
    model: str = "qwen3-max",
    thinking: bool = False,
    parent_id: str | None = None,
    chat_type: str = "t2t",
    files: list[dict[str, Any]] | None = None,
    **top: Any,
) -> dict[str, Any]:
    """A §3.2 completion body with one user message; `top` adds top-level keys (size, stream…)."""
    meta: dict[str, Any] = {"subChatType": chat_type}
    if "size" in top:
        meta["size"] = top["size"]
    message = {
        "fid": None, "role": "user", "content": content, "user_action": "chat", "files": files or [],
        "models": [model], "chat_type": chat_type, "sub_chat_type": chat_type,
        "feature_config": {"thinking_enabled": thinking, "output_schema": "phase"},
        "extra": {"meta": meta},
    }
    return {
        "stream": True, "version": "2.1", "incremental_output": True, "chat_id": chat_id, "chatId": chat_id,
        "chat_mode": "normal", "model": model, "parent_id": parent_id, "messages": [message], **top,
    }


async def new_chat(client: httpx.AsyncClient, model: str = "qwen3-max", chat_type: str = "t2t") -> str:
    reply = await client.post("/api/v2/chats/new", json={
        "title": "New Chat", "models": [model], "chat_mode": "normal", "chat_type": chat_type,
        "timestamp": 1761697524151, "project_id": ""})
    data = reply.json()
    if not data.get("success"):
        raise AssertionError(f"chats/new failed: {reply.text}")
    return str(data["data"]["id"])


async def complete(client: httpx.AsyncClient, body: dict[str, Any]) -> httpx.Response:
    return await client.post("/api/v2/chat/completions", params={"chat_id": body.get("chat_id", "")}, json=body)


async def queue_faults(client: httpx.AsyncClient, token: str, *faults: dict[str, Any]) -> None:
    reply = await client.post("/__sim/faults", json={"token": token, "faults": list(faults)})
    if reply.status_code != 200:
        raise AssertionError(f"queueing faults failed: {reply.text}")


async def faulted(client: httpx.AsyncClient, token: str, fault: dict[str, Any],
                  text: str = "hello there") -> httpx.Response:
    """A completion in a new chat with `fault` queued for `token` first: the fault acted out."""
    chat_id = await new_chat(client)
    await queue_faults(client, token, fault)
    return await complete(client, completion_body(chat_id, text))


async def set_options(client: httpx.AsyncClient, **options: Any) -> None:
    reply = await client.post("/__sim/options", json=options)
    if reply.status_code != 200:
        raise AssertionError(f"setting options failed: {reply.text}")


async def recorded_requests(client: httpx.AsyncClient) -> list[dict[str, Any]]:
    requests: list[dict[str, Any]] = (await client.get("/__sim/requests")).json()["requests"]
    return requests
