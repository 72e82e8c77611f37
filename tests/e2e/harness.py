"""A live stack for end-to-end tests: the Qwen simulator and the gateway, each on a real
loopback socket, served by uvicorn from an event loop in a background thread, so that
sync clients (openai, LangChain, httpx) can call it from the test's own thread."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

import httpx
import uvicorn

from gateway.app import build_app
from gateway.config import (
    DEFAULT_QWEN_AUTH_URL,
    DEFAULT_QWEN_BASE_URL,
    AccountSettings,
    Cooldowns,
    MediaSettings,
    Settings,
    Timeouts,
    VideoSettings,
)
from gateway.simulator import SimOptions, start_simulator
from gateway.store import Store

TOKENS = ("token-alpha", "token-bravo")
FAST = Timeouts(connect=2, first_event=5, idle=2, deadline=10)
FAST_MEDIA = MediaSettings(parse_poll=0.01)
FAST_VIDEO = VideoSettings(poll_interval=0.05, timeout=10, typical_render=1, job_ttl=600, detail_interval=0.01)


class Stack:
    """The gateway at `url` (OpenAI base: `url + "/v1"`) in front of the simulator at `sim_url`."""

    def __init__(self, url: str, sim_url: str, loop: asyncio.AbstractEventLoop,
                 restart: Callable[[], Awaitable[None]] | None = None) -> None:
        self.url = url
        self.sim_url = sim_url
        self.loop = loop
        self.http = httpx.Client(base_url=url, timeout=30)
        self.sim = httpx.Client(base_url=sim_url, timeout=30)
        self._restart = restart

    def restart_gateway(self) -> None:
        """Shut the gateway down (lifespan and all) and serve a new app on the same port.

        The simulator keeps running; the new app gets the same settings and the store
        given to `live_stack`, if any (else a fresh one, as a real restart would).
        """
        assert self._restart is not None
        asyncio.run_coroutine_threadsafe(self._restart(), self.loop).result(15)

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


def default_settings(fresh_chats: int = 0, **overrides: Any) -> Settings:
    """`fresh_chats` 0 (off): every chat is made in its request, so tests can count upstream calls."""
    accounts = tuple(AccountSettings(id=f"acct-{t.split('-')[1]}", token=t, concurrency=4) for t in TOKENS)
    base = Settings(accounts=accounts, timeouts=FAST, cooldowns=Cooldowns(), max_attempts=3, video=FAST_VIDEO,
                    media=FAST_MEDIA, state_url="memory://")
    settings = replace(base, **overrides)
    return replace(settings, upstream=replace(settings.upstream, fresh_chats=fresh_chats))


def _bound_socket(port: int = 0) -> socket.socket:
    # IPPROTO_TCP explicitly, as in the simulator: asyncio then sets TCP_NODELAY, and
    # small responses stop waiting out a 40 ms delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    return sock


@dataclass
class _Gateway:
    server: uvicorn.Server
    task: asyncio.Task[None]
    port: int

    async def stop(self) -> None:
        self.server.should_exit = True
        await self.task


async def _start_gateway(settings: Settings, store: Store | None, port: int = 0) -> _Gateway:
    sock = _bound_socket(port)
    server = uvicorn.Server(uvicorn.Config(build_app(settings, store), log_level="warning", lifespan="on",
                                           timeout_graceful_shutdown=1))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    return _Gateway(server, task, sock.getsockname()[1])


@contextmanager
def live_stack(settings: Settings | None = None, sim: SimOptions | None = None, simulate: bool = False,
               store: Store | None = None) -> Iterator[Stack]:
    """Start simulator + gateway; with `simulate` the gateway starts its own simulator (make run mode).

    `store` is handed to every app built, so jobs survive `Stack.restart_gateway()`.
    """
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
            if gateway_settings.upstream.auth_url == DEFAULT_QWEN_AUTH_URL:  # the simulator is the auth host too
                gateway_settings = replace(gateway_settings,
                                           upstream=replace(gateway_settings.upstream, auth_url=simulator.url))
        else:
            gateway_settings = replace(settings or Settings(state_url="memory://"), accounts=(), simulate=True)
        gateway = await _start_gateway(gateway_settings, store)

        async def restart() -> None:
            await box["gateway"].stop()
            box["gateway"] = await _start_gateway(gateway_settings, store, box["gateway"].port)

        done = asyncio.Event()
        box.update(gateway=gateway, port=gateway.port, sim_url=simulator.url if simulator else None,
                   restart=restart, done=done)
        ready.set()
        await done.wait()
        await box["gateway"].stop()
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
    stack = Stack(f"http://127.0.0.1:{box['port']}", box["sim_url"] or "", loop, box["restart"])
    try:
        yield stack
    finally:
        loop.call_soon_threadsafe(box["done"].set)
        thread.join(15)
        stack.http.close()
        stack.sim.close()
        loop.close()
