"""Keeping accounts signed in, in the background: the start-up check, daily refreshes, cookie saves.

At start-up every account is checked at once without holding up serving (a fresh token,
then the probe of §2, then the privacy settings), and the log gets one line per
account: its id, its state and when its refresh token expires, never a secret. After
that, an idle account's refresh token is spent at least every `refresh_every` seconds
so it never lapses, and cookies the upstream set are saved to the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import time

from .accounts import AccountPool
from .config import UpstreamSettings
from .errors import UpstreamAuthUnavailable, UpstreamError, UpstreamUnauthorized
from .qwen.auth import jwt_exp
from .qwen.client import QwenClient

log = logging.getLogger("gateway.accounts")
TICK = 30.0  # seconds between upkeep rounds


class Upkeep:
    def __init__(self, pool: AccountPool, upstream: UpstreamSettings) -> None:
        self._pool = pool
        self._upstream = upstream
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="account-upkeep")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        if self._upstream.startup_check:
            await asyncio.gather(*(self.check(a.id, a.client) for a in self._pool.accounts))
        while True:
            await asyncio.sleep(min(TICK, max(1.0, self._upstream.refresh_every / 4)))
            for account in self._pool.accounts:
                await self._keep(account.id, account.client)

    async def check(self, account_id: str, client: QwenClient) -> str:
        """Check one account and log its line; returns its state."""
        failure = ""
        try:
            if not await client.check():
                self._pool.report(account_id, UpstreamUnauthorized("Qwen's probe returned no user for this token"))
        except UpstreamError as error:
            self._pool.report(account_id, error)  # the pool decides: invalid, resting, cooling...
            failure = error.message
        except Exception as exc:  # a start-up check must never take the gateway down
            failure = f"the check failed: {type(exc).__name__}"
        status = next(s for s in self._pool.status() if s["id"] == account_id)
        state: str = status["state"]
        detail = status["reason"] or failure
        auth = client.auth
        parts = [f"account {account_id}: {state}" + (f" ({detail})" if detail else "")]
        exp = jwt_exp(auth.access_token)
        if exp is not None:
            parts.append(f"access token until {_when(exp)}")
        if auth.refresh_token:
            parts.append(f"refresh token expires {_when(auth.refresh_expires) if auth.refresh_expires else 'unknown'}")
        else:
            parts.append("no refresh token")
        log.log(logging.INFO if state == "healthy" else logging.WARNING, "; ".join(parts))
        return state

    async def _keep(self, account_id: str, client: QwenClient) -> None:
        auth = client.auth
        try:
            if (auth.refresh_token and not auth.rejected
                    and time.time() - auth.refreshed_at >= self._upstream.refresh_every):
                await auth.refresh(client.refresh_call, auth.access_token)
            if auth.jar.changed:
                await auth.save()
        except UpstreamAuthUnavailable:
            pass  # logged where it failed; the token still in hand serves, the next round tries again
        except UpstreamError as error:
            self._pool.report(account_id, error)
        except Exception:
            log.exception("account %s: upkeep failed", account_id)


def _when(epoch: float) -> str:
    return datetime.datetime.fromtimestamp(epoch, datetime.UTC).strftime("%Y-%m-%d %H:%M:%SZ")
