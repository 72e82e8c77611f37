"""A live stack for end-to-end tests: the Qwen simulator and the gateway, each on a real
loopback socket, served by uvicorn from an event loop in a background thread, so that
sync clients (openai, LangChain, httpx) can call it from the test's own thread."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import httpx
import uvicorn

from gateway.app import build_app
from gateway.config import DEFAULT_QWEN_BASE_URL, AccountSettings, Cooldowns, Settings, Timeouts
from gateway.simulator import SimOptions, start_simulator

TOKENS = ("token-alpha", "token-bravo")
FAST = Timeouts(connect=2, first_event=5, idle=2, deadline=10)


class Stack:
    """The gateway at `url` (OpenAI base: `url + "/v1"`) in front of the simulator at `sim_url`."""

    def __init__(self, url: str, sim_url: str, loop: asyncio.AbstractEventLoop) -> None:
        self.url = url
        self.sim_url = sim_url
        self.loop = loop
        self.http = httpx.Client(base_url=url, timeout=30)
        self.sim = httpx.Client(base_url=sim_url, timeout=30)

    @property
    def base_url(self) -> str:
        return self.url + "/v1"

    def fault(self, token: str, *faults: dict[str, Any]) -> None:
        self.sim.post("/__sim/faults", json={"token": token, "faults": list(faults)}).raise_for_status()

    def sim_options(self, **options: Any) -> None:
        self.sim.post("/__sim/options", json=options).raise_for_status()

    def upstream_requests(self, path: str | None = None) -> list[dict[str, Any]]:
        requests = self.sim.get("/__sim/requests").json()["requests"]
        return [r for r in requests if path is None or r["path"] == path]

    def accounts(self) -> dict[str, dict[str, Any]]:
        return {a["id"]: a for a in self.http.get("/v1/accounts").json()["data"]}


def default_settings(**overrides: Any) -> Settings:
    accounts = tuple(AccountSettings(id=f"acct-{t.split('-')[1]}", token=t, concurrency=4) for t in TOKENS)
    return replace(Settings(accounts=accounts, timeouts=FAST, cooldowns=Cooldowns(), max_attempts=3), **overrides)


def _bound_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@contextmanager
def live_stack(settings: Settings | None = None, sim: SimOptions | None = None, simulate: bool = False) -> Iterator[Stack]:
    """Start simulator + gateway; with `simulate` the gateway starts its own simulator (make run mode)."""
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    box: dict[str, Any] = {}

    async def main() -> None:
        simulator = None
        if not simulate:
            simulator = await start_simulator(sim or SimOptions(speed=0.0))
            gateway_settings = settings or default_settings()
            if gateway_settings.qwen_base_url == DEFAULT_QWEN_BASE_URL:
                gateway_settings = replace(gateway_settings, qwen_base_url=simulator.url)
        else:
            gateway_settings = replace(settings or Settings(), accounts=(), simulate=True)
        sock = _bound_socket()
        server = uvicorn.Server(uvicorn.Config(build_app(gateway_settings), log_level="warning", lifespan="on",
                                               timeout_graceful_shutdown=1))
        task = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
        app_state = server.config.loaded_app
        box.update(server=server, port=sock.getsockname()[1],
                   sim_url=simulator.url if simulator else None, app=app_state)
        ready.set()
        await task
        if simulator is not None:
            await simulator.stop()
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for other in others:  # e.g. sse-starlette's shutdown watcher
            other.cancel()
        await asyncio.gather(*others, return_exceptions=True)

    thread = threading.Thread(target=lambda: loop.run_until_complete(main()), daemon=True)
    thread.start()
    if not ready.wait(15):
        raise RuntimeError("the live stack did not start")
    stack = Stack(f"http://127.0.0.1:{box['port']}", box["sim_url"] or "", loop)
    try:
        yield stack
    finally:
        box["server"].should_exit = True
        thread.join(15)
        stack.http.close()
        stack.sim.close()
        loop.close()
