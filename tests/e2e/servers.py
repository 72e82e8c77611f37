"""The listening half of a live stack: a simulator and a gateway server on loopback sockets,
served by uvicorn from an event loop in a background thread.

The gateway server serves whatever app is mounted in its `GatewaySlot`. Mounting a new app
runs its lifespan exactly as uvicorn does at start-up; unmounting waits for its open calls
(as uvicorn's graceful shutdown does), cancels the rest and runs its lifespan shutdown.
So one pair of servers can serve test after test, each with a fresh app and a reset
simulator, without paying a server start and stop (~0.3 s) per test.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

import uvicorn
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from uvicorn.lifespan.on import LifespanOn

from gateway.simulator import RunningSimulator, start_simulator

T = TypeVar("T")
GRACE = 1.0  # seconds open calls get to finish when an app is unmounted (the old timeout_graceful_shutdown)


class GatewaySlot:
    """An ASGI app that hands every request to the mounted gateway app, with its lifespan state."""

    def __init__(self) -> None:
        self.app: Starlette | None = None
        self.lifespan: LifespanOn | None = None
        self.calls: set[asyncio.Task[Any]] = set()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        app, lifespan = self.app, self.lifespan
        if app is None or lifespan is None:  # mid-restart, as a real restart refuses connections
            await PlainTextResponse("no gateway mounted", status_code=503)(scope, receive, send)
            return
        task = asyncio.current_task()
        assert task is not None
        self.calls.add(task)
        try:
            await app({**scope, "state": lifespan.state.copy()}, receive, send)  # as uvicorn passes it
        finally:
            self.calls.discard(task)

    async def mount(self, app: Starlette) -> None:
        # A Config per app, as before: it applies the same logging set-up uvicorn.Server did.
        lifespan = LifespanOn(uvicorn.Config(app, log_level="warning", lifespan="on"))
        await lifespan.startup()
        if lifespan.should_exit:
            raise RuntimeError("the gateway failed to start (see the log above)")
        self.app, self.lifespan = app, lifespan

    async def unmount(self) -> None:
        lifespan, self.app, self.lifespan = self.lifespan, None, None
        if lifespan is None:
            return
        if self.calls:
            _, pending = await asyncio.wait(set(self.calls), timeout=GRACE)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        await lifespan.shutdown()


def bound_socket(port: int = 0) -> socket.socket:
    # IPPROTO_TCP explicitly, as in the simulator: asyncio then sets TCP_NODELAY, and
    # small responses stop waiting out a 40 ms delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    return sock


class Servers:
    """A loop thread serving one simulator and one gateway slot until `close()`."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.slot = GatewaySlot()
        self._done: asyncio.Event | None = None
        ready = threading.Event()
        box: dict[str, Any] = {}

        async def main() -> None:
            try:
                box["started"] = await self._start()
            except BaseException as exc:
                box["error"] = exc
                raise
            finally:
                ready.set()
            await self._serve_until_closed(*box["started"])

        self._thread = threading.Thread(target=lambda: self.loop.run_until_complete(main()), daemon=True)
        self._thread.start()
        if not ready.wait(15) or "error" in box:
            raise RuntimeError("the live stack did not start") from box.get("error")
        self.simulator: RunningSimulator = box["started"][0]
        self.port: int = box["started"][2]

    async def _start(self) -> tuple[RunningSimulator, uvicorn.Server, int, asyncio.Task[None]]:
        self._done = asyncio.Event()
        simulator = await start_simulator()
        sock = bound_socket()
        server = uvicorn.Server(uvicorn.Config(self.slot, log_level="warning", lifespan="off"))
        task = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.005)
        return simulator, server, sock.getsockname()[1], task

    async def _serve_until_closed(self, simulator: RunningSimulator, server: uvicorn.Server, _port: int,
                                  task: asyncio.Task[None]) -> None:
        assert self._done is not None
        await self._done.wait()
        await self.slot.unmount()
        server.should_exit = True
        await task
        await simulator.stop()
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for other in others:  # e.g. sse-starlette's shutdown watcher
            other.cancel()
        await asyncio.gather(*others, return_exceptions=True)

    async def settle(self) -> None:
        """Unmount the app, then end the simulator's replies still streaming to it at once, as the
        simulator's own stop does (`closed`), so that none runs on into the next test."""
        await self.slot.unmount()
        state = self.simulator.state
        if not any(record.status == "running" for record in state.streams.values()):
            return
        state.close()
        try:
            deadline = self.loop.time() + GRACE
            while any(r.status == "running" for r in state.streams.values()) and self.loop.time() < deadline:
                await asyncio.sleep(0.005)
        finally:
            state.closed = False  # open for the next test's replies

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = 15) -> T:
        """Run `coroutine` on the servers' loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def close(self) -> None:
        done = self._done
        assert done is not None
        self.loop.call_soon_threadsafe(done.set)
        self._thread.join(15)
        self.loop.close()
