"""First-token time against an upstream 150 ms away: the gateway beside the upstream itself.

The simulator runs with `--rtt 0.15` (every HTTP call costs a 150 ms round trip, as
chat.qwen.ai does from far away) and no other delay. Three figures, taking turns request
by request so a change in the machine's load falls on all of them:

* `upstream`: the floor. A chat made beforehand (not timed), then `POST chat/completions`,
  timed from sending it to its first content event: one round trip plus the simulator.
* `gateway`: a streamed `POST /v1/chat/completions` (a new conversation each time) to its
  first content delta, with the default settings: fresh chats made ahead of use.
* `gateway, fresh_chats: 0`: the same without them: `chats/new` costs a round trip more.

The target (issue 10): gateway p50 <= upstream p50 + 5 ms. `python -m bench.first_token`
runs it alone; `make bench` appends it to its report.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from contextlib import ExitStack

import aiohttp
import orjson

from .processes import TOKENS, Stack, stack, wait_ready
from .report import table
from .scenarios import JSON, MODEL, Failed, _sse_events, completion_body, upstream_headers

RTT = 0.15
TARGET_MS = 5.0
WARM_UP = 2 * len(TOKENS)  # each account's first conversation makes its chat itself, then stocks up
OFF = "upstream:\n  fresh_chats: 0\n"


async def upstream_first_token(session: aiohttp.ClientSession, url: str, index: int) -> float:
    """ms from sending a completion, in a chat made beforehand, to its first content event."""
    headers = upstream_headers(TOKENS[index % len(TOKENS)])
    new_chat = {"title": "New Chat", "models": [MODEL], "chat_mode": "normal", "chat_type": "t2t",
                "timestamp": int(time.time() * 1000), "project_id": ""}
    async with session.post(url + "/api/v2/chats/new", data=orjson.dumps(new_chat), headers=headers) as response:
        chat_id = orjson.loads(await response.read())["data"]["id"]
    sent = time.monotonic()
    first: float | None = None
    async with session.post(f"{url}/api/v2/chat/completions?chat_id={chat_id}",
                            data=orjson.dumps(completion_body(chat_id)), headers=headers) as response:
        async for arrived, data in _sse_events(response):
            delta = (orjson.loads(data).get("choices") or [{}])[0].get("delta") or {}
            if first is None and delta.get("phase") == "answer" and delta.get("content"):
                first = arrived
    if first is None:
        raise Failed("no content from the upstream")
    return (first - sent) * 1000


async def gateway_first_token(session: aiohttp.ClientSession, url: str, index: int) -> float:
    """ms from sending a streamed chat completion (a new conversation) to its first content delta."""
    body = orjson.dumps({"model": MODEL, "stream": True,
                         "messages": [{"role": "user", "content": f"Conversation {index}: what is a proxy?"}]})
    sent = time.monotonic()
    first: float | None = None
    async with session.post(url + "/v1/chat/completions", data=body, headers=JSON) as response:
        if response.status != 200:
            raise Failed(f"HTTP {response.status}")
        async for arrived, data in _sse_events(response):
            if first is None and data != b"[DONE]" and any(
                    (c.get("delta") or {}).get("content") for c in orjson.loads(data).get("choices") or ()):
                first = arrived
    if first is None:
        raise Failed("no content from the gateway")
    return (first - sent) * 1000


async def measure(rounds: int) -> list[tuple[str, list[float]]]:
    """Each figure `rounds` times, in turns; two stacks: the default gateway, and one with fresh_chats off."""
    with ExitStack() as exits:
        on: Stack = exits.enter_context(stack(simulator_args=("--rtt", str(RTT))))
        off: Stack = exits.enter_context(stack(None, OFF, simulator_args=("--rtt", str(RTT))))
        for servers in (on, off):
            await wait_ready(servers.simulator, "/api/models")
            await wait_ready(servers.gateway, "/health")
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
            for index in range(WARM_UP):  # the model list, each account's first chat, its shelf
                await gateway_first_token(session, on.gateway.url, -1 - index)
                await gateway_first_token(session, off.gateway.url, -1 - index)
            await asyncio.sleep(2 * RTT)
            figures: list[tuple[str, Callable[[int], Awaitable[float]]]] = [
                ("upstream: completion in a chat made beforehand",
                 lambda i: upstream_first_token(session, on.simulator.url, i)),
                ("gateway (default: fresh chats made ahead)",
                 lambda i: gateway_first_token(session, on.gateway.url, i)),
                ("gateway, upstream.fresh_chats: 0", lambda i: gateway_first_token(session, off.gateway.url, i)),
            ]
            times: list[list[float]] = [[] for _ in figures]
            for index in range(rounds):
                for (_, call), samples in zip(figures, times, strict=True):
                    samples.append(await call(index))
    return [(name, samples) for (name, _), samples in zip(figures, times, strict=True)]


def render(results: list[tuple[str, list[float]]]) -> str:
    floor = statistics.median(results[0][1])
    rows = []
    for name, samples in results:
        p50 = statistics.median(samples)
        p90 = statistics.quantiles(samples, n=10)[-1] if len(samples) > 1 else p50
        rows.append((name, str(len(samples)), f"{p50:.1f}", f"{p90:.1f}", f"{max(samples):.1f}",
                     "-" if samples is results[0][1] else f"{p50 - floor:+.1f}"))
    gap = statistics.median(results[1][1]) - floor
    verdict = "met" if gap <= TARGET_MS else "NOT met"
    return (f"first token with a {RTT * 1000:.0f} ms round trip to the upstream (simulator --rtt {RTT}), "
            "sequential streamed requests:\n"
            + table(rows, ("first token", "runs", "p50 ms", "p90 ms", "max ms", "vs upstream p50"))
            + f"\ntarget gateway p50 <= upstream p50 + {TARGET_MS:.0f} ms: {gap:+.1f} ms, {verdict}")


async def report(rounds: int) -> str:
    print(f"  first token: {rounds} rounds, simulator rtt {RTT} s", file=sys.stderr, flush=True)
    return render(await measure(rounds))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.first_token", description=__doc__)
    parser.add_argument("--rounds", type=int, default=40, help="requests of each figure (default 40)")
    args = parser.parse_args(argv)
    print(asyncio.run(report(max(1, args.rounds))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
