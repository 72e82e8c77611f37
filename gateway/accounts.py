"""AccountPool: which Qwen account serves a call, and the one retry loop.

A call is an `attempt(client)` coroutine that must fail before anything reaches the
client (a stream is primed up to its first delta inside the attempt). The pool picks
the least busy healthy account, runs the attempt, and on an UpstreamError punishes
the account as the error says (penalties.py) and tries another, within `max_attempts` and one
overall deadline. `run` is a one-shot call (the account is free again when it returns);
`acquire` holds the winning account in a `Lease` until it is released (`async with lease:`
around a stream). Callers change an account only through the pool's methods.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

from .account import Account, Lease, Served, status
from .config import Cooldowns
from .errors import NoAccountAvailable, UpstreamError
from .penalties import Penalties, Verdicts
from .qwen.client import QwenClient
from .slots import SharedSlots
from .waiting_line import WaitingLine

T = TypeVar("T")
MAX_REMEMBERED_CHATS = 100_000
PAUSED = "paused by the operator"  # the cool-down reason of an account the operator paused (account_admin)
PAUSE_SECONDS = 10 * 365 * 86400.0  # a pause is a cool-down this long
TRANSIENT_RETRY_DELAY = 0.8  # seconds before a transient failure is retried on the same account
SHARED_SLOT_WAIT = 0.1  # seconds between tries when other replicas hold every slot of an account


class AccountPool:
    def __init__(
        self,
        clients: Iterable[tuple[QwenClient, int]],
        cooldowns: Cooldowns,
        *,
        max_attempts: int = 3,
        deadline: float = 120.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.accounts = [Account(client, limit) for client, limit in clients]
        self._by_id = {a.id: a for a in self.accounts}
        self._max_attempts = max_attempts
        self._deadline = deadline
        self._clock = clock
        self._line = WaitingLine()  # calls waiting for a free slot, in order
        self._chat_owners: OrderedDict[str, str] = OrderedDict()
        self.on_mark: Callable[[Account], None] | None = None  # told of each cool-down or invalid mark (the store)
        self.on_failure: Callable[[str, bool], None] | None = None  # (reason, tried elsewhere): /metrics
        self.slots: SharedSlots | None = None  # several replicas: concurrency slots shared through the store
        self._penalties = Penalties(self.accounts, self._by_id, cooldowns, clock, self._marked)

    @property
    def waiting(self) -> int:
        """Calls waiting in line for a free slot (/metrics)."""
        return len(self._line)

    def now(self) -> float:
        """The pool's clock, which `cool_until` is measured on."""
        return self._clock()

    async def close(self) -> None:
        await asyncio.gather(*(a.client.close() for a in self.accounts))

    def client(self, account_id: str) -> QwenClient | None:
        """The named account's client, for calls bound to it whatever its health (a video's polls)."""
        account = self._by_id.get(account_id)
        return account.client if account else None

    def remember_chat(self, chat_id: str | None, account_id: str) -> None:
        """Upstream chats belong to the account that created them; later turns must use it."""
        if chat_id:
            self._chat_owners[chat_id] = account_id
            self._chat_owners.move_to_end(chat_id)
            if len(self._chat_owners) > MAX_REMEMBERED_CHATS:
                self._chat_owners.popitem(last=False)

    def report(self, account_id: str, error: UpstreamError, mode: str | None = None) -> None:
        """An upstream error met outside `acquire` (a video poll) still counts against its account."""
        self._penalties.report(account_id, error, mode)

    def chat_owner(self, chat_id: str) -> str | None:
        return self._chat_owners.get(chat_id)

    async def acquire(self, attempt: Callable[[QwenClient], Awaitable[T]], *, pinned: str | None = None,
                      mode: str = "t2t") -> Lease[T]:
        """Run `attempt` on an account healthy for `mode` (modes.py), failing over; return the lease
        of the one that answered.

        The deadline bounds waiting for a slot and starting another try, not a try that is
        under way: each bounds itself (first-event and idle timeouts), and a long answer
        that keeps coming must not be cut.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._deadline
        tried: set[str] = set()
        last: UpstreamError | None = None
        verdicts = Verdicts(self._penalties, mode, pinned, self.on_failure)  # whose fault each failure is
        for _ in range(self._max_attempts):
            if last is not None and loop.time() >= deadline:
                break
            account, slot = await self._take_slot(pinned, tried, deadline, last, mode)
            try:
                value = await attempt(account.client)
            except UpstreamError as error:
                self._free(account, slot)
                last = error
                verdicts.failed(account, error)  # raises the client's error when no other try is due
                tried.add(account.id)
                continue
            except BaseException:
                self._free(account, slot)
                raise
            verdicts.count_held()  # another account served it: the failures held were the accounts'
            return Lease(account, value, self._settler(account, slot, mode))
        assert last is not None
        raise verdicts.gave_up(last)

    async def run(self, attempt: Callable[[QwenClient], Awaitable[T]], *, pinned: str | None = None,
                  mode: str = "t2t") -> Served[T]:
        """A one-shot call: `attempt` returns the whole answer, so the account is free again at once."""
        lease = await self.acquire(attempt, pinned=pinned, mode=mode)
        lease.release()
        return Served(lease.value, lease.account_id)

    async def ask(self, call: Callable[[QwenClient], Awaitable[T]]) -> T:
        """A call that takes no slot (the model list): through the least busy healthy account, else
        any usable one (the list needs no token); a failure counts against that account."""
        now = self._clock()
        usable = [a for a in self.accounts if not a.invalid] or self.accounts
        if not usable:
            raise NoAccountAvailable("no Qwen account is configured")
        healthy = [a for a in usable if a.state(now) == "healthy"] or usable
        account = min(healthy, key=lambda a: (bool(a.unreachable), a.in_flight / a.limit, a.served))
        try:
            return await call(account.client)
        except UpstreamError as error:
            self._penalties.punish(account, error)
            raise

    def add(self, client: QwenClient, limit: int) -> Account:
        """A new account, serving from now on (the status page adds one from a pasted token)."""
        account = Account(client, limit)
        self.accounts.append(account)
        self._by_id[account.id] = account
        return account

    def pause(self, account_id: str, reason: str, seconds: float) -> None:
        """Rest the account for `seconds` with `reason` (the operator's pause), on every replica."""
        account = self._by_id[account_id]
        account.cool_until, account.cool_reason = self.now() + seconds, reason
        self._marked(account)

    def resume(self, account_id: str, reason: str) -> bool:
        """Lift a rest given with `reason`; False when the account rests for another reason or not at all."""
        account = self._by_id[account_id]
        if account.cool_reason != reason:
            return False
        account.cool_until, account.cool_reason = 0.0, ""
        self._marked(account)
        self._wake_next()  # a call waiting for any free account may take this one
        return True

    def _settler(self, account: Account, slot: str | None, mode: str) -> Callable[[BaseException | None], None]:
        def settle(error: BaseException | None) -> None:
            self._free(account, slot)
            self._penalties.settle(account, error, mode)
        return settle

    async def _take(self, pinned: str | None, tried: set[str], deadline: float, last: UpstreamError | None,
                    mode: str | None = None) -> Account:
        """A healthy account with a free slot, preferring untried ones; waits in line when all are busy."""
        healthy = self._candidates(pinned, self._clock(), mode)
        if last is not None and healthy and all(a.id in tried for a in healthy):
            await asyncio.sleep(TRANSIENT_RETRY_DELAY)  # only accounts that just failed remain
        ticket: int | None = None  # set once in line: a waiter woken in vain keeps its place

        def fits() -> bool:
            return _least_busy(self._candidates(pinned, self._clock(), mode), tried) is not None

        while True:
            candidates = self._candidates(pinned, self._clock(), mode)
            if not candidates:
                if ticket is not None:
                    self._wake_next()  # woken but leaving: what woke it may serve another
                raise self._penalties.unavailable(pinned, last, mode)
            account = _least_busy(candidates, tried)
            if account is not None and (ticket is not None or self._line.clear_for_newcomer()):
                account.in_flight += 1
                account.served += 1
                self._wake_next()  # a slot may be left that the next in line can use (a resume frees several)
                return account
            self._wake_next()  # someone ahead may fit a slot that freed without a wake-up (a cool-down ended)
            ticket = await self._line.wait(ticket, fits, deadline)

    async def _take_slot(self, pinned: str | None, tried: set[str], deadline: float,
                         last: UpstreamError | None, mode: str | None = None) -> tuple[Account, str | None]:
        """`_take`, then (several replicas) one of the account's shared slots, waiting while others hold all."""
        loop = asyncio.get_running_loop()
        while True:
            account = await self._take(pinned, tried, deadline, last, mode)
            if self.slots is None:
                return account, None
            slot = await self.slots.take(account.id, account.limit)
            if slot is not None:
                return account, slot
            self._free(account)
            if loop.time() >= deadline:
                raise NoAccountAvailable("every Qwen account is busy across the gateway's replicas; try again shortly",
                                         headers={"retry-after": "1"})
            await asyncio.sleep(SHARED_SLOT_WAIT)

    def _wake_next(self) -> None:
        if any(a.in_flight < a.limit for a in self.accounts):  # else no waiter can fit: skip the scan
            self._line.wake()

    def _candidates(self, pinned: str | None, now: float, mode: str | None = None) -> list[Account]:
        if pinned is not None:
            account = self._by_id.get(pinned)
            return [account] if account and account.state(now, mode) == "healthy" else []
        return [a for a in self.accounts if a.state(now, mode) == "healthy"]

    def _free(self, account: Account, slot: str | None = None) -> None:
        account.in_flight -= 1
        if self.slots is not None:
            self.slots.give_back(slot)
        self._wake_next()

    def _marked(self, account: Account) -> None:
        if self.on_mark is not None:
            self.on_mark(account)

    def status(self) -> list[dict[str, Any]]:
        """Each account's health, for the admin route (account.status)."""
        return status(self.accounts, self._clock())


def _least_busy(candidates: list[Account], tried: set[str]) -> Account | None:
    """The account a call takes now: the least busy with a free slot among the healthy `candidates`
    it has not tried yet, or among all of them once it has tried every one; None when all are full."""
    fresh = [a for a in candidates if a.id not in tried] or candidates
    free = [a for a in fresh if a.in_flight < a.limit]
    return min(free, key=lambda a: (a.in_flight / a.limit, a.served)) if free else None
