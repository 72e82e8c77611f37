"""The ways of getting one chat answer that the benchmark compares.

* `gateway`: `POST /v1/chat/completions` through the gateway, whole JSON answer;
* `gateway-stream`: the same with `"stream": true`, read to `data: [DONE]`;
* `responses` / `responses-stream`: the same answer through `POST /v1/responses`, whole or
  streamed (read to `response.completed`);
* `direct`: what the gateway itself does per request, straight at the simulator:
  `POST /api/v2/chats/new`, then `POST /api/v2/chat/completions?chat_id=…` (§3.1–3.2 of
  the protocol reference), reading the SSE to the answer's `finished` event;
* `floor` / `floor-stream`: the same chat request through the floor relay (`bench/floor.py`),
  which makes the gateway's two upstream calls and relays the bytes untranslated.

Each call returns the monotonic time its response body started (for time to first
byte), or raises `Failed`. Every SSE event is JSON-decoded, and every body is read to
its end (as the openai package does after `[DONE]`): leaving the chunked terminator
unread makes aiohttp close the connection instead of reusing it.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson

MODEL = "qwen3-max"
PROMPT = "Hello! In one short paragraph, what is a reverse proxy for?"
QWEN_VERSION = "0.3.12"
JSON = {"content-type": "application/json"}
Call = Callable[[aiohttp.ClientSession, int], Awaitable[float | None]]


class Failed(Exception):
    """A request that did not end with a complete answer; the message is its error class."""


@dataclass(frozen=True)
class Scenario:
    name: str
    call: Call


async def _sse_events(response: aiohttp.ClientResponse) -> AsyncIterator[tuple[float, bytes]]:
    """(arrival time, data) of each `data:` event of an SSE body."""
    buffer = b""
    async for chunk in response.content.iter_any():
        now = time.monotonic()
        buffer += chunk
        *events, buffer = buffer.split(b"\n\n")
        for event in events:
            for line in event.split(b"\n"):
                if line.startswith(b"data:"):
                    yield now, line[5:].strip()


def gateway_chat(base_url: str) -> Scenario:
    body = orjson.dumps({"model": MODEL, "messages": [{"role": "user", "content": PROMPT}]})

    async def call(session: aiohttp.ClientSession, index: int) -> float | None:
        async with session.post(base_url + "/v1/chat/completions", data=body, headers=JSON) as response:
            raw = await response.read()
            if response.status != 200:
                raise Failed(f"HTTP {response.status}")
        if not orjson.loads(raw)["choices"][0]["message"]["content"]:
            raise Failed("empty answer")
        return None

    return Scenario("gateway", call)


def gateway_stream(base_url: str) -> Scenario:
    body = orjson.dumps({"model": MODEL, "messages": [{"role": "user", "content": PROMPT}], "stream": True})

    async def call(session: aiohttp.ClientSession, index: int) -> float | None:
        first: float | None = None
        text, done = 0, False
        async with session.post(base_url + "/v1/chat/completions", data=body, headers=JSON) as response:
            if response.status != 200:
                raise Failed(f"HTTP {response.status}")
            async for arrived, data in _sse_events(response):
                first = first or arrived
                if data == b"[DONE]":
                    done = True
                    continue
                chunk = orjson.loads(data)
                if "error" in chunk:
                    raise Failed("in-stream error")
                for choice in chunk.get("choices") or ():
                    text += len(choice["delta"].get("content") or "")
        if not done:
            raise Failed("stream ended before [DONE]")
        if not text:
            raise Failed("empty answer")
        return first

    return Scenario("gateway-stream", call)


def gateway_responses(base_url: str, stream: bool) -> Scenario:
    body = orjson.dumps({"model": MODEL, "input": PROMPT, "stream": stream, "store": True})

    async def call(session: aiohttp.ClientSession, index: int) -> float | None:
        first: float | None = None
        text, done = 0, False
        async with session.post(base_url + "/v1/responses", data=body, headers=JSON) as response:
            if response.status != 200:
                raise Failed(f"HTTP {response.status}")
            if not stream:
                whole = orjson.loads(await response.read())
                text, done = len(whole["output"][0]["content"][0]["text"]), whole["status"] == "completed"
            else:
                async for arrived, data in _sse_events(response):
                    first = first or arrived
                    event = orjson.loads(data)
                    if event["type"] in {"error", "response.failed"}:
                        raise Failed("in-stream error")
                    text += len(event.get("delta") or "") if event["type"] == "response.output_text.delta" else 0
                    done = done or event["type"] == "response.completed"
        if not done:
            raise Failed("no completed response")
        if not text:
            raise Failed("empty answer")
        return first

    return Scenario("responses-stream" if stream else "responses", call)


def floor(base_url: str, stream: bool) -> Scenario:
    """The floor relay (`bench/floor.py`): the same request, answered with the upstream's bytes untranslated."""
    body = orjson.dumps({"model": MODEL, "messages": [{"role": "user", "content": PROMPT}], "stream": stream})

    async def call(session: aiohttp.ClientSession, index: int) -> float | None:
        first: float | None = None
        finished = False
        async with session.post(base_url + "/v1/chat/completions", data=body, headers=JSON) as response:
            if response.status != 200:
                raise Failed(f"HTTP {response.status}")
            if stream:
                async for arrived, data in _sse_events(response):
                    first = first or arrived
                    delta = (orjson.loads(data).get("choices") or [{}])[0].get("delta") or {}
                    finished = finished or delta.get("status") == "finished"
            else:
                finished = '"finished"' in orjson.loads(await response.read())["sse"]
        if not finished:
            raise Failed("no finished event")
        return first

    return Scenario("floor-stream" if stream else "floor", call)


