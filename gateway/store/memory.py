"""MemoryStore: records in this process only, lost when it stops (tests, or one throwaway process).

It stores encoded bytes, which keeps callers from sharing (and mutating) one dict and
fails at once on anything that would not serialise, as the other backends would.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import orjson

from .base import Record, Write, decode


class MemoryStore:
    """The in-process Store: fine for one replica; lost on restart."""

    kind = "memory"
    shared = False

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._spaces: dict[str, dict[str, tuple[float, bytes]]] = {}

    async def get(self, namespace: str, key: str) -> Record | None:
        data = await self.get_bytes(namespace, key)
        return None if data is None else decode(namespace, key, data)

    async def get_bytes(self, namespace: str, key: str) -> bytes | None:
        entry = self._spaces.get(namespace, {}).get(key)
        if entry is None:
            return None
        if entry[0] <= self._clock():
            del self._spaces[namespace][key]
            return None
        return entry[1]

    async def put(self, namespace: str, key: str, record: Mapping[str, Any], ttl: float) -> None:
        # A right-sized copy: orjson's output keeps a 4 KiB buffer, and records live for hours.
        await self.put_bytes(namespace, key, memoryview(orjson.dumps(record)).tobytes(), ttl)

    async def put_bytes(self, namespace: str, key: str, data: bytes, ttl: float) -> None:
        space = self._spaces.setdefault(namespace, {})
        if ttl <= 0:
            space.pop(key, None)
            return
        space[key] = (self._clock() + ttl, data)

    async def put_many(self, writes: Sequence[Write]) -> None:
        for namespace, key, record, ttl in writes:
            await self.put(namespace, key, record, ttl)

    async def delete(self, namespace: str, key: str) -> bool:
        return self._spaces.get(namespace, {}).pop(key, None) is not None

    async def list(self, namespace: str) -> list[Record]:
        space = self._spaces.get(namespace, {})
        now = self._clock()
        for key in [k for k, (expires, _) in space.items() if expires <= now]:
            del space[key]  # expired records are swept whenever a namespace is listed
        found = [decode(namespace, key, data) for key, (_, data) in space.items()]
        return [record for record in found if record is not None]

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

    def healthy(self) -> bool:
        return True

    async def close(self) -> None:
        return None
