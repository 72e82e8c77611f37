"""Which account owns an upstream chat, shared through the store so any replica can continue it.

An upstream chat belongs to the account that created it, and later turns must use that
account. The pool's in-process map is the first place looked (an owner never changes, so a
hit there is final); the store is asked only for chats this process has not seen, which
is what makes a continued chat work whichever replica gets the next turn, or after a
restart. Without the store (unreachable), chat keeps serving from the local map.
"""

from __future__ import annotations

import asyncio
import logging

from .accounts import AccountPool
from .store import Store, StoreUnavailable

log = logging.getLogger("gateway.chats")
NAMESPACE = "chat-owners"
CHAT_OWNER_TTL = 30 * 86400.0  # seconds: upstream chats live on, a month of silence is the end of one


class ChatOwners:
    def __init__(self, store: Store, pool: AccountPool, ttl: float = CHAT_OWNER_TTL) -> None:
        self._store = store
        self._pool = pool
        self._ttl = ttl
        self._writes: set[asyncio.Task[None]] = set()

    async def owner(self, chat_id: str) -> str | None:
        """The account id that owns `chat_id`, or None if no replica has seen it."""
        local = self._pool.chat_owner(chat_id)
        if local is not None:
            return local
        try:
            record = await self._store.get(NAMESPACE, chat_id)
        except StoreUnavailable:
            return None  # logged by the store; the chat starts afresh, as an unknown one would
        account = record.get("account") if record else None
        if not isinstance(account, str):
            return None
        self._pool.remember_chat(chat_id, account)
        return account

    def remember(self, chat_id: str | None, account_id: str) -> None:
        """Write the owner down; the answer does not wait for the store.

        The write is on its way before the client has the chat id, so it lands long before
        the client can send the next turn to another replica (a lost race only folds the
        history into a new chat, as for any unknown chat). That keeps a store round trip
        out of every chat's latency (the budget with Redis is 0.3 ms per chat).
        """
        if not chat_id or self._pool.chat_owner(chat_id) == account_id:
            return  # none, or a later turn of a chat already written down (an owner never changes)
        self._pool.remember_chat(chat_id, account_id)
        task = asyncio.get_running_loop().create_task(self._write(chat_id, account_id))
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    async def _write(self, chat_id: str, account_id: str) -> None:
        try:
            await self._store.put(NAMESPACE, chat_id, {"account": account_id}, self._ttl)
        except StoreUnavailable:
            pass  # kept locally; the store warns once per 30 s

    async def flush(self) -> None:
        """Wait for the writes under way (at shutdown: a restart must find them)."""
        await asyncio.gather(*self._writes, return_exceptions=True)
