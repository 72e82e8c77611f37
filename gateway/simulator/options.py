"""Simulator switches: eras, strictness, delays, quotas.

Tests flip these at runtime through `POST /__sim/options`, so updates are
validated here rather than trusted.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

ERAS = ("summary", "think")
STS_FORMS = ("flat", "wrapped")
STS_KEY_SETS = ("new", "old", "any")


@dataclass
class SimOptions:
    speed: float = 1.0  # multiplies every delay; 0 means no sleeping at all
    era: str = "summary"  # thinking era: "summary" (Aug 2026 →) or "think" (2025)
    strict_headers: bool = False  # writes need `version` and cookie `token=<bearer>`
    require_bx_ua: bool = False  # writes without `bx-ua` get the WAF page
    send_done: bool = False  # append `data: [DONE]` (the real upstream doesn't)
    keepalive_every: int = 0  # extra response.info every N deltas (0: only the first)
    first_event_delay: float = 0.05
    delta_delay: float = 0.01
    daily_chat_limit: int = 0  # per token per UTC day; 0 = unlimited
    daily_limit_num: int = 10
    video_render_seconds: float = 2.0
    daily_video_limit: int = 3
    sts_form: str = "wrapped"
    sts_keys: str = "old"  # "old" filename/filesize/filetype as every client sends; "new" file_name/…
    task_status_v1_wrapped: bool = False
    task_status_v2: bool = True  # False: before Sep 2026, when /api/v2/task/status did not exist
    valid_tokens: frozenset[str] | None = None
    nonstream_chat: bool = False  # Oct 2025: t2t `stream:false` answered with JSON
    access_token_ttl: float = 900.0  # seconds an access token from the refresh endpoint lives (§2)
    refresh_tokens: tuple[str, ...] = ()  # refresh tokens a browser sign-in gave out before start
    rotate_refresh: bool = True  # a refresh spends its refresh token and returns a new one
    expired_shape: str = "200"  # an expired access token: "200" (code unauthorized) or "401" (§10)
    parse_polls: int = 1  # files/parse/status says "running" this many times, then "success"
    prompt_limit: int = 118_000  # characters of a prompt past which the RGV587 stub answers (§7a)
    framing: str = "blank"  # SSE frames: "blank" line after each, "none" (0.3.11), "crlf"
    parent_error: str = "PARENT_NOT_FOUND"  # unknown parent: Sep 2026 code, or "is_not_exist" (2025)
    rtt: float = 0.0  # seconds of network round trip on every HTTP call (latency.py); never scaled by speed

    def __post_init__(self) -> None:
        if self.valid_tokens is not None and not isinstance(self.valid_tokens, frozenset):
            self.valid_tokens = frozenset(self.valid_tokens)
        _check_choice("era", self.era, ERAS)
        _check_choice("sts_form", self.sts_form, STS_FORMS)
        _check_choice("sts_keys", self.sts_keys, STS_KEY_SETS)
        _check_choice("expired_shape", self.expired_shape, ("200", "401"))
        self.refresh_tokens = tuple(self.refresh_tokens)
        _check_choice("framing", self.framing, ("blank", "none", "crlf"))
        _check_choice("parent_error", self.parent_error, ("PARENT_NOT_FOUND", "is_not_exist"))
        if self.speed < 0:
            raise ValueError("speed must be >= 0")
        if self.rtt < 0:
            raise ValueError("rtt must be >= 0")


def _check_choice(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")


_FIELD_TYPES: dict[str, tuple[type, ...]] = {
    "speed": (int, float),
    "era": (str,),
    "strict_headers": (bool,),
    "require_bx_ua": (bool,),
    "send_done": (bool,),
    "keepalive_every": (int,),
    "first_event_delay": (int, float),
    "delta_delay": (int, float),
    "daily_chat_limit": (int,),
    "daily_limit_num": (int,),
    "video_render_seconds": (int, float),
    "daily_video_limit": (int,),
    "sts_form": (str,),
    "sts_keys": (str,),
    "task_status_v1_wrapped": (bool,),
    "task_status_v2": (bool,),
    "nonstream_chat": (bool,),
    "access_token_ttl": (int, float),
    "rotate_refresh": (bool,),
    "expired_shape": (str,),
    "framing": (str,),
    "parse_polls": (int,),
    "prompt_limit": (int,),
    "parent_error": (str,),
    "rtt": (int, float),
}


def updated_options(current: SimOptions, patch: dict[str, Any]) -> SimOptions:
    """A copy of `current` with `patch` applied; ValueError names the bad field."""
    changes: dict[str, Any] = {}
    for name, value in patch.items():
        if name == "valid_tokens":
            if value is not None and not (isinstance(value, list) and all(isinstance(t, str) for t in value)):
                raise ValueError("valid_tokens must be null or a list of strings")
            changes[name] = None if value is None else frozenset(value)
            continue
        types = _FIELD_TYPES.get(name)
        if types is None:
            raise ValueError(f"unknown option {name!r}")
        # bool is an int subclass: keep numeric fields from taking true/false
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            raise ValueError(f"option {name!r} has the wrong type")
        changes[name] = value
    return dataclasses.replace(current, **changes)
