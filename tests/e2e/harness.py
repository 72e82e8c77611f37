"""A live stack for end-to-end tests: the Qwen simulator and the gateway, each on a real
loopback socket, served by uvicorn from an event loop in a background thread (servers.py),
so that sync clients (openai, LangChain, httpx) can call it from the test's own thread.

Every stack is a fresh gateway app (its own settings, pool, store, marks) and a simulator reset
to its options; the listening servers are lent from test to test (one pair per xdist worker).
A test wanting other settings calls `live_stack(settings, sim=..., store=...)`; a stack opened
inside another gets servers of its own; real processes (SIGTERM, kill -9, replicas on one
Redis) come from processes.py."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import httpx

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
from gateway.simulator import SimOptions
from gateway.store import Store

from .servers import Servers

_LOOPBACK_TLS = ssl.create_default_context()  # never used on http://, but httpx builds one per client (~20 ms)
TOKENS = ("token-alpha", "token-bravo")
FAST = Timeouts(connect=2, first_event=5, idle=2, deadline=10)
FAST_MEDIA = MediaSettings(parse_poll=0.01)
FAST_VIDEO = VideoSettings(poll_interval=0.05, timeout=10, typical_render=1, job_ttl=600, detail_interval=0.01)


class Stack:
    """The gateway at `url` (OpenAI base: `url + "/v1"`) in front of the simulator at `sim_url`."""

    def __init__(self, url: str, sim_url: str, loop: asyncio.AbstractEventLoop,
                 restart: Callable[[], Coroutine[Any, Any, None]] | None = None) -> None:
        self.url = url
        self.sim_url = sim_url
        self.loop = loop
        self.http = httpx.Client(base_url=url, timeout=30, verify=_LOOPBACK_TLS)
        self.sim = httpx.Client(base_url=sim_url, timeout=30, verify=_LOOPBACK_TLS)
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


_shared: Servers | None = None  # the servers `live_stack` lends out, one stack at a time
_lent = False


def close_shared_servers() -> None:
    """Stop the servers `live_stack` shares between tests (the session's end)."""
    global _shared
    if _shared is not None and not _lent:
        _shared.close()
        _shared = None


def _borrow() -> tuple[Servers, bool]:
    """The shared servers if free, else (a stack inside a stack) servers of its own; True when shared."""
    global _shared, _lent
    if _lent:
        return Servers(), False
    if _shared is None:
        _shared = Servers()
    _lent = True
    return _shared, True


def _give_back(servers: Servers, shared: bool, healthy: bool) -> None:
    global _shared, _lent
    if not shared:
        servers.close()
        return
    _lent = False
    if not healthy:  # a stack that would not stop cleanly is not lent again
        _shared = None
        servers.close()


@contextmanager
def live_stack(settings: Settings | None = None, sim: SimOptions | None = None, simulate: bool = False,
               store: Store | None = None) -> Iterator[Stack]:
    """A reset simulator and a fresh gateway app with `settings`; with `simulate` the gateway starts
    its own simulator (make run mode).

    Each call gets a new app (new pool, store, marks: nothing leaks from an earlier test) and a
    simulator back to `sim` with no chats, faults or recorded requests, served on sockets kept
    open between tests. `store` is handed to every app built, so jobs survive
    `Stack.restart_gateway()`.
    """
    servers, shared = _borrow()
    healthy = False
    try:
        simulator = servers.simulator
        if not simulate:
            gateway_settings = settings or default_settings()
            if gateway_settings.qwen_base_url == DEFAULT_QWEN_BASE_URL:
                gateway_settings = replace(gateway_settings, qwen_base_url=simulator.url)
            if gateway_settings.upstream.auth_url == DEFAULT_QWEN_AUTH_URL:  # the simulator is the auth host too
                gateway_settings = replace(gateway_settings,
                                           upstream=replace(gateway_settings.upstream, auth_url=simulator.url))
        else:
            gateway_settings = replace(settings or Settings(state_url="memory://"), accounts=(), simulate=True)

        async def start() -> None:
            simulator.state.initial_options = sim or SimOptions(speed=0.0)
            simulator.state.reset()
            await servers.slot.mount(build_app(gateway_settings, store))

        async def restart() -> None:
            await servers.slot.unmount()
            await servers.slot.mount(build_app(gateway_settings, store))

        servers.run(start())
        stack = Stack(f"http://127.0.0.1:{servers.port}", "" if simulate else simulator.url, servers.loop, restart)
        try:
            yield stack
        finally:
            stack.http.close()
            stack.sim.close()
            servers.run(servers.settle())
            healthy = True
    finally:
        _give_back(servers, shared, healthy)
