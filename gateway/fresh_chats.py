"""Upstream chats made ahead of use, so a new conversation's first token does not wait for
`chats/new` (a whole round trip to Qwen, §3.1).

For each account, model and chat type that traffic uses (a shelf), up to `size` chats are
made in the background with the body the gateway sends anyway. Each is handed out once, only
on the account that made it (chats belong to their creator, §3.1), and the shelf is refilled
once the answer that took it has started, off its path. A shelf nobody asks for in `ttl`
seconds is dropped; an unused chat older than `ttl`, and every unused one at shutdown, is
deleted upstream (`DELETE /api/v2/chats/<id>`, §3), so accounts do not fill with empty chats.

What a background failure teaches: an account-level signal (a rate limit, a bot block, a token
refused even after the refresh path) is reported to the pool, as a client call's would be;
anything else (a 5xx, a dropped connection, a timeout) counts nothing against the account and
only pauses that shelf's refills, for longer after each failure. A client request never waits
for a background creation, nor fails because of one: with an empty shelf it makes its chat
itself, as it would without this module; a fresh chat the upstream lost is replaced the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

from .accounts import AccountPool
from .errors import UpstreamChatNotFound, UpstreamError
from .modes import mode_of
from .qwen.client import QwenClient

log = logging.getLogger("gateway.fresh_chats")
T = TypeVar("T")
Key = tuple[str, str, str]  # account id, model, chat type
ACCOUNT_SIGNALS = frozenset({"cooling", "blocked", "invalid", "resting"})  # penalties the pool hears of
MAX_SHELVES = 64  # keys learnt at most; more wait until idle ones are dropped
RETRY_FIRST, RETRY_MAX = 5.0, 300.0  # seconds a shelf rests after a failed creation, doubling
REFILL_DELAY = 0.05  # seconds after an answer starts: its first token goes out before the refill's CPU work
STOP_WAIT = 2.0  # seconds shutdown lets creations under way finish, so their chats are deleted too
DELETE_WAIT = 5.0  # seconds shutdown gives the deletions, all at once


@dataclass
class _Shelf:
    used: float  # the last time a request asked for this key
    chats: deque[tuple[str, float]] = field(default_factory=deque)  # (chat id, made at), oldest first
    failures: int = 0  # background creations failed in a row
    retry_at: float = 0.0


async def open_in_new_chat(fresh: FreshChats | None, client: QwenClient, model: str, chat_type: str,
                           send: Callable[[str], Awaitable[T]]) -> T:
    """`send(chat_id)` in a new upstream chat: a fresh one if the shelf has one, else made now."""
    if fresh is None:
        return await send(await client.create_chat(model, chat_type))
    return await fresh.open(client, model, chat_type, send)


class FreshChats:
    """The shelves of one gateway process; `start()` in the lifespan, `stop()` before the sessions close."""

    def __init__(self, pool: AccountPool, size: int, ttl: float, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.size = size
        self._pool = pool
        self._ttl = ttl
        self._clock = clock
        self._shelves: dict[Key, _Shelf] = {}
        self._workers: dict[str, asyncio.Task[None]] = {}  # one refill task per account at most
        self._tasks: set[asyncio.Task[None]] = set()  # deletions under way
        self._sweeper: asyncio.Task[None] | None = None
        self._closing = False
        # What became of the chats, for /metrics: made ahead, taken by a request, missed (a request
        # found none and made its own), deleted unused, and background creations that failed.
        self.counts = dict.fromkeys(("made", "taken", "missed", "deleted", "failed"), 0)

    @property
    def stocked(self) -> int:
        """Chats made ahead and not yet used, over every shelf."""
        return sum(len(shelf.chats) for shelf in self._shelves.values())

    def stocked_for(self, account_id: str) -> int:
        """Chats made ahead on this account and not yet used (the status page)."""
        return sum(len(shelf.chats) for key, shelf in self._shelves.items() if key[0] == account_id)

    def start(self) -> None:
        if self.size > 0:
            self._sweeper = asyncio.create_task(self._sweep_forever(), name="fresh-chats-sweep")

    async def open(self, client: QwenClient, model: str, chat_type: str, send: Callable[[str], Awaitable[T]]) -> T:
        if self.size <= 0 or self._closing:
            return await send(await client.create_chat(model, chat_type))
        key = (client.account_id, model, chat_type)
        chat_id = self.take(key)
        self.counts["missed" if chat_id is None else "taken"] += 1
        try:
            if chat_id is None:
                return await send(await client.create_chat(model, chat_type))
            try:
                return await send(chat_id)
            except UpstreamChatNotFound:  # the account's chats were cleared upstream (the web UI can)
                log.info("account %s: a fresh chat made ahead is gone upstream; making one now", key[0])
                self._drop(key)  # its neighbours are likely gone too
                return await send(await client.create_chat(model, chat_type))
        finally:
            self._refill(key[0], REFILL_DELAY)  # after the answer started (or failed): never in its path

    def take(self, key: Key) -> str | None:
        """A fresh chat of this key, handed out once; learns the key from the asking."""
        now = self._clock()
        shelf = self._shelves.get(key)
        if shelf is None:
            if len(self._shelves) < MAX_SHELVES:
                self._shelves[key] = _Shelf(now)
            return None
        shelf.used = now
        while shelf.chats:
            chat_id, made = shelf.chats.popleft()
            if now - made < self._ttl:
                return chat_id
            self._delete_later(key[0], chat_id)
        return None

    def _drop(self, key: Key) -> None:
        shelf = self._shelves.get(key)
        if shelf is not None:
            shelf.chats.clear()

    def _refill(self, account_id: str, delay: float = 0.0) -> None:
        if delay > 0:
            asyncio.get_running_loop().call_later(delay, self._refill, account_id)
            return
        worker = self._workers.get(account_id)
        if self._closing or (worker is not None and not worker.done()):
            return  # the running worker looks at every shelf again after each creation
        self._workers[account_id] = asyncio.create_task(self._fill(account_id), name=f"fresh-chats-{account_id}")

    async def _fill(self, account_id: str) -> None:
        """Make chats for this account's shelves one at a time (no burst on the account) until all are full."""
        client = self._pool.client(account_id)
        while client is not None and not self._closing:
            key = self._wanting(account_id)
            if key is None:
                return
            shelf = self._shelves[key]
            try:
                chat_id = await client.create_chat(key[1], key[2])
            except UpstreamError as error:
                self._failed(key, shelf, error, error.message)
                continue
            except Exception as error:  # never let a background task die silently
                self._failed(key, shelf, None, f"{type(error).__name__}: {error}")
                continue
            shelf.failures = 0
            self.counts["made"] += 1
            if self._shelves.get(key) is shelf:
                shelf.chats.append((chat_id, self._clock()))
            else:  # dropped while it was being made
                self._delete_later(account_id, chat_id)

    def _wanting(self, account_id: str) -> Key | None:
        """The emptiest shelf of this account still short of chats, if the account may take calls."""
        now = self._clock()
        account = next((a for a in self._pool.accounts if a.id == account_id), None)
        short = [(len(shelf.chats), key) for key, shelf in self._shelves.items()
                 if key[0] == account_id and len(shelf.chats) < self.size and shelf.retry_at <= now
                 and account is not None and account.state(self._pool.now(), mode_of(key[2])) == "healthy"]
        return min(short)[1] if short else None

    def _failed(self, key: Key, shelf: _Shelf, error: UpstreamError | None, message: str) -> None:
        self.counts["failed"] += 1
        if error is not None and error.account_penalty in ACCOUNT_SIGNALS:
            self._pool.report(key[0], error, mode_of(key[2]))  # the account's own signal: it rests as for a client
        shelf.failures += 1
        pause = min(RETRY_MAX, RETRY_FIRST * 2 ** (shelf.failures - 1))
        shelf.retry_at = self._clock() + pause
        log.info("account %s: making a %s chat ahead failed (%s); that shelf waits %.0f s", key[0], key[2],
                 message, pause)

    async def _sweep_forever(self) -> None:
        period = max(0.05, min(30.0, self._ttl / 4))
        while True:
            await asyncio.sleep(period)
            self.sweep()

    def sweep(self) -> None:
        """Delete chats past their age and drop shelves nobody asked for within `ttl`."""
        now = self._clock()
        for key, shelf in list(self._shelves.items()):
            idle = now - shelf.used >= self._ttl
            aged = False
            while shelf.chats and (idle or now - shelf.chats[0][1] >= self._ttl):
                self._delete_later(key[0], shelf.chats.popleft()[0])
                aged = True
            if idle:
                del self._shelves[key]
            elif aged:
                self._refill(key[0])

    def _delete_later(self, account_id: str, chat_id: str) -> None:
        self._spawn(self._delete(account_id, chat_id))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _delete(self, account_id: str, chat_id: str) -> None:
        client = self._pool.client(account_id)
        if client is None:
            return
        try:
            await client.delete_chat(chat_id)
            self.counts["deleted"] += 1
        except Exception as error:  # housekeeping: an undeleted empty chat harms nobody
            log.info("account %s: an unused fresh chat could not be deleted (%s)", account_id,
                     error.message if isinstance(error, UpstreamError) else type(error).__name__)

    async def stop(self) -> None:
        """Stop refilling and delete every chat still unused (bounded in time)."""
        self._closing = True
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        await _finish([w for w in self._workers.values() if not w.done()], STOP_WAIT)
        for key, shelf in self._shelves.items():
            for chat_id, _ in shelf.chats:
                self._delete_later(key[0], chat_id)
        self._shelves.clear()
        await _finish(list(self._tasks), DELETE_WAIT)


async def _finish(tasks: list[asyncio.Task[None]], wait: float) -> None:
    """Let `tasks` end within `wait` seconds, then cancel what is left."""
    if not tasks:
        return
    _, pending = await asyncio.wait(tasks, timeout=wait)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
