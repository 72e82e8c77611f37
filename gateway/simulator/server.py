"""Running the simulator on a real socket inside the caller's event loop."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field

import uvicorn

from .app import build_simulator
from .options import SimOptions
from .state import SimState

_EMBEDDED = contextvars.ContextVar("embedded_simulator", default=False)


class _QuietEmbedded(logging.Filter):
    """Drops uvicorn's routine lines (started, shutting down) logged from inside the simulator's task,
    so the gateway's own server lines are the only ones a user reads; warnings still pass."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING or not _EMBEDDED.get()


def _quiet_embedded() -> None:
    logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _QuietEmbedded) for f in logger.filters):
        logger.addFilter(_QuietEmbedded())


class _EmbeddedServer(uvicorn.Server):
    """A uvicorn server that leaves signal handling to whoever owns the process."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    async def main_loop(self) -> None:
        # uvicorn checks `should_exit` every 0.1 s; embedded servers stop often (a test
        # fixture each), so check ten times as often. `on_tick` still refreshes `Date`.
        counter = 0
        while not await self.on_tick(counter):
            counter = (counter + 1) % 864000
            await asyncio.sleep(0.01)


@dataclass
class RunningSimulator:
    url: str  # e.g. "http://127.0.0.1:54321", no trailing slash
    state: SimState
    _server: uvicorn.Server = field(repr=False)
    _task: asyncio.Task[None] = field(repr=False)

    async def stop(self) -> None:
        """End open streams at once, then shut the server down."""
        self.state.close()
        self._server.should_exit = True
        await self._task


async def start_simulator(
    options: SimOptions | None = None, host: str = "127.0.0.1", port: int = 0
) -> RunningSimulator:
    """Serve a new simulator on `host:port` (0 = ephemeral) as a task of the current loop."""
    app = build_simulator(options)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio only sets TCP_NODELAY on sockets whose proto says TCP,
    # and without it every response waits out a 40 ms delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.setblocking(False)
    # No log_level or log_config: uvicorn's loggers are shared with the gateway's own server, whose
    # "Uvicorn running on ..." line must not be silenced by the simulator.
    config = uvicorn.Config(app, log_level=None, log_config=None, access_log=False, lifespan="off",
                            timeout_graceful_shutdown=2)
    server = _EmbeddedServer(config)
    _quiet_embedded()
    context = contextvars.copy_context()
    context.run(_EMBEDDED.set, True)
    task = asyncio.create_task(server.serve(sockets=[sock]), name="qwen-simulator", context=context)
    while not server.started:
        if task.done():
            sock.close()
            await task  # re-raises the startup failure
            raise RuntimeError("the simulator exited during startup")
        await asyncio.sleep(0.005)
    bound_port = sock.getsockname()[1]
    shown_host = f"[{host}]" if ":" in host else host
    return RunningSimulator(f"http://{shown_host}:{bound_port}", app.state.sim, server, task)
