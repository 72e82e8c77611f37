"""One account's sign-in (§2): access token, rotating refresh token, cookie jar, persistence.

A refresh token works once: the auth host answers with a new one and the old one is
dead. So the newest pair is written to the state store *before* it is used, keyed by a
hash of the credential the operator configured: a restart (whose environment still holds
the original, spent token) and every other replica continue from the newest one. One
refresh at a time per account: an asyncio lock in this process, a store lease across
replicas (whoever gets it second re-reads the store and finds the work done).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import email.utils
import hashlib
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from http.cookies import Morsel
from typing import Any

import orjson

from ..config import AccountSettings, UpstreamSettings
from ..errors import UpstreamAuthUnavailable, UpstreamUnauthorized
from ..store import Store
from . import cookies
from .cookies import AccountJar

log = logging.getLogger("gateway.auth")
NAMESPACE = "credentials"
LOCKS = "refresh-locks"
RECORD_TTL = 400 * 86400.0  # longer than any refresh token lives
LEASE_TTL = 60.0  # a replica that dies mid-refresh frees the lease after this
REFRESH_TIMEOUT = 30.0  # one refresh call, well inside the lease
REJECTED = "refresh token rejected: sign in again"
REFRESHES: Counter[str] = Counter()  # refreshes by outcome in this process, read by /metrics


class RefreshRejected(Exception):
    """The auth host refused the refresh token: only a new sign-in helps."""


class AuthUnreachable(Exception):
    """The refresh failed on the network, a 5xx or a block page: worth trying again."""


@dataclass(frozen=True)
class Refreshed:
    access_token: str
    refresh_token: str | None  # None: the host did not rotate it, keep the old one (C)
    refresh_expires: float | None  # epoch seconds, when the host said


RefreshCall = Callable[[str], Awaitable[Refreshed]]


def jwt_exp(token: str) -> float | None:
    """A JWT's `exp` claim; None for an opaque token (used as it is, refreshed only when refused)."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        claims = orjson.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (binascii.Error, ValueError):
        return None
    exp = claims.get("exp") if isinstance(claims, dict) else None
    return float(exp) if isinstance(exp, int | float) and not isinstance(exp, bool) else None


def credential_key(account: AccountSettings) -> str:
    """The store key: a hash of what the operator configured, never the secret itself."""
    configured = account.refresh_token or account.token
    return hashlib.sha256(configured.encode()).hexdigest()[:32]


