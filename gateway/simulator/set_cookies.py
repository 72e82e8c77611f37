"""Rotating anti-bot cookies on every API answer, as chat.qwen.ai sets `acw_tc` (§2, §12).

Pure ASGI: it only appends a `Set-Cookie` header to the response start, so streams pass
untouched. A client that keeps a cookie jar sends the newest value back.
"""

from __future__ import annotations

import secrets

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .state import SimState

ACW_TC_MAX_AGE = 1800  # ~30 min, as the captured `ssxmod_itna`/`acw_tc` cookies


class SetCookies:
    def __init__(self, app: ASGIApp, sim: SimState) -> None:
        self.app = app
        self.sim = sim

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/api/"):
            await self.app(scope, receive, send)
            return

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                self.sim.auth.last_acw_tc = secrets.token_hex(16)
                value = f"acw_tc={self.sim.auth.last_acw_tc}; Path=/; Max-Age={ACW_TC_MAX_AGE}; HttpOnly"
                message = {**message, "headers": [*message.get("headers", []), (b"set-cookie", value.encode())]}
            await send(message)

        await self.app(scope, receive, send_with_cookie)
