"""One Qwen account as the pool sees it (`Account`), what a call gets back from the pool
(`Served` for a one-shot call, `Lease` for a held one), and how an account's health reads (`status`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from .modes import MODES, ModeRests
from .qwen.client import QwenClient

T = TypeVar("T")


@dataclass
class Account:
    client: QwenClient
    limit: int
    in_flight: int = 0
    served: int = 0
    invalid: bool = False
    invalid_reason: str = ""
    cool_until: float = 0.0
    cool_reason: str = ""
    failures: int = 0  # consecutive
    unreachable: str = ""  # why its last call failed on transport; "" once a call succeeds
    modes: ModeRests = field(default_factory=ModeRests)  # quotas met in one mode (modes.py)

    @property
    def id(self) -> str:
        return self.client.account_id

    def state(self, now: float, mode: str | None = None) -> str:
        """The account's state; given a mode, also whether that mode's quota rests."""
        if self.invalid:
            return "invalid"
        return "cooling" if self.cool_until > now or self.modes.resting(mode, now) else "healthy"

    def free_at(self, now: float, mode: str | None) -> float:
        """When a cooling account serves `mode` again."""
        until = self.cool_until if self.cool_until > now else now
        return max(until, self.modes.until.get(mode, 0.0)) if mode else until

    def reason(self, now: float, mode: str | None) -> str:
        return self.modes.reasons.get(mode, "") if self.cool_until <= now and mode else self.cool_reason


@dataclass(frozen=True, slots=True)
class Served(Generic[T]):
    """What a one-shot call (`AccountPool.run`) returns: its value and the account that served it."""

    value: T
    account_id: str


class Lease(Generic[T]):
    """An account held for one call; `release()` exactly once (idempotent), or `async with lease:`
    around the rest of the call (a stream), which releases it with the error that ended it."""

    def __init__(self, account: Account, value: T, settle: Callable[[BaseException | None], None]) -> None:
        self.account = account
        self.value = value
        self._settle = settle  # the pool's: frees the account and its slot, and marks it by the outcome
        self._released = False

    @property
    def account_id(self) -> str:
        return self.account.id

    def release(self, error: BaseException | None = None) -> None:
        """Free the account; an UpstreamError met after the commit still punishes it."""
        if not self._released:
            self._released = True
            self._settle(error)

    async def __aenter__(self) -> Lease[T]:
        return self

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        # A cancelled or closed stream (the client left) says nothing of the account: a success.
        self.release(exc if isinstance(exc, Exception) else None)



def health(a: Account, now: float, mode: str | None) -> dict[str, Any]:
    """An account's state for the status route (overall, or in one mode): ids and reasons, never tokens."""
    modes = [mode] if mode else list(a.modes.remaining(now))
    state = a.state(now, mode) if mode or a.state(now) != "healthy" or not modes else "cooling"
    if state == "invalid":
        return {"state": state, "cooling_seconds": 0, "reason": a.invalid_reason or "invalid token"}
    if state == "healthy" and a.unreachable:  # still tried (the network may be back), but not "healthy"
        return {"state": "unreachable", "cooling_seconds": 0, "reason": a.unreachable}
    if state == "healthy":
        return {"state": state, "cooling_seconds": 0, "reason": ""}
    until = max([a.free_at(now, m) for m in modes] or [a.cool_until])
    last = max(modes, key=lambda m: a.free_at(now, m)) if modes else None
    return {"state": state, "cooling_seconds": max(1, round(until - now)), "reason": a.reason(now, last)}


def status(accounts: list[Account], now: float) -> list[dict[str, Any]]:
    """Each account's health, for the admin route: ids only, never tokens. The top level is
    "cooling" while any mode rests (for as long as the longest); `modes` tells them apart."""
    return [{"id": a.id, "in_flight": a.in_flight, "limit": a.limit, "served": a.served, **health(a, now, None),
             "modes": {m: health(a, now, m) for m in MODES}} for a in accounts]
