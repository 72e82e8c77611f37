"""A request's lifetime beside its work: cancelling upstream work when the client leaves (one
wrapper, `watched`, for every route that calls Qwen), and cutting a stream short, with an error
the client sees, when the gateway shuts down."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable
from typing import Any, TypeVar

from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import GatewayError, ShuttingDown

T = TypeVar("T")


class ClientDisconnected(Exception):
    """The client went away while its request was being served."""


def watched(route: Route) -> Route:
    """The one place a route gets cancel-on-disconnect and its upstream time (see `Watched`)."""
    route.app = Watched(route.app)
    return route


class Watched:
    """A route that calls Qwen, watched from the end of its request body to the start of its response.

    In that window a client that leaves cancels the work at once (ClientDisconnected, a 499), and the
    window's length is the access log's `upstream_ms`: the time spent getting the answer (account
    waits and upstream calls), up to the first byte for a stream. Work that must outlive its client
    (a video render, which spends quota once accepted) runs under `keep_going`.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        watch = _Watch(scope, receive, send)
        try:
            await self.app(scope, watch.receive, watch.send)
        except asyncio.CancelledError:
            if not watch.fired or watch.task.uncancel() > 0:  # cancelled from outside too
                raise
            if not watch.started:
                raise ClientDisconnected() from None
        finally:
            watch.stop()


class _Watch:
    """One request's channel: passes the body through, then alone reads the client's disconnect."""

    def __init__(self, scope: Scope, receive: Receive, send: Send) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.task: asyncio.Task[Any] = task
        self.fired = False  # the client left before the response started: the task was cancelled
        self.started = False  # the response has started
        self._receive, self._send = receive, send
        self._state: dict[str, Any] = scope.setdefault("state", {})
        self._began = 0.0
        self._watching = False  # the body is read: from now on the watcher alone reads the client
        self._left = False  # the watcher saw the client leave
        # Made only for an app that waits for the disconnect: an Event (and its deque) per open
        # stream would cost ~0.8 KiB each.
        self._left_event: asyncio.Event | None = None
        self._watcher: asyncio.Task[None] | None = None  # from the body's end to the response's start
        self._empty_body = not _has_body(scope)
        if self._empty_body:  # nothing to read first: watch at once, and hand the app its empty body
            self._start()

    def receive(self) -> Awaitable[Message]:
        if not self._watching:
            return self._pass_body()
        if self._empty_body:
            self._empty_body = False
            return _ready({"type": "http.request", "body": b"", "more_body": False})
        if self.started and not self._left:
            return self._receive()  # the watcher has stopped: the response (EventStream) watches its client
        return self._disconnect()

    async def _pass_body(self) -> Message:
        message = await self._receive()
        if message["type"] == "http.request" and not message.get("more_body", False):
            self._start()
        return message

    async def _disconnect(self) -> Message:
        if not self._left:
            if self._left_event is None:
                self._left_event = asyncio.Event()
            await self._left_event.wait()
        return {"type": "http.disconnect"}

    def send(self, message: Message) -> Awaitable[None]:
        if message["type"] == "http.response.start" and not self.started:
            self.started = True
            self._record()
            if self._watcher is not None:  # no task, nor its cancelled remains, per open stream
                self._watcher.cancel()
                self._watcher = None
        return self._send(message)

    def _start(self) -> None:
        self._began = time.perf_counter()
        self._watching = True
        self._watcher = asyncio.create_task(self._watch())

    async def _watch(self) -> None:
        while (await self._receive())["type"] != "http.disconnect":
            pass  # the empty body of a request without one
        self._left = True
        if self._left_event is not None:
            self._left_event.set()
        if not self.started:
            self.fired = True
            self.task.cancel()

    def _record(self) -> None:
        if self._watching and "upstream_ms" not in self._state:
            self._state["upstream_ms"] = (time.perf_counter() - self._began) * 1000

    def stop(self) -> None:
        self._record()  # no response sent from here: an error, rendered further out
        if self._watcher is not None:
            self._watcher.cancel()


def _has_body(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"transfer-encoding" or (name == b"content-length" and value.strip() != b"0"):
            return True
    return False


async def _ready(message: Message) -> Message:
    return message


async def keep_going(work: Awaitable[T]) -> T:
    """`work` carried to its end even if the client leaves meanwhile (the request still ends)."""
    task = asyncio.ensure_future(work)
    task.add_done_callback(_consume)
    return await asyncio.shield(task)


def _consume(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()  # a failure nobody waits for any more is not "never retrieved"


class CutOnShutdown:
    """Ends a stream that outlives the shutdown grace period with an error the client sees.

    The stream's response (`routes/event_stream.py`) calls `begin()` when the server begins
    to exit, and cancels the stream `grace` seconds later. One second before that, this
    cancels the task reading the upstream inside `async with cut:` and turns the
    cancellation into a `ShuttingDown` error, so the stream can still send an error event
    and `[DONE]` instead of simply stopping. A timer, not a task: nothing per stream until then.
    """

    def __init__(self, grace: float) -> None:
        self._delay = max(0.0, grace - 1.0)
        self._due = False  # the delay has passed
        self._fired = False  # and this cancelled the task inside the block
        self._task: asyncio.Task[Any] | None = None
        self._timer: asyncio.TimerHandle | None = None

    def begin(self) -> None:
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self._delay, self._fire)

    def _fire(self) -> None:
        self._due = True
        if self._task is not None and not self._fired:
            self._fired = True
            self._task.cancel()

    async def __aenter__(self) -> CutOnShutdown:
        self._task = asyncio.current_task()
        if self._due:
            self._fire()
        return self

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        task, self._task = self._task, None
        if self._fired and kind is asyncio.CancelledError and task is not None and task.uncancel() == 0:
            raise ShuttingDown("The gateway is shutting down; the answer was cut short. Retry the request.")

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()


def stream_failure(exc: Exception, account_id: str, what: str = "stream") -> GatewayError:
    """What a stream that failed after its first byte tells its client (an in-band error), logged once.

    A failure of ours is not a cut connection either: it becomes a generic error too."""
    log = logging.getLogger("gateway.streams")
    if isinstance(exc, GatewayError):
        log.warning("%s from account %s failed after its first byte: %s", what, account_id, exc.message)
        return exc
    log.exception("%s from account %s failed unexpectedly after its first byte", what, account_id)
    return GatewayError("The gateway failed unexpectedly while streaming; the error is logged.")
