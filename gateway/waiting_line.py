"""The account pool's waiting line: calls waiting for a free slot, served first come, first served.

Each waiter says which slots it can use (`fits`: a call that failed on an account prefers the
others). A freed slot wakes the first waiter, by arrival, that can use it; those ahead that
cannot keep their place instead of being woken to pass it on. Handing wake-ups from waiter to
waiter is what spun the event loop: two calls that had both tried the freed slot's account woke
each other forever, never blocking, until a slot they could use came free.
"""

from __future__ import annotations

import asyncio
import itertools
from bisect import insort
from collections.abc import Callable

from .errors import NoAccountAvailable


class _Waiter:
    __slots__ = ("fits", "future", "ticket")

    def __init__(self, ticket: int, fits: Callable[[], bool], future: asyncio.Future[None]) -> None:
        self.ticket, self.fits, self.future = ticket, fits, future

    def __lt__(self, other: _Waiter) -> bool:
        return self.ticket < other.ticket


class WaitingLine:
    def __init__(self) -> None:
        self._waiters: list[_Waiter] = []  # by ticket: order of arrival
        self._tickets = itertools.count()
        self._woken = 0  # woken and not yet run: their slot is not a newcomer's to take

    def __len__(self) -> int:
        return len(self._waiters)

    def clear_for_newcomer(self) -> bool:
        """May a call that has not waited take a free slot it can use? Only if no one in line
        could use one (first come, first served) and no woken waiter is on its way to one."""
        return not self._woken and not any(not w.future.done() and w.fits() for w in self._waiters)

    def wake(self) -> None:
        """Wake the first waiter that can use a free slot now, if any; the others keep their place."""
        for index, waiter in enumerate(self._waiters):
            if not waiter.future.done() and waiter.fits():  # done: cancelled, leaving the line
                del self._waiters[index]
                waiter.future.set_result(None)
                self._woken += 1
                return

    async def wait(self, ticket: int | None, fits: Callable[[], bool], deadline: float) -> int:
        """Wait in line until woken; return the ticket, which a waiter woken in vain waits again
        with (the slot went to someone else meanwhile): it keeps its place in line."""
        if ticket is None:
            ticket = next(self._tickets)
        waiter = _Waiter(ticket, fits, asyncio.get_running_loop().create_future())
        insort(self._waiters, waiter)
        try:
            async with asyncio.timeout_at(deadline):
                await waiter.future
        except BaseException as error:  # timed out or cancelled
            if waiter.future.done() and not waiter.future.cancelled():
                self._woken -= 1
                self.wake()  # woken but leaving: the slot goes to the next that can use it
            else:
                waiter.future.cancel()
                self._waiters.remove(waiter)
            if isinstance(error, TimeoutError):
                raise NoAccountAvailable("every Qwen account is busy; try again shortly",
                                         headers={"retry-after": "1"}) from None
            raise
        self._woken -= 1
        return ticket
