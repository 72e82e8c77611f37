"""First-token time of turn 40 of a long conversation, with automatic chaining on and off.

An OpenAI client resends the whole conversation every turn. With `conversation.chain`
on, the gateway continues its upstream chat and sends only the new turn; off, it folds
the whole history into one message in a new chat every time. Each user turn is about
2,000 characters and ends with a question whose answer is short, so turn 40 carries
~80,000 characters of history (under the context-file threshold). Turns 1–39 build
the conversation; turn 40 is timed from sending the request to its first content delta.

The simulator runs with no delays and no prefill cost, so this shows the gateway's and
the transport's share only; against the real Qwen a prompt 40× larger also costs prefill.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

import aiohttp
import orjson

from .report import table
from .scenarios import JSON, MODEL, Failed, _sse_events

TURNS = 40
PADDING = "lorem ipsum " * 160  # ~1,900 characters


@dataclass
class TurnResult:
    label: str
    first_token_ms: list[float]
    upstream_bytes: int  # the completion body the gateway sent for the timed turn

    def row(self) -> tuple[str, ...]:
        ms = self.first_token_ms
        return (self.label, str(len(ms)), f"{statistics.median(ms):.1f}", f"{max(ms):.1f}", str(self.upstream_bytes))


async def _turn(session: aiohttp.ClientSession, url: str, messages: list[dict[str, str]]) -> tuple[str, float]:
    """One streamed turn: its answer text and the ms to its first content delta."""
    body = orjson.dumps({"model": MODEL, "messages": messages, "stream": True})
    sent = time.monotonic()
    first: float | None = None
    text: list[str] = []
    async with session.post(url + "/v1/chat/completions", data=body, headers=JSON) as response:
        if response.status != 200:
            raise Failed(f"HTTP {response.status}")
        async for arrived, data in _sse_events(response):
            if data == b"[DONE]":
                continue
            for choice in orjson.loads(data).get("choices") or ():
                content = choice["delta"].get("content")
                if content:
                    first = first or arrived
                    text.append(content)
    if first is None:
        raise Failed("empty answer")
    return "".join(text), (first - sent) * 1000


async def turn_40(session: aiohttp.ClientSession, gateway_url: str, simulator_url: str, label: str,
                  conversations: int) -> TurnResult:
    times: list[float] = []
    upstream = 0
    for number in range(conversations):
        messages: list[dict[str, str]] = []
        for turn in range(1, TURNS + 1):
            messages.append({"role": "user", "content": f"Conversation {number}, turn {turn}: {PADDING} "
                                                        "What is 17 * 19?"})
            answer, ms = await _turn(session, gateway_url, messages)
            messages.append({"role": "assistant", "content": answer})
        times.append(ms)
        async with session.get(simulator_url + "/__sim/requests") as response:
            requests = (await response.json())["requests"]
        upstream = [r for r in requests if r["path"] == "/api/v2/chat/completions"][-1]["body_size"]
    return TurnResult(label, times, upstream)


def render(results: list[TurnResult]) -> str:
    rows = [r.row() for r in results]
    return ("first token of turn 40 of a streamed conversation (~80,000 characters of history):\n"
            + table(rows, ("conversation.chain", "runs", "p50 ms", "max ms", "upstream body bytes")))
