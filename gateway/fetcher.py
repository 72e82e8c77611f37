"""Downloading client-supplied image URLs, the one place the gateway fetches from
addresses a client chose.

Limits: size (streamed, so a lying Content-Length cannot get past it), time (one
budget for the whole fetch, redirects included), type (`image/*` only), and
targets: unless `allow_private_fetch` is on, every address a host name resolves to
must be global, checked inside the connector's resolver so the address checked is
the address connected to (no DNS rebinding), and literal IPs and each redirect
hop are checked too. Every failure is a 400 naming the request field.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL

from .errors import InvalidRequest

MAX_REDIRECTS = 3
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_HEADERS = {"accept": "image/*", "user-agent": "qwen-gateway image fetcher"}


class ForbiddenTarget(Exception):
    """A URL's host is, or resolves to, a loopback/private/link-local/reserved address."""

    def __init__(self, host: str, address: str) -> None:
        super().__init__(f"{host} resolves to {address}")
        self.host = host
        self.address = address


def is_forbidden(address: str) -> bool:
    """True for any address that is not plainly global unicast, IPv4 embedded in IPv6 unwrapped."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            ip = embedded
    return not ip.is_global or ip.is_multicast


# IPv6 prefixes whose last 32 bits are an IPv4 address a packet reaches: IPv4-compatible
# (::/96, deprecated but still routed by some stacks) and NAT64 (RFC 6052 well-known, RFC 8215 local).
_IPV4_SUFFIX_NETS = tuple(ipaddress.IPv6Network(n) for n in ("::/96", "64:ff9b::/96", "64:ff9b:1::/48"))


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]  # the client's own address
    if int(ip) > 1 and any(ip in net for net in _IPV4_SUFFIX_NETS):  # :: and ::1 are not IPv4 forms
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


class GuardedResolver(AbstractResolver):
    """The loop's getaddrinfo (via aiohttp's threaded resolver), refusing forbidden answers."""

    def __init__(self, allow_private: bool) -> None:
        self._inner = aiohttp.ThreadedResolver()
        self._allow_private = allow_private

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        if not self._allow_private:
            for result in results:
                if is_forbidden(result["host"]):
                    raise ForbiddenTarget(host, result["host"])
        return results

    async def close(self) -> None:
        await self._inner.close()


class ImageFetcher:
    """One session for every client URL, created lazily inside the running loop."""

    def __init__(self, max_bytes: int, timeout: float, allow_private: bool) -> None:
        self.max_bytes = max_bytes
        self.timeout = timeout
        self.allow_private = allow_private
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            # No DNS cache: every connection is resolved (and checked) afresh.
            resolver = GuardedResolver(self.allow_private)
            connector = aiohttp.TCPConnector(resolver=resolver, use_dns_cache=False, limit=32)
            self._session = aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar(),
                                                  timeout=aiohttp.ClientTimeout(total=None), headers=_HEADERS)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def fetch(self, url: str, param: str) -> tuple[bytes, str]:
        """(bytes, content type) of the image at `url`, or a 400 naming `param`."""
        try:
            async with asyncio.timeout(self.timeout):
                return await self._follow(URL(url), param)
        except ForbiddenTarget as exc:
            raise _bad(param, f"points at {exc.host} ({exc.address}), a loopback, private or link-local "
                              "address the gateway does not fetch from") from None
        except TimeoutError:
            raise _bad(param, f"could not be downloaded within {self.timeout:g} s") from None
        except (aiohttp.ClientError, ValueError) as exc:
            raise _bad(param, f"could not be downloaded ({type(exc).__name__}: {_short(exc)})") from None

    async def _follow(self, url: URL, param: str) -> tuple[bytes, str]:
        for _ in range(MAX_REDIRECTS + 1):
            self._check(url, param)
            async with self.session.get(url, allow_redirects=False) as response:
                if response.status in _REDIRECTS and "location" in response.headers:
                    url = url.join(URL(response.headers["location"]))
                    continue
                return await self._read(response, param)
        raise _bad(param, f"redirects more than {MAX_REDIRECTS} times")

    def _check(self, url: URL, param: str) -> None:
        if url.scheme not in ("http", "https") or not url.host:
            raise _bad(param, "must be an http(s) URL or a data: URI")
        try:
            literal = is_forbidden(url.host)
        except ValueError:
            return  # a host name: the resolver checks what it resolves to
        if literal and not self.allow_private:
            raise ForbiddenTarget(url.host, url.host)

    async def _read(self, response: aiohttp.ClientResponse, param: str) -> tuple[bytes, str]:
        if response.status != 200:
            raise _bad(param, f"answered HTTP {response.status}, not an image")
        content_type = response.content_type
        if not content_type.startswith("image/"):
            raise _bad(param, f"is not an image (Content-Type {content_type})")
        if (response.content_length or 0) > self.max_bytes:
            raise _too_big(param, self.max_bytes)
        data = bytearray()
        async for chunk in response.content.iter_chunked(65536):
            data += chunk
            if len(data) > self.max_bytes:
                raise _too_big(param, self.max_bytes)
        if not data:
            raise _bad(param, "is empty")
        return bytes(data), content_type


def _bad(param: str, what: str) -> InvalidRequest:
    return InvalidRequest(f"The image URL in '{param}' {what}.", param=param, code="invalid_image_url")


def _too_big(param: str, limit: int) -> InvalidRequest:
    return _bad(param, f"is larger than the {limit}-byte limit")


def _short(exc: Any) -> str:
    return str(exc)[:200] or "no detail"
