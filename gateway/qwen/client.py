"""QwenClient: the only code that speaks HTTP to the upstream, one per account.

Each client owns one aiohttp.ClientSession for the life of the process, sends the
header set of the protocol reference on every call, and turns every failure
(transport through `transport.guard`; HTML page, error envelope, in-stream error
through `replies`) into an UpstreamError. Every upstream path is spelled here: the
modules above call methods (`complete`, `chat_detail`, `upload_grant`, `put_object`,
`parse_file`, `task_status`, `user`, `reachable`...), never a URL. (The auth host's refresh
call turns guard's errors into `AuthUnreachable`, which `auth` turns into a rest with a backoff.)
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import orjson

from ..config import AccountSettings, Timeouts, UpstreamSettings
from ..errors import UpstreamContract, UpstreamTimeout, UpstreamTransport, UpstreamUnauthorized
from ..ids import uuid4
from ..store import Store
from . import cookies
from .auth import REFRESH_TIMEOUT, AuthUnreachable, Credentials, Refreshed, cookie_expiry, parse_refresh
from .events import Event
from .privacy import Privacy
from .replies import (
    Download,
    TaskStatus,
    actual_status,
    decode_json,
    events_of,
    loads,
    task_status_of,
    token_refused,
)
from .transport import guard

_BROWSER_HEADERS = {
    "accept-language": "zh-CN,zh;q=0.9",
    "user-agent": (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/142.0.0.0 Safari/537.36"
    ),
    "sec-ch-ua": '"Chromium";v="142", "Google Chrome";v="142", "Not_A Brand";v="99"',
    "sec-ch-ua-mobile": "?0",
    "sec-ch-ua-platform": '"Windows"',
    "sec-fetch-dest": "empty",
    "sec-fetch-mode": "cors",
    "sec-fetch-site": "same-origin",
    "source": "web",
    "x-accel-buffering": "no",
}  # no bx-* here: the 0.3.12 client sends none and stale ones are punished (§2); only account config adds them
REFRESH_PATH = "/api/v2/auths/refresh"
STS_PATHS = ("/api/v2/files/getstsToken", "/api/v1/files/getstsToken")  # v2 first; v1 where v2 is a 404
TRANSFER_TIMEOUT = 120.0  # one PUT to the file storage of at most a few tens of MB


def completions_path(chat_id: str) -> str:
    return f"/api/v2/chat/completions?chat_id={chat_id}"


def account_headers(account: AccountSettings, base_url: str, version: str) -> dict[str, str]:
    """The fixed part of every request's headers; account extras win, case-insensitively.

    The token and cookies are not here: the account's cookie jar sends them, kept current.
    """
    headers = dict(_BROWSER_HEADERS)
    headers.update({"origin": base_url, "referer": base_url + "/", "version": version})
    headers.update({k.lower(): v for k, v in account.headers.items() if k.lower() not in ("cookie", "authorization")})
    return headers


_clock: tuple[int, str] = (0, "")


def _timezone() -> str:
    # JavaScript's Date().toString() form, as the web frontend sends it; formatted once a second.
    global _clock
    now = int(time.time())
    if _clock[0] != now:
        _clock = (now, time.strftime("%a %b %d %Y %H:%M:%S GMT%z", time.localtime(now)))
    return _clock[1]


class QwenClient:
    """One upstream account: its session, headers and calls."""

    def __init__(self, account: AccountSettings, base_url: str, version: str, timeouts: Timeouts, *,
                 upstream: UpstreamSettings | None = None, store: Store | None = None, replica: str = "local",
                 trace_configs: Sequence[aiohttp.TraceConfig] = ()) -> None:
        self.account_id = account.id
        self.base_url = base_url.rstrip("/")
        self._timeouts = timeouts
        self._headers = account_headers(account, self.base_url, version)
        upstream = upstream or UpstreamSettings()
        self._auth_url = upstream.auth_url.rstrip("/")
        self.auth = Credentials(account, self.base_url, self._auth_url, upstream, store, replica)
        self.privacy = Privacy(self.auth, account.keep_settings)
        self._proxy = account.proxy or None
        self._session: aiohttp.ClientSession | None = None
        self._connections = account.concurrency * 2 + 4
        self._trace_configs = list(trace_configs)  # the doctor's timings and trace, else none
        self._v1_tasks = False  # set once the upstream is found to lack the v2 task-status route

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:  # created lazily: it must be born inside the running loop
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._connections, ttl_dns_cache=300),
                cookie_jar=cookies.SessionJar(self.auth.jar),  # the account's own, as a browser keeps it
                proxy=self._proxy,
                timeout=aiohttp.ClientTimeout(
                    total=None, connect=self._timeouts.connect, sock_read=self._timeouts.idle
                ),
                trace_configs=self._trace_configs or None,
            )
        return self._session

    async def close(self) -> None:
        if self.auth.jar.changed:
            await self.auth.save()  # the cookies the upstream set since the last save
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _request_headers(self, accept: str, referer: str | None = None) -> dict[str, str]:
        headers = dict(self._headers)
        headers["accept"] = accept
        headers["content-type"] = "application/json"
        headers["x-request-id"] = uuid4()
        headers["timezone"] = _timezone()
        if referer is not None:
            headers["referer"] = referer
        return headers

    async def _authorized(self, accept: str, referer: str | None = None) -> tuple[dict[str, str], str]:
        """Headers with a fresh access token (refreshed first if due), and that token."""
        token = await self.auth.fresh_token(self.refresh_call)
        headers = self._request_headers(accept, referer)
        if token:
            headers["authorization"] = f"Bearer {token}"
        return headers, token

    def _with_cookies(self, headers: dict[str, str], url: str, extra: tuple[tuple[str, str], ...] = ()) -> None:
        """Put the jar's `cookie` header for `url` on the call (the session sends none itself)."""
        cookie = self.auth.jar.header(url, extra)
        if cookie:
            headers["cookie"] = cookie

    @staticmethod
    def _token(token: str) -> tuple[tuple[str, str], ...]:
        # Explicit, so no stale `token=` another Set-Cookie left in the jar can win.
        return ((cookies.TOKEN, token),) if token else ()

    async def refresh_call(self, refresh_token: str) -> Refreshed:
        """`GET <auth host>/api/v2/auths/refresh` with the refresh token cookie (§2)."""
        headers = self._request_headers("application/json")
        headers.update({"x-request-origin": self.base_url, "sec-fetch-site": "same-site"})
        url = self._auth_url + REFRESH_PATH
        self._with_cookies(headers, url, ((cookies.REFRESH_TOKEN, refresh_token),))
        try:  # the one mapping of aiohttp failures; `auth` logs the outcome with its retry, so guard does not
            async with (
                guard(url, self.account_id, "the auth host did not answer in time", logged=False),
                asyncio.timeout(min(self._timeouts.first_event, REFRESH_TIMEOUT)),
                self.session.get(url, headers=headers) as response,
            ):
                raw = await response.read()
                return parse_refresh(raw, actual_status(response),
                                     cookie_expiry(response.cookies.get(cookies.REFRESH_TOKEN)))
        except (UpstreamTransport, UpstreamTimeout) as error:
            raise AuthUnreachable(error.message) from None

    async def check(self) -> bool:
        """The start-up probe (§2): a fresh token, then `GET /api/v1/auths/` judged by its body."""
        user = await self.user()
        await self.privacy.ensure(self.post_json)
        return isinstance(user, dict) and bool(user.get("id"))

    async def user(self) -> Any:
        """`GET /api/v1/auths/`: the signed-in user of the token, or an error envelope's UpstreamError (§2)."""
        return await self.get_json("/api/v1/auths/")

    async def reachable(self, timeout: float) -> None:
        """`GET /` as a browser opens the site, with no Authorization header (readiness): any HTTP
        answer, even a 401 or a WAF page, means Qwen is reachable; a transport failure or silence
        raises through `guard` (the caller logs it: a health checker may ask every second)."""
        async with guard(self.base_url, self.account_id, f"Qwen did not answer within {timeout:g} s", logged=False):
            async with asyncio.timeout(timeout):
                async with self.session.get(self.base_url + "/", headers=self._request_headers("text/html"),
                                            allow_redirects=False) as response:
                    await response.release()

    async def get_json(self, path: str) -> Any:
        """GET a JSON document (models, task status), raising for error envelopes."""
        return await self._json("GET", path, None)

    async def post_json(self, path: str, body: Mapping[str, Any]) -> Any:
        return await self._json("POST", path, body)

    async def _json(self, method: str, path: str, body: Mapping[str, Any] | None, referer: str | None = None) -> Any:
        return decode_json(*await self.fetch(method, path, body, referer))

    async def fetch(self, method: str, path: str, body: Mapping[str, Any] | None,
                    referer: str | None = None) -> tuple[bytes, int]:
        """The raw body and the actual status of one call, for callers that judge the body themselves.

        An expired-token answer (either shape, §10) refreshes the token once and repeats the call.
        """
        data = orjson.dumps(body) if body is not None else None
        for retry in (False, True):
            headers, token = await self._authorized("application/json", referer)
            raw, status = await self._send(method, path, data, headers, token)
            if retry or not token_refused(raw, status) or not await self.auth.recover(self.refresh_call, token):
                return raw, status
        raise AssertionError("unreachable")

    async def _send(self, method: str, path: str, data: bytes | None, headers: dict[str, str],
                    token: str) -> tuple[bytes, int]:
        async with guard(self.base_url, self.account_id, f"Qwen did not answer {path} in time"):
            async with asyncio.timeout(self._timeouts.first_event):
                url = self.base_url + path
                self._with_cookies(headers, url, self._token(token))
                async with self.session.request(method, url, data=data, headers=headers) as response:
                    return await response.read(), actual_status(response)

    async def models(self) -> Any:
        """The model list (§3.1); it needs no token, but goes with the account's like every call."""
        return await self.get_json("/api/models")

    async def chat_detail(self, chat_id: str) -> Any:
        """`GET /api/v2/chats/<id>`: the chat's messages (§3.7)."""
        return await self.get_json(f"/api/v2/chats/{chat_id}")

    async def complete(self, chat_id: str, payload: Mapping[str, Any]) -> Any:
        """A completion asked with `stream: false` (a t2v render, §5): the whole JSON reply."""
        return await self.post_json(completions_path(chat_id), payload)

    async def parse_file(self, file_id: str) -> Any:
        """Start parsing an uploaded document (§3.8)."""
        return await self.post_json("/api/v2/files/parse", {"file_id": file_id})

    async def parse_status(self, file_id: str) -> Any:
        return await self.post_json("/api/v2/files/parse/status", {"file_id_list": [file_id]})

    async def upload_grant(self, body: Mapping[str, Any]) -> Any:
        """getstsToken (§3.5): v2, else v1 where v2 is a 404; the reply as decoded JSON."""
        for path in STS_PATHS:
            raw, status = await self.fetch("POST", path, body)
            if status == 404 and path != STS_PATHS[-1]:
                continue
            return decode_json(raw, status)  # raises RateLimited "401 Unauthorized" as an auth failure
        raise AssertionError("unreachable")

    async def put_object(self, url: str, data: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        """PUT bytes to the file storage (§3.6) with the headers the STS grant signed: none of the
        account's own, which stay with Qwen. Returns the status and the body (OSS's XML on errors)."""
        async with guard(url, self.account_id, "Qwen's file storage did not answer in time"):
            async with asyncio.timeout(TRANSFER_TIMEOUT):
                headers = dict(headers)
                self._with_cookies(headers, url)  # none but where a stand-in serves the storage from the API
                async with self.session.put(url, data=data, headers=headers) as response:
                    return response.status, await response.read()

    async def create_chat(self, model: str, chat_type: str) -> str:
        await self.privacy.ensure(self.post_json)  # an account's first use: memory and tools off (§3.9)
        body = {
            "title": "New Chat",
            "models": [model],
            "chat_mode": "normal",
            "chat_type": chat_type,
            "timestamp": int(time.time() * 1000),
            "project_id": "",
        }
        reply = await self._json("POST", "/api/v2/chats/new", body, self.base_url + "/c/new-chat")
        chat_id = (reply.get("data") or {}).get("id") if isinstance(reply, dict) else None
        if not chat_id:
            raise UpstreamContract("Qwen created a chat but returned no chat id")
        return str(chat_id)

    async def delete_chat(self, chat_id: str) -> None:
        """`DELETE /api/v2/chats/<chat_id>` (§3): a chat of this account, gone for good."""
        await self._json("DELETE", f"/api/v2/chats/{chat_id}", None, f"{self.base_url}/c/{chat_id}")

    async def task_status(self, task_id: str, api: str = "auto") -> TaskStatus:
        """A video task (§3.4) by v2 (200 + x-actual-status-code) or v1; "auto" uses v1 where v2 is missing."""
        if api == "v1" or (api == "auto" and self._v1_tasks):
            return task_status_of(*await self.fetch("GET", f"/api/v1/tasks/status/{task_id}", None))
        raw, status = await self.fetch("GET", f"/api/v2/task/status/{task_id}", None)
        obj = loads(raw)
        if api == "auto" and status == 404 and not (isinstance(obj, dict) and {"success", "code"} & obj.keys()):
            self._v1_tasks = True  # a 404 without an envelope: the route, not the task, is missing
            return await self.task_status(task_id, "v1")
        return task_status_of(raw, status)

    async def open_download(self, url: str) -> Download:
        """GET a file the upstream serves (a rendered mp4), for the caller to stream and close."""
        headers, token = await self._authorized("*/*")
        del headers["content-type"]
        own_host = urlsplit(url).netloc == urlsplit(self.base_url).netloc
        if not own_host:
            headers.pop("authorization", None)  # the account's token stays with Qwen's own host
        self._with_cookies(headers, url, self._token(token) if own_host else ())
        async with guard(url, self.account_id, "Qwen's file host did not answer in time"):
            async with asyncio.timeout(self._timeouts.first_event):
                return Download(await self.session.get(url, headers=headers))

    async def stream_completion(self, chat_id: str, payload: Mapping[str, Any]) -> AsyncIterator[Event]:
        """POST a completion and yield its events until the end of the answer.

        Raises an UpstreamError for a failure before or during the stream. Closing
        the generator early closes the upstream connection.
        """
        # A right-sized copy: orjson's output keeps its whole write buffer (~8 KiB) allocated.
        # It is kept only until the answer starts (a retry may need it); nor is the dict kept.
        body = [memoryview(orjson.dumps(payload)).tobytes()]
        del payload
        url = self.base_url + completions_path(chat_id)
        for retry in (False, True):
            headers, token = await self._authorized("application/json", f"{self.base_url}/c/{chat_id}")
            self._with_cookies(headers, url, self._token(token))
            started = False
            try:
                async with guard(url, self.account_id, "Qwen went silent longer than the idle timeout"):
                    # Awaited, not `async with session.post(...)`: that context manager would keep the
                    # finished request coroutine (~0.9 KiB) alive for the stream's life.
                    response = await self.session.post(url, data=body[0], headers=headers)
                    del headers  # sent: aiohttp keeps its own copy with the response
                    async with response, contextlib.aclosing(events_of(response)) as events:
                        async for event in events:  # closed early (a client left): the upstream closes at once
                            if not started:
                                started = True
                                body.clear()  # a long prompt is not held for the whole answer
                            yield event
                return
            except UpstreamUnauthorized:
                # An expired token is refused before any event: refresh once, ask again on this account.
                if started or retry or not await self.auth.recover(self.refresh_call, token):
                    raise
