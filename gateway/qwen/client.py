"""QwenClient: the only code that speaks HTTP to the upstream, one per account.

Each client owns one aiohttp.ClientSession for the life of the process, sends the
header set of the protocol reference on every call, and turns every failure
(transport, HTML page, error envelope, in-stream error) into an UpstreamError.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import orjson

from ..config import AccountSettings, Timeouts, UpstreamSettings
from ..errors import (
    UpstreamBlocked,
    UpstreamContract,
    UpstreamError,
    UpstreamTimeout,
    UpstreamTransport,
    UpstreamUnauthorized,
)
from ..ids import uuid4
from ..store import Store
from . import cookies
from .auth import REFRESH_TIMEOUT, AuthUnreachable, Credentials, Refreshed, cookie_expiry, parse_refresh
from .events import AnswerSelector, Delta, Event, error_from_body, parse_event, raise_for_error
from .privacy import Privacy
from .sse import SSEDecoder
from .transport import transport_error

DRAIN_TIMEOUT = 1.0  # seconds to wait for the end of a finished stream's body
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
                 upstream: UpstreamSettings | None = None, store: Store | None = None, replica: str = "local") -> None:
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
        self._v1_tasks = False  # set once the upstream is found to lack the v2 task-status route
        self._cookie: tuple[str, dict[str, Any] | None] = ("", None)  # the token and its cookie

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:  # created lazily: it must be born inside the running loop
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._connections, ttl_dns_cache=300),
                cookie_jar=self.auth.jar,  # the account's own, as a browser keeps it
                proxy=self._proxy,
                timeout=aiohttp.ClientTimeout(
                    total=None, connect=self._timeouts.connect, sock_read=self._timeouts.idle
                ),
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

    def _token_cookie(self, token: str) -> dict[str, Any] | None:
        # Explicit, so no stale `token=` another Set-Cookie left in the jar can win; built once per token.
        if self._cookie[0] != token:
            morsel = cookies.raw_morsel(cookies.TOKEN, token) if token else None
            self._cookie = (token, {cookies.TOKEN: morsel} if morsel is not None else None)
        return self._cookie[1]

    async def refresh_call(self, refresh_token: str) -> Refreshed:
        """`GET <auth host>/api/v2/auths/refresh` with the refresh token cookie (§2)."""
        headers = self._request_headers("application/json")
        headers.update({"x-request-origin": self.base_url, "sec-fetch-site": "same-site"})
        morsel = cookies.raw_morsel(cookies.REFRESH_TOKEN, refresh_token)
        try:
            async with asyncio.timeout(min(self._timeouts.first_event, REFRESH_TIMEOUT)):
                async with self.session.get(self._auth_url + REFRESH_PATH, headers=headers,
                                            cookies={cookies.REFRESH_TOKEN: morsel} if morsel else None) as response:
                    raw = await response.read()
                    return parse_refresh(raw, _actual_status(response),
                                         cookie_expiry(response.cookies.get(cookies.REFRESH_TOKEN)))
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise AuthUnreachable(type(exc).__name__) from None

    async def check(self) -> bool:
        """The start-up probe (§2): a fresh token, then `GET /api/v1/auths/` judged by its body."""
        user = await self.get_json("/api/v1/auths/")
        await self.privacy.ensure(self.post_json)
        return isinstance(user, dict) and bool(user.get("id"))

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
            if retry or not _token_refused(raw, status) or not await self.auth.recover(self.refresh_call, token):
                return raw, status
        raise AssertionError("unreachable")

    async def _send(self, method: str, path: str, data: bytes | None, headers: dict[str, str],
                    token: str) -> tuple[bytes, int]:
        try:
            async with asyncio.timeout(self._timeouts.first_event):
                async with self.session.request(
                    method, self.base_url + path, data=data, headers=headers, cookies=self._token_cookie(token)
                ) as response:
                    return await response.read(), _actual_status(response)
        except (TimeoutError, aiohttp.ServerTimeoutError):
            raise UpstreamTimeout(f"Qwen did not answer {path} in time") from None
        except aiohttp.ClientError as exc:
            raise transport_error(exc, self.base_url, self.account_id) from None

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

    async def task_status(self, task_id: str, api: str = "auto") -> TaskStatus:
        """A video task (§3.4) by v2 (200 + x-actual-status-code) or v1; "auto" uses v1 where v2 is missing."""
        if api == "v1" or (api == "auto" and self._v1_tasks):
            return _task_status(*await self.fetch("GET", f"/api/v1/tasks/status/{task_id}", None))
        raw, status = await self.fetch("GET", f"/api/v2/task/status/{task_id}", None)
        obj = _loads(raw)
        if api == "auto" and status == 404 and not (isinstance(obj, dict) and {"success", "code"} & obj.keys()):
            self._v1_tasks = True  # a 404 without an envelope: the route, not the task, is missing
            return await self.task_status(task_id, "v1")
        return _task_status(raw, status)

    async def open_download(self, url: str) -> Download:
        """GET a file the upstream serves (a rendered mp4), for the caller to stream and close."""
        headers, token = await self._authorized("*/*")
        del headers["content-type"]
        own_host = urlsplit(url).netloc == urlsplit(self.base_url).netloc
        if not own_host:
            headers.pop("authorization", None)  # the account's token stays with Qwen's own host
        try:
            async with asyncio.timeout(self._timeouts.first_event):
                return Download(await self.session.get(url, headers=headers,
                                                       cookies=self._token_cookie(token) if own_host else None))
        except (TimeoutError, aiohttp.ServerTimeoutError):
            raise UpstreamTimeout("Qwen's file host did not answer in time") from None
        except aiohttp.ClientError as exc:
            raise transport_error(exc, url, self.account_id) from None

    async def stream_completion(self, chat_id: str, payload: Mapping[str, Any]) -> AsyncIterator[Event]:
        """POST a completion and yield its events until the end of the answer.

        Raises an UpstreamError for a failure before or during the stream. Closing
        the generator early closes the upstream connection.
        """
        # A right-sized copy: orjson's output keeps its whole write buffer (~8 KiB) allocated,
        # and this one lives as long as the stream (bench/stream_memory.py).
        data = memoryview(orjson.dumps(payload)).tobytes()
        del payload  # nor is the dict kept for the stream's life
        for retry in (False, True):
            headers, token = await self._authorized("application/json", f"{self.base_url}/c/{chat_id}")
            started = False
            try:
                async with contextlib.aclosing(self._stream_once(chat_id, data, headers, token)) as events:
                    async for event in events:  # aclosing: a client that leaves closes the upstream at once
                        started = True
                        yield event
                return
            except UpstreamUnauthorized:
                # An expired token is refused before any event: refresh once, ask again on this account.
                if started or retry or not await self.auth.recover(self.refresh_call, token):
                    raise

    async def _stream_once(
        self, chat_id: str, data: bytes, headers: dict[str, str], token: str
    ) -> AsyncGenerator[Event, None]:
        url = f"{self.base_url}/api/v2/chat/completions?chat_id={chat_id}"
        try:
            async with self.session.post(
                url, data=data, headers=headers, cookies=self._token_cookie(token)
            ) as response:
                async for event in _events(response):
                    yield event
        except UpstreamError:
            raise
        except (TimeoutError, aiohttp.ServerTimeoutError):
            raise UpstreamTimeout("Qwen went silent longer than the idle timeout") from None
        except aiohttp.ClientError as exc:
            raise transport_error(exc, url, self.account_id) from None


@dataclass(frozen=True, slots=True)
class TaskStatus:
    status: str  # running, success / completed, anything else failed; "not_found" for an unknown task
    content: str  # the mp4 URL once rendered
    message: str


def _task_status(raw: bytes, status: int) -> TaskStatus:
    obj = _loads(raw)
    data = obj.get("data") if isinstance(obj, dict) and isinstance(obj.get("data"), dict) else obj
    if status == 404 and isinstance(data, dict) and data.get("code") == "Not_Found":
        return TaskStatus("not_found", "", str(data.get("details") or ""))
    decode_json(raw, status)  # every other error of the catalogue
    if not isinstance(data, dict) or not isinstance(data.get("task_status"), str):
        raise UpstreamContract("Qwen's task status carries no task_status")
    return TaskStatus(data["task_status"], str(data.get("content") or ""), str(data.get("message") or ""))


class Download:
    """An open upstream file response: read it with `chunks()`, then `close()`."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self.status = response.status
        self.content_type = response.headers.get("content-type", "")
        self.length = response.headers.get("content-length")
        self._response = response

    async def chunks(self, size: int = 64 * 1024) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.content.iter_chunked(size):
                yield chunk
        except (TimeoutError, aiohttp.ClientError):
            raise UpstreamTransport("the download from Qwen's file host broke off") from None

    def close(self) -> None:
        self._response.close()