def upstream_headers(token: str) -> dict[str, str]:
    """The headers the gateway sends upstream (protocol reference §2), minus per-request ids."""
    return {
        "authorization": f"Bearer {token}",
        "cookie": f"token={token}",
        "version": QWEN_VERSION,
        "content-type": "application/json",
        "accept": "application/json",
        "source": "web",
        "x-accel-buffering": "no",
    }


def completion_body(chat_id: str, prompt: str = PROMPT, model: str = MODEL) -> dict[str, Any]:
    """A §3.2 completion body: one user message in a new chat, thinking off."""
    now = int(time.time())
    message = {
        "fid": str(uuid.uuid4()), "id": None, "parentId": None, "parent_id": None,
        "childrenIds": [str(uuid.uuid4())], "role": "user", "content": prompt, "user_action": "chat",
        "files": [], "timestamp": now, "models": [model], "model": "", "chat_type": "t2t",
        "sub_chat_type": "t2t",
        "feature_config": {"thinking_enabled": False, "output_schema": "phase", "thinking_budget": 81920},
        "extra": {"meta": {"subChatType": "t2t"}},
    }
    return {"stream": True, "version": "2.1", "incremental_output": True, "chat_id": chat_id, "chatId": chat_id,
            "chat_mode": "normal", "model": model, "parent_id": None, "parentId": "", "timestamp": now,
            "messages": [message]}


def direct(base_url: str, tokens: tuple[str, ...]) -> Scenario:
    headers = [upstream_headers(token) for token in tokens]
    sse_headers = headers  # the 0.3.x client asks for completions with accept: application/json too

    async def call(session: aiohttp.ClientSession, index: int) -> float | None:
        account = index % len(tokens)  # spread over the accounts, as the gateway's pool does
        new_chat = {"title": "New Chat", "models": [MODEL], "chat_mode": "normal", "chat_type": "t2t",
                    "timestamp": int(time.time() * 1000), "project_id": ""}
        async with session.post(base_url + "/api/v2/chats/new", data=orjson.dumps(new_chat),
                                headers=headers[account]) as response:
            reply = orjson.loads(await response.read())
        if not reply.get("success"):
            raise Failed(f"chats/new {reply.get('data', {}).get('code', 'failed')}")
        chat_id = reply["data"]["id"]
        first: float | None = None
        finished = False
        async with session.post(f"{base_url}/api/v2/chat/completions?chat_id={chat_id}",
                                data=orjson.dumps(completion_body(chat_id)), headers=sse_headers[account]) as response:
            async for arrived, data in _sse_events(response):
                first = first or arrived
                event = orjson.loads(data)
                if "error" in event or event.get("success") is False:
                    raise Failed("in-stream error")
                delta = (event.get("choices") or [{}])[0].get("delta") or {}
                finished = finished or (delta.get("status") == "finished" and delta.get("phase") == "answer")
        if not finished:
            raise Failed("stream ended before finished")
        return first

    return Scenario("direct", call)
