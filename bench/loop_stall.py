"""/health latency while the gateway decodes huge bodies: `python -m bench.loop_stall [responses]`.

Four concurrent chat requests of about 30 MB, each one user message of a million text
parts, go to a gateway (its own process, in front of the simulator); meanwhile `/health`
is asked every 10 ms from another process. With `responses`, the same message goes to
`/v1/responses` as an input item. The figure is the slowest `/health` answer and the median. The
issue's bar: under 100 ms while those bodies are decoded, checked and folded.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import statistics
import sys
import time
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Event
from pathlib import Path

import aiohttp
import orjson

from .processes import stack, wait_ready

PARTS = 1_000_000
REQUESTS = 4


def huge_body(parts: int = PARTS, route: str = "chat") -> bytes:
    if route == "responses":
        content = [{"type": "input_text", "text": "a"}] * parts
        return orjson.dumps({"model": "qwen3-max", "input": [{"role": "user", "content": content}]})
    content = [{"type": "text", "text": "a"}] * parts
    return orjson.dumps({"model": "qwen3-max", "messages": [{"role": "user", "content": content}]})


def _poller(url: str, stop: Event, out: Connection) -> None:
    """In a process of its own, so the load generator's own work on its 30 MB bodies (asyncio copies
    each into its transport buffer: ~90 ms of its event loop) never delays a /health answer."""
    out.send(asyncio.run(_poll_health(url, stop, out)))


async def _poll_health(url: str, stop: Event, out: Connection) -> list[float]:
    latencies: list[float] = []
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=300)) as session:
        while not stop.is_set():
            started = time.perf_counter()
            async with session.get(url + "/health") as response:
                await response.read()
            if not latencies:
                out.send("polling")
            latencies.append(time.perf_counter() - started)
            await asyncio.sleep(0.01)
    return latencies


async def measure(url: str, body: bytes, path: str = "/v1/chat/completions") -> tuple[list[float], list[int], float]:
    headers = {"content-type": "application/json"}
    context = multiprocessing.get_context("spawn")
    stop = context.Event()
    results, sender = context.Pipe(duplex=False)
    poller = context.Process(target=_poller, args=(url, stop, sender))
    poller.start()
    try:
        await asyncio.to_thread(results.recv)  # "polling": the first /health answered
        await asyncio.sleep(0.2)
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=300)) as session:
            async def post() -> int:
                async with session.post(url + path, data=body, headers=headers) as response:
                    await response.read()
                    return response.status

            started = time.perf_counter()
            statuses = await asyncio.gather(*(post() for _ in range(REQUESTS)))
            elapsed = time.perf_counter() - started
        stop.set()
        latencies: list[float] = await asyncio.to_thread(results.recv)
    finally:
        stop.set()
        poller.join(10)
    return latencies, list(statuses), elapsed


async def main() -> int:
    route = sys.argv[1] if len(sys.argv) > 1 else "chat"
    body = huge_body(route=route)
    with stack() as servers:
        await wait_ready(servers.simulator, "/__sim/requests")
        await wait_ready(servers.gateway, "/health")
        path = "/v1/responses" if route == "responses" else "/v1/chat/completions"
        latencies, statuses, elapsed = await measure(servers.gateway.url, body, path)
        peak = _peak_memory(servers.gateway.process.pid)
    print(f"{REQUESTS} concurrent {path} requests of {len(body) / 1e6:.1f} MB ({PARTS:,} content parts each): "
          f"statuses {statuses}, {elapsed:.1f} s in all")
    print(f"/health during them: {len(latencies)} answers, median {statistics.median(latencies) * 1000:.1f} ms, "
          f"slowest {max(latencies) * 1000:.1f} ms")
    print(f"gateway process peak memory (VmHWM, its decoding workers apart): {peak}")
    return 0


def _peak_memory(pid: int) -> str:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return "n/a (no procfs)"
    return next((line.split(":", 1)[1].strip() for line in status.splitlines() if line.startswith("VmHWM")), "n/a")


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
