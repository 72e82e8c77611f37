"""Account privacy (§3.9): memory and built-in tools off, once per account.

People who share one Qwen account through the gateway must not meet each other's
remembered facts, so on an account's first use its memory and tools are turned off
(unless its configuration says `keep_settings: true`), and the state store remembers
that it was done. A failure is logged and tried again later; it never fails a call.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from ..errors import UpstreamContract, UpstreamTimeout, UpstreamTransient, UpstreamTransport
from .auth import Credentials

log = logging.getLogger("gateway.auth")
SETTINGS_PATH = "/api/v2/users/user/settings/update"
RETRY_AFTER = 300.0  # seconds before a failed settings call is tried again
_TOOLS = ("web_search", "web_extractor", "web_search_image", "image_gen_tool", "image_edit_tool", "code_interpreter",
          "history_retriever", "bio", "image_zoom_in_tool", "image_search")
_MCP = ("code-interpreter", "fire-crawl", "amap", "image-generation")
PRIVATE_SETTINGS: dict[str, Any] = {
    "memory": {"enable_memory": False, "enable_history_memory": False},
    "tools_enabled": dict.fromkeys(_TOOLS, False),
    "mcp": dict.fromkeys(_MCP, False),
}

Post = Callable[[str, dict[str, Any]], Awaitable[Any]]


class Privacy:
    def __init__(self, credentials: Credentials, keep_settings: bool) -> None:
        self._credentials = credentials
        self._keep = keep_settings
        self._lock = asyncio.Lock()
        self._retry_at = 0.0

    @property
    def pending(self) -> bool:
        return not (self._keep or self._credentials.settings_done)

    async def ensure(self, post: Post) -> None:
        """Turn memory and tools off if that was never done for this account."""
        if not self.pending or time.monotonic() < self._retry_at:
            return
        async with self._lock:
            await self._credentials.load()
            if not self.pending:
                return
            try:
                await post(SETTINGS_PATH, PRIVATE_SETTINGS)
            except (UpstreamContract, UpstreamTransient, UpstreamTimeout, UpstreamTransport) as exc:
                self._retry_at = time.monotonic() + RETRY_AFTER
                log.warning("account %s: could not turn Qwen's memory and tools off (%s); trying again later",
                            self._credentials.account_id, exc.message)
                return
            await self._credentials.mark_settings_done()
            log.info("account %s: Qwen's memory and built-in tools turned off", self._credentials.account_id)
