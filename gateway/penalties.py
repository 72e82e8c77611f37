"""What an upstream error costs: the account that raised it, and the client once no retry is left.

The pool runs the calls and hands each failure here. `punish` turns the error's `account_penalty`
(errors.py) into a mark on the account: a cool-down (of the whole account, or only of the mode
whose quota is spent), an invalid token, or one more consecutive failure, which cools the account
once there are too many; a held call that ends well clears its failures (`settle`). Every mark is
told to `marked` (the pool's `on_mark`: the store). `Verdicts` judges one call's failed tries in
turn: the account's fault or the request's own (blame.py). `client_error` and `unavailable` say
what the client gets when the pool gives up: the error itself while some account could still serve,
else why none can (cooling down, and when the first is free again, or every token invalid).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable

from .account import Account
from .blame import blame_request, suspects_request
from .config import Cooldowns
from .errors import (
    AccountsRateLimited,
    GatewayError,
    NoAccountAvailable,
    UpstreamError,
    UpstreamRateLimited,
    UpstreamTransport,
)

log = logging.getLogger("gateway.accounts")


class Penalties:
    def __init__(self, accounts: list[Account], by_id: dict[str, Account], cooldowns: Cooldowns,
                 clock: Callable[[], float], marked: Callable[[Account], None]) -> None:
        self._accounts = accounts  # the pool's own list and map, read as they are now (accounts get added)
        self._by_id = by_id
        self._cooldowns = cooldowns
        self._clock = clock
        self._marked = marked

    def report(self, account_id: str, error: UpstreamError, mode: str | None = None) -> None:
        """`punish` the named account, if it is still configured."""
        account = self._by_id.get(account_id)
        if account is not None:
            self.punish(account, error, mode)

    def punish(self, account: Account, error: UpstreamError, mode: str | None = None) -> None:
        """Mark the account as the error's `account_penalty` says (in `mode` alone for a spent quota)."""
        penalty = error.account_penalty
        now = self._clock()
        if isinstance(error, UpstreamTransport):
            account.unreachable = error.message
        if penalty == "cooling":
            hours = error.hours if isinstance(
                error, UpstreamRateLimited
            ) and error.hours else self._cooldowns.rate_limit_hours
            if mode is None:
                self._cool(account, now + hours * 3600, "rate limited", error)
            else:  # Qwen counts each mode's quota apart: the others serve on
                account.modes.rest(mode, now + hours * 3600, "rate limited")
                log.warning("account %s: %s quota spent, resting that mode for %.0f s: %s", account.id, mode,
                            hours * 3600, error.message)
                self._marked(account)
        elif penalty == "blocked":
            self._cool(account, now + self._cooldowns.blocked_minutes * 60, "blocked", error)
        elif penalty == "invalid":
            if not account.invalid:
                log.warning("account %s marked invalid: %s", account.id, error.message)
            account.invalid, account.invalid_reason = True, error.message
            self._marked(account)
        elif penalty == "resting":  # the auth host is out of reach: try again after its backoff
            self._cool(
                account, now + getattr(error, "seconds", 60.0), "auth host unreachable: token refresh pending", error
            )
        elif penalty == "failure":
            account.failures += 1
            over = account.failures - self._cooldowns.failure_threshold
            if over >= 0:
                self._cool(account, now + self._cooldowns.failure_minutes * 60 * 2**over, "failing", error)

    def settle(self, account: Account, error: BaseException | None, mode: str) -> None:
        """The end of a held call (a stream): an upstream error met after the commit still counts against
        the account; a success clears its failures. Any other error (a bug) says nothing of the account."""
        if isinstance(error, UpstreamError):
            self.punish(account, error, mode)
        elif error is None:
            account.failures, account.unreachable = 0, ""

    def _cool(self, account: Account, until: float, reason: str, error: UpstreamError) -> None:
        account.cool_until = max(account.cool_until, until)
        account.cool_reason = reason
        log.warning(
            "account %s cooling down for %.0f s (%s): %s", account.id, until - self._clock(), reason, error.message
        )
        self._marked(account)

    def client_error(self, error: UpstreamError, mode: str | None = None) -> GatewayError:
        """What the client sees once no retry is left."""
        now = self._clock()
        if any(a.state(now, mode) == "healthy" for a in self._accounts) or not error.retry_elsewhere:
            if error.account_penalty == "invalid":
                return NoAccountAvailable(f"the Qwen account was rejected: {error.message}")
            return error
        return self.unavailable(None, error, mode)

    def unavailable(self, pinned: str | None, last: UpstreamError | None, mode: str | None = None) -> GatewayError:
        """Why no account can take a call now (none configured, the chat's owner gone, all resting or invalid)."""
        now = self._clock()
        accounts = [self._by_id[pinned]] if pinned in self._by_id else self._accounts
        if not self._accounts:
            return NoAccountAvailable("no Qwen account is configured")
        if pinned is not None and pinned not in self._by_id:
            return NoAccountAvailable("the account that owns this chat is no longer configured")
        cooling = [a for a in accounts if a.state(now, mode) == "cooling"]
        if cooling:
            wait = max(1, math.ceil(min(a.free_at(now, mode) for a in cooling) - now))
            reasons = ", ".join(sorted({a.reason(now, mode) for a in cooling}))
            scope = f" for {mode}" if any(a.modes.resting(mode, now) for a in cooling) else ""
            kind = AccountsRateLimited if all(a.reason(now, mode) == "rate limited" for a in cooling) \
                else NoAccountAvailable
            return kind(f"all Qwen accounts are cooling down{scope} ({reasons}); the first is free again in {wait} s",
                        headers={"retry-after": str(wait)})
        detail = f": {last.message}" if last is not None else ""
        return NoAccountAvailable(
            f"every Qwen account has an invalid token; replace the tokens{detail}", headers={"x-should-retry": "false"}
        )


class Verdicts:
    """One call's failed tries, judged as they come: an account-level signal counts against the account at
    once; a failure the request itself may cause is held (blame.py) until another account serves the call."""

    def __init__(self, penalties: Penalties, mode: str, pinned: str | None,
                 on_failure: Callable[[str, bool], None] | None) -> None:
        self._penalties = penalties
        self._mode = mode
        self._pinned = pinned
        self._on_failure = on_failure  # the pool's: (reason, tried elsewhere) for /metrics
        self._suspects: list[tuple[Account, UpstreamError]] = []

    def failed(self, account: Account, error: UpstreamError) -> None:
        """Judge a failed try; raise what the client gets when no other try is due."""
        if self._on_failure is not None:
            self._on_failure(error.account_penalty or type(error).__name__,
                             error.retry_elsewhere and self._pinned is None)
        if suspects_request(error) and self._pinned is None and error.retry_elsewhere:
            if any(a is not account for a, _ in self._suspects):  # the same request failed on two accounts
                raise blame_request(error) from None
            self._suspects.append((account, error))
        else:
            self._penalties.punish(account, error, self._mode)
        if not error.retry_elsewhere or self._pinned is not None:
            self.count_held()
            raise self._penalties.client_error(error, self._mode) from None

    def count_held(self) -> None:
        """Count held failures, once per account: a request retried on its only account counts once."""
        for account, error in {id(a): (a, e) for a, e in self._suspects}.values():
            self._penalties.punish(account, error, self._mode)

    def gave_up(self, last: UpstreamError) -> GatewayError:
        """The tries or the time ran out: count the held failures; what the client gets."""
        self.count_held()
        return self._penalties.client_error(last, self._mode)
