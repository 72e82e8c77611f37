"""Pure-ASGI middleware writing down every upstream-facing request for tests.

It buffers the body once and replays it to the app; later `receive` calls go
to the server untouched, so disconnect detection in streams keeps working.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .state import SimState

_RECORDED_PREFIXES = ("/api/",)  # the upstream API only: not OSS, the CDN or /__sim


class Recorder:
    def __init__(self, app: ASGIApp, sim: SimState) -> None:
        self.app = app
        self.sim = sim

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(_RECORDED_PREFIXES):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break  # the client left before sending its body
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        self.sim.record(_entry(scope, body))
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


def _entry(scope: Scope, body: bytes) -> dict[str, Any]:
    headers: dict[str, str] = {}
    for raw_name, raw_value in scope["headers"]:
        name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    scheme, _, token = headers.get("authorization", "").partition(" ")
    parsed: Any = None
    if body:
        try:
            parsed = orjson.loads(body)
        except orjson.JSONDecodeError:
            parsed = None
    return {
        "method": scope["method"],
        "path": scope["path"],
        "query": dict(parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)),
        "token": token.strip() if scheme.lower() == "bearer" else None,
        "headers": headers,
        "body": parsed,
        "body_size": len(body),
    }
