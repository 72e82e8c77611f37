"""EventStream: the Server-Sent Events response of the chat paths (chat completions, Responses).

It replaces sse-starlette's EventSourceResponse there, which runs four tasks per response
(an anyio task group) and opens a cancel scope for every send: about 15 % of a stream's CPU
and 8 KiB of every open stream (bench/README.md has the figures both ways). This one sends
the body from the request's own task and starts no task of its own: one poller per event
loop looks at every open stream every `POLL` seconds and
  * cancels the body of a stream whose client disconnected (closing the upstream call);
  * sends a comment ping on a stream every `ping` seconds, as sse-starlette did, so proxies
    keep an idle line open (skipped while the client is not reading: the line is not idle);
  * at shutdown (the flags sse-starlette reads: its AppStatus, hooked into uvicorn's exit
    handler, or uvicorn's own `should_exit`) begins the stream's `CutOnShutdown` and cancels
    its body `grace` seconds later.
It asks `receive()` and `send()` only for what they can do at once, as Starlette's own
`Request.is_disconnected()` does. The bytes on the wire are the same as sse-starlette's: the
headers, the chunks as the body yields them, and `: ping - <time>` comments.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import AsyncIterator, Awaitable
from datetime import UTC, datetime
from typing import Any, TypeVar

from sse_starlette.sse import AppStatus
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from ..calls.lifetime import CutOnShutdown

log = logging.getLogger("gateway.streams")
T = TypeVar("T")
PING = 15.0  # seconds between comment pings
POLL = 0.25  # seconds between looks at each open stream: a disconnect is seen this late at most
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
        self._receive: Receive
        self._send: Send
        self._next_ping = 0.0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        task = self._task = asyncio.current_task()
        assert task is not None
        loop = asyncio.get_running_loop()
        self._receive, self._send = receive, send
        self._next_ping = loop.time() + self._ping
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        _watch(self)
        try:
            async for chunk in self.body_iterator:
                if chunk:
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
            self._ended = True
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except asyncio.CancelledError:
            if (self._left or self._stopped) and task.uncancel() == 0:
                return  # nobody to answer, or no time left to: the server closes the connection
            raise
        finally:
            self._ended = True
            _streams(loop).discard(self)
            self._cut.close()
            if self._stopper is not None:
                self._stopper.cancel()
            aclose = getattr(self.body_iterator, "aclose", None)
            if aclose is not None:
                await aclose()  # a body left at a yield (a failed send) still runs its cleanup

    def look(self, now: float, exiting: bool) -> None:
        """The poller's visit: the client gone, a ping due, the server exiting."""
        if self._ended or self._left:
            return
        if exiting:
            self.shut_down()
        message = _at_once(self._receive())
        if message is not None and message["type"] == "http.disconnect":
            self._left = True
            assert self._task is not None
            self._task.cancel()
        elif now >= self._next_ping:
            self._next_ping = now + self._ping
            ping = f": ping - {datetime.now(UTC)}\n\n".encode()
            _at_once(self._send({"type": "http.response.body", "body": ping, "more_body": True}))

    def shut_down(self) -> None:
        """The server is exiting: the stream has `grace` seconds left, its body a second less."""
        if self._stopper is None and not self._ended:
            self._cut.begin()
            self._stopper = asyncio.get_running_loop().call_later(self._grace, self._stop)

    def _stop(self) -> None:
        if not self._ended and self._task is not None:
            self._stopped = True
            self._task.cancel()


def _at_once(step: Awaitable[T]) -> T | None:
    """What `step` gives if it completes without waiting; else it is dropped unfinished (None)."""
    steps = step.__await__()
    try:
        steps.send(None)
    except StopIteration as done:
        result: T = done.value
        return result
    steps.close()
    return None


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


def _watch(stream: EventStream) -> None:
    loop = asyncio.get_running_loop()
    streams = _open.get(loop)
    if streams is None:
        streams = _open[loop] = set()
        poller = loop.create_task(_poll(loop, streams))
        _pollers.add(poller)
        poller.add_done_callback(_pollers.discard)
    streams.add(stream)
    if _exiting():
        stream.shut_down()


async def _poll(loop: asyncio.AbstractEventLoop, streams: set[EventStream]) -> None:
    """One task per event loop while streams are open: looks at each of them every POLL seconds."""
    try:
        while streams:
            await asyncio.sleep(POLL)
            exiting, now = _exiting(), loop.time()
            for stream in list(streams):
                try:
                    stream.look(now, exiting)
                except Exception:  # one broken stream must not stop the others' pings and disconnects
                    log.exception("looking at an open stream failed")
    finally:
        del _open[loop]
