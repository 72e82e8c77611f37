"""Qwen's quotas are counted per mode: a daily limit met by videos leaves chat and images alone.

Three modes, as Qwen counts them: `t2t` (chat and web search), `t2i` (image generation and
editing) and `t2v` (video). A RateLimited answer rests only the mode of the call that met
it; every other mark (invalid token, bot block, failing transport) is the account's own.
"""

from __future__ import annotations

from dataclasses import dataclass, field

MODES = ("t2t", "t2i", "t2v")
_BY_CHAT_TYPE = {"t2t": "t2t", "search": "t2t", "t2i": "t2i", "image_edit": "t2i", "t2v": "t2v", "i2v": "t2v"}


def mode_of(chat_type: str) -> str:
    """The quota a Qwen chat type spends (unknown types count as chat)."""
    return _BY_CHAT_TYPE.get(chat_type, "t2t")


@dataclass
class ModeRests:
    """Per-mode cool-downs of one account, on the pool's clock."""

    until: dict[str, float] = field(default_factory=dict)
    reasons: dict[str, str] = field(default_factory=dict)

    def rest(self, mode: str, until: float, reason: str) -> None:
        self.until[mode] = max(self.until.get(mode, 0.0), until)
        self.reasons[mode] = reason

    def resting(self, mode: str | None, now: float) -> bool:
        return mode is not None and self.until.get(mode, 0.0) > now

    def remaining(self, now: float) -> dict[str, tuple[float, str]]:
        """The modes resting now: mode → (seconds left, reason)."""
        return {m: (u - now, self.reasons.get(m, "")) for m, u in self.until.items() if u > now}
