"""Shared state behind a small async interface: JSON records by namespace and key, with expiry.

Records go in and come out as plain dicts that survive an orjson round trip, so a
RedisStore can replace MemoryStore without touching its callers: every replica would
then see every job. MemoryStore keeps them in this process only, so they are lost
when it stops; it stores encoded bytes, which keeps callers from sharing (and
mutating) one dict and fails at once on anything that would not serialise.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import orjson

from .config import ConfigError

Record = dict[str, Any]


class Store(Protocol):
    """What jobs (and later other shared state) need from a store."""

    async def get(self, namespace: str, key: str) -> Record | None:
        """The record, or None if absent or expired."""

    async def put(self, namespace: str, key: str, record: Mapping[str, Any], ttl: float) -> None:
        """Create or replace a record that expires `ttl` seconds from now (<= 0: drop it)."""

    async def delete(self, namespace: str, key: str) -> bool:
        """Remove a record; True if it was there."""

    async def list(self, namespace: str) -> list[Record]:
        """Every live record of a namespace, in no particular order."""

    async def claim(self, namespace: str, key: str, owner: str, ttl: float) -> bool:
        """Take or renew a lease: True if `key` was free, expired or already held by `owner`.

        The one primitive behind every "exactly one replica at a time" rule (video job
        polling, token refresh, concurrency slots): a holder that dies stops renewing,
        and the lease comes back after `ttl` seconds.
        """

    async def release(self, namespace: str, key: str, owner: str) -> None:
        """Give a lease back early; a lease held by another owner is left alone."""

    async def close(self) -> None:
        """Release connections (nothing to do in memory)."""


class MemoryStore:
    """The in-process Store: fine for one replica; lost on restart."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._spaces: dict[str, dict[str, tuple[float, bytes]]] = {}

    async def get(self, namespace: str, key: str) -> Record | None:
        entry = self._spaces.get(namespace, {}).get(key)
        if entry is None:
            return None
        expires, data = entry
        if expires <= self._clock():
            del self._spaces[namespace][key]
            return None
        record: Record = orjson.loads(data)
        return record

    async def put(self, namespace: str, key: str, record: Mapping[str, Any], ttl: float) -> None:
        space = self._spaces.setdefault(namespace, {})
        if ttl <= 0:
            space.pop(key, None)
            return
        space[key] = (self._clock() + ttl, orjson.dumps(record))

    async def delete(self, namespace: str, key: str) -> bool:
        return self._spaces.get(namespace, {}).pop(key, None) is not None

    async def list(self, namespace: str) -> list[Record]:
        space = self._spaces.get(namespace, {})
        now = self._clock()
        for key in [k for k, (expires, _) in space.items() if expires <= now]:
            del space[key]  # expired records are swept whenever a namespace is listed
        return [orjson.loads(data) for _, data in space.values()]

    async def claim(self, namespace: str, key: str, owner: str, ttl: float) -> bool:
        holder = await self.get(namespace, key)
        if holder is not None and holder.get("owner") != owner:
            return False
        await self.put(namespace, key, {"owner": owner}, ttl)
        return True

    async def release(self, namespace: str, key: str, owner: str) -> None:
        holder = await self.get(namespace, key)
        if holder is not None and holder.get("owner") == owner:
            await self.delete(namespace, key)

    async def close(self) -> None:
        return None


def open_store(url: str) -> Store:
    """The store a `state_url` names; only memory:// exists yet."""
    if url.startswith("memory://"):
        return MemoryStore()
    scheme = url.partition("://")[0] if "://" in url else "?"
    raise ConfigError(f"state_url: only memory:// is available yet, not {scheme}:// (a Redis store comes next)")
