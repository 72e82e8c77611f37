"""Memory per open stream: `python -m bench.stream_memory [--streams 1000] [--no-floor]`.

A gateway (its own process, 4 accounts of 250 calls each, in front of the simulator)
holds N streamed chat answers open at once: the simulator sends one delta a second,
so every stream stays open for the whole measure. The figure is the gateway's resident
memory with the N streams open, less its memory idle (after a warm-up request), over N.
The same is then measured for the floor relay (bench/floor.py), what uvicorn, Starlette
and aiohttp hold for a stream relayed untranslated. The issue's bar: 48 KiB per stream
at 1,000 streams. `make bench` runs this too (`--memory-streams`).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import TextIO

import aiohttp

from .processes import HOST, _spawn, free_port, wait_ready

ACCOUNTS = 4
PROMPT = " ".join(f"w{i}" for i in range(120))  # echoed a word per delta: a 2-minute answer


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def gateway_config(per_account: int) -> str:
    lines = ["accounts:"]
    for i in range(ACCOUNTS):
        lines += [f"  - id: mem-{i}", f"    token: mem-token-{i}", f"    concurrency: {per_account}"]
    return "\n".join(lines) + "\nupstream:\n  startup_check: false\n"


async def hold(session: aiohttp.ClientSession, url: str, opened: asyncio.Queue[None], stop: asyncio.Event) -> bool:
    body = {"model": "qwen3-max", "stream": True, "messages": [{"role": "user", "content": PROMPT}]}
    async with session.post(url + "/v1/chat/completions", json=body) as response:
        if response.status != 200:
            return False
        await response.content.readline()
        opened.put_nowait(None)
        while not stop.is_set():
            if not await response.content.readline():
                break
    return True


async def measure(streams: int, proxy: str = "gateway", out: TextIO = sys.stdout) -> float:
    """KiB of resident memory per open stream of `proxy` ("gateway" or "floor"); prints the figures."""
    with tempfile.TemporaryDirectory(prefix="qwen-mem-") as tmp:
        logs = Path(tmp)
        (logs / "gateway.yaml").write_text(gateway_config(streams // ACCOUNTS + 1))
        sim_port, port = free_port(), free_port()
        simulator = _spawn("simulator", ["-m", "gateway.simulator", "--host", HOST, "--port", str(sim_port),
                                         "--speed", "1", "--log-level", "warning"], {}, sim_port, logs)
        env = {"QWEN_BASE_URL": simulator.url, "GATEWAY_HOST": HOST, "GATEWAY_PORT": str(port),
               "GATEWAY_API_KEYS": "", "GATEWAY_STATE_URL": "memory://", "PATH": "/usr/bin:/bin"}
        if proxy == "floor":
            gateway = _spawn("floor", ["-m", "bench.floor", "--host", HOST, "--port", str(port), "--upstream",
                                       simulator.url, "--tokens", ",".join(f"mem-token-{i}" for i in range(ACCOUNTS))],
                             {"PATH": "/usr/bin:/bin"}, port, logs)
        else:
            gateway = _spawn("gateway", ["-m", "gateway", "--config", str(logs / "gateway.yaml")], env, port, logs)
        try:
            await wait_ready(simulator, "/__sim/requests")
            await wait_ready(gateway, "/health")
            connector = aiohttp.TCPConnector(limit=0)
            async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=600)) as session:
                async with session.post(simulator.url + "/__sim/options", json={"delta_delay": 1.0}) as r:
                    r.raise_for_status()
                warm_stop = asyncio.Event()
                warm = asyncio.Queue[None]()
                task = asyncio.create_task(hold(session, gateway.url, warm, warm_stop))
                await warm.get()
                warm_stop.set()
                await task
                await asyncio.sleep(1.0)
                idle = rss_kib(gateway.process.pid)
                stop, opened = asyncio.Event(), asyncio.Queue[None]()
                started = time.perf_counter()
                tasks = [asyncio.create_task(hold(session, gateway.url, opened, stop)) for _ in range(streams)]
                for _ in range(streams):
                    await opened.get()
                await asyncio.sleep(2.0)  # every stream past its first deltas
                busy = rss_kib(gateway.process.pid)
                took = time.perf_counter() - started
                stop.set()
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            gateway.stop()
            simulator.stop()
    per_stream = (busy - idle) / streams
    print(f"{proxy}: {streams} open streams (all open within {took:.1f} s): RSS {idle / 1024:.1f} MiB idle, "
          f"{busy / 1024:.1f} MiB with them open: {per_stream:.1f} KiB per stream", file=out, flush=True)
    return per_stream


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.stream_memory", description=__doc__)
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--no-floor", action="store_true", help="measure the gateway only")
    args = parser.parse_args()
    asyncio.run(measure(args.streams))
    if not args.no_floor:
        asyncio.run(measure(args.streams, "floor"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