class Credentials:
    """The tokens and cookies one QwenClient sends; `fresh_token()` before every call."""

    def __init__(self, account: AccountSettings, base_url: str, auth_url: str, upstream: UpstreamSettings,
                 store: Store | None = None, replica: str = "local") -> None:
        self.account_id = account.id
        self.key = credential_key(account)
        self._base_url, self._auth_url = base_url, auth_url
        self._upstream, self._store, self._replica = upstream, store, replica
        pasted = cookies.parse_cookie_string(account.cookies)
        self.access_token = account.token or pasted.get(cookies.TOKEN, "")
        self.refresh_token = account.refresh_token or pasted.get(cookies.REFRESH_TOKEN, "")
        self.refresh_expires: float | None = jwt_exp(self.refresh_token)
        self.refreshed_at = time.time()
        self.settings_done = False
        self.rejected = False
        self.jar = AccountJar((base_url, auth_url))
        cookies.seed(self.jar, base_url, pasted)
        self._sync_jar()
        self.jar.changed = False
        self._lock = asyncio.Lock()
        self._loaded = False
        self._retry_at = 0.0
        self._backoff = 0.0
        self.unreachable = ""  # why the last refresh could not be done, while it is retried

    # -- the token to send ----------------------------------------------------
    async def fresh_token(self, call: RefreshCall) -> str:
        """The access token to use now, refreshed first when it is missing or near its `exp`."""
        await self.load()
        now = time.time()
        exp = jwt_exp(self.access_token)
        if self.rejected:
            raise UpstreamUnauthorized(REJECTED)
        if not self.refresh_token:
            if not self.access_token:
                raise UpstreamUnauthorized("the account has neither an access token nor a refresh token")
            if exp is not None and exp <= now:
                raise UpstreamUnauthorized(
                    "the access token has expired and no refresh token is configured: sign in again"
                )
            return self.access_token
        if self.access_token and (exp is None or exp - now > self._upstream.refresh_margin):
            return self.access_token
        try:
            await self.refresh(call, self.access_token)
        except UpstreamAuthUnavailable:
            if self.access_token and (exp is None or exp > time.time()):
                return self.access_token  # keep serving while the current token lasts
            raise
        return self.access_token

    async def recover(self, call: RefreshCall, refused: str) -> bool:
        """After an expired-token answer to `refused`: True when a newer token is ready to retry with."""
        if not self.refresh_token or self.rejected:
            return False
        await self.refresh(call, refused)
        return self.access_token != refused

    # -- refreshing -----------------------------------------------------------
    async def refresh(self, call: RefreshCall, seen: str) -> None:
        """Refresh unless someone already replaced `seen`; raises UpstreamUnauthorized or UpstreamAuthUnavailable."""
        async with self._lock:
            if self.access_token != seen:
                return  # refreshed while this call waited for the lock
            if self.rejected:
                raise UpstreamUnauthorized(REJECTED)
            wait = self._retry_at - time.time()
            if wait > 0:  # the auth host failed a moment ago: not again before the backoff ends
                raise UpstreamAuthUnavailable(self.unreachable, seconds=wait)
            await self._claim()
            try:
                await self._adopt_stored(with_cookies=False)  # another replica may have refreshed
                if self.access_token != seen and not _expiring(self.access_token, self._upstream.refresh_margin):
                    return
                await self._refresh_now(call)
            finally:
                if self._store is not None:
                    await self._store.release(LOCKS, self.key, self._replica)

    async def _refresh_now(self, call: RefreshCall) -> None:
        try:
            answer = await call(self.refresh_token)
        except RefreshRejected:
            REFRESHES["rejected"] += 1
            self.rejected = True
            raise UpstreamUnauthorized(REJECTED) from None
        except AuthUnreachable as exc:
            REFRESHES["unreachable"] += 1
            self._backoff = min(max(1.0, self._backoff * 2), max(1.0, self._upstream.refresh_retry_max))
            self._retry_at = time.time() + self._backoff
            self.unreachable = f"the auth host cannot refresh the access token ({exc}); retrying"
            log.warning("account %s: %s in %.0f s", self.account_id, self.unreachable, self._backoff)
            raise UpstreamAuthUnavailable(self.unreachable, seconds=self._backoff) from None
        REFRESHES["ok"] += 1
        self._backoff, self._retry_at, self.unreachable = 0.0, 0.0, ""
        newest = answer.refresh_token or self.refresh_token
        record = self._record(access_token=answer.access_token, refresh_token=newest,
                              refresh_expires=answer.refresh_expires or self.refresh_expires, refreshed_at=time.time())
        await self._put(record)  # persisted before it is used: the old refresh token is spent now
        self._adopt(record)

    async def _claim(self) -> None:
        if self._store is None:
            return
        deadline = time.monotonic() + LEASE_TTL
        while not await self._store.claim(LOCKS, self.key, self._replica, LEASE_TTL):
            if time.monotonic() > deadline:
                return  # the holder is stuck past its own lease: go ahead
            await asyncio.sleep(0.1)

    # -- persistence ----------------------------------------------------------
    async def load(self) -> None:
        """Continue from the store's newest tokens and cookies, once per process."""
        if not self._loaded:
            self._loaded = True
            await self._adopt_stored()

    async def _adopt_stored(self, *, with_cookies: bool = True) -> None:
        if self._store is None:
            return
        record = await self._store.get(NAMESPACE, self.key)
        if record is not None:
            # Mid-run, this process's jar is the newest unless another replica refreshed.
            self._adopt(record, with_cookies or record.get("access_token") != self.access_token)

    def _adopt(self, record: dict[str, Any], with_cookies: bool = True) -> None:
        self.access_token = str(record.get("access_token") or self.access_token)
        self.refresh_token = str(record.get("refresh_token") or self.refresh_token)
        self.refresh_expires = record.get("refresh_expires") or self.refresh_expires
        self.refreshed_at = float(record.get("refreshed_at") or self.refreshed_at)
        self.settings_done = bool(record.get("settings_done")) or self.settings_done
        if with_cookies and record.get("cookies"):
            cookies.load(self.jar, record["cookies"])
        self._sync_jar()
        self.jar.changed = False

    def _sync_jar(self) -> None:
        """`token=` is always the current access token; `refresh_token=` is the auth host's."""
        if self.access_token:
            cookies.set_cookie(self.jar, self._base_url, cookies.TOKEN, self.access_token)
        if self.refresh_token:
            cookies.set_cookie(self.jar, self._auth_url, cookies.REFRESH_TOKEN, self.refresh_token)

    def _record(self, **changes: Any) -> dict[str, Any]:
        record = {"account": self.account_id, "access_token": self.access_token, "refresh_token": self.refresh_token,
                  "refresh_expires": self.refresh_expires, "refreshed_at": self.refreshed_at,
                  "settings_done": self.settings_done, "cookies": cookies.dump(self.jar)}
        record.update(changes)
        return record

    async def _put(self, record: dict[str, Any]) -> None:
        if self._store is None:
            return
        try:
            await self._store.put(NAMESPACE, self.key, record, RECORD_TTL)
        except Exception as exc:  # the new tokens must still be used: the old refresh token is spent
            log.error("account %s: could not persist its new tokens (%s)", self.account_id, type(exc).__name__)

    async def save(self) -> None:
        """Persist the current state (cookies the upstream set, the settings flag)."""
        self.jar.changed = False
        await self._put(self._record())

    async def mark_settings_done(self) -> None:
        self.settings_done = True
        await self.save()


def _expiring(token: str, margin: float) -> bool:
    exp = jwt_exp(token)
    return not token or (exp is not None and exp - time.time() <= margin)


def parse_refresh(raw: bytes, status: int, refresh_expires: float | None) -> Refreshed:
    """The refresh answer (§2): new tokens, or which kind of failure it is."""
    if status >= 500 or status == 429 or raw.lstrip()[:1] == b"<":
        raise AuthUnreachable(f"HTTP {status}")  # a 5xx, a rate limit or a block page: try again later
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError:
        obj = None
    data = obj.get("data") if isinstance(obj, dict) else None
    if status != 200 or not isinstance(data, dict) or not obj.get("success") or not data.get("access_token"):
        raise RefreshRejected(f"HTTP {status}")
    rotated = data.get("refresh_token")
    return Refreshed(str(data["access_token"]), str(rotated) if rotated else None, refresh_expires)


def cookie_expiry(morsel: Morsel[str] | None) -> float | None:
    """When a Set-Cookie says its cookie ends (Max-Age or Expires), in epoch seconds."""
    if morsel is None:
        return None
    if morsel["max-age"]:
        try:
            return time.time() + int(morsel["max-age"])
        except ValueError:
            return None
    if morsel["expires"]:
        try:
            return email.utils.parsedate_to_datetime(morsel["expires"]).timestamp()
        except (TypeError, ValueError):
            return None
    return None
