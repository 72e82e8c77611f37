"""An account's cookie jar, kept as a browser keeps one (§2).

aiohttp's CookieJar does the domain, path and expiry rules; this module seeds it from
the cookie string an operator pasted, and turns it into JSON-able records for the state
store and back (aiohttp's own `save`/`load` only speak files).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from http.cookies import BaseCookie, CookieError, Morsel
from typing import Any

import aiohttp
from yarl import URL

# Cookies that are not the browser jar's to send as they were pasted: the access token
# follows the gateway's current one, the refresh token goes to the auth host only.
TOKEN = "token"
REFRESH_TOKEN = "refresh_token"
_KEPT_ATTRS = ("expires", "max-age", "secure", "httponly", "samesite")
_HEADERS_KEPT = 32  # built cookie headers kept per jar (one per URL: chat ids make many)


class AccountJar(aiohttp.CookieJar):
    """A CookieJar that notes when the upstream changed it, so it is persisted only then.

    It sends cookies to the API of Qwen's own hosts only: uploads (OSS) and downloads
    (CDN) go through the same session, and a stand-in may serve them from the API's host.
    """

    def __init__(self, api_urls: tuple[str, ...]) -> None:
        # unsafe: accept cookies from IP hosts (loopback simulators in tests);
        # quote_cookie=False: send values as the browser does (ssxmod_itna holds '=' and '/').
        super().__init__(unsafe=True, quote_cookie=False)
        self._origins = frozenset(URL(url).origin() for url in api_urls)
        self.changed = False
        self._headers: dict[tuple[str, tuple[tuple[str, str], ...]], str] = {}  # built since the last change
        self._headers_until = math.inf  # the next cookie's expiry: the built headers are stale from then

    def filter_cookies(self, request_url: URL = URL()) -> BaseCookie[str]:
        if request_url.origin() not in self._origins or not request_url.path.startswith("/api/"):
            return BaseCookie()
        return super().filter_cookies(request_url)

    def update_cookies(self, cookies: Any, response_url: URL = URL()) -> None:
        super().update_cookies(cookies, response_url)
        self.changed = True
        self._headers.clear()

    def update_cookies_from_headers(self, headers: Any, response_url: URL) -> None:
        super().update_cookies_from_headers(headers, response_url)
        self.changed = True
        self._headers.clear()

    def clear(self, predicate: Any = None) -> None:
        super().clear(predicate)
        self._headers.clear()

    def clear_domain(self, domain: str) -> None:
        super().clear_domain(domain)
        self._headers.clear()

    def header(self, url: str, extra: tuple[tuple[str, str], ...] = ()) -> str:
        """The `cookie` header aiohttp would send to `url` from this jar with `extra` cookies laid
        over it (same bytes), built once until the jar changes or one of its cookies expires."""
        if time.time() >= self._headers_until or len(self._headers) >= _HEADERS_KEPT:
            self._headers.clear()
        key = (url.partition("?")[0], extra)
        built = self._headers.get(key)
        if built is None:
            cookies = self.filter_cookies(URL(url))  # also drops expired cookies
            for name, value in extra:
                morsel = raw_morsel(name, value)
                if morsel is not None:
                    cookies[name] = morsel
            # As aiohttp's ClientRequest.update_cookies writes it: sorted, value as coded.
            built = self._headers[key] = "; ".join(f"{name}={m.coded_value}" for name, m in sorted(cookies.items()))
            heap = getattr(self, "_expire_heap", None)  # aiohttp's (when, key) min-heap of expiries
            self._headers_until = heap[0][0] if heap else math.inf
        return built


class SessionJar(aiohttp.DummyCookieJar):
    """An HTTP session's window on an AccountJar: every `Set-Cookie` goes into the account's jar,
    but the session sends no cookie itself: the client puts `AccountJar.header` on each call,
    which skips aiohttp's filtering and merging of cookies on every request."""

    def __init__(self, jar: AccountJar) -> None:
        super().__init__()
        self.jar = jar

    def update_cookies(self, cookies: Any, response_url: URL = URL()) -> None:
        self.jar.update_cookies(cookies, response_url)

    def update_cookies_from_headers(self, headers: Sequence[str], response_url: URL) -> None:
        self.jar.update_cookies_from_headers(headers, response_url)

    def clear(self, predicate: Any = None) -> None:
        self.jar.clear(predicate)

    def clear_domain(self, domain: str) -> None:
        self.jar.clear_domain(domain)


def parse_cookie_string(text: str) -> dict[str, str]:
    """A Cookie header as pasted from a browser, split by hand: values may hold '=' and '"'."""
    cookies: dict[str, str] = {}
    for item in text.split(";"):
        name, sep, value = item.strip().partition("=")
        if sep and name.strip():
            cookies[name.strip()] = value.strip()
    return cookies


def raw_morsel(name: str, value: str) -> Morsel[str] | None:
    """A cookie carried byte for byte (no quoting); None for a name no browser would send."""
    morsel: Morsel[str] = Morsel()
    try:
        morsel.set(name, value, value)
    except CookieError:
        return None
    return morsel


def set_cookie(jar: aiohttp.CookieJar, url: str, name: str, value: str) -> None:
    """Set a host-only cookie for `url`'s host, as that host's Set-Cookie would."""
    morsel = raw_morsel(name, value)
    if morsel is not None:
        morsel["path"] = "/"
        jar.update_cookies({name: morsel}, URL(url))


def seed(jar: aiohttp.CookieJar, url: str, cookies: dict[str, str]) -> None:
    for name, value in cookies.items():
        if name not in (TOKEN, REFRESH_TOKEN):
            set_cookie(jar, url, name, value)


def dump(jar: aiohttp.CookieJar) -> list[dict[str, Any]]:
    """Every live cookie with its domain, path, host-only flag and attributes."""
    host_only = jar.host_only_cookies
    records: list[dict[str, Any]] = []
    for (domain, path), cookies in jar.cookies.items():
        for name, morsel in cookies.items():
            record: dict[str, Any] = {"name": name, "value": morsel.coded_value, "domain": domain,
                                      "path": morsel["path"] or "/", "host_only": (domain, path, name) in host_only}
            record.update({attr: morsel[attr] for attr in _KEPT_ATTRS if morsel[attr]})
            records.append(record)
    return records


def load(jar: aiohttp.CookieJar, records: list[dict[str, Any]]) -> None:
    """Put dumped cookies back, each for its own domain (host-only ones stay host-only)."""
    jar.clear()
    for record in records:
        morsel = raw_morsel(str(record.get("name", "")), str(record.get("value", "")))
        domain = str(record.get("domain", ""))
        if morsel is None or not domain:
            continue
        morsel["path"] = str(record.get("path") or "/")
        if not record.get("host_only"):
            morsel["domain"] = domain
        for attr in _KEPT_ATTRS:
            if record.get(attr):
                morsel[attr] = record[attr]
        jar.update_cookies({morsel.key: morsel}, URL.build(scheme="https", host=domain))
