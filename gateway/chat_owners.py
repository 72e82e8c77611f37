"""Which account owns an upstream chat, shared through the store so any replica can continue it.

An upstream chat belongs to the account that created it, and later turns must use that
account. The pool's in-process map is the first place looked (an owner never changes, so a
hit there is final); the store is asked only for chats this process has not seen, which
is what makes a continued chat work whichever replica gets the next turn, or after a
restart. Without the store (unreachable), chat keeps serving from the local map.
"""

from __future__ import annotations

import logging

from .accounts import AccountPool
from .store import Store, StoreUnavailable
from .store.write_behind import WriteBehind

log = logging.getLogger("gateway.chats")
NAMESPACE = "chat-owners"
CHAT_OWNER_TTL = 30 * 86400.0  # seconds: upstream chats live on, a month of silence is the end of one


class ChatOwners:
    def __init__(self, store: Store, pool: AccountPool, ttl: float = CHAT_OWNER_TTL,
                 writes: WriteBehind | None = None) -> None:
        self._writes = writes or WriteBehind(store)
        self._pool = pool
        self._ttl = ttl

    async def owner(self, chat_id: str) -> str | None:
        """The account id that owns `chat_id`, or None if no replica has seen it."""
        local = self._pool.chat_owner(chat_id)
        if local is not None:
            return local
        try:
            record = await self._writes.get(NAMESPACE, chat_id)
        except StoreUnavailable:
            return None  # logged by the store; the chat starts afresh, as an unknown one would
        account = record.get("account") if record else None
        if not isinstance(account, str):
            return None
        self._pool.remember_chat(chat_id, account)
        return account

    def remember(self, chat_id: str | None, account_id: str) -> None:
        """Write the owner down; the answer does not wait for the store.

        The write is queued before the client has the chat id and lands within `DELAY` of
        write_behind.py, in a batch, before the client can usually send the next turn to
        another replica (a lost race only folds the history into a new chat, as for any
        unknown chat). That keeps a store round trip out of every chat's latency.
        """
        if not chat_id or self._pool.chat_owner(chat_id) == account_id:
            return  # none, or a later turn of a chat already written down (an owner never changes)
        self._pool.remember_chat(chat_id, account_id)
        self._writes.put(NAMESPACE, chat_id, {"account": account_id}, self._ttl)

    async def flush(self) -> None:
        """Write what is queued (at shutdown: a restart must find it)."""
        await self._writes.flush()
