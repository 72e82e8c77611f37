"""EventStream: the Server-Sent Events response of the chat paths (chat completions, Responses).

It replaces sse-starlette's EventSourceResponse there, which runs four tasks per response
(an anyio task group) and opens a cancel scope for every send: about 15 % of a stream's CPU
and 8 KiB of every open stream (bench/README.md has the figures both ways). This one sends
the body from the request's own task, with one watcher task beside it that cancels the body
when the client disconnects (closing the upstream call with it) and sends a comment ping
every `ping` seconds, as sse-starlette did, so proxies keep an idle line open.

Shutdown is read from the flags sse-starlette reads (its AppStatus, which it hooks into
uvicorn's exit handler, or uvicorn's own `should_exit`), by one poller per event loop for
all open streams: the stream's `CutOnShutdown` begins, and `grace` seconds later the body is
cancelled. The bytes on the wire are the same: the headers, the chunks as the body yields
them, and `: ping - <time>` comments.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from sse_starlette.sse import AppStatus
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from ..calls.lifetime import CutOnShutdown

PING = 15.0  # seconds between comment pings
POLL = 0.5  # seconds between looks at the shutdown flags
HEADERS = {"cache-control": "no-store", "connection": "keep-alive", "x-accel-buffering": "no"}


class EventStream(Response):
    media_type = "text/event-stream"

    def __init__(self, body: AsyncIterator[bytes], cut: CutOnShutdown, grace: float, ping: float = PING) -> None:
        self.body_iterator = body
        self.status_code = 200
        self.background = None
        self.init_headers(HEADERS)
        self._cut = cut
        self._grace = grace
        self._ping = ping
        self._task: asyncio.Task[Any] | None = None
        self._stopper: asyncio.TimerHandle | None = None
        self._left = False  # the client disconnected
        self._stopped = False  # the grace period after shutdown ran out
        self._ended = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        task = self._task = asyncio.current_task()
        assert task is not None
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        watcher = asyncio.get_running_loop().create_task(self._watch(receive, send))
        _watch_shutdown(self)
        try:
            async for chunk in self.body_iterator:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            self._ended = True
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except asyncio.CancelledError:
            if (self._left or self._stopped) and task.uncancel() == 0:
                return  # nobody to answer, or no time left to: the server closes the connection
            raise
        finally:
            self._ended = True
            watcher.cancel()
            _streams(asyncio.get_running_loop()).discard(self)
            self._cut.close()
            if self._stopper is not None:
                self._stopper.cancel()
            aclose = getattr(self.body_iterator, "aclose", None)
            if aclose is not None:
                await aclose()  # a body left at a yield (a failed send) still runs its cleanup

    async def _watch(self, receive: Receive, send: Send) -> None:
        """The client's disconnect cancels the body; every `ping` seconds, a comment."""
        while True:
            try:
                async with asyncio.timeout(self._ping):
                    message = await receive()
            except TimeoutError:
                if self._ended:
                    return
                ping = f": ping - {datetime.now(UTC)}\n\n".encode()
                await send({"type": "http.response.body", "body": ping, "more_body": True})
                continue
            if message["type"] == "http.disconnect":
                self._left = True
                assert self._task is not None
                self._task.cancel()
                return

    def shut_down(self) -> None:
        """The server is exiting: the stream has `grace` seconds left, its body a second less."""
        if self._stopper is None and not self._ended:
            self._cut.begin()
            self._stopper = asyncio.get_running_loop().call_later(self._grace, self._stop)

    def _stop(self) -> None:
        if not self._ended and self._task is not None:
            self._stopped = True
            self._task.cancel()


_open: dict[asyncio.AbstractEventLoop, set[EventStream]] = {}
_pollers: set[asyncio.Task[None]] = set()


def _streams(loop: asyncio.AbstractEventLoop) -> set[EventStream]:
    return _open.get(loop, set())


def _exiting() -> bool:
    if AppStatus.should_exit:
        return True
    # sse-starlette's patch of uvicorn's exit handler may not be the one installed: ask uvicorn too.
    server = getattr(signal.getsignal(signal.SIGTERM), "__self__", None)
    return AppStatus.enable_automatic_graceful_drain and bool(getattr(server, "should_exit", False))


def _watch_shutdown(stream: EventStream) -> None:
    if _exiting():
        stream.shut_down()
        return
    loop = asyncio.get_running_loop()
    streams = _open.get(loop)
    if streams is None:
        streams = _open[loop] = set()
        poller = loop.create_task(_poll(loop, streams))
        _pollers.add(poller)
        poller.add_done_callback(_pollers.discard)
    streams.add(stream)


async def _poll(loop: asyncio.AbstractEventLoop, streams: set[EventStream]) -> None:
    """One task per event loop while streams are open: tells each of them when the server exits."""
    try:
        while streams:
            await asyncio.sleep(POLL)
            if _exiting():
                for stream in list(streams):
                    stream.shut_down()
    finally:
        del _open[loop]
