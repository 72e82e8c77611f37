"""Per-account concurrency slots shared by every replica on one store, with expiry.

An account configured for `concurrency: 4` must not serve 4 calls on each of three
replicas. With a shared store, a call holds one of the account's slots (leases
`<account>:0` … `<account>:<limit-1>`) while it runs; a replica that dies stops
renewing its slots and they come back after `SLOT_TTL`. Slots are tried in a random
order so that, under light load, the first claim wins: one store round trip to take a
slot, and one (off the request path) to give it back.

With a store that only this process uses, the pool's own count is the whole truth and
no slot is taken. If the store is unreachable, calls are served on local counts alone.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
import secrets

from .store import Store, StoreUnavailable

log = logging.getLogger("gateway.slots")
NAMESPACE = "account-slots"
SLOT_TTL = 30.0  # seconds a dead replica's slots stay taken
RENEW_EVERY = SLOT_TTL / 3
LOCAL = ""  # the slot of a call served while the store was unreachable


class SharedSlots:
    def __init__(self, store: Store, replica: str | None = None) -> None:
        self._store = store
        self._replica = replica or secrets.token_hex(6)
        self._serial = itertools.count()
        self._held: dict[str, str] = {}  # slot key → owner, renewed in the background
        self._tasks: set[asyncio.Task[None]] = set()
        self._renewer: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._renewer = asyncio.create_task(self._renew_forever(), name="account-slots-renew")

    async def stop(self) -> None:
        if self._renewer is not None:
            self._renewer.cancel()
        await asyncio.gather(*([self._renewer] if self._renewer else []), *self._tasks, return_exceptions=True)
        await asyncio.gather(*(self._store.release(NAMESPACE, k, o) for k, o in self._held.items()),
                             return_exceptions=True)

    async def take(self, account_id: str, limit: int) -> str | None:
        """A slot key of `account_id` now held by this call; None when every one is taken elsewhere."""
        owner = f"{self._replica}:{next(self._serial)}"
        order = random.sample(range(limit), limit)
        try:
            for index in order:
                key = f"{account_id}:{index}"
                if await self._store.claim(NAMESPACE, key, owner, SLOT_TTL):
                    self._held[key] = owner
                    return key
        except StoreUnavailable:
            return LOCAL
        return None

    def give_back(self, key: str | None) -> None:
        """Release a slot in the background: the caller's answer does not wait on the store."""
        owner = self._held.pop(key, None) if key else None
        if owner is None:
            return
        task = asyncio.get_running_loop().create_task(self._release(key or "", owner))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _release(self, key: str, owner: str) -> None:
        try:
            await self._store.release(NAMESPACE, key, owner)
        except StoreUnavailable:
            pass  # it expires by itself

    async def _renew_forever(self) -> None:
        while True:
            await asyncio.sleep(RENEW_EVERY)
            for key, owner in list(self._held.items()):
                try:
                    await self._store.claim(NAMESPACE, key, owner, SLOT_TTL)
                except StoreUnavailable:
                    break
                except Exception:
                    log.exception("renewing slot %s failed", key)
