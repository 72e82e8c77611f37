"""A request's lifetime beside its work: cancelling upstream work when the client leaves,
and cutting a stream short, with an error the client sees, when the gateway shuts down."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable
from typing import Any, TypeVar

from starlette.requests import Request

from ..errors import GatewayError, ShuttingDown

T = TypeVar("T")


class ClientDisconnected(Exception):
    """The client went away while its request was being served."""


async def cancel_on_disconnect(request: Request, work: Awaitable[T]) -> T:
    """Await `work`, cancelling it at once if the client disconnects (the body is read already).

    Services run their upstream work through this, so it also records the time it took.
    The work runs in the request's own task; one watcher task beside it cancels that task
    on a disconnect (one task per call instead of two: bench/README.md).
    """
    task = asyncio.current_task()
    assert task is not None
    gone = False

    async def watch() -> None:
        nonlocal gone
        while (await request.receive())["type"] != "http.disconnect":
            pass
        gone = True
        task.cancel()

    watcher = asyncio.get_running_loop().create_task(watch())
    started = time.perf_counter()
    try:
        result = await work
    except asyncio.CancelledError:
        if gone and task.uncancel() == 0:  # ours alone, not also a shutdown's
            raise ClientDisconnected() from None
        raise
    finally:
        watcher.cancel()
        # The upstream's share of the request's time, for the access log line.
        spent = (time.perf_counter() - started) * 1000
        request.state.upstream_ms = getattr(request.state, "upstream_ms", 0.0) + spent
    if gone:
        task.uncancel()  # the work ended anyway: its result stands, and no cancel is left pending
    return result


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
