"""Continue an upstream chat, or fold the conversation into a new one: the one place that decides.

In order of preference:
  * the client's own `chat_id`/`parent_id` continues on the account that owns that chat
    (`chat_owners`); a chat no replica knows is folded into a new one;
  * else a conversation the gateway already sent (`conversations`) continues on its account,
    if that account is healthy now (its chat lives there: fold rather than wait);
  * else fold.
And the fallbacks: a chained conversation whose account fails folds on any account (the
client's own chat stays pinned: only its account knows it), and a chat Qwen no longer knows
folds once (§6, `ChatCall.open` through `Chaining.drop`).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from ..account import Lease, Served
from ..accounts import AccountPool
from ..chat_owners import ChatOwners
from ..conversations import ConversationMap, Link
from ..errors import NoAccountAvailable, UpstreamError
from ..qwen.client import QwenClient

log = logging.getLogger("gateway.chat")
T = TypeVar("T")
R = TypeVar("R")


@dataclass
class Chaining:
    """Who asks, and where their conversation stands upstream (None: fold)."""

    conversations: ConversationMap
    owner: str
    link: Link | None = None

    async def drop(self) -> None:
        """The linked chat cannot be continued: forget it, and fold."""
        if self.link is not None:
            await self.conversations.forget(self.link)
            self.link = None


async def own_chat(chats: ChatOwners, chat_id: str | None,
                   parent_id: str | None) -> tuple[str | None, str | None, str | None]:
    """The client's own upstream chat and the account that owns it, or (None, None, None): fold."""
    owner = await chats.owner(chat_id) if chat_id else None
    if owner is None:
        if chat_id is not None:
            log.info("chat %s has no known owner here; folding into a new chat", chat_id)
        return None, None, None
    return chat_id, parent_id, owner


async def find_chaining(conversations: ConversationMap, pool: AccountPool, owner: str, model_id: str,
                        instructions: str, messages: list[dict[str, Any]]) -> Chaining | None:
    """The stored upstream chat this conversation continues, if its account can serve now."""
    if not conversations.enabled:
        return None
    chaining = Chaining(conversations, owner)
    link = await conversations.find(owner, model_id, instructions, messages)
    if link is not None:
        healthy = {a["id"] for a in pool.status() if a["modes"]["t2t"]["state"] == "healthy"}
        chaining.link = link if link.account_id in healthy else None
    return chaining


async def run(pool: AccountPool, attempt: Callable[[QwenClient], Awaitable[T]], owner: str | None,
              chaining: Chaining | None) -> Served[T]:
    """A whole answer (`pool.run`) on the account the conversation lives on, folding as `_folding` says."""
    return await _folding(lambda pinned: pool.run(attempt, pinned=pinned), owner, chaining)


async def hold(pool: AccountPool, attempt: Callable[[QwenClient], Awaitable[T]], owner: str | None,
               chaining: Chaining | None) -> Lease[T]:
    """A stream's account (`pool.acquire`), held until its lease is released."""
    return await _folding(lambda pinned: pool.acquire(attempt, pinned=pinned), owner, chaining)


async def _folding(start: Callable[[str | None], Awaitable[R]], owner: str | None, chaining: Chaining | None) -> R:
    """`start` on the owner's account; a chained conversation whose account fails folds on any
    account instead of failing (a client's own chat_id stays pinned: only its account knows it)."""
    try:
        return await start(owner)
    except (UpstreamError, NoAccountAvailable) as exc:
        if chaining is None or chaining.link is None or not getattr(exc, "retry_elsewhere", True):
            raise
        log.info("the account of chat %s failed (%s); folding on another account", chaining.link.chat_id,
                 exc.message)
        chaining.link = None
        return await start(None)
