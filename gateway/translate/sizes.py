"""OpenAI sizes → the five aspect ratios the upstream accepts (protocol reference §8)."""

from __future__ import annotations

import math
import re

from ..errors import InvalidRequest

RATIOS = ("1:1", "3:4", "4:3", "16:9", "9:16")
_NAMED = {
    "auto": "1:1",
    "1024x1024": "1:1",
    "512x512": "1:1",
    "256x256": "1:1",
    "1536x1024": "4:3",
    "1024x1536": "3:4",
    "1792x1024": "16:9",
    "1280x720": "16:9",
    "1024x1792": "9:16",
    "720x1280": "9:16",
}
_PIXELS = re.compile(r"^\s*(\d{1,5})\s*[x*×:]\s*(\d{1,5})\s*$", re.IGNORECASE)


def to_ratio(size: object, *, default: str = "1:1", param: str = "size") -> str:
    """`1024x1024`, `1920*1080`, `16:9` or `auto` → one of RATIOS; anything else is a 400."""
    if size is None or size == "":
        return default
    if not isinstance(size, str):
        raise InvalidRequest(f"'{param}' must be a string such as '1024x1024' or '16:9'.", param=param)
    text = size.strip().lower()
    if text in RATIOS:
        return text
    if text in _NAMED:
        return _NAMED[text]
    match = _PIXELS.match(text)
    if not match or 0 in (int(match[1]), int(match[2])):
        raise InvalidRequest(
            f"Unsupported {param} '{size}': use WIDTHxHEIGHT (e.g. 1024x1024, 1792x1024)"
            f" or one of {', '.join(RATIOS)}.",
            param=param,
        )
    return nearest_ratio(int(match[1]), int(match[2]))


def nearest_ratio(width: int, height: int) -> str:
    """The upstream ratio closest to width:height, compared on a log scale."""
    target = math.log(width / height)
    return min(RATIOS, key=lambda r: abs(math.log(int(r.split(":")[0]) / int(r.split(":")[1])) - target))
