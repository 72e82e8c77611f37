"""Who is to blame for a failed try: the account, or the request itself.

Account-level signals (a quota, an expired token, a bot block on a normal-size prompt, a
transport failure or timeout) count against the account at once. A generic upstream
failure (Qwen's "Internal error", a 5xx, an in-stream error) may as well be the request's
own doing, so it is held as a suspect: counted against the account only once another
account has served the same request, and dropped, with no further tries, when a second
account fails it too. So no request, however often sent, can rest the pool.
"""

from __future__ import annotations

from .errors import UpstreamError, UpstreamTimeout, UpstreamTransport


def suspects_request(error: UpstreamError) -> bool:
    """A failure that the request's content could have caused (see the module docstring)."""
    return error.account_penalty == "failure" and not isinstance(error, UpstreamTransport | UpstreamTimeout)


def blame_request(error: UpstreamError) -> UpstreamError:
    """The error the client sees once a second account failed its request the same way."""
    error.message = (f"{error.message}; a second Qwen account failed this request too, so the request itself is "
                     "the likely cause: it was not retried further and no account was blamed")
    error.retry_elsewhere = False
    error.headers = {**error.headers, "x-should-retry": "false"}
    return error
