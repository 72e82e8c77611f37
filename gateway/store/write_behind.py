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
- to a shared store (Redis), at once: on the loop's next turn, or when the batch under
  way has landed, so another replica can continue a chat the moment its client has the
  answer; batches then form only under load, as in a group commit.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from typing import Any

from .base import Record, Store, StoreUnavailable, Write, log

DELAY = 0.02  # seconds a record may wait for others to join its batch
MAX_BATCH = 2_000  # records: a batch this big is written at once, whatever the delay


class WriteBehind:
    def __init__(self, store: Store, delay: float | None = None) -> None:
        self.store = store
        self._delay = delay if delay is not None else 0.0 if store.shared else DELAY
        self._waiting: dict[tuple[str, str], Write] = {}
        self._writing: dict[tuple[str, str], Write] = {}  # the batch on its way to the store
        self._timer: asyncio.TimerHandle | None = None
        self._flushing: asyncio.Task[None] | None = None

    def put(self, namespace: str, key: str, record: Mapping[str, Any], ttl: float) -> None:
        """Queue a record (`ttl` > 0); it reaches the store within `delay`, or at `flush`."""
        self._waiting[(namespace, key)] = (namespace, key, dict(record), ttl)
        if len(self._waiting) >= MAX_BATCH:
            self._start()
        elif self._timer is None and self._flushing is None:
            self._timer = asyncio.get_running_loop().call_later(self._delay, self._start)

    async def get(self, namespace: str, key: str) -> Record | None:
        """The record, from the queue if it has not reached the store yet."""
        queued = self._waiting.get((namespace, key)) or self._writing.get((namespace, key))
        if queued is not None:
            return dict(queued[2])
        return await self.store.get(namespace, key)

    async def delete(self, namespace: str, key: str) -> bool:
        """Remove a record, queued or stored: a batch under way lands first, so it cannot bring it back."""
        queued = self._waiting.pop((namespace, key), None)
        if self._flushing is not None:
            await asyncio.shield(self._flushing)
        return await self.store.delete(namespace, key) or queued is not None

    async def flush(self) -> None:
        """Write everything queued now and wait until it has landed."""
        while self._flushing is not None or self._waiting:
            if self._flushing is None:
                self._start()
            if self._flushing is not None:
                await asyncio.shield(self._flushing)

    def _start(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._flushing is None and self._waiting:
            self._writing, self._waiting = self._waiting, {}
            self._flushing = asyncio.get_running_loop().create_task(self._write())

    async def _write(self) -> None:
        try:
            with contextlib.suppress(StoreUnavailable):  # the store warns once per 30 s; these were shortcuts
                await self.store.put_many(list(self._writing.values()))
        except Exception:
            log.exception("%d records could not be written to the %s store", len(self._writing), self.store.kind)
        finally:
            self._writing, self._flushing = {}, None
            if self._waiting:  # queued while this batch was written: give them their own delay
                self._timer = asyncio.get_running_loop().call_later(self._delay, self._start)
