"""AccountJar.header: the `cookie` header the client now builds itself is, byte for byte, the one
aiohttp sends from the same jar with the same explicit cookies; and it follows the jar's changes."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult
from stub_server import serve_all
from yarl import URL

from gateway.qwen import cookies


class Loopback(AbstractResolver):
    """Every host name is 127.0.0.1, so real-looking hosts reach the local server."""

    async def resolve(self, host: str, port: int = 0, family: int = socket.AF_INET) -> list[ResolveResult]:
        return [{"hostname": host, "host": "127.0.0.1", "port": port, "family": socket.AF_INET, "proto": 0,
                 "flags": 0}]

    async def close(self) -> None:
        pass


@pytest.fixture
async def echo() -> AsyncIterator[int]:
    """A server answering each request with the `cookie` header it received."""
    async def handler(request: web.Request) -> web.Response:
        return web.Response(text=request.headers.get("cookie", ""))

    async with serve_all(handler) as server:
        yield server.port


def filled_jar(chat: str, auth: str) -> cookies.AccountJar:
    jar = cookies.AccountJar((chat, auth))
    cookies.seed(jar, chat, cookies.parse_cookie_string("cna=abc; ssxmod_itna=Qq==x/y; token=pasted; zz=last"))
    cookies.set_cookie(jar, auth, cookies.REFRESH_TOKEN, "r-old")
    jar.update_cookies_from_headers(["x5sec=s1; Domain=.qwen.test; Path=/",
                                     "deep=only-v2; Path=/api/v2",
                                     "token=stale; Path=/"], URL(chat + "/api/v2/chats/new"))
    return jar


async def sent_by_aiohttp(jar: cookies.AccountJar, url: str, explicit: dict[str, Any] | None) -> str:
    async with aiohttp.ClientSession(cookie_jar=jar, connector=aiohttp.TCPConnector(resolver=Loopback())) as s:
        async with s.get(url, cookies=explicit) as response:
            return await response.text()


async def sent_by_header(jar: cookies.AccountJar, url: str, extra: tuple[tuple[str, str], ...]) -> str:
    connector = aiohttp.TCPConnector(resolver=Loopback())
    async with aiohttp.ClientSession(cookie_jar=cookies.SessionJar(jar), connector=connector) as s:
        header = jar.header(url, extra)
        async with s.get(url, headers={"cookie": header} if header else None) as response:
            return await response.text()


@pytest.mark.parametrize("path, extra", [
    ("/api/v2/chat/completions?chat_id=c1", (("token", "tok.en=="),)),
    ("/api/v1/auths/", (("token", "tok"),)),
    ("/api/models", ()),
    ("/c/new-chat", (("token", "tok"),)),  # not an API path: the token only
])
async def test_the_chat_hosts_header_is_aiohttps_own(echo: int, path: str, extra: tuple[tuple[str, str], ...]) -> None:
    chat, auth = f"http://chat.qwen.test:{echo}", f"http://auth.qwen.test:{echo}"
    jar = filled_jar(chat, auth)
    explicit = {name: cookies.raw_morsel(name, value) for name, value in extra} or None
    expected = await sent_by_aiohttp(jar, chat + path, explicit)
    assert await sent_by_header(jar, chat + path, extra) == expected
    if path.startswith("/api/v2"):
        assert "deep=only-v2" in expected and "token=stale" not in expected and "ssxmod_itna=Qq==x/y" in expected


async def test_the_auth_host_and_a_foreign_host(echo: int) -> None:
    chat, auth = f"http://chat.qwen.test:{echo}", f"http://auth.qwen.test:{echo}"
    jar = filled_jar(chat, auth)
    refresh = auth + "/api/v2/auths/refresh"
    morsel = cookies.raw_morsel(cookies.REFRESH_TOKEN, "r-new")
    expected = await sent_by_aiohttp(jar, refresh, {cookies.REFRESH_TOKEN: morsel})
    assert await sent_by_header(jar, refresh, ((cookies.REFRESH_TOKEN, "r-new"),)) == expected
    assert expected == "refresh_token=r-new; x5sec=s1"  # chat's host-only cookies stay on chat's host
    assert jar.header(f"http://cdn.qwen.test:{echo}/api/x") == ""


async def test_the_header_follows_set_cookie_and_expiry(monkeypatch: pytest.MonkeyPatch) -> None:
    chat = "https://chat.qwen.ai"
    jar = cookies.AccountJar((chat, "https://auth.qwen.ai"))
    jar.update_cookies_from_headers(["acw_tc=one; Path=/; Max-Age=1800"], URL(chat + "/api/v2/chats/new"))
    url = chat + "/api/v2/chat/completions?chat_id=c1"
    assert jar.header(url, (("token", "t"),)) == "acw_tc=one; token=t"
    jar.update_cookies_from_headers(["acw_tc=two; Path=/; Max-Age=1800"], URL(url))  # rotated, as Qwen does
    assert jar.header(url, (("token", "t"),)) == "acw_tc=two; token=t"
    assert jar.header(url, (("token", "u"),)) == "acw_tc=two; token=u"
    later = cookies.time.time() + 1801
    monkeypatch.setattr(cookies.time, "time", lambda: later)  # the jar's clock and aiohttp's are the same
    assert jar.header(url, (("token", "t"),)) == "token=t"
