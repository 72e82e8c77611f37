"""A request's lifetime beside its work: cancelling upstream work when the client leaves,
and cutting a stream short, with an error the client sees, when the gateway shuts down."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable
from typing import Any, TypeVar

import anyio
from starlette.requests import Request

from ..errors import GatewayError, ShuttingDown

T = TypeVar("T")


class ClientDisconnected(Exception):
    """The client went away while its request was being served."""


async def cancel_on_disconnect(request: Request, work: Awaitable[T]) -> T:
    """Await `work`, cancelling it at once if the client disconnects (the body is read already).

    Services run their upstream work through this, so it also records the time it took.
    """
    task = asyncio.ensure_future(work)

    async def watch() -> None:
        while True:
            message = await request.receive()
            if message["type"] == "http.disconnect":
                task.cancel()
                return

    watcher = asyncio.create_task(watch())
    started = time.perf_counter()
    try:
        return await task
    except asyncio.CancelledError:
        if watcher.done() and not asyncio.current_task().cancelling():  # type: ignore[union-attr]
            raise ClientDisconnected() from None
        raise
    finally:
        watcher.cancel()
        # The upstream's share of the request's time, for the access log line.
        spent = (time.perf_counter() - started) * 1000
        request.state.upstream_ms = getattr(request.state, "upstream_ms", 0.0) + spent


class CutOnShutdown:
    """Ends a stream that outlives the shutdown grace period with an error the client sees.

    sse-starlette sets `event` when the server begins to exit and cancels the stream
    `grace` seconds later. One second before that, this cancels the task reading the
    upstream and turns the cancellation into a `ShuttingDown` error, so the stream can
    still send an error event and `[DONE]` instead of simply stopping.
    """

    def __init__(self, event: anyio.Event, grace: float) -> None:
        self._event = event
        self._delay = max(0.0, grace - 1.0)
        self._fired = False
        self._task: asyncio.Task[Any] | None = None
        self._watcher: asyncio.Task[None] | None = None

    async def __aenter__(self) -> CutOnShutdown:
        self._task = asyncio.current_task()
        self._watcher = asyncio.create_task(self._watch())
        return self

    async def _watch(self) -> None:
        await self._event.wait()
        await asyncio.sleep(self._delay)
        self._fired = True
        assert self._task is not None
        self._task.cancel()

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        assert self._watcher is not None and self._task is not None
        self._watcher.cancel()
        if self._fired and kind is asyncio.CancelledError:
            self._task.uncancel()
            raise ShuttingDown("The gateway is shutting down; the answer was cut short. Retry the request.")


def stream_failure(exc: Exception, account_id: str, what: str = "stream") -> GatewayError:
    """What a stream that failed after its first byte tells its client (an in-band error), logged once.

    A failure of ours is not a cut connection either: it becomes a generic error too."""
    log = logging.getLogger("gateway.streams")
    if isinstance(exc, GatewayError):
        log.warning("%s from account %s failed after its first byte: %s", what, account_id, exc.message)
        return exc
    log.exception("%s from account %s failed unexpectedly after its first byte", what, account_id)
    return GatewayError("The gateway failed unexpectedly while streaming; the error is logged.")
