"""WriteBehind: records that may land a moment late, written to the store in batches.

Every chat answer leaves two records behind: which account owns its upstream chat, and
the conversation link that lets the next turn continue it. Written one by one, they cost
the store a round trip each (for SQLite, a hand-off to its thread and a commit; for
Redis, a network round trip): a sixth of the gateway's CPU per request. Both are only
shortcuts: a record that never lands makes the next turn fold its history into a new
chat, which answers the same. So they are queued here and written together in one
`Store.put_many`:

- to a store of this machine alone (SQLite, memory), `DELAY` after the first of a batch:
  this process reads a waiting record back from here (`get`), so nothing sees it late;
  a `kill -9` loses at most the last `DELAY` of them (a clean stop flushes them);
- to a shared store (Redis), at once: the records of one turn of the event loop together,
  so another replica can continue a chat the moment its client has the answer.

A batch never waits for the one before it to land (that would make a record wait a whole
round trip more): batches run side by side. SQLite's single connection still runs them in
order; on Redis they touch different keys (an owner never changes, a link is a new digest).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from typing import Any

from .base import Record, Store, StoreUnavailable, Write, log

DELAY = 0.02  # seconds a record may wait for others to join its batch (a store of this machine)
MAX_BATCH = 2_000  # records: a batch this big is written at once, whatever the delay

Key = tuple[str, str]


class WriteBehind:
    def __init__(self, store: Store, delay: float | None = None) -> None:
        self.store = store
        self._delay = delay if delay is not None else 0.0 if store.shared else DELAY
        self._waiting: dict[Key, Write] = {}
        self._writing: dict[Key, Write] = {}  # records of the batches on their way to the store
        self._timer: asyncio.TimerHandle | None = None
        self._batches: set[asyncio.Task[None]] = set()

    def put(self, namespace: str, key: str, record: Mapping[str, Any], ttl: float) -> None:
        """Queue a record (`ttl` > 0); it reaches the store within `delay`, or at `flush`."""
        self._waiting[(namespace, key)] = (namespace, key, dict(record), ttl)
        if len(self._waiting) >= MAX_BATCH:
            self._start()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self._delay, self._start)

    async def get(self, namespace: str, key: str) -> Record | None:
        """The record, from the queue if it has not reached the store yet."""
        queued = self._waiting.get((namespace, key)) or self._writing.get((namespace, key))
        if queued is not None:
            return dict(queued[2])
        return await self.store.get(namespace, key)

    async def delete(self, namespace: str, key: str) -> bool:
        """Remove a record, queued or stored: the batches under way land first, so none can bring it back."""
        queued = self._waiting.pop((namespace, key), None)
        await self._landed()
        return await self.store.delete(namespace, key) or queued is not None

    async def flush(self) -> None:
        """Write everything queued now and wait until it has landed."""
        self._start()
        await self._landed()

    async def _landed(self) -> None:
        while self._batches:
            await asyncio.shield(asyncio.gather(*self._batches, return_exceptions=True))

    def _start(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._waiting:
            batch, self._waiting = self._waiting, {}
            self._writing.update(batch)
            task = asyncio.get_running_loop().create_task(self._write(batch))
            self._batches.add(task)
            task.add_done_callback(self._batches.discard)

    async def _write(self, batch: dict[Key, Write]) -> None:
        try:
            with contextlib.suppress(StoreUnavailable):  # the store warns once per 30 s; these were shortcuts
                await self.store.put_many(list(batch.values()))
        except Exception:
            log.exception("%d records could not be written to the %s store", len(batch), self.store.kind)
        finally:
            for key, write in batch.items():
                if self._writing.get(key) is write:  # not since queued again in a later batch
                    del self._writing[key]
