"""Per-account concurrency slots shared by every replica on one store, with expiry.

An account configured for `concurrency: 4` must not serve 4 calls on each of three
replicas. With a shared store, a replica serves an account's calls only on slots it
holds (leases `<account>:0` … `<account>:<limit-1>`). Slots are sticky: a replica keeps
a slot it has used for `IDLE` seconds after its last call ends, so a busy replica pays
no store round trip per call; it claims one more only when its calls outgrow what it
holds, and gives back what sits idle. Held slots are renewed in the background; a
replica that dies stops renewing, and its slots come back after `SLOT_TTL`.

With a store that only this process uses, the pool's own count is the whole truth and
no slot is taken. If the store is unreachable, calls are served on local counts alone.
"""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
import time

from .store import Store, StoreUnavailable

log = logging.getLogger("gateway.slots")
NAMESPACE = "account-slots"
SLOT_TTL = 30.0  # seconds a dead replica's slots stay taken
RENEW_EVERY = SLOT_TTL / 3
IDLE = 0.25  # seconds an unused slot is kept before another replica may have it
TICK = 0.1  # seconds between looks for idle slots
LOCAL = "local:"  # the slot token of a call served while the store was unreachable


class SharedSlots:
    def __init__(self, store: Store, replica: str | None = None) -> None:
        self._store = store
        self._owner = replica or secrets.token_hex(6)  # this replica, as the holder of its slots
        self._held: dict[str, list[str]] = {}  # account id → slot keys held
        self._busy: dict[str, int] = {}  # account id → calls running on held slots
        self._last_used: dict[str, float] = {}
        self._keeper: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._keeper = asyncio.create_task(self._keep(), name="account-slots")

    async def stop(self) -> None:
        if self._keeper is not None:
            self._keeper.cancel()
            await asyncio.gather(self._keeper, return_exceptions=True)
        keys = [key for held in self._held.values() for key in held]
        await asyncio.gather(*(self._store.release(NAMESPACE, key, self._owner) for key in keys),
                             return_exceptions=True)
        self._held.clear()

    async def take(self, account_id: str, limit: int) -> str | None:
        """A slot token for one call on `account_id`; None when other replicas hold every slot."""
        held = self._held.setdefault(account_id, [])
        if self._busy.get(account_id, 0) < len(held):
            self._busy[account_id] = self._busy.get(account_id, 0) + 1
            return account_id
        free = [i for i in range(limit) if f"{account_id}:{i}" not in held]
        try:
            for index in random.sample(free, len(free)):
                key = f"{account_id}:{index}"
                if await self._store.claim(NAMESPACE, key, self._owner, SLOT_TTL):
                    held.append(key)
                    self._busy[account_id] = self._busy.get(account_id, 0) + 1
                    return account_id
        except StoreUnavailable:
            return LOCAL + account_id
        return None

    def give_back(self, token: str | None) -> None:
        """The call is over; its slot stays held a moment for the next call (see IDLE)."""
        if token is None or token.startswith(LOCAL):
            return
        self._busy[token] -= 1
        self._last_used[token] = time.monotonic()

    async def _keep(self) -> None:
        """Give back slots idle for IDLE seconds, and renew the rest every RENEW_EVERY seconds."""
        renewed = time.monotonic()
        while True:
            await asyncio.sleep(TICK)
            try:
                await self._release_idle()
                if time.monotonic() - renewed >= RENEW_EVERY:
                    renewed = time.monotonic()
                    for key in [key for held in self._held.values() for key in held]:
                        await self._store.claim(NAMESPACE, key, self._owner, SLOT_TTL)
            except StoreUnavailable:
                pass  # the store warns once per 30 s; slots expire by themselves if it stays away
            except Exception:
                log.exception("keeping account slots failed")

    async def _release_idle(self) -> None:
        now = time.monotonic()
        for account_id, held in self._held.items():
            spare = len(held) - self._busy.get(account_id, 0)
            if spare > 0 and now - self._last_used.get(account_id, 0.0) >= IDLE:
                for key in [held.pop() for _ in range(spare)]:
                    await self._store.release(NAMESPACE, key, self._owner)
