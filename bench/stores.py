"""What the state store adds per request: the same chats through one gateway per store.

Three more gateways in front of the same simulator, on `memory://` (nothing to do: the
baseline), the default SQLite file, and a real `redis-server` started here on a free
loopback port (skipped, with a note, where redis-server is not installed). Each runs
the chat scenarios at concurrency 1, where a latency difference is time added per
request; the gateway's CPU per request comes from /proc as in the main table.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path

import aiohttp

from bench.load import Result, drive, warm_up
from bench.processes import HOST, TOKENS, Server, _spawn, cpu_seconds, free_port, wait_ready
from bench.report import ADDED_COLUMNS, added_rows, table
from bench.scenarios import gateway_chat, gateway_stream

BASE = "memory"
ROUNDS = 5


@contextmanager
def store_gateways(sim_url: str, logs: Path, env: dict[str, str]) -> Iterator[dict[str, Server]]:
    """A gateway per store (memory, sqlite, redis when available), stopped with the redis-server on exit."""
    with ExitStack() as exits:
        urls = {"memory": "memory://", "sqlite": f"sqlite:///{logs.resolve()}/bench-state.db"}
        binary = shutil.which("redis-server")
        if binary is not None:
            port = free_port()
            redis = subprocess.Popen([binary, "--bind", HOST, "--port", str(port), "--save", "", "--appendonly", "no",
                                      "--dir", str(logs)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            exits.callback(redis.wait, 10)
            exits.callback(redis.terminate)  # callbacks run last-in first-out
            urls["redis"] = f"redis://{HOST}:{port}/0"
        servers: dict[str, Server] = {}
        for name, url in urls.items():
            port = free_port()
            gateway_env = {**env, "QWEN_BASE_URL": sim_url, "QWEN_TOKENS": ",".join(TOKENS), "GATEWAY_HOST": HOST,
                           "GATEWAY_PORT": str(port), "GATEWAY_API_KEYS": "", "GATEWAY_STATE_URL": url}
            config = logs / "gateway.yaml"
            servers[name] = _spawn(
                f"gateway-{name}", ["-m", "gateway", "--config", str(config)], gateway_env, port, logs
            )
            exits.callback(servers[name].stop)
        yield servers


async def compare(servers: dict[str, Server], requests: int, time_cap: float) -> list[Result]:
    """Each chat scenario at concurrency 1 on every store's gateway; scenario names carry the store.

    The stores take turns in `ROUNDS` rounds, so a change in the machine's load during the
    run (other people's work) falls on every store alike.
    """
    results: dict[tuple[str, str], Result] = {}
    timeout = aiohttp.ClientTimeout(total=None)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        for server in servers.values():
            await wait_ready(server, "/health")
        for make in (gateway_chat, gateway_stream):
            scenarios = {store: make(server.url) for store, server in servers.items()}
            for scenario in scenarios.values():
                await warm_up(scenario, session)
            for _ in range(ROUNDS):
                for store, server in servers.items():
                    before = cpu_seconds(server.process.pid)
                    part = await drive(scenarios[store], session, max(1, requests // ROUNDS), 1, time_cap / ROUNDS)
                    spent = cpu_seconds(server.process.pid) - before
                    name = f"{scenarios[store].name} on {store}"
                    total = results.setdefault((name, store), Result(name, 1, 0, cpu={"gateway": 0.0}))
                    total.requests += part.requests
                    total.elapsed += part.elapsed
                    total.samples.extend(part.samples)
                    total.errors.update(part.errors)
                    total.cpu["gateway"] += spent
    return list(results.values())


def report(results: Sequence[Result], redis_missing: bool) -> str:
    lines = ["state stores (concurrency 1; 'adds' is this store minus memory://, which does no I/O):",
             table(added_rows(results, BASE), ADDED_COLUMNS)]
    if redis_missing:
        lines.append("redis: not measured (redis-server is not installed: apt-get install redis-server)")
    return "\n".join(lines)
