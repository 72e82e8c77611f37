"""Transport failures, said once and plainly: which host, what went wrong.

"cannot reach Qwen: ClientConnectorDNSError" told an operator nothing; the error (and the
one warning line logged for it) now names the host and the cause, e.g. "cannot reach
chat.qwen.ai: DNS lookup failed (Name or service not known)". Only the host is named:
never the URL's path or query, nor a proxy's address (it may carry a password).
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from ..errors import UpstreamError, UpstreamTimeout, UpstreamTransport

log = logging.getLogger("gateway.upstream")


def transport_error(exc: BaseException, url: str, account_id: str = "", logged: bool = True) -> UpstreamTransport:
    """The UpstreamTransport for `exc` met while calling `url`, logged in one line (unless `logged` is off)."""
    host = urlsplit(url).hostname or "the upstream"
    message = f"cannot reach {host}: {cause(exc)}"
    if logged:
        log.warning("transport failure%s: %s", f" on account {account_id}" if account_id else "", message)
    return UpstreamTransport(message)


def cause(exc: BaseException) -> str:
    """What went wrong, in words, with the OS's own reason where there is one."""
    os_error = getattr(exc, "os_error", None)
    reason = getattr(os_error, "strerror", None) or (type(os_error).__name__ if os_error else "")
    detail = f" ({reason})" if reason else ""
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return f"DNS lookup failed{detail}"
    if isinstance(exc, aiohttp.ClientProxyConnectionError):
        return f"the proxy refused or failed the connection{detail}"
    if isinstance(exc, aiohttp.ClientConnectorCertificateError | aiohttp.ClientSSLError):
        return f"TLS failed{detail}"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return f"connection failed{detail}"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "the server closed the connection"
    if isinstance(exc, aiohttp.ClientPayloadError):
        return "the answer broke off mid-body"
    if isinstance(exc, aiohttp.ClientOSError):
        return f"connection error{detail or f' ({exc.strerror})' if exc.strerror else ''}"
    return type(exc).__name__


class guard:  # noqa: N801 - used as a context manager, like contextlib's
    """The one place an aiohttp failure becomes an UpstreamError: a timeout an UpstreamTimeout
    (`timed_out` says of what), anything else on the wire an UpstreamTransport naming the host;
    with `broke_off` (a body already flowing), either is an UpstreamTransport saying so.
    UpstreamErrors pass through as they are. `logged=False`: the caller logs the failure itself."""

    __slots__ = ("_account_id", "_broke_off", "_logged", "_timed_out", "_url")

    def __init__(self, url: str, account_id: str, timed_out: str, broke_off: str | None = None, *,
                 logged: bool = True) -> None:
        self._url, self._account_id, self._timed_out, self._broke_off = url, account_id, timed_out, broke_off
        self._logged = logged

    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        if exc is None or isinstance(exc, UpstreamError):
            return
        if self._broke_off is not None and isinstance(exc, TimeoutError | aiohttp.ClientError):
            raise UpstreamTransport(self._broke_off) from None
        if isinstance(exc, TimeoutError | aiohttp.ServerTimeoutError):
            raise UpstreamTimeout(self._timed_out) from None
        if isinstance(exc, aiohttp.ClientError):
            raise transport_error(exc, self._url, self._account_id, self._logged) from None