def _loads(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None


async def _events(response: aiohttp.ClientResponse) -> AsyncIterator[Event]:
    """Sniff the body (SSE, whole JSON or HTML), then decode SSE events to the end."""
    status = _actual_status(response)
    chunks = response.content.iter_any()
    first = b""
    async for chunk in chunks:
        first += chunk
        if first.strip():
            break
    if not first.lstrip().startswith(b"data:") or status >= 400:
        rest = await response.read() if first.lstrip()[:1] in (b"{", b"<") else b""
        decode_json(first + rest, status)
        raise UpstreamContract(f"Qwen answered a completion with a non-SSE body (HTTP {status})")
    decoder = SSEDecoder()
    selector = AnswerSelector()  # one answer of a two-answer stream (§4)
    pending: list[bytes] | None = decoder.feed(first)
    while pending is not None:
        for data in pending:
            event = _parse(data)
            if not selector.keep(event):
                continue
            yield event
            if isinstance(event, Delta) and event.is_end:
                await _drain(response)
                return
        chunk = await anext(chunks, b"")
        pending = decoder.feed(chunk) if chunk else None
    for data in decoder.flush():
        event = _parse(data)
        if selector.keep(event):
            yield event
    # A clean end of the body without `finished` is a normal end (§4): the reader
    # judges it by whether any answer came.


async def _drain(response: aiohttp.ClientResponse) -> None:
    """Read the little left after the last event, so the connection goes back to the pool."""
    try:
        async with asyncio.timeout(DRAIN_TIMEOUT):
            await response.read()
    except (TimeoutError, aiohttp.ClientError):
        pass  # the connection is simply closed instead


def _parse(data: bytes) -> Event:
    if data.strip() == b"[DONE]":
        return parse_event(None)
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise UpstreamContract("Qwen sent an SSE event that is not JSON") from None
    return parse_event(obj)


def _actual_status(response: aiohttp.ClientResponse) -> int:
    # v2 endpoints answer 200 and put the real status in a header.
    actual = response.headers.get("x-actual-status-code")
    return int(actual) if actual and actual.isdigit() else response.status


WAF_MARKERS = (b"aliyun_waf", b"<!doctypehtml>", b"captcha", b"punish", b"x5sec", b"Verification")


def _token_refused(raw: bytes, status: int) -> bool:
    """Either expired-token shape of §10: HTTP 401, or an envelope the catalogue reads as unauthorized."""
    if status == 401:
        return True
    obj = _loads(raw) if raw.lstrip()[:1] == b"{" else None
    return isinstance(obj, dict) and isinstance(error_from_body(obj, status), UpstreamUnauthorized)


def _looks_like_waf(raw: bytes) -> bool:
    head = raw[:20000]
    return any(marker in head for marker in WAF_MARKERS)


def decode_json(raw: bytes, status: int) -> Any:
    head = raw.lstrip()[:1]
    if head == b"<" and (status < 500 or _looks_like_waf(raw)):
        raise UpstreamBlocked(
            f"Qwen answered with a WAF/captcha page (HTTP {status}); the account needs fresh cookies or bx-* headers"
        )
    obj = _loads(raw)  # None for an empty or non-JSON body: judged by its status below
    raise_for_error(obj, status)
    return obj
