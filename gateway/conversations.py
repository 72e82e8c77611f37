"""Automatic conversation chaining (§6 strategy 2): send only the new turns upstream.

OpenAI clients resend the whole conversation on every call. When a request's
messages are a conversation the gateway already sent upstream, plus its answer,
plus new turns (same owner, model and instructions, i.e. tools and answer format),
the upstream chat is continued from the stored `parent_id` with just the new
turns. Anything else (an edited history, other tools, a forgotten mapping, a chat
the upstream lost) folds as before.

The map lives in the state store (namespace `conversations`), keyed by a digest of
owner + model + instructions + the normalised messages up to and including the
answer, so every replica finds it and no message text is stored.
"""

from __future__ import annotations

import contextlib
import hashlib
from dataclasses import dataclass
from typing import Any

import orjson

from .config import ConversationSettings
from .store import MemoryStore, Store, StoreUnavailable
from .store.write_behind import WriteBehind
from .translate.chat import text_of

NAMESPACE = "conversations"
SWEEP_EVERY = 10_000  # remembered answers between sweeps of a MemoryStore's expired links


@dataclass(frozen=True)
class Link:
    """Where a known conversation stands upstream."""

    key: str
    account_id: str
    chat_id: str
    parent_id: str
    consumed: int  # how many of the request's messages the upstream chat already holds


def _arguments(raw: Any) -> Any:
    if isinstance(raw, str):
        try:
            return orjson.loads(raw)  # clients re-serialise arguments with other spacing
        except orjson.JSONDecodeError:
            return raw
    return raw


def normalised(message: dict[str, Any]) -> bytes:
    """What identifies a message across clients' re-serialisations."""
    calls = [[c.get("id") or "", (c.get("function") or {}).get("name") or "",
              _arguments((c.get("function") or {}).get("arguments"))]
             for c in message.get("tool_calls") or ()]
    role = "system" if message.get("role") == "developer" else message.get("role")
    return orjson.dumps([role, text_of(message).strip(), calls, message.get("tool_call_id") or ""],
                        option=orjson.OPT_SORT_KEYS)


def prefix_digests(messages: list[dict[str, Any]]) -> list[bytes]:
    """A running digest after each message: entry i stands for messages[:i + 1]."""
    digests, current = [], b""
    for message in messages:
        current = hashlib.sha256(current + normalised(message)).digest()
        digests.append(current)
    return digests


class ConversationMap:
    def __init__(self, store: Store, settings: ConversationSettings, writes: WriteBehind | None = None) -> None:
        self._store = store
        self._writes = writes or WriteBehind(store)
        self._settings = settings
        self._puts = 0

    @property
    def enabled(self) -> bool:
        return self._settings.chain

    def _key(self, owner: str, model: str, instructions: str, digest: bytes) -> str:
        scope = orjson.dumps([owner, model, hashlib.sha256(instructions.encode()).hexdigest()])
        return hashlib.sha256(scope + digest).hexdigest()

    async def find(self, owner: str, model: str, instructions: str, messages: list[dict[str, Any]]) -> Link | None:
        """The link for the conversation these messages continue: one store read, for the
        prefix that ends with the last assistant message (the gateway's last answer)."""
        if not self._settings.chain:
            return None
        last = next((i for i in range(len(messages) - 2, -1, -1) if messages[i].get("role") == "assistant"), None)
        if last is None:
            return None
        key = self._key(owner, model, instructions, prefix_digests(messages[: last + 1])[-1])
        try:
            record = await self._writes.get(NAMESPACE, key)
        except StoreUnavailable:
            return None  # chaining only saves tokens: without the store, fold as before
        if record is None:
            return None
        return Link(key, str(record["account_id"]), str(record["chat_id"]), str(record["parent_id"]), last + 1)

    async def remember(self, owner: str, model: str, instructions: str, messages: list[dict[str, Any]],
                       answer: dict[str, Any], *, account_id: str, chat_id: str | None,
                       parent_id: str | None) -> None:
        """After an answer: the conversation so far plus that answer now lives in `chat_id`."""
        if not self._settings.chain or not chat_id or not parent_id:
            return
        digest = prefix_digests([*messages, answer])[-1]
        record = {"account_id": account_id, "chat_id": chat_id, "parent_id": parent_id}
        # Queued, not awaited: it lands within write_behind.DELAY, and this process reads it back at once.
        self._writes.put(NAMESPACE, self._key(owner, model, instructions, digest), record, self._settings.chain_ttl)
        self._puts += 1
        if self._puts % SWEEP_EVERY == 0 and isinstance(self._store, MemoryStore):
            # Every answer leaves a link and most are never read again: the memory store drops
            # expired records only when a namespace is listed (persistent backends expire them).
            await self._store.list(NAMESPACE)

    async def forget(self, link: Link) -> None:
        with contextlib.suppress(StoreUnavailable):
            await self._writes.delete(NAMESPACE, link.key)
