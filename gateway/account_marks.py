"""Account marks (cool-down until, invalid) written to the store and read back by every replica.

The pool decides marks in-process, as before; this module copies each new mark to the
store (namespace `accounts`, one record per account id) and folds the store's marks back
into the pool: at start-up (a restarted gateway, or a replica started later, knows them
before its first request) and, on a shared store, every `REFRESH_EVERY` seconds, so a
mark learnt by one replica is respected by all within a second. The refresh is one
`list` of a handful of records, off the request path.

The record's shape stays open: `modes` holds per-mode cool-downs (modes.py: a quota met in
one mode), `{mode: {"cool_until", "cool_reason"}}`, and unknown keys are kept by readers
that do not use them. Times in the store are wall-clock
(the pool's own clock is monotonic, which means nothing in another process).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections.abc import Mapping
from typing import Any

from .account import Account
from .accounts import PAUSE_SECONDS, PAUSED, AccountPool
from .store import Record, Store, StoreUnavailable

log = logging.getLogger("gateway.accounts")
NAMESPACE = "accounts"
REFRESH_EVERY = 0.5  # seconds: a mark reaches every replica within about this
INVALID_TTL = 30 * 86400.0  # an invalid token stays invalid until it is replaced, which changes the digest
EXTRA_TTL = 60.0  # a cool-down's record outlives the cool-down a little


def credential_digest(token: str) -> str:
    """Which token a mark was learnt with: replacing the token in the config clears `invalid`."""
    return hashlib.sha256(token.encode()).hexdigest()[:16]


class AccountMarks:
    def __init__(self, store: Store, pool: AccountPool, credentials: Mapping[str, str]) -> None:
        self._store = store
        self._pool = pool
        self._credentials = dict(credentials)  # account id → a digest of its configured credential
        self._writes: set[asyncio.Task[None]] = set()
        self._refresher: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Fold in the marks already in the store, then follow the pool's new ones (and, shared, others')."""
        with contextlib.suppress(StoreUnavailable):
            await self.refresh()
        self._pool.on_mark = self._write_soon
        if self._store.shared:
            self._refresher = asyncio.create_task(self._refresh_forever(), name="account-marks-refresh")

    async def stop(self) -> None:
        self._pool.on_mark = None
        if self._refresher is not None:
            self._refresher.cancel()
            await asyncio.gather(self._refresher, return_exceptions=True)
        await asyncio.gather(*self._writes, return_exceptions=True)  # marks learnt just before a shutdown

    async def refresh(self) -> None:
        now, wall = self._pool.now(), time.time()
        for record in await self._store.list(NAMESPACE):
            account = next((a for a in self._pool.accounts if a.id == record.get("id")), None)
            if account is not None:
                _apply(account, record, now, wall, self._credentials.get(account.id))

    async def _refresh_forever(self) -> None:
        while True:
            await asyncio.sleep(REFRESH_EVERY)
            try:
                await self.refresh()
            except StoreUnavailable:
                pass  # the store warns once per 30 s; local marks still hold
            except Exception:  # a bad record must not stop the refresh for good
                log.exception("refreshing account marks failed")

    def _write_soon(self, account: Account) -> None:
        """Called by the pool (not async): the write goes on in the background."""
        record = self._record(account)
        task = asyncio.get_running_loop().create_task(self._write(account.id, record))
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    async def _write(self, account_id: str, record: Record) -> None:
        until = max([record["cool_until"]] + [m["cool_until"] for m in record["modes"].values()])
        ttl = INVALID_TTL if record["invalid"] else until - time.time() + EXTRA_TTL
        try:
            await self._store.put(NAMESPACE, account_id, record, ttl)
        except StoreUnavailable:
            pass  # held locally; the store warns once per 30 s

    def _record(self, account: Account) -> Record:
        now, wall = self._pool.now(), time.time()
        cool_until = wall + max(0.0, account.cool_until - now)
        modes = {mode: {"cool_until": wall + left, "cool_reason": reason}
                 for mode, (left, reason) in account.modes.remaining(now).items()}
        return {"id": account.id, "cool_until": cool_until, "cool_reason": account.cool_reason,
                "invalid": account.invalid, "invalid_reason": account.invalid_reason,
                "credential": self._credentials.get(account.id, ""), "modes": modes, "marked_at": wall}


def _apply(account: Account, record: Mapping[str, Any], now: float, wall: float, credential: str | None) -> None:
    """Take a stored mark where it is news: marks only ever add rest, never lift it, but for the
    operator's resume of a paused account."""
    try:
        written = now - (wall - float(record.get("marked_at") or 0))  # on the pool's clock
        if account.cool_reason == PAUSED and record.get("cool_reason") != PAUSED \
                and written > account.cool_until - PAUSE_SECONDS:  # a record newer than the pause
            account.cool_until, account.cool_reason = 0.0, ""  # resumed on another replica
        remaining = float(record.get("cool_until") or 0) - wall
        if remaining > 0 and now + remaining > account.cool_until + 0.5:
            account.cool_until = now + remaining
            account.cool_reason = str(record.get("cool_reason") or "cooling")
        modes = record.get("modes") or {}
        for mode, mark in (modes.items() if isinstance(modes, dict) else ()):
            left = float(mark.get("cool_until") or 0) - wall
            if left > 0 and now + left > account.modes.until.get(str(mode), 0.0) + 0.5:
                account.modes.rest(str(mode), now + left, str(mark.get("cool_reason") or "rate limited"))
        if record.get("invalid") is True and record.get("credential") == credential and not account.invalid:
            account.invalid = True
            account.invalid_reason = str(record.get("invalid_reason") or "")
            log.warning("account %s marked invalid by another replica: %s", account.id, account.invalid_reason)
    except (TypeError, ValueError, AttributeError):
        log.warning("store: skipping an account record of an unknown shape for %s", account.id)
